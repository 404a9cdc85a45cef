"""
One simulated Windows host as a running script sees it: environment, files, registry,
programs, COM objects, WMI, modules and the clock, backed by its ``HostState``.

The interpreter (``rollup.lab.pwsh``) asks the machine for everything outside the language;
the machine answers from the state, and changes it as Windows would.
"""

from __future__ import annotations

import ntpath
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from rollup.lab.pwsh.net import NetObject
from rollup.lab.windows.fs import FileSystem
from rollup.lab.windows.provider import Provider

if TYPE_CHECKING:
    from rollup.lab.pwsh.cmdlets import Cmdlet
    from rollup.lab.state import BlobStore, HostState, StateStore

Program = Callable[["Machine", str, str], tuple[int, str, str]]
"""A program: ``(machine, command line, stdin) -> (exit code, stdout, stderr)``."""


class Machine:
    def __init__(
        self,
        state: HostState,
        blobs: BlobStore,
        *,
        now: float,
        user: str,
        peers: StateStore | None = None,
    ) -> None:
        self.state = state
        self.blobs = blobs
        self._now = now
        self.user = user
        self.peers = peers
        self.slept = 0.0
        self.fs = FileSystem(state, blobs, now)
        self.provider = Provider(self)
        self._env: dict[str, str] = {}
        self._hyperv: Any = None
        self.imported_modules: set[str] = set()
        """Modules loaded in this run (PowerShell 3.0 loads one when a script first uses its cmdlets)."""

    # identity and environment -------------------------------------------------------------

    @property
    def ps_version(self) -> str:
        return self.state.ps_version

    def now(self) -> float:
        return self._now + self.slept

    def sleep(self, seconds: float) -> None:
        self.slept += max(0.0, seconds)

    def computer_name(self) -> str:
        return self.state.name.upper()

    def system_root(self) -> str:
        return "C:\\Windows" if self.state.os_version.startswith("6.") else "C:\\WINDOWS"

    def environment(self) -> dict[str, str]:
        root = self.system_root()
        env = {
            "computername": self.computer_name(),
            "systemroot": root,
            "windir": root,
            "comspec": root + "\\system32\\cmd.exe",
            "processor_architecture": self.state.arch,
            "temp": root + "\\TEMP",
            "tmp": root + "\\TEMP",
            "path": f"{root}\\system32;{root};{root}\\System32\\Wbem;{root}\\system32\\WindowsPowerShell\\v1.0\\",
            "username": self.user.split("\\")[-1],
            "userdomain": self.user.split("\\")[0] if "\\" in self.user else self.computer_name(),
            "programfiles": "C:\\Program Files",
            "commonprogramfiles": "C:\\Program Files\\Common Files",
        }
        if self.state.arch == "AMD64":  # a 64-bit process sees both folders
            env["programfiles(x86)"] = "C:\\Program Files (x86)"
            env["commonprogramfiles(x86)"] = "C:\\Program Files (x86)\\Common Files"
        from rollup.lab.windows.sqlclient import sql_server_version

        version = sql_server_version(self.state)
        if version is not None:
            env["path"] += f";C:\\Program Files\\Microsoft SQL Server\\{version}0\\Tools\\Binn\\"
        env.update(self._env)
        return env

    def set_environment(self, name: str, value: str) -> None:
        self._env[name.lower()] = value

    def os_version_object(self) -> Any:
        from rollup.lab.pwsh.dotnet_version import Version

        revision = self.state.service_pack << 16
        return _OperatingSystem(Version(f"{self.state.os_version}.{revision}"), self.state.service_pack)

    def sim_context(self) -> Any:
        """The context the lab's Windows Installer model takes (``rollup.ops.msisim``)."""
        from rollup.lab.context import SimContext

        return SimContext(
            now=self.now(),
            user=self.user,
            read_blob=self.blobs.get,
            write_blob=self.blobs.put,
            peers=self.peers,
        )

    # programs -----------------------------------------------------------------------------

    def programs(self) -> dict[str, Program]:
        from rollup.lab.windows.appcmd import appcmd
        from rollup.lab.windows.cmd import cmd_exe, site_command
        from rollup.lab.windows.iisreset import iisreset
        from rollup.lab.windows.msiexec import msiexec
        from rollup.lab.windows.netsh import netsh_exe
        from rollup.lab.windows.shutdown import shutdown_exe
        from rollup.lab.windows.sqlclient import sql_programs
        from rollup.ops.deploytool import LAB_COMMAND

        system = self.system_root() + "\\system32"
        found: dict[str, Program] = {
            system + "\\msiexec.exe": msiexec,
            system + "\\cmd.exe": cmd_exe,
            system + "\\shutdown.exe": shutdown_exe,
        }
        found.update(sql_programs(self))
        if "deployment_tool" in self.state.roles:
            found[LAB_COMMAND] = site_command
        iis = self.state.iis_version
        if iis is not None:
            found[system + "\\iisreset.exe"] = iisreset
        if iis is not None and iis >= 7:
            found[system + "\\inetsrv\\appcmd.exe"] = appcmd
        found[system + "\\netsh.exe"] = netsh_exe
        return {k.lower(): v for k, v in found.items()}

    def find_program(self, name: str) -> str | None:
        """The full path of a program the host can run by this name or path, or ``None``."""
        table = self.programs()
        text = name.strip('"')
        if "\\" in text or "/" in text:
            k = text.replace("/", "\\").lower()
            candidates = [k, k + ".exe"]
            return next((c for c in candidates if c in table), None)
        base = text.lower()
        for path in table:
            if ntpath.basename(path) in (base, base + ".exe"):
                return path
        return None

    def run_program(self, path: str, command_line: str, stdin: str) -> tuple[int, str, str]:
        program = self.programs()[path.lower()]
        return program(self, command_line, stdin)

    # COM, WMI, modules --------------------------------------------------------------------

    def com_object(self, progid: str) -> Any:
        from rollup.lab.windows.com import create

        return create(self, progid)

    def wmi_query(self, interp: Any, bound: Any) -> Iterable[Any]:
        import rollup.lab.windows.hyperv_wmi  # noqa: F401 - registers the Hyper-V classes
        from rollup.lab.windows.wmi import query

        return query(self, interp, bound)

    def wmi_instance(self, path: str) -> Any:
        """The WMI instance an object path names (``[wmi]'...'``); ``NetException`` if none."""
        import rollup.lab.windows.hyperv_wmi  # noqa: F401 - registers the Hyper-V classes
        from rollup.lab.windows.wmi import instance_at

        return instance_at(self, path)

    def has_wmi_namespace(self, namespace: str) -> bool:
        """``root\\cimv2`` on every host; others where a role or feature provides them (Hyper-V)."""
        return namespace.lower() == "root\\cimv2" or namespace.lower() in self.hyperv().namespaces()

    def hyperv(self) -> Any:
        """The host's Hyper-V (``rollup.lab.windows.hyperv.HyperV``), whether or not it has the role."""
        from rollup.lab.windows.hyperv import HyperV

        if self._hyperv is None:
            self._hyperv = HyperV(self)
        return self._hyperv

    def modules(self, name: str) -> Iterable[Any]:
        """The modules installed whose name matches ``name`` (``Get-Module -ListAvailable``)."""
        from rollup.lab.pwsh.operators import like
        from rollup.lab.windows.hyperv_objects import module_info

        found = [module_info()] if self.hyperv().module_available() else []
        return [m for m in found if not name or like(m.Name, name, False)]

    def cmdlets(self) -> dict[str, Cmdlet]:
        """Cmdlets of the host's modules: Hyper-V's where its module loads (PowerShell 3.0+)."""
        from rollup.lab.windows.hyperv_cmdlets import CMDLETS

        return dict(CMDLETS) if self.hyperv().cmdlets_available() else {}

    def mutex_held(self, name: str) -> bool:
        if name.lower() != "global\\_msiexecute":
            return False
        busy = self.state.installer_busy_until
        return busy is not None and self.now() < busy

    def directory_acl(self, path: str) -> Any:
        from rollup.lab.windows.security import directory_acl

        return directory_acl(self, path)


class _OperatingSystem(NetObject):
    """``[Environment]::OSVersion``: the version's revision holds the service pack (65536 for SP1)."""

    TYPE = "System.OperatingSystem"

    def __init__(self, version: Any, service_pack: int) -> None:
        self.version = version
        self.service_pack = service_pack

    @property
    def Version(self) -> Any:
        return self.version

    @property
    def Platform(self) -> str:
        return "Win32NT"

    @property
    def ServicePack(self) -> str:
        return f"Service Pack {self.service_pack}" if self.service_pack else ""

    @property
    def VersionString(self) -> str:
        return self.ToString()

    def ToString(self, *args: Any) -> str:
        v = self.version
        text = f"Microsoft Windows NT {v.Major}.{v.Minor}.{v.Build}"
        return text + (f" {self.ServicePack}" if self.service_pack else f".{v.Revision}")
