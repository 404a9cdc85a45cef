"""
The result line remote scripts print, read and written on the Python side.

A script reports through the prelude's ``Write-RollupResult``, which prints one line
``#rollup-result <json>`` in printable ASCII (PowerShell 2.0 has no ``ConvertTo-Json``, and the
shell code page is 437). ``read_result`` takes the last such line from stdout and ignores
everything else, so a chatty script cannot break parsing. ``format_result`` is the writer's
twin: for the same data it produces the same line, character for character, which is what the
simulated lab answers with. The rules, shared with ``prelude.ps1``:

- ``None`` is ``null``; booleans are ``true``/``false``; integers are plain digits;
- floats use .NET's ``R`` format as .NET Framework 2.0-3.5 does it (15 significant digits if
  they round-trip, else 17; exponent as ``E+20``; ``-0.0`` as ``0``; NaN and infinities as ``null``);
- ``datetime`` (timezone-aware) is ``"yyyy-MM-ddTHH:mm:ss.fffZ"`` in UTC, milliseconds truncated;
- strings escape ``"`` and ``\\`` with a backslash and every UTF-16 code unit below 32 or above
  126 as ``\\uxxxx`` in lower-case hex (so a character outside the BMP is a surrogate pair);
- mappings (string keys) are objects with keys in ordinal UTF-16 order; lists and tuples are arrays;
- no spaces anywhere.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from rollup.errors import ResultParseError

RESULT_MARKER = "#rollup-result"
_SHOWN = 200


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def read_result(stdout: str) -> Any:
    """
    The value of the last ``#rollup-result`` line in ``stdout``.

    Returns:
        The decoded JSON, or ``None`` when no line starts with the marker.

    Raises:
        ResultParseError: The last result line is not valid JSON (message shows its first
            200 characters).
    """
    payload: str | None = None
    for line in stdout.splitlines():
        text = line.rstrip()
        if text == RESULT_MARKER or text.startswith(RESULT_MARKER + " "):
            payload = text[len(RESULT_MARKER) :].strip()
    if payload is None:
        return None
    try:
        return json.loads(payload, parse_constant=_reject_constant)
    except ValueError as exc:
        raise ResultParseError(f"result line is not valid JSON: {payload[:_SHOWN]!r}") from exc


def format_result(value: object) -> str:
    """
    The line ``Write-RollupResult`` prints for ``value``, without a line ending.

    Raises:
        TypeError: ``value`` holds something the writer has no rule for (a set, bytes, a
            ``Secret``, a naive datetime, a mapping with a non-string key).
    """
    return f"{RESULT_MARKER} {to_json(value)}"


def to_json(value: object) -> str:
    """The JSON text ``ConvertTo-RollupJson`` produces for ``value`` (see the module rules)."""
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, datetime | str):
        return _string(_timestamp(value) if isinstance(value, datetime) else value)
    if isinstance(value, Mapping):
        return _object(value)
    if isinstance(value, list | tuple):
        return "[" + ",".join(to_json(item) for item in value) + "]"
    raise TypeError(f"no result rule for {type(value).__name__}")


def _object(mapping: Mapping[object, object]) -> str:
    keys: list[str] = []
    for key in mapping:
        if not isinstance(key, str):
            raise TypeError(f"result keys must be str, not {type(key).__name__}")
        keys.append(key)
    keys.sort(key=_utf16)
    return "{" + ",".join(f"{_string(k)}:{to_json(mapping[k])}" for k in keys) + "}"


def _utf16(text: str) -> bytes:
    """Sort key equal to .NET's ordinal string order (by UTF-16 code unit)."""
    return text.encode("utf-16-be", "surrogatepass")


def _float(number: float) -> str:
    if not math.isfinite(number):
        return "null"
    if number == 0.0:
        return "0"
    text = f"{number:.15G}"
    if float(text) != number:
        text = f"{number:.17G}"
    return text


def _timestamp(moment: datetime) -> str:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise TypeError("result datetimes must be timezone-aware (the writer converts to UTC)")
    utc = moment.astimezone(UTC)
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:"
        f"{utc.second:02d}.{utc.microsecond // 1000:03d}Z"
    )


def _string(text: str) -> str:
    units = _utf16(text)
    out = ['"']
    for i in range(0, len(units), 2):
        unit = (units[i] << 8) | units[i + 1]
        if unit in (34, 92):
            out.append("\\" + chr(unit))
        elif unit < 32 or unit > 126:
            out.append(f"\\u{unit:04x}")
        else:
            out.append(chr(unit))
    out.append('"')
    return "".join(out)
