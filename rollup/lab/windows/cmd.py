"""
``cmd.exe /d /v:off /s /c "<command line>"`` as ``Process.Start`` runs it, and the Deployment
Tool's site command of the lab (``lab-deploytool.cmd``) it starts.

With ``/s``, cmd removes the first and the last quote of what follows ``/c`` and runs the rest:
a program (quoted or not) with its arguments, and ``2>&1`` to merge its errors into its output.
A program the host does not have is cmd's "is not recognized" message and exit code 9009. The
site command exists only on the Deployment Tool host; it does what ``rollup.lab.sitecommand``
says, on this host.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rollup.lab.windows.cmdline import split

if TYPE_CHECKING:
    from rollup.lab.windows.machine import Machine

NOT_RECOGNIZED = (
    "'{0}' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n"
)


def _program_and_rest(text: str) -> tuple[str, str]:
    text = text.lstrip()
    if text.startswith('"'):
        end = text.find('"', 1)
        if end < 0:
            return text[1:], ""
        return text[1:end], text[end + 1 :]
    head, _, rest = text.partition(" ")
    return head, rest


def cmd_exe(machine: Machine, command_line: str, stdin: str) -> tuple[int, str, str]:
    args = command_line
    lower = args.lower()
    at = lower.find("/c ")
    if at < 0:
        return 1, "", ""
    switches = lower[:at].split()
    rest = args[at + 3 :]
    if "/s" in switches and rest.startswith('"') and rest.rstrip().endswith('"'):
        rest = rest[1 : rest.rstrip().rfind('"')]
    merge = False
    stripped = rest.rstrip()
    if stripped.endswith("2>&1"):
        merge = True
        rest = stripped[:-4]
    program, arguments = _program_and_rest(rest)
    path = machine.find_program(program)
    if path is None:
        message = NOT_RECOGNIZED.format(program)
        return (9009, message, "") if merge else (9009, "", message)
    code, out, err = machine.run_program(path, arguments, stdin)
    return (code, out + err, "") if merge else (code, out, err)


def site_command(machine: Machine, command_line: str, stdin: str) -> tuple[int, str, str]:
    """``lab-deploytool.cmd <action> ...`` on the Deployment Tool host."""
    from rollup.lab.sitecommand import run_site_command

    state = machine.state
    answer = run_site_command(
        {state.name: state}, state.name, tuple(split(command_line)), machine.sim_context()
    )
    result = answer.result if isinstance(answer.result, dict) else {}
    lines = [str(line) for line in result.get("output", [])]
    return answer.exit_code, "".join(line + "\r\n" for line in lines), ""
