"""
ADSI on the simulated host: ``[ADSI]'IIS://localhost/W3SVC'`` (``System.DirectoryServices.
DirectoryEntry``) over the IIS 6 metabase (``rollup.lab.windows.metabase``).

As PowerShell 2.0 adapts a ``DirectoryEntry``: every property name is an ADSI property (a
``PropertyValueCollection``, empty when the key has no such property), methods are the .NET
ones (``RefreshCache``, ``CommitChanges``, ``Invoke``) and the provider's own (``Put``, ``Get``,
``SetInfo``, ``GetInfo``); ``.psbase`` is the .NET object itself (``Children``, ``Properties``,
``Name``, ``Path``, ``SchemaClassName``, ``Parent``). ``[ADSI]::Exists(path)`` tells whether
a key exists.

An entry binds when first used: it loads the key's properties into its cache; ``Put`` changes
the cache, ``SetInfo`` (or ``CommitChanges``) writes what changed to the host, ``RefreshCache``
reloads and drops what was not written. ``Properties[name]`` keeps the collection it first
gave until ``RefreshCache``, as .NET does.

Provider names are case-sensitive (``iis://`` is unknown, 0x80005000). ``IIS://`` exists only
where the IIS 6 metabase does; the server must be this host. A missing key is 0x80070003.
``LDAP://`` paths are the directory of ``rollup.lab.windows.ldap``; ``WinNT://`` and ``GC://``
are real providers the lab does not model: they fail saying so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from rollup.lab.pwsh.net import NetException, NetObject, register, static, statics_of
from rollup.lab.pwsh.values import ConversionError, to_bool, to_number, to_string
from rollup.lab.windows import metabase
from rollup.lab.windows.metabase import COM, FLAG_BITS, Key

if TYPE_CHECKING:
    from rollup.lab.pwsh.runtime import Runtime
    from rollup.lab.windows.machine import Machine

TYPE = "System.DirectoryServices.DirectoryEntry"
_BASES = ("System.ComponentModel.Component", "System.MarshalByRefObject", "System.IDisposable")
UNKNOWN_PROVIDER = "Unknown error (0x80005000)"
PATH_NOT_FOUND = "The system cannot find the path specified. (Exception from HRESULT: 0x80070003)"
RPC_UNAVAILABLE = "The RPC server is unavailable. (Exception from HRESULT: 0x800706BA)"
NOT_SUPPORTED = "Exception from HRESULT: 0x80005006"
NOT_IN_CACHE = "The directory property cannot be found in the cache.\r\n"
CANT_CONVERT = "Exception from HRESULT: 0x8000500C"
_UNMODELLED = ("WinNT://", "GC://", "NDS://", "NWCOMPAT://")


def _com(message: str) -> NetException:
    return NetException(COM, message)


def parse_path(machine: Machine, path: str) -> tuple[str, ...]:
    """The metabase segments an ``IIS://server/...`` path names; binding errors as ADSI gives them."""
    if any(path.startswith(p) for p in _UNMODELLED):
        raise _com(f"The lab's ADSI model has no {path.split('//', 1)[0]} provider.")
    if not path.startswith("IIS://") or not metabase.available(machine.state):
        raise _com(UNKNOWN_PROVIDER)
    server, _, rest = path[len("IIS://") :].partition("/")
    if server.lower() not in ("localhost", ".", "127.0.0.1", machine.computer_name().lower()):
        raise _com(RPC_UNAVAILABLE)
    rest = rest.rstrip("/")
    segments = tuple(rest.split("/")) if rest else ()
    if any(not s for s in segments):
        raise _com(PATH_NOT_FOUND)
    return segments


class _Native:
    """The methods the adapted entry and ``psbase`` share (the .NET ones)."""

    entry: DirectoryEntry

    def RefreshCache(self) -> None:
        self.entry.load()

    def CommitChanges(self) -> None:
        self.entry.commit()

    def Invoke(self, method: Any, *args: Any) -> Any:
        name = to_string(method).lower()
        table: dict[str, Callable[..., Any]] = {
            "put": self.entry.Put,
            "get": self.entry.Get,
            "setinfo": self.entry.SetInfo,
            "getinfo": self.entry.GetInfo,
        }
        fn = table.get(name)
        if fn is None:
            raise _com("Unknown name. (Exception from HRESULT: 0x80020006 (DISP_E_UNKNOWNNAME))")
        flat = list(args[0]) if len(args) == 1 and isinstance(args[0], list) else list(args)
        return fn(*flat)

    def Close(self) -> None:
        return None

    def Dispose(self) -> None:
        return None


