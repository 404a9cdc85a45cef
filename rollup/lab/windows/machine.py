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

from rollup.lab.pwsh.net import NetException
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
        }
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

        return _OperatingSystem(Version(self.state.os_version + ".0"))

    def sim_context(self) -> Any:
        """The context the lab's Windows Installer model takes (``rollup.ops.msisim``)."""
        from rollup.ops.base import SimContext

        return SimContext(
            now=self.now(),
            user=self.user,
            read_blob=self.blobs.get,
            write_blob=self.blobs.put,
            peers=self.peers,
        )

    # programs -----------------------------------------------------------------------------

    def programs(self) -> dict[str, Program]:
        from rollup.lab.windows.msiexec import msiexec
        from rollup.lab.windows.sqlclient import sql_programs

        system = self.system_root() + "\\system32"
        found: dict[str, Program] = {system + "\\msiexec.exe": msiexec}
        found.update(sql_programs(self))
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
        from rollup.lab.windows.wmi import query

        return query(self, interp, bound)

    def has_wmi_namespace(self, namespace: str) -> bool:
        """``root\\cimv2`` on every host; others where a role or feature provides them."""
        return namespace.lower() == "root\\cimv2"

    def modules(self, name: str) -> Iterable[Any]:
        return []

    def cmdlets(self) -> dict[str, Cmdlet]:
        return {}

    def mutex_held(self, name: str) -> bool:
        if name.lower() != "global\\_msiexecute":
            return False
        busy = self.state.installer_busy_until
        return busy is not None and self.now() < busy

    def directory_acl(self, path: str) -> Any:
        raise NetException(
            "System.UnauthorizedAccessException", "Attempted to perform an unauthorized operation."
        )


class _OperatingSystem:
    def __init__(self, version: Any) -> None:
        self.version = version
