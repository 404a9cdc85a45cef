"""
Type literals and conversions: ``[int]$x``, ``[string[]]@(...)``, ``[Globalization.DateTimeStyles]'A, B'``.

``resolve(name)`` finds a type as PowerShell does (accelerators such as ``[int]`` and ``[xml]``,
then the name as written, then with ``System.`` in front); a name the model does not have fails
with PowerShell's "Unable to find type" error. ``convert(rt, value, type)`` is PowerShell's cast.
"""

from __future__ import annotations

import math
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from rollup.lab.pwsh.errors import runtime_error
from rollup.lab.pwsh.net import NetException, NetObject, NetType, register, static_property
from rollup.lab.pwsh.values import (
    Byte,
    Char,
    ConversionError,
    Hashtable,
    Int64,
    TypedArray,
    UInt32,
    UInt64,
    enumerate_value,
    is_instance,
    to_bool,
    to_number,
    to_string,
    type_name,
)

if TYPE_CHECKING:
    from rollup.lab.pwsh.runtime import Runtime


class Void:
    """``[void]``: the value of a cast to it is discarded."""


VOID = Void()

_PRIMITIVES = {
    "system.int32": ("int", "int32"),
    "system.int64": ("long", "int64"),
    "system.byte": ("byte",),
    "system.uint32": ("uint32",),
    "system.uint64": ("uint64",),
    "system.double": ("double",),
    "system.single": ("float", "single"),
    "system.decimal": ("decimal",),
    "system.string": ("string",),
    "system.char": ("char",),
    "system.boolean": ("bool", "boolean"),
    "system.object": ("object", "psobject"),
    "system.void": ("void",),
    "system.array": ("array",),
    "system.collections.hashtable": ("hashtable",),
    "system.management.automation.scriptblock": ("scriptblock",),
    "system.management.automation.switchparameter": ("switch",),
    "system.type": ("type",),
    "system.exception": (),
    "system.valuetype": (),
    "system.collections.idictionary": (),
    "system.collections.ienumerable": (),
    "system.collections.ilist": (),
    "system.collections.icollection": (),
    "system.dbnull": (),
    "system.unauthorizedaccessexception": (),
    "system.io.ioexception": (),
    "system.management.automation.runtimeexception": (),
}

for _full, _aliases in _PRIMITIVES.items():
    _parts = _full.split(".")
    _proper = ".".join(p[:1].upper() + p[1:] for p in _parts)
    _fixed = {
        "system.io.ioexception": "System.IO.IOException",
        "system.dbnull": "System.DBNull",
        "system.collections.idictionary": "System.Collections.IDictionary",
        "system.collections.ienumerable": "System.Collections.IEnumerable",
        "system.collections.ilist": "System.Collections.IList",
        "system.collections.icollection": "System.Collections.ICollection",
        "system.unauthorizedaccessexception": "System.UnauthorizedAccessException",
        "system.management.automation.runtimeexception": "System.Management.Automation.RuntimeException",
        "system.management.automation.scriptblock": "System.Management.Automation.ScriptBlock",
        "system.management.automation.switchparameter": "System.Management.Automation.SwitchParameter",
        "system.valuetype": "System.ValueType",
        "system.uint32": "System.UInt32",
        "system.uint64": "System.UInt64",
    }.get(_full, _proper)
    register(_fixed, aliases=_aliases)


def _bound(name: str, value: Any) -> Any:
    """A ``[T]::MinValue`` / ``[T]::MaxValue`` static property."""

    def bound(rt: Runtime) -> Any:
        return value

    bound.__name__ = name
    return static_property(bound)


for _name, (_kind, _low, _high) in {
    "System.Byte": (Byte, 0, 255),
    "System.Int32": (int, -(2**31), 2**31 - 1),
    "System.UInt32": (UInt32, 0, 2**32 - 1),
    "System.Int64": (Int64, -(2**63), 2**63 - 1),
    "System.UInt64": (UInt64, 0, 2**64 - 1),
}.items():
    register(_name, statics=(_bound("MinValue", _kind(_low)), _bound("MaxValue", _kind(_high))))


def resolve(name: str) -> NetType:
    """The type a type literal names."""
    text = name.strip()
    if text.endswith("[]"):
        element = resolve(text[:-2])
        array = NetType(element.full_name + "[]")
        array.element = element
        return array
    for candidate in (text, "System." + text):
        found = NetType.lookup(candidate)
        if found is not None:
            return found
    raise runtime_error(
        f"Unable to find type [{name}]: make sure that the assembly containing this type is loaded.",
        "TypeNotFound",
    )


class EnumValue(NetObject):
    """A value of a .NET enumeration (``[IO.FileMode]'Open'``, ``DateTimeStyles``)."""

    TYPE: ClassVar[str] = "System.Enum"

    def __init__(self, t: NetType, value: int) -> None:
        self.t = t
        self.value = value

    def ps_type_names(self) -> tuple[str, ...]:
        return (self.t.full_name, "System.Enum", "System.ValueType")

    def ps_number(self) -> int:
        return self.value

    def GetType(self) -> NetType:
        return self.t

    def ToString(self, *args: Any) -> str:
        values = self.t.enum_values or {}
        for k, v in values.items():
            if v == self.value:
                return k
        if self.t.flags:
            names = [k for k, v in values.items() if v and self.value & v == v]
            if names:
                return ", ".join(names)
        return str(self.value)

    def Equals(self, other: Any) -> bool:
        if isinstance(other, EnumValue):
            return other.value == self.value
        if isinstance(other, str):
            try:
                return enum_from(self.t, other).value == self.value
            except NetException:
                return False
        if isinstance(other, int):
            return other == self.value
        return False


