"""
A program started on a simulated Windows host, as the WinRS layer drives it.

A started command is a generator (``Process``): it yields ``Emit`` (output), ``ReadStdin``
(answered with every stdin byte once the client sends End) and ``Start`` (answered with the
``ScriptOutcome`` once the run finishes), and returns the exit code. Keeping it a generator keeps
the programs (``rollup.lab.cmdshell``, ``rollup.lab.powershell_exe``) free of I/O and clocks.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from rollup.lab.scripting import ScriptOutcome, ScriptRun, ScriptRunner, WindowsVersion


@dataclass(frozen=True, slots=True)
class Emit:
    """Output text, not yet encoded (the shell's code page applies)."""

    stdout: str = ""
    stderr: str = ""


@dataclass(frozen=True, slots=True)
class ReadStdin:
    """Wait for the whole of stdin (until the client's ``End``); answered with its bytes."""


@dataclass(frozen=True, slots=True)
class Start:
    """Start a run (calls the runner); answered with its ``ScriptOutcome`` when it finishes."""

    start: Callable[[], ScriptRun]


Step = Emit | ReadStdin | Start
Sent = ScriptOutcome | bytes | None
Process = Generator[Step, Sent, int]


@runtime_checkable
class StdinRunner(Protocol):
    """
    A runner some of whose scripts read data from stdin (a file upload): for such a script on
    the command line, cmd.exe collects stdin up to the client's End and passes it along.
    """

    def wants_stdin(self, script: str) -> bool:
        """Whether ``script`` reads stdin."""
        ...

    def __call__(self, host: str, script: str, stdin: bytes = b"") -> ScriptRun:
        """Start a run of ``script`` with ``stdin``."""
        ...


@dataclass(frozen=True, slots=True)
class CmdHost:
    """What cmd.exe knows of its host and shell."""

    name: str
    os: WindowsVersion
    runner: ScriptRunner
    codepage: int = 437
    environment: Mapping[str, str] | None = None
    """Variables from the shell's Create (``rsp:Environment``), in the order sent."""
    user: str = "Administrator"
    """The shell's owner as the client named it (``DOMAIN\\user`` or ``user``)."""
    profile: bool = True
    """Whether the user's profile is loaded (the Create did not ask for ``WINRS_NOPROFILE``)."""


class LaunchError(Exception):
    """CreateProcess failed before anything ran; ``code`` is the Win32 error (2 or 206)."""

    FILE_NOT_FOUND = 2
    FILENAME_TOO_LONG = 206

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def codec(codepage: int) -> str:
    """The Python codec of a Windows code page (65001 is UTF-8)."""
    return "utf-8" if codepage == 65001 else f"cp{codepage}"


def read_stdin() -> Generator[Step, Sent, bytes]:
    """Wait for the whole of stdin, and return it."""
    data = yield ReadStdin()
    if not isinstance(data, bytes):
        raise TypeError("a ReadStdin step must be answered with bytes")
    return data
