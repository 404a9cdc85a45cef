"""
``powershell.exe`` on a simulated host: which script a command line runs, handed to the runner.

PowerShell is not emulated: the script a ``powershell.exe`` line carries (``-EncodedCommand``,
the stdin bootstrap of ``rollup.ps.delivery``, or plain ``-Command`` text) goes to the host's
``ScriptRunner``; a runner that is a ``StdinRunner`` gets stdin too for the command-line scripts
it says read it.
"""

from __future__ import annotations

import re
from collections.abc import Generator
from functools import partial

from rollup.lab.scripting import ScriptOutcome
from rollup.lab.winproc import CmdHost, Emit, Process, Sent, Start, StdinRunner, Step, codec, read_stdin
from rollup.ps.delivery import decode_powershell, decode_stdin_payload

BAD_ENCODED_COMMAND = (
    "Cannot process the command because the value specified with -EncodedCommand is not properly encoded. "
    "The value must be Base64 encoded.\r\n"
)
BAD_STDIN_SCRIPT = (
    'Exception calling "FromBase64String" with "1" argument(s): "Invalid character in a Base-64 string."\r\n'
)


def split_arguments(text: str) -> list[str]:
    """Split a command line into arguments as CommandLineToArgvW does for simple quoting."""
    return [a.replace('\\"', '"').strip('"') for a in re.findall(r'(?:[^\s"]+|"(?:\\.|[^"])*")+', text)]


_SWITCHES_WITH_VALUE = (
    "executionpolicy",
    "windowstyle",
    "version",
    "inputformat",
    "outputformat",
    "psconsolefile",
    "encodedcommand",
)
_SWITCHES = ("noprofile", "noninteractive", "nologo", "noexit", "sta", "mta")


def _command_text(arguments: list[str]) -> str | None:
    """What PowerShell runs without ``-EncodedCommand``: the text after its switches (``None``: stdin)."""
    index = 0
    while index < len(arguments):
        argument = arguments[index]
        name = argument[1:].lower() if argument[:1] in ("-", "/") and len(argument) > 1 else ""
        if name and "command".startswith(name):
            rest = arguments[index + 1 :]
            return None if rest in ([], ["-"]) else " ".join(rest)
        if name == "ep" or (name and any(s.startswith(name) for s in _SWITCHES_WITH_VALUE)):
            index += 2
            continue
        if name and any(s.startswith(name) for s in _SWITCHES):
            index += 1
            continue
        return None if arguments[index:] == ["-"] else " ".join(arguments[index:])
    return None


def run_powershell(arguments: list[str], host: CmdHost) -> Process:
    """``powershell.exe <arguments>``: its script run by the host's runner, its output emitted."""
    script = yield from _script(arguments, host)
    if isinstance(script, Emit):
        yield script
        return 1
    start = partial(host.runner, host.name, script)
    runner = host.runner
    if isinstance(runner, StdinRunner) and _is_inline(arguments) and runner.wants_stdin(script):
        start = partial(runner, host.name, script, (yield from read_stdin()))
    outcome = yield Start(start)
    if not isinstance(outcome, ScriptOutcome):
        raise TypeError("a Start step must be answered with a ScriptOutcome")
    yield Emit(outcome.stdout, outcome.stderr)
    return outcome.exit_code


def _is_inline(arguments: list[str]) -> bool:
    """Whether the script is on the command line (``-EncodedCommand``), leaving stdin unread."""
    decoded = decode_powershell(arguments)
    return decoded is not None and decoded.mode == "inline"


def _script(arguments: list[str], host: CmdHost) -> Generator[Step, Sent, str | Emit]:
    """The script a ``powershell.exe`` command line runs, or the error PowerShell prints instead."""
    decoded = decode_powershell(arguments)
    if decoded is not None and decoded.mode == "inline":
        return decoded.script
    if decoded is not None:
        script = decode_stdin_payload((yield from read_stdin()))
        return Emit(stderr=BAD_STDIN_SCRIPT) if script is None else script
    if any(re.fullmatch(r"[-/](e|ec|enc|encodedcommand)", a, re.IGNORECASE) for a in arguments):
        return Emit(stderr=BAD_ENCODED_COMMAND)
    text = _command_text(arguments)
    if text is None:
        text = (yield from read_stdin()).decode(codec(host.codepage), errors="replace")
    return text
