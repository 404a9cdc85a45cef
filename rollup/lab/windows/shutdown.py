"""
``%SystemRoot%\\System32\\shutdown.exe`` on a simulated host: the restart part.

``shutdown /r [/t xxx] [/c "comment"] [/d [p|u:]xx:yy] [/f]`` schedules a restart in ``xxx``
seconds (30 by default, as on Windows Server 2003 and 2008) and returns at once, exit 0, with
no output; the host's ``restart_in_s`` records it, and the lab takes the host down that much
later (``LabRunner``), for as long as a boot takes, after which no restart is pending any more.
``shutdown /a`` cancels a scheduled restart; with none it fails with Windows' message and 1116.
A second ``/r`` while one is scheduled fails with 1190, as on Windows. Switches ignore case and
may start with ``-``. Shutting down without restarting (``/s``), logging off (``/l``) and the
other switches are not modelled: they print the usage and exit 87 (the lab's choice).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rollup.lab.windows.cmdline import split

if TYPE_CHECKING:
    from rollup.lab.windows.machine import Machine

DEFAULT_DELAY_S = 30
MAX_DELAY_S = 315_360_000
"""Ten years: the largest ``/t`` Windows accepts (Server 2008 R2; 2003 took 600 at most)."""
INVALID_PARAMETER = 87
NO_SHUTDOWN_IN_PROGRESS = 1116
ALREADY_SCHEDULED = 1190
USAGE = (
    "Usage: shutdown [/i | /l | /s | /r | /g | /a | /p | /h | /e] [/f]\r\n"
    '    [/m \\\\computer][/t xxx][/d [p|u:]xx:yy [/c "comment"]]\r\n'
)
_NOT_IN_PROGRESS = "Unable to abort the system shutdown because no shutdown was in progress.(1116)\r\n"
_SCHEDULED = "A system shutdown has already been scheduled.(1190)\r\n"


def shutdown_exe(machine: Machine, command_line: str, stdin: str) -> tuple[int, str, str]:
    """Run ``shutdown.exe`` with the arguments ``command_line``."""
    words = split(command_line)
    switches = [w.lower().replace("-", "/", 1) if w[:1] in "-/" else w for w in words]
    state = machine.state
    if switches == ["/a"]:
        if state.restart_in_s is None:
            return NO_SHUTDOWN_IN_PROGRESS, "", _NOT_IN_PROGRESS
        state.restart_in_s = None
        return 0, "", ""
    if "/r" not in switches:
        return INVALID_PARAMETER, "", USAGE
    delay = DEFAULT_DELAY_S
    index = 0
    while index < len(switches):
        word = switches[index]
        takes_value = word in ("/t", "/c", "/d")
        value = switches[index + 1] if takes_value and index + 1 < len(switches) else None
        if word in ("/r", "/f"):
            index += 1
            continue
        if not takes_value or value is None:
            return INVALID_PARAMETER, "", USAGE
        if word == "/t":
            if not value.isdigit() or int(value) > MAX_DELAY_S:
                return INVALID_PARAMETER, "", USAGE
            delay = int(value)
        index += 2
    if state.restart_in_s is not None:
        return ALREADY_SCHEDULED, "", _SCHEDULED
    state.restart_in_s = float(delay)
    return 0, "", ""
