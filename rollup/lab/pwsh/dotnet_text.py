"""
.NET text formatting and regular expressions, as the lab's PowerShell needs them.

``composite_format`` is ``String.Format`` (``-f``): ``{index[,alignment][:format]}`` with ``{{``
and ``}}``; ``format_value`` applies a format string to a number or a date (standard ``x4``,
``D``, ``N``, ``R``, ``G``, and custom date patterns); ``regex`` turns a .NET pattern into a
compiled Python one (named groups ``(?<n>...)``), ``replacement`` a .NET replacement string
(``$1``, ``${name}``, ``$$``, ``$0``).
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from rollup.lab.pwsh.net import NetException


def _format_error() -> NetException:
    return NetException("System.FormatException", "Input string was not in a correct format.")


def composite_format(template: str, args: list[Any]) -> str:
    """``String.Format(template, args)``."""
    from rollup.lab.pwsh.values import to_string

    out: list[str] = []
    i = 0
    n = len(template)
    while i < n:
        ch = template[i]
        if ch == "{":
            if template[i + 1 : i + 2] == "{":
                out.append("{")
                i += 2
                continue
            end = template.find("}", i)
            if end < 0:
                raise _format_error()
            spec = template[i + 1 : end]
            m = re.fullmatch(r"\s*(\d+)\s*(?:,\s*(-?\d+)\s*)?(?::(.*))?", spec, re.S)
            if not m:
                raise _format_error()
            index = int(m.group(1))
            if index >= len(args):
                raise NetException(
                    "System.FormatException",
                    "Index (zero based) must be greater than or equal to zero and less than the size of the argument list.",
                )
            value = args[index]
            text = format_value(value, m.group(3)) if m.group(3) is not None else to_string(value)
            if m.group(2):
                width = int(m.group(2))
                text = text.ljust(-width) if width < 0 else text.rjust(width)
            out.append(text)
            i = end + 1
            continue
        if ch == "}":
            if template[i + 1 : i + 2] == "}":
                out.append("}")
                i += 2
                continue
            raise _format_error()
        out.append(ch)
        i += 1
    return "".join(out)


def format_value(value: Any, fmt: str) -> str:
    """``value.ToString(fmt)`` for numbers and dates (invariant culture)."""
    from rollup.lab.pwsh.values import format_double, to_string

    if hasattr(value, "format_with"):
        return str(value.format_with(fmt))
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return to_string(value)
    m = re.fullmatch(r"([xXdDnNfFgGrReE])(\d*)", fmt)
    if not m:
        raise _format_error()
    kind, digits = m.group(1), m.group(2)
    precision = int(digits) if digits else None
    if kind in "xX":
        if not isinstance(value, int):
            raise _format_error()
        v = value if value >= 0 else value + (1 << (64 if value < -(2**31) else 32))
        text = format(v, "x" if kind == "x" else "X")
        return text.rjust(precision or 0, "0")
    if kind in "dD":
        if not isinstance(value, int):
            raise _format_error()
        sign = "-" if value < 0 else ""
        return sign + str(abs(value)).rjust(precision or 0, "0")
    if kind in "nN":
        return f"{float(value):,.{2 if precision is None else precision}f}"
    if kind in "fF":
        return f"{float(value):.{2 if precision is None else precision}f}"
    if kind in "rR":
        return str(value) if not isinstance(value, float) else _round_trip(value)
    if kind in "gG":
        return to_string(value) if precision is None else f"{float(value):.{precision}G}"
    return format_double(float(value))


def _round_trip(value: float) -> str:
    """``Double.ToString("R")`` of .NET Framework 2.0-4.x: 15 significant digits when they read back
    as the same double, else 17; exponents as ``E+20`` / ``E-07``; negative zero as ``0``."""
    if value != value:  # noqa: PLR0124 - NaN is the one value unequal to itself
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "0"
    text = format(value, ".15G")
    return text if float(text) == value else format(value, ".17G")


_DATE_TOKENS = re.compile(r"yyyy|yy|MM|dd|HH|hh|mm|ss|fff|ff|f|tt|'[^']*'|\"[^\"]*\"|\\.|.", re.S)


def format_datetime(moment: datetime, fmt: str) -> str:
    """A ``DateTime`` with a custom or standard format string (invariant culture)."""
    standard = {
        "o": "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffff",
        "s": "yyyy'-'MM'-'dd'T'HH':'mm':'ss",
        "u": "yyyy'-'MM'-'dd HH':'mm':'ss'Z'",
        "d": "MM/dd/yyyy",
        "g": "MM/dd/yyyy HH:mm",
        "G": "MM/dd/yyyy HH:mm:ss",
    }
    if len(fmt) == 1:
        if fmt not in standard:
            raise _format_error()
        fmt = standard[fmt]
    out: list[str] = []
    for tok in _DATE_TOKENS.findall(fmt):
        if tok == "yyyy":
            out.append(f"{moment.year:04d}")
        elif tok == "yy":
            out.append(f"{moment.year % 100:02d}")
        elif tok == "MM":
            out.append(f"{moment.month:02d}")
        elif tok == "dd":
            out.append(f"{moment.day:02d}")
        elif tok == "HH":
            out.append(f"{moment.hour:02d}")
        elif tok == "hh":
            out.append(f"{(moment.hour % 12) or 12:02d}")
        elif tok == "mm":
            out.append(f"{moment.minute:02d}")
        elif tok == "ss":
            out.append(f"{moment.second:02d}")
        elif tok in ("fff", "ff", "f"):
            out.append(f"{moment.microsecond:06d}"[: len(tok)])
        elif tok == "tt":
            out.append("AM" if moment.hour < 12 else "PM")
        elif tok[:1] in ("'", '"'):
            out.append(tok[1:-1])
        elif tok.startswith("\\"):
            out.append(tok[1:])
        else:
            out.append(tok)
    return "".join(out)


@lru_cache(maxsize=512)
def regex(pattern: str, case_sensitive: bool = False) -> re.Pattern[str]:
    """A .NET regular expression compiled as Python's ``re`` (ignoring case unless told)."""
    translated = re.sub(r"\(\?<([A-Za-z_]\w*)>", r"(?P<\1>", pattern)
    translated = translated.replace("\\z", "\\Z")
    flags = 0 if case_sensitive else re.IGNORECASE
    try:
        return re.compile(translated, flags)
    except re.error as exc:
        raise NetException("System.ArgumentException", f'parsing "{pattern}" - {exc.msg}.') from None


def replacement(text: str) -> Any:
    """A .NET replacement string as a function of a match."""
    parts = re.split(r"(\$\$|\$\d+|\$\{\w+\}|\$0)", text)

    def apply(m: re.Match[str]) -> str:
        out: list[str] = []
        for p in parts:
            if p == "$$":
                out.append("$")
            elif re.fullmatch(r"\$\d+", p):
                n = int(p[1:])
                out.append((m.group(n) or "") if n <= (m.re.groups or 0) else p)
            elif p.startswith("${"):
                name = p[2:-1]
                try:
                    out.append(m.group(name) or "")
                except IndexError:
                    out.append(p)
            else:
                out.append(p)
        return "".join(out)

    return apply