def enum_from(t: NetType, value: Any) -> EnumValue:
    values = t.enum_values or {}
    if isinstance(value, EnumValue):
        return EnumValue(t, value.value)
    if isinstance(value, int) and not isinstance(value, bool):
        return EnumValue(t, int(value))
    text = to_string(value)
    total = 0
    for part in text.split(","):
        key = part.strip().lower()
        match = next((v for k, v in values.items() if k.lower() == key), None)
        if match is None:
            names = ", ".join(values)
            raise NetException(
                "System.Management.Automation.PSInvalidCastException",
                f'Cannot convert value "{text}" to type "{t.full_name}" due to invalid enumeration values. '
                f'Specify one of the following enumeration values and try again. The possible enumeration values are "{names}".',
            )
        total |= match
    return EnumValue(t, total)


def _bankers(value: float | Decimal) -> int:
    return int(Decimal(str(value)).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def _integer(value: Any, cls: type[int], low: int, high: int, name: str) -> int:
    if value is None:
        return cls(0)
    if isinstance(value, Char):
        n: Any = ord(value)
    elif isinstance(value, EnumValue):
        n = value.value
    else:
        n = to_number(value)
    if isinstance(n, float):
        if math.isnan(n) or math.isinf(n):
            raise ConversionError(f'Cannot convert value "{to_string(value)}" to type "{name}".')
        n = _bankers(n)
    elif isinstance(n, Decimal):
        n = _bankers(n)
    if not low <= int(n) <= high:
        raise ConversionError(
            f'Cannot convert value "{to_string(value)}" to type "{name}". Error: "Value was either too large or too small for {name.rsplit(".", maxsplit=1)[-1]}."'
        )
    return cls(int(n)) if cls is not int else int(n)


def convert(rt: Runtime, value: Any, t: NetType) -> Any:
    """``[t]value``."""
    try:
        return _convert(rt, value, t)
    except ConversionError as exc:
        raise runtime_error(
            str(exc),
            "InvalidCastParseTargetInvocation",
            "System.Management.Automation.PSInvalidCastException",
            category="InvalidArgument",
        ) from None
    except NetException as exc:
        if exc.type_name.endswith("PSInvalidCastException"):
            raise runtime_error(
                exc.message, "RuntimeException", exc.type_name, category="InvalidArgument"
            ) from None
        raise runtime_error(
            f'Cannot convert value "{to_string(value)}" to type "{t.full_name}". Error: "{exc.message}"',
            "InvalidCastConstructorException",
            "System.Management.Automation.PSInvalidCastException",
            category="InvalidArgument",
        ) from None


def _convert(rt: Runtime, value: Any, t: NetType) -> Any:
    name = t.full_name.lower()
    if t.element is not None:
        items = enumerate_value(value)
        seq = [value] if items is None else list(items)
        if value is None:
            return None
        converted = [_convert(rt, v, t.element) for v in seq]
        if t.element.full_name == "System.Byte":
            return bytes(int(v) for v in converted)
        if t.element.full_name == "System.Object":
            return converted
        return TypedArray(t.element.full_name.split(".", 1)[-1], converted)
    if name == "system.void":
        return VOID
    if name == "system.object":
        return value
    if name == "system.string":
        return to_string(value)
    if name == "system.boolean":
        return to_bool(value)
    if name == "system.int32":
        return _integer(value, int, -(2**31), 2**31 - 1, "System.Int32")
    if name == "system.int64":
        return _integer(value, Int64, -(2**63), 2**63 - 1, "System.Int64")
    if name == "system.byte":
        return _integer(value, Byte, 0, 255, "System.Byte")
    if name == "system.uint32":
        return _integer(value, UInt32, 0, 2**32 - 1, "System.UInt32")
    if name == "system.uint64":
        return _integer(value, UInt64, 0, 2**64 - 1, "System.UInt64")
    if name in ("system.double", "system.single"):
        return 0.0 if value is None else float(to_number(value))
    if name == "system.decimal":
        return Decimal(0) if value is None else Decimal(str(to_number(value)))
    if name == "system.char":
        if isinstance(value, int) and not isinstance(value, bool):
            return Char(chr(value))
        text = to_string(value)
        if len(text) != 1:
            raise ConversionError(
                f'Cannot convert value "{text}" to type "System.Char". Error: "String must be exactly one character long."'
            )
        return Char(text)
    if name == "system.array":
        items = enumerate_value(value)
        return [value] if items is None else list(items)
    if name == "system.collections.hashtable" and isinstance(value, Hashtable):
        return value
    if t.enum_values is not None:
        return enum_from(t, value)
    if t.cast is not None:
        return t.cast(rt, value)
    if value is None:
        return None
    if is_instance(value, t.full_name):
        return value
    if isinstance(value, datetime):
        return value
    raise ConversionError(
        f'Cannot convert the "{to_string(value)}" value of type "{type_name(value)}" to type "{t.full_name}".'
    )