class DirectoryEntry(_Native, NetObject):
    """A ``DirectoryEntry`` as a script sees it (PowerShell's adapter over it)."""

    TYPE: ClassVar[str] = TYPE
    BASES: ClassVar[tuple[str, ...]] = _BASES

    def __init__(self, machine: Machine, path: str) -> None:
        self.machine = machine
        self.path = path
        self.entry = self
        self._key: Key | None = None
        self.cache: dict[str, Any] | None = None
        self.dirty: dict[str, Any] = {}
        self.properties: PropertyCollection | None = None

    # binding and the property cache ------------------------------------------------------

    def bind(self) -> Key:
        if self._key is None:
            found = metabase.find(self.machine.state, parse_path(self.machine, self.path))
            if found is None:
                raise _com(PATH_NOT_FOUND)
            self._key = found
        return self._key

    def load(self) -> None:
        key = self.bind()
        fresh = metabase.find(self.machine.state, key.segments)
        if fresh is None:
            raise _com(PATH_NOT_FOUND)
        self._key = fresh
        self.cache = metabase.read(self.machine.state, fresh)
        self.dirty = {}
        if self.properties is not None:
            self.properties.values.clear()

    def values(self) -> dict[str, Any]:
        if self.cache is None:
            self.load()
        assert self.cache is not None
        return self.cache

    def lookup(self, name: str) -> tuple[str, Any] | None:
        """(canonical name, value) of a property in the cache, or ``None``."""
        for k, v in self.values().items():
            if k.lower() == name.lower():
                return k, v
        return None

    def commit(self) -> None:
        key = self.bind()
        if self.dirty:
            metabase.write(self.machine.state, key, dict(self.dirty))
        self.dirty = {}

    def put(self, name: Any, value: Any) -> None:
        text = to_string(name)
        canonical = metabase.ALL_PROPERTIES.get(text.lower())
        schema = metabase.SCHEMA.get(self.bind().key_type, ())
        if canonical is None or canonical not in schema:
            raise _com(NOT_SUPPORTED)
        values = self.values()
        if canonical in FLAG_BITS:
            flags, mask = FLAG_BITS[canonical]
            current = int(values.get(flags, 0))
            value = current | mask if to_bool(value) else current & ~mask
            canonical = flags
        try:
            converted = int(to_number(value)) if canonical in metabase.DWORD else value
        except ConversionError:
            raise _com(CANT_CONVERT) from None
        if canonical not in metabase.DWORD:
            converted = [to_string(v) for v in value] if isinstance(value, list) else to_string(value)
        values[canonical] = converted
        for bit, (flags, mask) in FLAG_BITS.items():
            if flags == canonical and bit in values:
                values[bit] = bool(int(converted) & mask)
        self.dirty[canonical] = converted

    # the provider's methods (IADs), reached through the adapter --------------------------

    def Put(self, name: Any, value: Any) -> None:
        self.put(name, value)

    def Get(self, name: Any) -> Any:
        found = self.lookup(to_string(name))
        if found is None:
            raise _com(NOT_IN_CACHE)
        return found[1]

    def SetInfo(self) -> None:
        self.commit()

    def GetInfo(self) -> None:
        self.load()

    # PowerShell's adapter ----------------------------------------------------------------

    def ps_dynamic_member(self, name: str) -> tuple[bool, Any]:
        if name.lower() == "psbase":
            return True, EntryBase(self)
        try:
            self.values()
        except NetException:
            return False, None
        return True, PropertyValueCollection(self, name)

    def ToString(self, *args: Any) -> str:
        return TYPE


class EntryBase(_Native, NetObject):
    """``$entry.psbase``: the .NET ``DirectoryEntry`` without PowerShell's adapter."""

    TYPE: ClassVar[str] = TYPE
    BASES: ClassVar[tuple[str, ...]] = _BASES

    def __init__(self, entry: DirectoryEntry) -> None:
        self.entry = entry

    @property
    def Path(self) -> str:
        return self.entry.path

    @property
    def Name(self) -> str:
        return self.entry.bind().name

    @property
    def SchemaClassName(self) -> str:
        return self.entry.bind().key_type

    @property
    def Children(self) -> DirectoryEntries:
        self.entry.bind()
        return DirectoryEntries(self.entry)

    @property
    def Properties(self) -> PropertyCollection:
        self.entry.values()
        if self.entry.properties is None:
            self.entry.properties = PropertyCollection(self.entry)
        return self.entry.properties

    @property
    def Parent(self) -> DirectoryEntry:
        key = self.entry.bind()
        if not key.segments:
            raise _com(PATH_NOT_FOUND)
        return DirectoryEntry(self.entry.machine, self.entry.path.rstrip("/").rsplit("/", 1)[0])

    def ToString(self, *args: Any) -> str:
        return TYPE


