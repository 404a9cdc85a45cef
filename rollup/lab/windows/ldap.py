"""
Active Directory as the simulated host's scripts reach it: ``[ADSI]'LDAP://RootDSE'``, a container
by its distinguished name, and ``[adsisearcher]'(filter)'`` with ``FindAll()``.

The lab's directory is the session account's domain (``HOSTING`` is ``DC=hosting,DC=local``). It
holds what the rollup asks of it: the Exchange offline address books (``objectClass=msExchOAB``),
as many as the host's state says the organisation has (``HostState.oab_count``). A search for
anything else finds nothing; a distinguished name outside the domain is ADSI's "no such object".
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from rollup.lab.pwsh.net import NetException, NetObject, register
from rollup.lab.pwsh.values import to_string

if TYPE_CHECKING:
    from rollup.lab.pwsh.runtime import Runtime
    from rollup.lab.windows.machine import Machine

NO_SUCH_OBJECT = "There is no such object on the server.\r\n"
SEARCHER = "System.DirectoryServices.DirectorySearcher"


def domain_dn(machine: Machine) -> str:
    domain = machine.user.split("\\", 1)[0] if "\\" in machine.user else "WORKGROUP"
    return f"DC={domain.lower()},DC=local"


class _Values(NetObject):
    TYPE: ClassVar[str] = "System.DirectoryServices.PropertyValueCollection"

    def __init__(self, values: list[Any]) -> None:
        self.values = values

    @property
    def Value(self) -> Any:
        if not self.values:
            return None
        return self.values[0] if len(self.values) == 1 else list(self.values)

    @property
    def Count(self) -> int:
        return len(self.values)

    def ps_enumerate(self) -> Iterator[Any]:
        return iter(list(self.values))


class _Properties(NetObject):
    TYPE: ClassVar[str] = "System.DirectoryServices.PropertyCollection"

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = {k.lower(): v for k, v in values.items()}

    def ps_index(self, key: Any) -> Any:
        found = self.values.get(to_string(key).lower())
        return _Values([] if found is None else [found])


class _Base(NetObject):
    TYPE: ClassVar[str] = "System.DirectoryServices.DirectoryEntry"

    def __init__(self, entry: LdapEntry) -> None:
        self.entry = entry

    @property
    def Properties(self) -> _Properties:
        return _Properties(self.entry.attributes())

    @property
    def Path(self) -> str:
        return self.entry.path


class LdapEntry(NetObject):
    """An LDAP ``DirectoryEntry``: bound when first used, as ADSI binds."""

    TYPE: ClassVar[str] = "System.DirectoryServices.DirectoryEntry"
    BASES: ClassVar[tuple[str, ...]] = ("System.ComponentModel.Component", "System.IDisposable")

    def __init__(self, machine: Machine, path: str) -> None:
        self.machine = machine
        self.path = path

    def dn(self) -> str:
        return self.path[len("LDAP://") :].strip("/")

    def attributes(self) -> dict[str, Any]:
        base = domain_dn(self.machine)
        dn = self.dn()
        if dn.lower() == "rootdse":
            return {
                "defaultNamingContext": base,
                "configurationNamingContext": f"CN=Configuration,{base}",
                "rootDomainNamingContext": base,
                "dnsHostName": f"{self.machine.computer_name().lower()}.{base[3:].split(',')[0]}.local",
            }
        if dn.lower() == base.lower() or dn.lower().endswith("," + base.lower()):
            return {"distinguishedName": dn}
        raise NetException("System.Runtime.InteropServices.COMException", NO_SUCH_OBJECT)

    @property
    def psbase(self) -> _Base:
        return _Base(self)

    @property
    def PSBase(self) -> _Base:
        return _Base(self)

    def ps_dynamic_member(self, name: str) -> tuple[bool, Any]:
        found = {k.lower(): v for k, v in self.attributes().items()}.get(name.lower())
        return (True, [found]) if found is not None else (False, None)

    def ToString(self, *args: Any) -> str:
        return self.path


class SearchResults(NetObject):
    TYPE: ClassVar[str] = "System.DirectoryServices.SearchResultCollection"

    def __init__(self, count: int) -> None:
        self.count = count
        self.disposed = False

    @property
    def Count(self) -> int:
        if self.disposed:
            raise NetException("System.ObjectDisposedException", "Cannot access a disposed object.")
        return self.count

    def Dispose(self) -> None:
        self.disposed = True

    def ps_enumerate(self) -> Iterator[Any]:
        return iter(range(self.count))


class _Loaded(NetObject):
    TYPE: ClassVar[str] = "System.Collections.Specialized.StringCollection"

    def __init__(self) -> None:
        self.items: list[str] = []

    def Add(self, value: Any) -> int:
        self.items.append(to_string(value))
        return len(self.items) - 1


class DirectorySearcher(NetObject):
    TYPE: ClassVar[str] = SEARCHER

    def __init__(self, machine: Machine, ldap_filter: str) -> None:
        self.machine = machine
        self.filter = ldap_filter
        self.root: LdapEntry | None = None
        self.page_size = 0
        self.loaded = _Loaded()

    @property
    def SearchRoot(self) -> LdapEntry | None:
        return self.root

    @SearchRoot.setter
    def SearchRoot(self, value: Any) -> None:
        if not isinstance(value, LdapEntry):
            raise NetException("System.ArgumentException", "The SearchRoot must be a DirectoryEntry.")
        self.root = value

    @property
    def PageSize(self) -> int:
        return self.page_size

    @PageSize.setter
    def PageSize(self, value: Any) -> None:
        self.page_size = int(value)

    @property
    def PropertiesToLoad(self) -> _Loaded:
        return self.loaded

    def FindAll(self) -> SearchResults:
        root = self.root or LdapEntry(self.machine, "LDAP://" + domain_dn(self.machine))
        root.attributes()
        wants_oab = self.filter.replace(" ", "").lower() == "(objectclass=msexchoab)"
        under_config = root.dn().lower().startswith("cn=configuration,")
        count = self.machine.state.oab_count if wants_oab and under_config else 0
        if wants_oab and self.page_size == 0:
            count = min(count, 1000)
        return SearchResults(count)


def ldap_entry(machine: Machine, path: str) -> LdapEntry:
    return LdapEntry(machine, path)


def _searcher(rt: Runtime, value: Any) -> DirectorySearcher:
    if isinstance(value, DirectorySearcher):
        return value
    return DirectorySearcher(rt.machine, to_string(value))


register(
    SEARCHER,
    aliases=("adsisearcher",),
    cast=_searcher,
    construct=lambda rt, *a: _searcher(rt, a[0] if a else ""),
)
