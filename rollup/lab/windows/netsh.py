"""
``%SystemRoot%\\System32\\netsh.exe`` on a simulated IIS 7 host: ``http show sslcert``.

``netsh http show sslcert [ipport=IP:PORT]`` lists http.sys's SSL certificate bindings, here
those of the host's ``ssl_certificates`` (an IIS site's certificate, bound on ``0.0.0.0:443``),
in netsh's own layout; a port with none prints "The system cannot find the file specified."
and exits 1, as Windows Server 2008 does (http.sys keeps one certificate per IP and port: the
first site's). Server 2003's netsh has no http context (``httpcfg.exe`` is its tool); other
contexts and commands are not modelled: both print netsh's "The following command was not
found" line and exit 1.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rollup.lab.windows.cmdline import split

if TYPE_CHECKING:
    from rollup.lab.windows.machine import Machine

IIS_APP_ID = "{4dc3e181-e14b-4a21-b022-59fc669b0914}"
"""The application id IIS Manager gives the http.sys bindings it makes."""
_HEADER = "\r\nSSL Certificate bindings:\r\n-------------------------\r\n\r\n"
_NONE = "The system cannot find the file specified. \r\n\r\n"


def _binding(ipport: str, thumbprint: str) -> str:
    rows = [
        ("IP:port", ipport),
        ("Certificate Hash", thumbprint.lower()),
        ("Application ID", IIS_APP_ID),
        ("Certificate Store Name", "MY"),
        ("Verify Client Certificate Revocation", "Enabled"),
        ("Verify Revocation Using Cached Client Certificate Only", "Disabled"),
        ("Usage Check", "Enabled"),
        ("Revocation Freshness Time", "0"),
        ("URL Retrieval Timeout", "0"),
        ("Ctl Identifier", "(null)"),
        ("Ctl Store Name", "(null)"),
        ("DS Mapper Usage", "Disabled"),
        ("Negotiate Client Certificate", "Disabled"),
    ]
    return "".join(f"    {name:<24}: {value}\r\n" for name, value in rows) + "\r\n"


def netsh_exe(machine: Machine, command_line: str, stdin: str) -> tuple[int, str, str]:
    """Run ``netsh.exe`` with the arguments ``command_line``."""
    words = [w.lower() for w in split(command_line)]
    not_found = f"The following command was not found: {command_line.strip()}.\r\n"
    has_http = int(machine.state.os_version.split(".")[0]) >= 6  # the http context came with Server 2008
    if not has_http or words[:3] != ["http", "show", "sslcert"] or len(words) > 4:
        return 1, not_found, ""
    if len(words) == 4 and not words[3].startswith("ipport="):
        return 1, not_found, ""
    wanted = words[3].removeprefix("ipport=") if len(words) == 4 else None
    certificates = sorted(machine.state.ssl_certificates.items())
    bound = [("0.0.0.0:443", certificates[0][1])] if certificates else []
    shown = [(ipport, t) for ipport, t in bound if wanted is None or ipport == wanted]
    if not shown:
        return 1, _HEADER + _NONE, ""
    return 0, _HEADER + "".join(_binding(ipport, t) for ipport, t in shown), ""
