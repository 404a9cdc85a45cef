"""
PowerShell's FileSystem and Registry providers on the simulated host: ``Test-Path``,
``Get-Item``, ``Get-ItemProperty`` and ``Get-ChildItem`` on ``C:\\...`` and ``HKLM:\\...`` paths
(also ``FileSystem::`` and ``Registry::HKEY_LOCAL_MACHINE\\`` forms, and the ``PSPath`` of an item).

The registry is derived from the host's state: the Uninstall keys (both views) from its installed
products, ``InetStp`` from its IIS version, the pending-reboot markers from ``pending_reboot``.
A missing path is PowerShell's ItemNotFoundException, a non-terminating error.
"""

from __future__ import annotations

import fnmatch
from typing import TYPE_CHECKING, Any, ClassVar

from rollup.lab.pwsh.errors import ErrorRecord, ExceptionObject
from rollup.lab.pwsh.net import NetObject
from rollup.lab.pwsh.values import PSObject, to_string

if TYPE_CHECKING:
    from rollup.lab.pwsh.commands import Bound
    from rollup.lab.pwsh.interp import Interpreter
    from rollup.lab.windows.machine import Machine

_HKLM = "HKEY_LOCAL_MACHINE"
_REG_PREFIX = "Microsoft.PowerShell.Core\\Registry::"
_FS_PREFIX = "Microsoft.PowerShell.Core\\FileSystem::"
UNINSTALL = "SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall"
UNINSTALL_WOW = "SOFTWARE\\Wow6432Node\\Microsoft\\Windows\\CurrentVersion\\Uninstall"


def _not_found(path: str) -> ErrorRecord:
    exc = ExceptionObject(
        "System.Management.Automation.ItemNotFoundException",
        f"Cannot find path '{path}' because it does not exist.",
    )
    return ErrorRecord(
        exc, "PathNotFound,Microsoft.PowerShell.Commands.GetItemPropertyCommand", "ObjectNotFound", path
    )


def split_path(path: str) -> tuple[str, str]:
    """(``registry`` or ``filesystem``, the provider path: ``SOFTWARE\\...`` or ``C:\\...``)."""
    text = path
    for prefix in (_REG_PREFIX, "Registry::"):
        if text.lower().startswith(prefix.lower()):
            rest = text[len(prefix) :]
            for hive in (_HKLM + "\\", "HKLM\\", "HKLM:\\"):
                if rest.upper().startswith(hive.upper()):
                    return "registry", rest[len(hive) :].strip("\\")
            return "registry", rest.strip("\\")
    if text.upper().startswith("HKLM:"):
        return "registry", text[5:].strip("\\")
    for prefix in (_FS_PREFIX, "FileSystem::"):
        if text.lower().startswith(prefix.lower()):
            return "filesystem", text[len(prefix) :]
    return "filesystem", text


def reboot_markers(reasons: list[str]) -> set[str]:
    """
    Where Windows records each reason a host waits for a restart: Windows Update and component
    servicing have keys of their own; an installer that replaced files in use (msiexec 3010 or
    1641) leaves PendingFileRenameOperations, as any other pending file rename does.
    """
    out = set()
    for reason in reasons:
        out.add(
            reason
            if reason in ("WindowsUpdate RebootRequired", "CBS RebootPending")
            else "PendingFileRenameOperations"
        )
    return out


class RegistryKey(NetObject):
    TYPE: ClassVar[str] = "Microsoft.Win32.RegistryKey"

    def __init__(self, path: str, values: dict[str, Any]) -> None:
        self.path = path
        self.values = values

    @property
    def Name(self) -> str:
        return f"{_HKLM}\\{self.path}"

    @property
    def PSPath(self) -> str:
        return f"{_REG_PREFIX}{self.Name}"

    @property
    def PSChildName(self) -> str:
        return self.path.rsplit("\\", 1)[-1]

    @property
    def PSIsContainer(self) -> bool:
        return True

    @property
    def ValueCount(self) -> int:
        return len(self.values)

    def GetValue(self, name: Any, *default: Any) -> Any:
        key = to_string(name).lower()
        for k, v in self.values.items():
            if k.lower() == key:
                return v
        return default[0] if default else None

    def GetValueNames(self) -> list[str]:
        return list(self.values)

    def ToString(self, *args: Any) -> str:
        return self.Name


