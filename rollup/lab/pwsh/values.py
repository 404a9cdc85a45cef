"""
PowerShell's values and its conversions between them, where they differ from Python's.

Representation: ``None`` is ``$null``; ``bool``; ``int`` is Int32 when it fits, ``Int64`` (and
the other integer subclasses) when a script said so or it does not; ``float`` is Double;
``decimal.Decimal``; ``str`` is String and ``Char`` a one-character string; a Python ``list`` is
``object[]`` (``TypedArray`` for ``string[]`` and the like, ``bytes`` for ``byte[]``);
``Hashtable`` (keys compared ignoring case); ``PSObject`` (note properties); ``ScriptBlock``;
every other .NET object is a ``rollup.lab.pwsh.net.NetObject``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

from rollup.lab.pwsh.net import NetException, NetObject

INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)


class Int64(int):
    """``[long]``."""


class Byte(int):
    """``[byte]``."""


class UInt32(int):
    """``[uint32]``."""


class UInt64(int):
    """``[uint64]``."""


class Char(str):
    """``[char]``."""


class TypedArray(list[Any]):
    """An array of one element type (``string[]``, ``char[]``, ``int[]``)."""

    def __init__(self, element: str, items: Any = ()) -> None:
        super().__init__(items)
        self.element = element


def smallest_int(value: int) -> int:
    """A literal's type: Int32 when it fits, else Int64, else a Decimal, as PowerShell reads it."""
    if INT32[0] <= value <= INT32[1]:
        return value
    if INT64[0] <= value <= INT64[1]:
        return Int64(value)
    return int(Decimal(value))


_INT_NAMES = {Int64: "System.Int64", Byte: "System.Byte", UInt32: "System.UInt32", UInt64: "System.UInt64"}


def type_name(value: Any) -> str:
    """The .NET full name of a value's type."""
    if isinstance(value, bool):
        return "System.Boolean"
    if isinstance(value, int):
        named = _INT_NAMES.get(type(value))
        if named:
            return named
        return "System.Int32" if INT32[0] <= value <= INT32[1] else "System.Int64"
    if isinstance(value, float):
        return "System.Double"
    if isinstance(value, Decimal):
        return "System.Decimal"
    if isinstance(value, Char):
        return "System.Char"
    if isinstance(value, str):
        return "System.String"
    if isinstance(value, TypedArray):
        return f"System.{value.element}[]"
    if isinstance(value, list):
        return "System.Object[]"
    if isinstance(value, bytes | bytearray):
        return "System.Byte[]"
    if isinstance(value, NetObject):
        return value.TYPE
    return "System.Object"


_BASES = {
    "System.String": ("System.Collections.IEnumerable", "System.IComparable"),
    "System.Object[]": ("System.Array", "System.Collections.IEnumerable", "System.Collections.IList"),
    "System.Byte[]": ("System.Array", "System.Collections.IEnumerable", "System.Collections.IList"),
    "System.Int32": ("System.ValueType", "System.IComparable", "System.IFormattable"),
    "System.Int64": ("System.ValueType", "System.IComparable", "System.IFormattable"),
    "System.Double": ("System.ValueType", "System.IComparable", "System.IFormattable"),
    "System.Boolean": ("System.ValueType",),
}


def is_instance(value: Any, type_full_name: str) -> bool:
    """``$value -is [Type]``."""
    if value is None:
        return False
    want = type_full_name.lower()
    if want == "system.object":
        return True
    name = type_name(value)
    if name.lower() == want:
        return True
    bases: tuple[str, ...] = _BASES.get(name, ())
    if isinstance(value, list) and name.endswith("[]"):
        bases = _BASES["System.Object[]"]
    if isinstance(value, NetObject):
        names = getattr(value, "ps_type_names", None)
        bases = tuple(names()) if names is not None else value.BASES
    return any(b.lower() == want for b in bases)


