"""
cmd.exe, as a simulated Windows host runs the command lines of WinRS Commands.

WinRS starts ``cmd.exe /c <Command> <Arguments>`` (or, with ``WINRS_SKIP_CMD_SHELL``, the
executable itself). This module reproduces what cmd.exe does with such a line, with its limits
and its exact messages: 8191 characters, ``&``/``&&``/``||``, ``%VAR%`` expansion, the
redirections ``>nul``, ``2>&1`` and ``>&2``, the built-ins ``echo``, ``set``, ``ver``, ``exit``
and ``rem``, the programs ``hostname`` and ``cmd``, and ``powershell.exe``. PowerShell is not
emulated: ``rollup.lab.powershell_exe`` hands the script a ``powershell.exe`` line carries to the
host's runner. A redirection to a file fails as it does for a path cmd.exe cannot open: the
simulated hosts have no file system at this level.

The environment is the block WinRS gives the process (``rollup.lab.winenv``: the host's
variables and the Create's), which ``set`` lists and changes for the rest of the line.

A started command is a generator (``Process``, ``rollup.lab.winproc``) driven by the WinRS layer.
"""

from __future__ import annotations

import ntpath
import re
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass

from rollup.lab.powershell_exe import run_powershell, split_arguments
from rollup.lab.scripting import WindowsVersion
from rollup.lab.winenv import (
    Block,
    cmd_environment,
    host_environment,
    insert,
    lookup,
    remove,
    winrs_environment,
)
from rollup.lab.winproc import CmdHost, Emit, LaunchError, Process, Sent, Step
from rollup.ps.delivery import CMD_LINE_LIMIT

CREATE_PROCESS_LIMIT = 32767
"""CreateProcess's maximum command line, in characters (beyond it: ERROR_FILENAME_EXCED_RANGE)."""

TOO_LONG = "The command line is too long.\r\n"
PATH_NOT_FOUND = "The system cannot find the path specified.\r\n"
NOT_RECOGNIZED_TAIL = "operable program or batch file.\r\n"


def launch(command: str, arguments: Sequence[str], host: CmdHost, *, skip_cmd_shell: bool) -> Process:
    """
    Start a WinRS command. Nothing runs until the generator is driven.

    Raises:
        LaunchError: the command line is longer than CreateProcess takes, or (skipping
            cmd.exe) the executable does not exist; WinRS answers the Command with a fault.
    """
    line = " ".join((command, *arguments)) if arguments else command
    system32 = f"{host.os.system_root}\\system32"
    if skip_cmd_shell:
        if len(line) > CREATE_PROCESS_LIMIT:
            raise LaunchError(LaunchError.FILENAME_TOO_LONG)
        program = _resolve_executable(command, host.os)
        if program is None:
            raise LaunchError(LaunchError.FILE_NOT_FOUND)
        return _program(program, " ".join(arguments), host)
    if len(f"{system32}\\cmd.exe /c {line}") > CREATE_PROCESS_LIMIT:
        raise LaunchError(LaunchError.FILENAME_TOO_LONG)
    return _cmd(line, host, cmd_environment(process_environment(host)))


def process_environment(host: CmdHost) -> Block:
    """The environment block WinRS gives a process of ``host``'s shell."""
    base = host_environment(host.os, host.name, host.user, profile=host.profile)
    return winrs_environment(base, (host.environment or {}).items())


def _expand(line: str, env: Block) -> str:
    """``%VAR%`` expansion as ``cmd /c`` does it: unknown variables stay as written."""

    def value(match: re.Match[str]) -> str:
        found = lookup(env, match.group(1))
        return match.group(0) if found is None else found

    return re.sub(r"%([^%\r\n]+)%", value, line)


