"""
The .NET members of values the lab keeps as Python values: ``String``, numbers, ``Boolean``,
arrays. Only members that exist in .NET 2.0 are here; ``String.Contains(char)`` or
``String.IsNullOrWhiteSpace`` (.NET 4) are not, so a script that uses them fails in the lab.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from rollup.lab.pwsh.net import NetException, NetType, argument_error
from rollup.lab.pwsh.values import Char, to_string, type_name


def _comparison(arg: Any) -> bool:
    """Whether a ``StringComparison`` argument ignores case."""
    text = to_string(arg).lower()
    if text not in (
        "ordinal",
        "ordinalignorecase",
        "currentculture",
        "currentcultureignorecase",
        "invariantculture",
        "invariantcultureignorecase",
    ):
        raise argument_error(
            f"The string comparison type passed in is currently not supported.\r\nParameter name: comparisonType ({arg})"
        )
    return text.endswith("ignorecase")


def _chars(arg: Any) -> str:
    if isinstance(arg, list):
        return "".join(to_string(c) for c in arg)
    return to_string(arg)


def _substring(s: str, start: Any, length: Any = None) -> str:
    a = int(start)
    if a < 0 or a > len(s):
        raise NetException(
            "System.ArgumentOutOfRangeException",
            "startIndex cannot be larger than length of string.\r\nParameter name: startIndex",
        )
    if length is None:
        return s[a:]
    n = int(length)
    if n < 0 or a + n > len(s):
        raise NetException(
            "System.ArgumentOutOfRangeException",
            "Index and length must refer to a location within the string.\r\nParameter name: length",
        )
    return s[a : a + n]


def _split(s: str, separators: Any = None, count: Any = None) -> list[str]:
    seps = _chars(separators) if separators is not None else " \t\n\r\v\f"
    limit = int(count) if count is not None else None
    out: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(s):
        if s[i] in seps and (limit is None or len(out) < limit - 1):
            out.append("".join(current))
            current = []
        else:
            current.append(s[i])
        i += 1
    out.append("".join(current))
    if limit is not None and limit <= 0:
        return []
    return out


def _starts(s: str, value: Any, comparison: Any = None) -> bool:
    v = to_string(value)
    if comparison is not None and _comparison(comparison):
        return s.lower().startswith(v.lower())
    return s.startswith(v)


def _ends(s: str, value: Any, comparison: Any = None) -> bool:
    v = to_string(value)
    if comparison is not None and _comparison(comparison):
        return s.lower().endswith(v.lower())
    return s.endswith(v)


def _index_of(s: str, value: Any, start: Any = 0) -> int:
    return s.find(to_string(value), int(start))


def _to_string(value: Any, *args: Any) -> str:
    from rollup.lab.pwsh.dotnet_text import format_value

    fmt = args[0] if args and isinstance(args[0], str) else None
    if fmt:
        return format_value(value, fmt)
    if isinstance(value, float) and args and not fmt:
        return to_string(value)
    return to_string(value)


_STRING: dict[str, Callable[..., Any]] = {
    "trim": lambda s, *c: s.strip(_chars(c[0])) if c else s.strip(),
    "trimend": lambda s, *c: s.rstrip(_chars(list(c)) if c else None),
    "trimstart": lambda s, *c: s.lstrip(_chars(list(c)) if c else None),
    "substring": _substring,
    "indexof": _index_of,
    "lastindexof": lambda s, v: s.rfind(to_string(v)),
    "startswith": _starts,
    "endswith": _ends,
    "split": _split,
    "replace": lambda s, a, b: s.replace(to_string(a), to_string(b)),
    "tolower": lambda s, *c: s.lower(),
    "tolowerinvariant": lambda s: s.lower(),
    "toupper": lambda s, *c: s.upper(),
    "toupperinvariant": lambda s: s.upper(),
    "contains": lambda s, v: to_string(v) in s,
    "tochararray": lambda s: [Char(c) for c in s],
    "padleft": lambda s, n, c=" ": s.rjust(int(n), to_string(c)),
    "padright": lambda s, n, c=" ": s.ljust(int(n), to_string(c)),
    "equals": lambda s, v: isinstance(v, str) and s == v,
    "compareto": lambda s, v: (s > to_string(v)) - (s < to_string(v)),
}


def primitive_member(value: Any, name: str, *, method: bool = False) -> tuple[bool, Any]:
    """(found, value) for ``value.name``; with ``method``, the callable taking the arguments."""
    key = name.lower()
    if key == "gettype" and method:
        return True, lambda: NetType.lookup(type_name(value)) or NetType(type_name(value))
    if key == "tostring" and method:
        return True, lambda *a: _to_string(value, *a)
    if key == "gethashcode" and method:
        return True, lambda: hash(value) & 0x7FFFFFFF
    if isinstance(value, str):
        if method:
            fn = _STRING.get(key)
            if fn is not None:
                return True, lambda *a: fn(value, *a)
            return False, None
        if key == "length":
            return True, len(value)
        return False, None
    if isinstance(value, list | bytes | bytearray):
        if not method and key in ("count", "length"):
            return True, len(value)
        if not method and key == "rank":
            return True, 1
        return False, None
    if isinstance(value, int | float | Decimal) and not method:
        return False, None
    return False, None