class Hashtable(NetObject):
    """``@{}``: keys compared ignoring case (strings), insertion order kept for display."""

    TYPE: ClassVar[str] = "System.Collections.Hashtable"
    BASES: ClassVar[tuple[str, ...]] = (
        "System.Collections.IDictionary",
        "System.Collections.ICollection",
        "System.Collections.IEnumerable",
    )

    def __init__(self) -> None:
        self._items: dict[Any, tuple[Any, Any]] = {}

    @staticmethod
    def _norm(key: Any) -> Any:
        if key is None:
            raise NetException("System.ArgumentNullException", "Key cannot be null.\r\nParameter name: key")
        return key.lower() if isinstance(key, str) else key

    def has(self, key: Any) -> bool:
        return self._norm(key) in self._items

    def get(self, key: Any) -> Any:
        entry = self._items.get(self._norm(key))
        return None if entry is None else entry[1]

    def set(self, key: Any, value: Any) -> None:
        k = self._norm(key)
        old = self._items.get(k)
        self._items[k] = (old[0] if old else key, value)

    def items(self) -> list[tuple[Any, Any]]:
        return list(self._items.values())

    def ps_index(self, key: Any) -> Any:
        return self.get(key)

    def ps_set_index(self, key: Any, value: Any) -> None:
        self.set(key, value)

    def ps_dynamic_member(self, name: str) -> tuple[bool, Any]:
        if self.has(name):
            return True, self.get(name)
        return False, None

    @property
    def Count(self) -> int:
        return len(self._items)

    @property
    def Keys(self) -> list[Any]:
        return [k for k, _ in self._items.values()]

    @property
    def Values(self) -> list[Any]:
        return [v for _, v in self._items.values()]

    @property
    def PSBase(self) -> Hashtable:
        return _HashtableBase(self)

    def ContainsKey(self, key: Any) -> bool:
        return self.has(key)

    def Contains(self, key: Any) -> bool:
        return self.has(key)

    def Add(self, key: Any, value: Any) -> None:
        if self.has(key):
            raise NetException(
                "System.ArgumentException",
                f"Item has already been added. Key in dictionary: '{key}'  Key being added: '{key}'",
            )
        self.set(key, value)

    def Remove(self, key: Any) -> None:
        self._items.pop(self._norm(key), None)


class _HashtableBase(Hashtable):
    """``$h.PSBase``: the hashtable's own members, never its entries."""

    def __init__(self, real: Hashtable) -> None:
        self._items = real._items

    def ps_dynamic_member(self, name: str) -> tuple[bool, Any]:
        return False, None


class PSObject(NetObject):
    """A ``PSCustomObject`` with note properties (``Get-ItemProperty``'s answer, ``Select-Object``)."""

    TYPE: ClassVar[str] = "System.Management.Automation.PSCustomObject"

    def __init__(self, properties: dict[str, Any] | None = None) -> None:
        self.props: dict[str, tuple[str, Any]] = {}
        for k, v in (properties or {}).items():
            self.props[k.lower()] = (k, v)

    def ps_dynamic_member(self, name: str) -> tuple[bool, Any]:
        entry = self.props.get(name.lower())
        return (True, entry[1]) if entry else (False, None)

    def ToString(self, *args: Any) -> str:
        inner = "; ".join(f"{k}={to_string(v)}" for k, v in self.props.values())
        return "@{" + inner + "}"


class ScriptBlock(NetObject):
    TYPE: ClassVar[str] = "System.Management.Automation.ScriptBlock"

    def __init__(self, params: Any, body: Any, text: str = "") -> None:
        self.params = params
        self.body = body
        self.text = text

    def ToString(self, *args: Any) -> str:
        return self.text


def enumerate_value(value: Any) -> Iterator[Any] | None:
    """The items a pipeline unrolls ``value`` into, or ``None`` when it is one item."""
    if isinstance(value, list):
        return iter(value)
    if isinstance(value, bytes | bytearray):
        return (Byte(b) for b in value)
    if isinstance(value, NetObject) and not isinstance(value, Hashtable):
        return value.ps_enumerate()
    return None


def to_bool(value: Any) -> bool:
    """PowerShell's truth: ``$null``, 0, "", an empty array and an array of one false item are false."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float | Decimal):
        return value != 0
    if isinstance(value, str):
        return len(value) > 0
    if isinstance(value, list):
        if len(value) == 0:
            return False
        return to_bool(value[0]) if len(value) == 1 else True
    if isinstance(value, NetObject):
        items = value.ps_enumerate() if not isinstance(value, Hashtable) else None
        if items is not None and getattr(value, "TYPE", "") != "System.Xml.XmlElement":
            first = list(_take(items, 2))
            if not first:
                return False
            return to_bool(first[0]) if len(first) == 1 else True
        return True
    return True


def _take(items: Iterator[Any], n: int) -> Iterator[Any]:
    for i, item in enumerate(items):
        if i >= n:
            return
        yield item


def format_double(value: float) -> str:
    """A Double as .NET 2.0's ``ToString()`` in the invariant culture writes it (15 digits)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    text = f"{value:.15G}"
    if "E" in text:
        mant, exp = text.split("E")
        sign = exp[0]
        digits = exp[1:].lstrip("0").rjust(2, "0")
        text = f"{mant}E{sign}{digits}"
    return text