def _split_operators(line: str) -> list[tuple[str, str]]:
    """``(operator before it, segment)`` pairs for ``&``, ``&&`` and ``||`` outside double quotes."""
    if "&" not in line and "|" not in line:
        return [("", line)]
    segments: list[tuple[str, str]] = []
    operator, start, index, quoted = "", 0, 0, False
    while index < len(line):
        char = line[index]
        if char == '"':
            quoted = not quoted
        elif char == "^" and not quoted:
            index += 1
        elif not quoted and (_is_ampersand(line, index) or line.startswith("||", index)):
            segments.append((operator, line[start:index]))
            operator = line[index : index + 2] if line[index + 1 : index + 2] == char else char
            index += len(operator)
            start = index
            continue
        index += 1
    segments.append((operator, line[start:]))
    return segments


def _is_ampersand(line: str, index: int) -> bool:
    """An ``&`` that separates commands (not the one of ``2>&1``)."""
    return line[index] == "&" and line[index - 1 : index] != ">"


_REDIRECT = re.compile(r'(?P<fd>[12])?(?P<op>>>?)\s*(?P<target>&[12]|"[^"]*"|[^\s&|<>]+)')


def _redirections(segment: str) -> tuple[str, dict[str, str] | None]:
    """The segment without its redirections, and where stdout and stderr go (``None``: a file)."""
    route = {"stdout": "stdout", "stderr": "stderr"}
    for match in _REDIRECT.finditer(segment):
        source = "stderr" if match.group("fd") == "2" else "stdout"
        target = match.group("target").strip('"')
        if target in ("&1", "&2"):
            route[source] = route["stdout" if target == "&1" else "stderr"]
        elif target.lower() == "nul":
            route[source] = "nul"
        else:
            return segment, None
    return _REDIRECT.sub("", segment), route


def _route(emit: Emit, route: Mapping[str, str]) -> Emit:
    out = {"stdout": "", "stderr": "", "nul": ""}
    out[route["stdout"]] += emit.stdout
    out[route["stderr"]] += emit.stderr
    return Emit(out["stdout"], out["stderr"])


def _redirected(process: Process, route: Mapping[str, str]) -> Process:
    sent: Sent = None
    try:
        while True:
            step = process.send(sent)
            sent = yield (_route(step, route) if isinstance(step, Emit) else step)
    except StopIteration as stop:
        return int(stop.value)


@dataclass(frozen=True, slots=True)
class _Exit:
    code: int


@dataclass(frozen=True, slots=True)
class _Done:
    """A built-in's output and errorlevel."""

    emit: Emit
    code: int


def _cmd(line: str, host: CmdHost, env: Block) -> Process:
    """``cmd.exe /c line`` with cmd.exe's environment ``env`` (``set`` changes it)."""
    if len(line) > CMD_LINE_LIMIT:
        yield Emit(stderr=TOO_LONG)
        return 1
    errorlevel = 0
    for operator, segment in _split_operators(_expand(line, env)):
        if (operator == "&&" and errorlevel != 0) or (operator == "||" and errorlevel == 0):
            continue
        result = yield from _simple(segment, host, env)
        if isinstance(result, _Exit):
            return result.code
        errorlevel = result
    return errorlevel


def _simple(segment: str, host: CmdHost, env: Block) -> Generator[Step, Sent, int | _Exit]:
    """One command of a line, with its redirections."""
    text, route = _redirections(segment)
    if route is None:
        yield Emit(stderr=PATH_NOT_FOUND)
        return 1
    text = text.lstrip(" \t")
    if not text.strip():
        return 0
    word, rest = _first_word(text)
    builtin = _builtin(text, word.lower(), rest, host, env)
    if builtin is not None:
        if isinstance(builtin, Emit):
            builtin = _Done(builtin, 0)
        if isinstance(builtin, _Done):
            yield _route(builtin.emit, route)
            return builtin.code
        return builtin
    program = _program_name(word, host.os)
    if program is None:
        yield _route(Emit(stderr=_not_recognized(word)), route)
        return 1
    return (yield from _redirected(_program(program, rest, host, env), route))


