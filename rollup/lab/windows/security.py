"""
``System.Security.Principal`` and directory ACLs on the simulated host.

``[Security.Principal.WindowsIdentity]::GetCurrent()`` is the account the WinRM session
authenticated as: its SID, and its groups (Everyone, BUILTIN\\Administrators, which a WinRM shell
requires, Authenticated Users, and Domain Admins when the host's state lists the account among
them). A directory's ACL grants BUILTIN\\Administrators and SYSTEM full control, as a default
``C:\\`` folder does.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any, ClassVar

from rollup.lab.pwsh.net import NetException, NetObject, NetType, register, static, statics_of
from rollup.lab.pwsh.values import to_string

if TYPE_CHECKING:
    from rollup.lab.pwsh.runtime import Runtime
    from rollup.lab.windows.machine import Machine

ADMINISTRATORS = "S-1-5-32-544"
SYSTEM = "S-1-5-18"
WELL_KNOWN = {
    "S-1-1-0": "Everyone",
    ADMINISTRATORS: "BUILTIN\\Administrators",
    "S-1-5-11": "NT AUTHORITY\\Authenticated Users",
    SYSTEM: "NT AUTHORITY\\SYSTEM",
}
FULL_CONTROL = 2032127


def domain_sid(domain: str) -> str:
    """A stable domain SID for a domain name (the lab's domains are its own)."""
    digest = hashlib.sha256(domain.lower().encode()).digest()
    parts = [int.from_bytes(digest[i : i + 4], "little") for i in (0, 4, 8)]
    return "S-1-5-21-" + "-".join(str(p) for p in parts)


class SecurityIdentifier(NetObject):
    TYPE: ClassVar[str] = "System.Security.Principal.SecurityIdentifier"
    BASES: ClassVar[tuple[str, ...]] = ("System.Security.Principal.IdentityReference",)

    def __init__(self, sid: str, names: dict[str, str]) -> None:
        self.sid = sid
        self.names = names

    @property
    def Value(self) -> str:
        return self.sid

    def Translate(self, target: Any) -> NTAccount:
        if not (isinstance(target, NetType) and target.full_name.endswith("NTAccount")):
            raise NetException("System.ArgumentException", "targetType")
        name = self.names.get(self.sid)
        if name is None:
            raise NetException(
                "System.Security.Principal.IdentityNotMappedException",
                "Some or all identity references could not be translated.",
            )
        return NTAccount(name)

    def ToString(self, *args: Any) -> str:
        return self.sid


class NTAccount(NetObject):
    TYPE: ClassVar[str] = "System.Security.Principal.NTAccount"
    BASES: ClassVar[tuple[str, ...]] = ("System.Security.Principal.IdentityReference",)

    def __init__(self, name: str) -> None:
        self.name = name

    @property
    def Value(self) -> str:
        return self.name

    def ToString(self, *args: Any) -> str:
        return self.name


class WindowsIdentity(NetObject):
    TYPE: ClassVar[str] = "System.Security.Principal.WindowsIdentity"

    def __init__(self, machine: Machine) -> None:
        user = machine.user
        domain = user.split("\\", 1)[0] if "\\" in user else machine.computer_name()
        base = domain_sid(domain)
        self.name = user
        self.names = dict(WELL_KNOWN)
        self.user_sid = f"{base}-{1000 + int(hashlib.sha256(user.lower().encode()).hexdigest()[:4], 16)}"
        self.names[self.user_sid] = user
        groups = ["S-1-1-0", ADMINISTRATORS, "S-1-5-11"]
        if user.lower() in machine.state.domain_admins:
            admins = f"{base}-512"
            self.names[admins] = f"{domain.upper()}\\Domain Admins"
            groups.append(admins)
        self.groups = groups

    @property
    def Name(self) -> str:
        return self.name

    @property
    def User(self) -> SecurityIdentifier:
        return SecurityIdentifier(self.user_sid, self.names)

    @property
    def Groups(self) -> list[SecurityIdentifier]:
        return [SecurityIdentifier(g, self.names) for g in self.groups]


class IdentityStatics:
    @static
    def GetCurrent(rt: Runtime) -> WindowsIdentity:
        return WindowsIdentity(rt.machine)


class AccessRule(NetObject):
    TYPE: ClassVar[str] = "System.Security.AccessControl.FileSystemAccessRule"

    def __init__(self, sid: str, rights: int, allow: bool) -> None:
        self.sid = sid
        self.rights = rights
        self.allow = allow

    @property
    def IdentityReference(self) -> SecurityIdentifier:
        return SecurityIdentifier(self.sid, WELL_KNOWN)

    @property
    def FileSystemRights(self) -> int:
        return self.rights

    @property
    def PropagationFlags(self) -> int:
        return 0

    @property
    def InheritanceFlags(self) -> int:
        return 3

    @property
    def AccessControlType(self) -> str:
        return "Allow" if self.allow else "Deny"


class DirectorySecurity(NetObject):
    TYPE: ClassVar[str] = "System.Security.AccessControl.DirectorySecurity"

    def __init__(self, rules: list[AccessRule]) -> None:
        self.rules = rules

    def GetAccessRules(self, explicit: Any, inherited: Any, target: Any) -> list[AccessRule]:
        if not isinstance(target, NetType) or not target.full_name.endswith(
            ("SecurityIdentifier", "NTAccount")
        ):
            raise NetException("System.ArgumentException", f"targetType: {to_string(target)}")
        return list(self.rules)


def directory_acl(machine: Machine, path: str) -> DirectorySecurity:
    if not machine.fs.is_dir(path):
        raise NetException(
            "System.IO.DirectoryNotFoundException", f"Could not find a part of the path '{path}'."
        )
    return DirectorySecurity(
        [AccessRule(ADMINISTRATORS, FULL_CONTROL, True), AccessRule(SYSTEM, FULL_CONTROL, True)]
    )


register("System.Security.Principal.WindowsIdentity", statics=statics_of(IdentityStatics))
register("System.Security.Principal.SecurityIdentifier")
register("System.Security.Principal.NTAccount")
