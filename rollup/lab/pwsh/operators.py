"""
PowerShell's operators on the lab's values.

Comparison operators filter when the left side is an array; ``-eq`` and friends compare ignoring
case unless spelled ``-c...``; the right side is converted to the left side's type. ``-match``
fills ``$matches`` (given back to the caller); ``-replace`` and ``-split`` use .NET regular
expressions (``rollup.lab.pwsh.dotnet_text.regex``); ``-f`` is .NET composite formatting.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from rollup.lab.pwsh.dotnet_text import composite_format, regex, replacement
from rollup.lab.pwsh.errors import runtime_error
from rollup.lab.pwsh.values import (
    ConversionError,
    Hashtable,
    compare,
    enumerate_value,
    equals,
    smallest_int,
    to_bool,
    to_number,
    to_string,
)

_COMPARISONS = {
    "eq",
    "ne",
    "gt",
    "ge",
    "lt",
    "le",
    "like",
    "notlike",
    "match",
    "notmatch",
    "contains",
    "notcontains",
}


def split_op(op: str) -> tuple[str, bool]:
    """``-ceq`` -> (``eq``, case-sensitive); ``-ieq`` and ``-eq`` -> (``eq``, insensitive)."""
    name = op.lstrip("-").lower()
    if name[:1] in ("c", "i") and name[1:] in _COMPARISONS | {"replace", "split"}:
        return name[1:], name[0] == "c"
    return name, False


def like(value: Any, pattern: Any, case: bool) -> bool:
    text, pat = to_string(value), to_string(pattern)
    rx = fnmatch.translate(pat.replace("[!", "[\\!"))
    return re.match(rx, text, 0 if case else re.IGNORECASE) is not None


def _scalar(op: str, left: Any, right: Any, case: bool, matches: list[Any]) -> bool:
    if op == "eq":
        return equals(left, right, case_sensitive=case)
    if op == "ne":
        return not equals(left, right, case_sensitive=case)
    if op in ("gt", "ge", "lt", "le"):
        try:
            c = compare(left, right, case_sensitive=case)
        except ConversionError as exc:
            raise runtime_error(str(exc), "ComparisonFailure") from None
        return {"gt": c > 0, "ge": c >= 0, "lt": c < 0, "le": c <= 0}[op]
    if op in ("like", "notlike"):
        return like(left, right, case) == (op == "like")
    if op in ("match", "notmatch"):
        m = regex(to_string(right), case).search(to_string(left))
        if m and not matches:
            matches.append(m)
        return (m is not None) == (op == "match")
    raise runtime_error(f"The operator -{op} is not supported.", "OperatorNotSupported")


def comparison(op_text: str, left: Any, right: Any) -> tuple[Any, Any]:
    """The value of ``left <op> right``, and the ``Match`` that sets ``$matches`` (or None)."""
    op, case = split_op(op_text)
    if op in ("contains", "notcontains"):
        items = enumerate_value(left)
        seq = [left] if items is None else list(items)
        hit = any(equals(item, right, case_sensitive=case) for item in seq)
        return hit == (op == "contains"), None
    items = enumerate_value(left)
    if items is not None:
        return [item for item in items if _scalar(op, item, right, case, [])], None
    found: list[Any] = []
    result = _scalar(op, left, right, case, found)
    return result, (found[0] if found else (False if op in ("match", "notmatch") else None))


def replace(left: Any, right: Any, case: bool) -> Any:
    args = list(right) if isinstance(right, list) else [right]
    if len(args) > 2:
        raise runtime_error(
            "The -replace operator only permits 2 elements on the right-hand side, not " + str(len(args)),
            "BadReplaceArgument",
        )
    pattern = regex(to_string(args[0]), case)
    repl = replacement(to_string(args[1]) if len(args) > 1 else "")

    def one(value: Any) -> str:
        return pattern.sub(repl, to_string(value))

    items = enumerate_value(left)
    return [one(v) for v in items] if items is not None else one(left)


def split(left: Any, right: Any, case: bool) -> list[str]:
    args = list(right) if isinstance(right, list) else [right]
    pattern = regex(to_string(args[0]), case)
    limit = int(to_number(args[1])) if len(args) > 1 else 0
    items = enumerate_value(left)
    out: list[str] = []
    for value in [left] if items is None else list(items):
        text = to_string(value)
        out.extend(_regex_split(pattern, text, limit))
    return out


def _regex_split(pattern: re.Pattern[str], text: str, limit: int) -> list[str]:
    parts: list[str] = []
    pos = 0
    for m in pattern.finditer(text):
        if limit and len(parts) == limit - 1:
            break
        if m.end() == 0 and m.start() == 0:
            continue
        parts.append(text[pos : m.start()])
        parts.extend(g if g is not None else "" for g in m.groups())
        pos = m.end()
    parts.append(text[pos:])
    return parts


def join(left: Any, right: Any) -> str:
    items = enumerate_value(left)
    seq = [left] if items is None else list(items)
    return to_string(right).join(to_string(v) for v in seq)


def add(left: Any, right: Any) -> Any:
    """``+``: arrays concatenate, hashtables merge, strings join, numbers add."""
    if isinstance(left, list):
        items = enumerate_value(right)
        return [*left, *(list(items) if items is not None else [right])]
    if isinstance(left, Hashtable):
        if not isinstance(right, Hashtable):
            raise runtime_error(
                "You can add another hash table only to a hash table.", "AddHashTableToNonHashTable"
            )
        merged = Hashtable()
        for k, v in left.items():
            merged.set(k, v)
        for k, v in right.items():
            if merged.has(k):
                raise runtime_error(
                    f"Item has already been added. Key in dictionary: '{k}'  Key being added: '{k}'",
                    "DuplicateKeyInHashLiteral",
                )
            merged.set(k, v)
        return merged
    if isinstance(left, str):
        return left + to_string(right)
    if left is None:
        if isinstance(right, list):
            return list(right)
        return right
    return arithmetic("+", left, right)


def arithmetic(op: str, left: Any, right: Any) -> Any:
    if op == "*" and isinstance(left, str):
        return left * int(to_number(right))
    if op == "*" and isinstance(left, list):
        return left * int(to_number(right))
    a: Any
    b: Any
    try:
        a, b = to_number(left), to_number(right)
    except ConversionError as exc:
        raise runtime_error(
            str(exc), "ConvertToFinalInvalidCastException", category="InvalidArgument"
        ) from None
    if isinstance(a, Decimal) or isinstance(b, Decimal):
        a, b = Decimal(str(a)), Decimal(str(b))
    if op == "+":
        return _number(a + b)
    if op == "-":
        return _number(a - b)
    if op == "*":
        return _number(a * b)
    if op in ("/", "%"):
        if b == 0:
            raise runtime_error("Attempted to divide by zero.", "RuntimeException")
        if op == "%":
            if isinstance(a, int) and isinstance(b, int):
                return _number(int(abs(a) % abs(b)) * (1 if a >= 0 else -1))
            return a % b
        if isinstance(a, int) and isinstance(b, int) and a % b == 0:
            return _number(a // b)
        return float(a) / float(b)
    raise runtime_error(f"The operator {op} is not supported.", "OperatorNotSupported")


def _number(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return smallest_int(int(value))
    return value


def bitwise(op: str, left: Any, right: Any) -> int:
    a, b = int(to_number(left)), int(to_number(right))
    fn: dict[str, Callable[[int, int], int]] = {
        "-band": lambda x, y: x & y,
        "-bor": lambda x, y: x | y,
        "-bxor": lambda x, y: x ^ y,
    }
    return smallest_int(fn[op](a, b))


def range_of(left: Any, right: Any) -> list[int]:
    a, b = int(to_number(left)), int(to_number(right))
    step = 1 if b >= a else -1
    return list(range(a, b + step, step))


def format_op(left: Any, right: Any) -> str:
    items = enumerate_value(right)
    args = [right] if items is None else list(items)
    return composite_format(to_string(left), args)


def logical(op: str, left: Any, right: Callable[[], Any]) -> bool:
    a = to_bool(left)
    if op == "-and":
        return a and to_bool(right())
    if op == "-or":
        return a or to_bool(right())
    return a != to_bool(right())