def _builtin(text: str, name: str, rest: str, host: CmdHost, env: Block) -> Emit | _Done | _Exit | None:
    """``echo``, ``set``, ``rem``, ``ver`` and ``exit`` (``None``: not a built-in)."""
    if re.match(r"echo(?=$|[\s.,;:=/\\(+\[\]])", text, re.IGNORECASE):
        return _echo(text[4:])
    if name == "set":
        return _set(rest, env)
    if name == "rem":
        return Emit()
    if name == "ver":
        return Emit(f"\r\nMicrosoft Windows [Version {host.os.build}]\r\n")
    if name == "exit":
        numbers = [a for a in rest.split() if a.lower() != "/b"]
        return _Exit(int(numbers[0]) if numbers and re.fullmatch(r"-?\d+", numbers[0]) else 0)
    return None


def _echo(rest: str) -> Emit:
    if rest[:1] in (".", ",", ";", ":", "=", "/", "\\", "(", "+", "[", "]"):
        return Emit(rest[1:] + "\r\n")
    text = rest[1:]
    if not text.strip():
        return Emit("ECHO is on.\r\n")
    if text.strip().lower() in ("on", "off"):
        return Emit()
    return Emit(text + "\r\n")


def _set(rest: str, env: Block) -> _Done:
    """
    ``set``: list the environment, list the variables whose name starts with a prefix, set
    ``name=value`` (taken literally, trailing spaces too; quoted whole as ``"name=value"``), or
    remove ``name=``.
    """
    if rest.startswith('"') and '"' in rest[1:]:
        rest = rest[1 : rest.rindex('"')]
    if "=" not in rest:
        prefix = rest.strip()
        lines = [
            f"{n}={v}\r\n" for n, v in env if not n.startswith("=") and n.upper().startswith(prefix.upper())
        ]
        if not lines:
            return _Done(Emit(stderr=f"Environment variable {prefix} not defined\r\n"), 1)
        return _Done(Emit("".join(lines)), 0)
    name, value = rest.split("=", 1)
    if not name:
        return _Done(Emit(stderr="The syntax of the command is incorrect.\r\n"), 1)
    if value:
        insert(env, name, value, str.upper)
    else:
        remove(env, name)
    return _Done(Emit(), 0)


def _first_word(text: str) -> tuple[str, str]:
    match = re.match(r'("[^"]*"|[^\s"]+)+', text)
    word = match.group(0) if match else text
    return word.replace('"', ""), text[len(word) :].lstrip()


def _not_recognized(word: str) -> str:
    return f"'{word}' is not recognized as an internal or external command,\r\n" + NOT_RECOGNIZED_TAIL


_PROGRAM_DIRS = {
    "cmd": "system32",
    "hostname": "system32",
    "powershell": "system32\\windowspowershell\\v1.0",
}


def _program_name(word: str, os: WindowsVersion) -> str | None:
    """Which program a cmd.exe command word runs (PATH holds system32 and PowerShell's directory)."""
    base = ntpath.basename(word).lower()
    stem = base[:-4] if base.endswith(".exe") else base
    if stem not in _PROGRAM_DIRS:
        return None
    directory = ntpath.dirname(word).lower()
    expected = f"{os.system_root}\\{_PROGRAM_DIRS[stem]}".lower()
    return stem if directory in ("", expected) else None


def _resolve_executable(command: str, os: WindowsVersion) -> str | None:
    """
    The program CreateProcess starts for ``command`` (no cmd.exe: no PATH search beyond the
    system and Windows directories, so a bare ``powershell.exe`` is not found, as on Windows).
    """
    if "\\" in command or ":" in command:
        return _program_name(command, os)
    base = command.lower()
    stem = base[:-4] if base.endswith(".exe") else base
    return stem if _PROGRAM_DIRS.get(stem) == "system32" else None


def _program(program: str, arguments: str, host: CmdHost, env: Block | None = None) -> Process:
    if program == "hostname":
        if arguments.strip():
            yield Emit(stderr="sethostname: Use the Network Control Panel Applet to set hostname.\r\n")
            return 1
        yield Emit(f"{host.name}\r\n")
        return 0
    if program == "cmd":
        switch = re.search(r"(?:^|\s)/[ckCK]\s*", arguments)
        if switch is None:
            return 0
        inherited = process_environment(host) if env is None else env
        return (yield from _cmd(arguments[switch.end() :], host, cmd_environment(inherited)))
    return (yield from run_powershell(split_arguments(arguments), host))
