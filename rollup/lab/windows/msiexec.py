"""
``msiexec.exe`` on the simulated host: its command line, then Windows Installer's behaviour.

The command line is parsed as msiexec parses it (``/i`` or ``/x`` and a package or product code,
``/qn``, ``/norestart``, ``/l*v <log>``, ``NAME=value`` properties); a package path that does not
name a file on the host is 1619, an option msiexec does not know is 1639 (invalid command line).
What an install or a removal does to the host, and the verbose log it writes, is
``rollup.ops.msisim`` (product registration from the real MSI's properties, upgrades, the DNS
Client's run-twice rule, fault states such as the installer mutex and full disks).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from rollup.lab.windows.cmdline import split

if TYPE_CHECKING:
    from rollup.lab.windows.machine import Machine

_GUID = re.compile(r"\{[0-9A-F]{8}(-[0-9A-F]{4}){3}-[0-9A-F]{12}\}", re.IGNORECASE)
INVALID_COMMAND_LINE = 1639


def msiexec(machine: Machine, command_line: str, stdin: str) -> tuple[int, str, str]:
    from rollup.lab.windows.installer import MsiexecRun, install_from_file, open_package, uninstall_product

    args = split(command_line)
    action: str | None = None
    target: str | None = None
    log: str | None = None
    quiet = False
    properties: list[str] = []
    i = 0
    while i < len(args):
        word = args[i]
        low = word.lower()
        if low in ("/i", "/x", "/uninstall", "/package"):
            if i + 1 >= len(args):
                return INVALID_COMMAND_LINE, "", ""
            action = "x" if low in ("/x", "/uninstall") else "i"
            target = args[i + 1]
            i += 2
            continue
        if low in ("/qn", "/quiet", "/norestart", "/passive"):
            quiet = quiet or low in ("/qn", "/quiet")
            i += 1
            continue
        if re.fullmatch(r"/l\*?v?x?", low) or low.startswith("/l"):
            if i + 1 >= len(args):
                return INVALID_COMMAND_LINE, "", ""
            log = args[i + 1]
            i += 2
            continue
        if re.fullmatch(r"[A-Za-z_][\w.]*=.*", word, re.S):
            name, _, value = word.partition("=")
            properties.append(f'{name.upper()}="{value}"' if " " in value else f"{name.upper()}={value}")
            i += 1
            continue
        return INVALID_COMMAND_LINE, "", ""
    if action is None or target is None or not quiet or log is None:
        return INVALID_COMMAND_LINE, "", ""
    ctx = machine.sim_context()
    state = machine.state
    given = " ".join(properties)
    if action == "i":
        result = install_from_file(state, target, ctx, log_path=log, properties=given)
        return result.exit_code, "", ""
    if _GUID.fullmatch(target.strip()):
        return uninstall_product(state, target.strip(), ctx, log_path=log, properties=given).exit_code, "", ""
    run = MsiexecRun(state, ctx, log, uninstall=True, package=target, properties=given)
    opened = open_package(run, target)
    if isinstance(opened, int):
        return run.answer(opened).exit_code, "", ""
    code = opened[0].product_code
    return uninstall_product(state, code, ctx, log_path=log, properties=given).exit_code, "", ""
