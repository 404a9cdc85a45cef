"""
How a rendered PowerShell script reaches a host: on the command line, or on stdin.

cmd.exe refuses command lines over 8191 characters, and ``-EncodedCommand`` costs about
2.67 characters per script character, so only scripts up to about 3,000 characters fit on
the command line. Larger scripts are streamed on stdin, base64-encoded, to a short fixed
bootstrap that reads stdin, decodes it and runs it (the route Ansible's winrm plugin takes).

Both directions live here: the transport encodes, and the simulated lab decodes with the same
constants, so the two cannot disagree about the format.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import re
from dataclasses import dataclass
from typing import Literal

CMD_LINE_LIMIT = 8191
"""cmd.exe's maximum command line, in characters."""

POWERSHELL = "powershell.exe"
POWERSHELL_ARGS: tuple[str, ...] = (
    "-NoProfile",
    "-NonInteractive",
    "-ExecutionPolicy",
    "Bypass",
    "-EncodedCommand",
)

BOOTSTRAP = (
    "$b=(@($input) -join '') -replace '\\s','';"
    "$s=[Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($b));"
    "& ([ScriptBlock]::Create($s))"
)
"""
Runs the script that arrives on stdin. ``$input`` enumerates the lines of stdin when
powershell.exe runs an ``-EncodedCommand`` with stdin redirected (PowerShell 2.0 included);
the payload is base64 of the UTF-8 script, so line splitting cannot alter it.
"""

STDIN_LINE = 76


def encode_command(script: str) -> str:
    """``-EncodedCommand`` form of ``script``: base64 of its UTF-16LE bytes."""
    return base64.b64encode(script.encode("utf-16-le")).decode("ascii")


def command_line(script: str) -> tuple[str, tuple[str, ...]]:
    """The command and arguments that run ``script`` from the command line."""
    return POWERSHELL, (*POWERSHELL_ARGS, encode_command(script))


def fits_command_line(script: str) -> bool:
    """Whether ``script`` can travel on the command line within cmd.exe's limit."""
    command, args = command_line(script)
    return len(" ".join((command, *args))) <= CMD_LINE_LIMIT


def stdin_command() -> tuple[str, tuple[str, ...]]:
    """The command and arguments of the bootstrap that runs a script read from stdin."""
    return command_line(BOOTSTRAP)


def stdin_payload(script: str) -> bytes:
    """What to send on stdin for ``script``: base64 of its UTF-8 text, in CRLF-ended lines."""
    encoded = base64.b64encode(script.encode("utf-8")).decode("ascii")
    lines = [encoded[i : i + STDIN_LINE] for i in range(0, len(encoded), STDIN_LINE)]
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


@dataclass(frozen=True, slots=True)
class Decoded:
    """What a ``powershell.exe`` command line asks for."""

    mode: Literal["inline", "stdin"]
    script: str
    """The script for ``inline``; the bootstrap for ``stdin`` (the script follows on stdin)."""


def _is_encoded_flag(arg: str) -> bool:
    """
    Whether ``arg`` names ``-EncodedCommand`` as powershell.exe reads it: ``-`` or ``/``, then
    any prefix of the name (``-e``, ``-enc``...) or ``-ec``, in any case, with an optional ``:``.
    """
    if len(arg) < 2 or arg[0] not in "-/":
        return False
    name = arg[1:].removesuffix(":").lower()
    return name == "ec" or (bool(name) and "encodedcommand".startswith(name))


def decode_powershell(args: list[str]) -> Decoded | None:
    """
    Read the script out of ``powershell.exe`` arguments (``-EncodedCommand <base64>``).

    Returns:
        ``None`` when no encoded command is present or it is not valid base64 of UTF-16LE.
    """
    for flag, value in itertools.pairwise(args):
        if _is_encoded_flag(flag):
            try:
                script = base64.b64decode(value, validate=True).decode("utf-16-le")
            except (binascii.Error, UnicodeDecodeError, ValueError):
                return None
            return Decoded("stdin" if script == BOOTSTRAP else "inline", script)
    return None


def decode_stdin_payload(data: bytes) -> str | None:
    """The script carried by a stdin payload, or ``None`` if it is not base64 of UTF-8."""
    try:
        compact = re.sub(rb"\s+", b"", data)
        return base64.b64decode(compact, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
