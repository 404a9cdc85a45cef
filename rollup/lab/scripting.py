"""
What a program on a simulated host gives back, and which Windows it runs on.

These types sit outside ``rollup.lab.wsman`` so that the emulated programs (cmd.exe,
powershell.exe) and the WinRM server can both use them without importing each other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class ScriptOutcome:
    """
    What a PowerShell process printed and returned.

    The text is encoded in the shell's code page (437 unless the client asked for another,
    e.g. 65001) with CRLF line ends; characters the code page lacks become ``?``, as on Windows.
    """

    exit_code: int
    stdout: str
    stderr: str


@dataclass(frozen=True, slots=True)
class ScriptRun:
    """
    A started operation.

    ``finish`` is called exactly once, ``duration_s`` seconds after the run started, even if
    the client signalled terminate, deleted its shell or went away meanwhile (a started
    msiexec finishes on Windows too), and at once for every unfinished run when the server
    stops, so the host model is never left half-way. Its outcome reaches the client if the
    command is still there to receive it.
    """

    duration_s: float
    finish: Callable[[], ScriptOutcome]


ScriptRunner = Callable[[str, str], ScriptRun]
"""``(host name, PowerShell script text) -> ScriptRun``; starting the run is the call itself."""


class WindowsVersion(StrEnum):
    """The Windows release a host runs; it decides ``ver`` and the system directory."""

    SERVER_2003_SP2 = "2003-sp2"
    SERVER_2008_SP2 = "2008-sp2"
    SERVER_2008_R2_SP1 = "2008r2-sp1"

    @property
    def build(self) -> str:
        """The version ``ver`` prints, e.g. ``6.0.6002``."""
        return _BUILDS[self]

    @property
    def system_root(self) -> str:
        """``%SystemRoot%``: ``C:\\WINDOWS`` on 2003, ``C:\\Windows`` from 2008."""
        return "C:\\WINDOWS" if self is WindowsVersion.SERVER_2003_SP2 else "C:\\Windows"


_BUILDS = {
    WindowsVersion.SERVER_2003_SP2: "5.2.3790",
    WindowsVersion.SERVER_2008_SP2: "6.0.6002",
    WindowsVersion.SERVER_2008_R2_SP1: "6.1.7601",
}