class DirectoryEntries(NetObject):
    TYPE: ClassVar[str] = "System.DirectoryServices.DirectoryEntries"
    BASES: ClassVar[tuple[str, ...]] = ("System.Collections.IEnumerable",)

    def __init__(self, parent: DirectoryEntry) -> None:
        self.parent = parent

    def _paths(self) -> list[tuple[Key, str]]:
        state = self.parent.machine.state
        base = self.parent.path.rstrip("/")
        return [(k, f"{base}/{k.name}") for k in metabase.children(state, self.parent.bind())]

    def ps_enumerate(self) -> Iterator[Any] | None:
        return iter([DirectoryEntry(self.parent.machine, p) for _, p in self._paths()])

    def Find(self, name: Any, *schema: Any) -> DirectoryEntry:
        for key, path in self._paths():
            if key.name.lower() == to_string(name).lower() and (
                not schema or key.key_type.lower() == to_string(schema[0]).lower()
            ):
                return DirectoryEntry(self.parent.machine, path)
        raise _com(PATH_NOT_FOUND)


class PropertyCollection(NetObject):
    TYPE: ClassVar[str] = "System.DirectoryServices.PropertyCollection"
    BASES: ClassVar[tuple[str, ...]] = ("System.Collections.IDictionary", "System.Collections.ICollection")

    def __init__(self, entry: DirectoryEntry) -> None:
        self.entry = entry
        self.values: dict[str, PropertyValueCollection] = {}

    def ps_index(self, key: Any) -> Any:
        name = to_string(key)
        if name.lower() not in self.values:
            self.values[name.lower()] = PropertyValueCollection(self.entry, name)
        return self.values[name.lower()]

    def Contains(self, name: Any) -> bool:
        return self.entry.lookup(to_string(name)) is not None

    def ps_enumerate(self) -> Iterator[Any] | None:
        return None


class PropertyValueCollection(NetObject):
    """One property's values, read from the entry's cache when the collection is made."""

    TYPE: ClassVar[str] = "System.DirectoryServices.PropertyValueCollection"
    BASES: ClassVar[tuple[str, ...]] = (
        "System.Collections.CollectionBase",
        "System.Collections.IList",
        "System.Collections.ICollection",
        "System.Collections.IEnumerable",
    )

    def __init__(self, entry: DirectoryEntry, name: str) -> None:
        self.entry = entry
        found = entry.lookup(name)
        self.name = found[0] if found else name
        value = found[1] if found else None
        self.items: list[Any] = [] if value is None else (list(value) if isinstance(value, list) else [value])

    @property
    def PropertyName(self) -> str:
        return self.name

    @property
    def Count(self) -> int:
        return len(self.items)

    @property
    def Value(self) -> Any:
        if not self.items:
            return None
        return self.items[0] if len(self.items) == 1 else list(self.items)

    @Value.setter
    def Value(self, value: Any) -> None:
        self.entry.put(self.name, value)
        found = self.entry.lookup(self.name)
        stored = found[1] if found else None
        self.items = [] if stored is None else (list(stored) if isinstance(stored, list) else [stored])

    def ps_index(self, key: Any) -> Any:
        i = int(to_number(key))
        if not 0 <= i < len(self.items):
            raise NetException(
                "System.ArgumentOutOfRangeException",
                "Index was out of range. Must be non-negative and less than the size of the collection.\r\nParameter name: index",
            )
        return self.items[i]

    def Contains(self, value: Any) -> bool:
        return any(to_string(v) == to_string(value) for v in self.items)

    def ps_enumerate(self) -> Iterator[Any] | None:
        return iter(list(self.items))


class _Statics:
    @static
    def Exists(rt: Runtime, path: Any) -> bool:
        machine = rt.machine
        try:
            segments = parse_path(machine, to_string(path))
        except NetException as exc:
            if exc.message == PATH_NOT_FOUND:
                return False
            raise
        return metabase.find(machine.state, segments) is not None


def _cast(rt: Runtime, value: Any) -> Any:
    from rollup.lab.windows.ldap import LdapEntry, ldap_entry

    if value is None or isinstance(value, DirectoryEntry | LdapEntry):
        return value
    path = to_string(value)
    if path.startswith("LDAP://"):
        return ldap_entry(rt.machine, path)
    return DirectoryEntry(rt.machine, path)


register(
    TYPE,
    statics=statics_of(_Statics),
    construct=_cast,
    cast=_cast,
    aliases=("adsi",),
)