class Provider:
    def __init__(self, machine: Machine) -> None:
        self.machine = machine

    # the registry model ---------------------------------------------------------------------

    def registry(self) -> dict[str, dict[str, Any]]:
        """Every key (lower-case path -> values), with its parents."""
        state = self.machine.state
        keys: dict[str, tuple[str, dict[str, Any]]] = {}

        def add(path: str, values: dict[str, Any] | None = None) -> None:
            parts = path.split("\\")
            for i in range(1, len(parts)):
                keys.setdefault("\\".join(parts[:i]).lower(), ("\\".join(parts[:i]), {}))
            keys[path.lower()] = (path, values or {})

        add("SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall")
        if state.arch == "AMD64":
            add(UNINSTALL_WOW)
        for product in state.products.values():
            base = UNINSTALL_WOW if product.wow6432 and state.arch == "AMD64" else UNINSTALL
            add(
                f"{base}\\{product.product_code}",
                {
                    "DisplayName": product.display_name,
                    "DisplayVersion": product.display_version,
                    "Publisher": product.publisher,
                    "InstallDate": product.install_date,
                    "WindowsInstaller": 1,
                },
            )
        session: dict[str, Any] = {}
        markers = reboot_markers(state.pending_reboot)
        if "PendingFileRenameOperations" in markers:
            session["PendingFileRenameOperations"] = ["\\??\\C:\\WINDOWS\\TEMP\\pending.tmp", ""]
        add("SYSTEM\\CurrentControlSet\\Control\\Session Manager", session)
        current = "SOFTWARE\\Microsoft\\Windows\\CurrentVersion"
        if "WindowsUpdate RebootRequired" in markers:
            add(f"{current}\\WindowsUpdate\\Auto Update\\RebootRequired")
        if "CBS RebootPending" in markers:
            add(f"{current}\\Component Based Servicing\\RebootPending")
        if state.iis_version is not None:
            add("SOFTWARE\\Microsoft\\InetStp", {"MajorVersion": state.iis_version, "MinorVersion": 0})
        return {k: {"__path__": p, **v} for k, (p, v) in keys.items()}

    def _key(self, path: str) -> RegistryKey | None:
        table = self.registry()
        found = table.get(path.lower().strip("\\"))
        if found is None:
            return None
        values = {k: v for k, v in found.items() if k != "__path__"}
        return RegistryKey(found["__path__"], values)

    def _children(self, path: str) -> list[RegistryKey]:
        table = self.registry()
        prefix = path.lower().strip("\\") + "\\"
        out = []
        for k, v in table.items():
            if k.startswith(prefix) and "\\" not in k[len(prefix) :]:
                out.append(RegistryKey(v["__path__"], {n: x for n, x in v.items() if n != "__path__"}))
        return sorted(out, key=lambda r: r.path.lower())

    def _expand(self, path: str, literal: bool) -> list[RegistryKey]:
        if literal or not any(c in path for c in "*?["):
            found = self._key(path)
            return [] if found is None else [found]
        parent, _, leaf = path.rpartition("\\")
        return [k for k in self._children(parent) if fnmatch.fnmatch(k.PSChildName.lower(), leaf.lower())]

    # cmdlets -------------------------------------------------------------------------------

    def _paths(self, b: Bound) -> tuple[list[str], bool]:
        literal = b.has("literalpath")
        value = b.get("literalpath") if literal else b.get("path", 0)
        if value is None:
            return [], literal
        return ([to_string(v) for v in value] if isinstance(value, list) else [to_string(value)]), literal

    def test_path(self, interp: Interpreter, b: Bound) -> list[Any]:
        paths, literal = self._paths(b)
        out: list[Any] = []
        for p in paths:
            kind, rest = split_path(p)
            if kind == "registry":
                out.append(bool(self._expand(rest, literal)))
            else:
                out.append(self.machine.fs.is_file(rest) or self.machine.fs.is_dir(rest))
        return out

    def get_item(self, interp: Interpreter, b: Bound) -> list[Any]:
        paths, literal = self._paths(b)
        out: list[Any] = []
        for p in paths:
            kind, rest = split_path(p)
            items = self._expand(rest, literal) if kind == "registry" else self._fs_items(interp, rest)
            if not items:
                interp.rt.write_error(_not_found(p))
            out.extend(items)
        return out

    def get_item_property(self, interp: Interpreter, b: Bound) -> list[Any]:
        paths, literal = self._paths(b)
        out: list[Any] = []
        for p in paths:
            kind, rest = split_path(p)
            keys = self._expand(rest, literal) if kind == "registry" else []
            if not keys:
                interp.rt.write_error(_not_found(p))
                continue
            for key in keys:
                if not key.values:
                    continue
                props = dict(key.values)
                props.update(
                    {
                        "PSPath": key.PSPath,
                        "PSParentPath": key.PSPath.rsplit("\\", 1)[0],
                        "PSChildName": key.PSChildName,
                        "PSProvider": "Microsoft.PowerShell.Core\\Registry",
                    }
                )
                out.append(PSObject(props))
        return out

    def get_child_item(self, interp: Interpreter, b: Bound) -> list[Any]:
        paths, _literal = self._paths(b)
        out: list[Any] = []
        for p in paths:
            kind, rest = split_path(p)
            if kind == "registry":
                if self._key(rest) is None:
                    interp.rt.write_error(_not_found(p))
                    continue
                out.extend(self._children(rest))
                continue
            fs = self.machine.fs
            if not fs.is_dir(rest):
                if fs.is_file(rest):
                    out.extend(self._fs_items(interp, rest))
                    continue
                interp.rt.write_error(_not_found(p))
                continue
            from rollup.lab.pwsh.dotnet.io import DirectoryInfo, FileInfo

            dirs, files = fs.listing(rest)
            out.extend(DirectoryInfo(interp.rt, d) for d in dirs)
            out.extend(FileInfo(interp.rt, f) for f in files)
        return out

    def _fs_items(self, interp: Interpreter, path: str) -> list[Any]:
        from rollup.lab.pwsh.dotnet.io import DirectoryInfo, FileInfo

        fs = self.machine.fs
        if fs.is_file(path):
            return [FileInfo(interp.rt, path)]
        if fs.is_dir(path):
            return [DirectoryInfo(interp.rt, path)]
        return []