def to_string(value: Any) -> str:
    """A value as PowerShell converts it to a string (arrays joined by spaces)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        return format_double(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list):
        return " ".join(_element_string(v) for v in value)
    if isinstance(value, bytes | bytearray):
        return " ".join(str(b) for b in value)
    if isinstance(value, NetObject):
        return str(value.ToString())
    if isinstance(value, datetime):
        return value.strftime("%m/%d/%Y %H:%M:%S")
    return str(value)


def _element_string(value: Any) -> str:
    if isinstance(value, list):
        return type_name(value)
    return to_string(value)


_NUMBER = re.compile(
    r"^\s*([+-]?)(0x[0-9a-f]+|\d+(?:\.\d*)?(?:e[+-]?\d+)?|\.\d+(?:e[+-]?\d+)?)\s*$", re.IGNORECASE
)


class ConversionError(Exception):
    """A value cannot be converted to the type an operation needs."""


def parse_number(text: str) -> int | float:
    """A string as a number the way PowerShell's arithmetic reads it."""
    if text.strip() == "":
        return 0
    m = _NUMBER.match(text)
    if not m:
        raise ConversionError(
            f'Cannot convert value "{text}" to type "System.Int32". Error: "Input string was not in a correct format."'
        )
    sign = -1 if m.group(1) == "-" else 1
    body = m.group(2)
    if body.lower().startswith("0x"):
        return smallest_int(sign * int(body, 16))
    if re.fullmatch(r"\d+", body):
        return smallest_int(sign * int(body))
    return sign * float(body)


def to_number(value: Any) -> int | float | Decimal:
    """An operand of arithmetic as a number."""
    if value is None:
        return 0
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float | Decimal):
        return value
    if isinstance(value, Char):
        return ord(value)
    if isinstance(value, str):
        return parse_number(value)
    if isinstance(value, list) and len(value) == 1:
        return to_number(value[0])
    raise ConversionError(
        f'Cannot convert the "{to_string(value)}" value of type "{type_name(value)}" to type "System.Int32".'
    )


def equals(left: Any, right: Any, *, case_sensitive: bool = False) -> bool:
    """``left -eq right`` for one left item: the right side is converted to the left's type."""
    if left is None or right is None:
        return left is None and right is None
    if isinstance(left, str):
        r = to_string(right)
        return left == r if case_sensitive else left.lower() == r.lower()
    if isinstance(left, bool):
        return left == to_bool(right)
    if isinstance(left, int | float | Decimal):
        try:
            number = to_number(right)
        except ConversionError:
            return False
        return bool(left == number)
    if isinstance(left, NetObject):
        if left.Equals(right):
            return True
        if isinstance(right, str):
            return (
                to_string(left).lower() == right.lower() if not case_sensitive else to_string(left) == right
            )
        return False
    return bool(left == right)


def compare(left: Any, right: Any, *, case_sensitive: bool = False) -> int:
    """-1, 0 or 1 comparing ``left`` with ``right`` converted to its type (``-lt``, ``-gt``...)."""
    if left is None:
        return 0 if right is None else -1
    if right is None:
        return 1
    if isinstance(left, str):
        a, b = left, to_string(right)
        if not case_sensitive:
            a, b = a.lower(), b.lower()
        return (a > b) - (a < b)
    if isinstance(left, int | float | Decimal) and not isinstance(left, bool):
        r = to_number(right)
        return (left > r) - (left < r)
    if hasattr(left, "ps_compare"):
        return int(left.ps_compare(right))
    raise ConversionError(f'Cannot compare "{to_string(left)}" because it is not IComparable.')


def flatten_for_output(value: Any) -> list[Any]:
    """What writing ``value`` to the pipeline emits: its items if it is enumerable, else itself."""
    items = enumerate_value(value)
    return [value] if items is None else list(items)
