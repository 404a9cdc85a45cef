"""
``%SystemRoot%\\System32\\iisreset.exe`` on a simulated host, over its ``HostState.services``.

``iisreset [computername] /RESTART | /START | /STOP | /STATUS [/NOFORCE] [/TIMEOUT:sec]``
(options ignoring case). The Internet services are ``IISADMIN`` and ``W3SVC`` on IIS 6, ``WAS``
and ``W3SVC`` on IIS 7, with ``IISADMIN``, FTP, SMTP and NNTP where the host has them. A
restart stops each present one, then starts them in order: a disabled one fails the start
(1058, ERROR_SERVICE_DISABLED) and leaves it and those after it stopped. A fault scenario's
``forced_exit_codes["iis.reset"]`` makes the next restart fail with that code, changing
nothing. An option iisreset does not know prints its usage (exit 87: the lab's choice, not
verified on Windows); another computer's name fails as an unreachable RPC server. Output
lines are iisreset's own.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from rollup.lab.windows.cmdline import split

if TYPE_CHECKING:
    from rollup.lab.state import HostState, Service
    from rollup.lab.windows.machine import Machine

USAGE = """IISRESET.EXE (c) Microsoft Corp. 1998-2005

Usage:
iisreset [computername]

    /RESTART            Stop and then restart all Internet services.
    /START              Start all Internet services.
    /STOP               Stop all Internet services.
    /REBOOT             Reboot the computer.
    /REBOOTONERROR      Reboot the computer if an error occurs when starting,
                        stopping, or restarting Internet services.
    /NOFORCE            Do not forcefully terminate Internet services if
                        attempting to stop them gracefully fails.
    /TIMEOUT:val        Specify the timeout value ( in seconds ) to wait for
                        a successful stop of Internet services. On expiration
                        of this timeout the computer can be rebooted if
                        the /REBOOTONERROR parameter is specified.
                        The default value is 20s for restart, 60s for stop,
                        and 0s for reboot.
    /STATUS             Display the status of all Internet services.
    /ENABLE             Enable restarting of Internet Services
                        on the local system.
    /DISABLE            Disable restarting of Internet Services
                        on the local system.
"""

SERVICE_DISABLED = 1058
_TIMEOUT = re.compile(r"/timeout:\d+")
INVALID_PARAMETER = 87
RPC_UNAVAILABLE = 1722
_DISABLED_LINE = (
    "The service cannot be started, either because it is disabled or because it has no enabled "
    "devices associated with it.  (2147943458, 80070422)"
)


def internet_services(state: HostState) -> list[Service]:
    """The host's Internet services, in the order iisreset starts them."""
    if state.iis_version is None:
        return []
    names = ["IISADMIN", "W3SVC"] if state.iis_version < 7 else ["WAS", "IISADMIN", "W3SVC"]
    names += ["MSFTPSVC", "FTPSVC", "SMTPSVC", "NNTPSVC"]
    return [state.services[n.lower()] for n in names if n.lower() in state.services]


def _out(lines: list[str]) -> str:
    return "\r\n" + "".join(line + "\r\n" for line in lines) + "\r\n"


def _status(service: Service) -> str:
    return service.status.replace("Pending", " Pending")


def _start(services: list[Service], lines: list[str], restarted: bool) -> int:
    lines.append("Attempting start...")
    for service in services:
        if service.start_mode == "Disabled":
            lines += ["Restart attempt failed." if restarted else "Start attempt failed.", _DISABLED_LINE]
            return SERVICE_DISABLED
        service.status = "Running"
    lines.append(f"Internet services successfully {'restarted' if restarted else 'started'}")
    return 0


def iisreset(machine: Machine, command_line: str, stdin: str) -> tuple[int, str, str]:
    state = machine.state
    actions: list[str] = []
    for word in split(command_line):
        low = word.lower()
        if low in ("/restart", "/start", "/stop", "/status", "/noforce"):
            actions.append(low)
        elif _TIMEOUT.fullmatch(low) or low in (machine.computer_name().lower(), "localhost"):
            continue
        elif not word.startswith("/"):
            return (
                RPC_UNAVAILABLE,
                _out(["Restart attempt failed.", "The RPC server is unavailable.  (2147944122, 800706ba)"]),
                "",
            )
        else:
            return INVALID_PARAMETER, USAGE.replace("\n", "\r\n"), ""
    verbs = [a for a in actions if a != "/noforce"] or ["/restart"]
    if len(verbs) > 1:
        return INVALID_PARAMETER, USAGE.replace("\n", "\r\n"), ""
    services = internet_services(state)
    verb = verbs[0]
    if verb == "/status":
        return (
            0,
            "".join(f"Status for {s.display_name} ( {s.name} ) : {_status(s)}\r\n" for s in services),
            "",
        )
    lines: list[str] = []
    if verb in ("/restart", "/stop"):
        forced = state.pop_forced_exit_code("iis.reset") if verb == "/restart" else None
        if forced:
            return (
                forced,
                _out(
                    [
                        "Attempting stop...",
                        "Internet services successfully stopped",
                        "Attempting start...",
                        "Restart attempt failed.",
                    ]
                ),
                "",
            )
        lines += ["Attempting stop...", "Internet services successfully stopped"]
        for service in services:
            service.status = "Stopped"
    code = 0
    if verb in ("/restart", "/start"):
        code = _start(services, lines, restarted=verb == "/restart")
    return code, _out(lines), ""
