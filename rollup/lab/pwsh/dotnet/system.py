"""
``System``: ``DateTime``, ``Console``, ``Environment``, ``Convert``, ``BitConverter``, ``Math``,
``GC``, ``Array``, ``StringComparer``, ``DBNull``; ``System.Globalization``: ``CultureInfo``,
``DateTimeStyles``; ``System.Text``: ``Encoding``, ``StringBuilder``.
"""

from __future__ import annotations

import base64
import binascii
import math
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from rollup.lab.pwsh.dotnet_text import format_datetime
from rollup.lab.pwsh.net import NetException, NetObject, register, static, static_property, statics_of
from rollup.lab.pwsh.values import Int64, enumerate_value, to_number, to_string

if TYPE_CHECKING:
    from rollup.lab.pwsh.runtime import Runtime

_EPOCH_1601 = datetime(1601, 1, 1, tzinfo=UTC)


class DateTime(NetObject):
    """A ``System.DateTime``: an aware UTC moment and its ``Kind``."""

    TYPE: ClassVar[str] = "System.DateTime"
    BASES: ClassVar[tuple[str, ...]] = ("System.ValueType", "System.IComparable", "System.IFormattable")

    def __init__(self, moment: datetime, kind: str = "Utc") -> None:
        self.moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        self.kind = kind

    def ToUniversalTime(self) -> DateTime:
        return DateTime(self.moment, "Utc")

    def ToString(self, *args: Any) -> str:
        fmt = to_string(args[0]) if args and isinstance(args[0], str) else "G"
        return format_datetime(self.moment, fmt)

    def format_with(self, fmt: str) -> str:
        return format_datetime(self.moment, fmt)

    def ToFileTimeUtc(self) -> Int64:
        return Int64((self.moment - _EPOCH_1601) // timedelta(microseconds=1) * 10)

    @property
    def Kind(self) -> str:
        return self.kind

    @property
    def Year(self) -> int:
        return self.moment.year

    @property
    def Ticks(self) -> Int64:
        return Int64((self.moment - datetime(1, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) * 10)

    def AddSeconds(self, n: Any) -> DateTime:
        return DateTime(self.moment + timedelta(seconds=float(to_number(n))), self.kind)

    def Equals(self, other: Any) -> bool:
        return isinstance(other, DateTime) and other.moment == self.moment

    def ps_compare(self, other: Any) -> int:
        theirs = to_datetime(other).moment
        return (self.moment > theirs) - (self.moment < theirs)


def to_datetime(value: Any) -> DateTime:
    if isinstance(value, DateTime):
        return value
    if isinstance(value, datetime):
        return DateTime(value)
    text = to_string(value)
    try:
        return DateTime(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        pass
    for fmt in ("%m/%d/%Y %H:%M:%S", "%m/%d/%Y"):
        try:
            return DateTime(datetime.strptime(text, fmt).replace(tzinfo=UTC))
        except ValueError:
            continue
    raise NetException("System.FormatException", "String was not recognized as a valid DateTime.")


class DateTimeStatics:
    @static_property
    def UtcNow(rt: Runtime) -> DateTime:
        return DateTime(datetime.fromtimestamp(rt.machine.now(), UTC), "Utc")

    @static_property
    def Now(rt: Runtime) -> DateTime:
        return DateTime(datetime.fromtimestamp(rt.machine.now(), UTC), "Local")

    @static
    def FromFileTimeUtc(rt: Runtime, value: Any) -> DateTime:
        ticks = int(to_number(value))
        if ticks < 0:
            raise NetException(
                "System.ArgumentOutOfRangeException",
                "Not a valid Win32 FileTime.\r\nParameter name: fileTime",
            )
        return DateTime(_EPOCH_1601 + timedelta(microseconds=ticks // 10), "Utc")

    @static
    def Parse(rt: Runtime, text: Any, *rest: Any) -> DateTime:
        return to_datetime(to_string(text))


class Console:
    @static_property
    def Out(rt: Runtime) -> ConsoleWriter:
        return ConsoleWriter(rt)


class ConsoleWriter(NetObject):
    TYPE: ClassVar[str] = "System.IO.TextWriter"

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    def WriteLine(self, *values: Any) -> None:
        self.rt.write_raw((to_string(values[0]) if values else "") + "\r\n")

    def Write(self, value: Any) -> None:
        self.rt.write_raw(to_string(value))

    def Flush(self) -> None:
        return None


class Environment:
    @static_property
    def SystemDirectory(rt: Runtime) -> str:
        return rt.machine.system_root() + "\\system32"

    @static_property
    def MachineName(rt: Runtime) -> str:
        return rt.machine.computer_name()

    @static_property
    def OSVersion(rt: Runtime) -> Any:
        return rt.machine.os_version_object()

    @static
    def GetEnvironmentVariable(rt: Runtime, name: Any) -> str | None:
        return rt.machine.environment().get(to_string(name).lower())


class Convert:
    @static
    def FromBase64String(rt: Runtime, text: Any) -> bytes:
        s = "".join(to_string(text).split())
        if len(s) % 4:
            raise NetException("System.FormatException", "Invalid length for a Base-64 char array.")
        try:
            return base64.b64decode(s, validate=True)
        except binascii.Error:
            raise NetException("System.FormatException", "Invalid character in a Base-64 string.") from None

    @static
    def ToBase64String(rt: Runtime, data: Any) -> str:
        return base64.b64encode(bytes(data)).decode("ascii")

    @static
    def ToInt32(rt: Runtime, value: Any, *base: Any) -> int:
        if base:
            return int(to_string(value), int(base[0]))
        return int(to_number(value))


class BitConverter:
    @static
    def ToString(rt: Runtime, data: Any) -> str:
        return "-".join(f"{b:02X}" for b in bytes(data))


class Gc:
    @static
    def Collect(rt: Runtime) -> None:
        return None

    @static
    def WaitForPendingFinalizers(rt: Runtime) -> None:
        return None


class ArrayStatics:
    @static
    def Sort(rt: Runtime, items: Any, comparer: Any = None) -> None:
        if not isinstance(items, list):
            raise NetException("System.ArgumentNullException", "Value cannot be null.")
        if isinstance(comparer, StringComparer) and comparer.ordinal:
            items.sort(key=lambda s: to_string(s).encode("utf-16-be"))
        else:
            items.sort(key=lambda s: to_string(s).lower())


class StringComparer(NetObject):
    TYPE: ClassVar[str] = "System.StringComparer"

    def __init__(self, ordinal: bool) -> None:
        self.ordinal = ordinal


class StringComparerStatics:
    @static_property
    def Ordinal(rt: Runtime) -> StringComparer:
        return StringComparer(True)

    @static_property
    def OrdinalIgnoreCase(rt: Runtime) -> StringComparer:
        return StringComparer(False)


class CultureInfo(NetObject):
    TYPE: ClassVar[str] = "System.Globalization.CultureInfo"

    @property
    def Name(self) -> str:
        return ""


class CultureStatics:
    @static_property
    def InvariantCulture(rt: Runtime) -> CultureInfo:
        return CultureInfo()


class Encoding(NetObject):
    TYPE: ClassVar[str] = "System.Text.UTF8Encoding"

    def __init__(self, codec: str) -> None:
        self.codec = codec

    def GetString(self, data: Any) -> str:
        return bytes(data).decode(self.codec, "replace")

    def GetBytes(self, text: Any) -> bytes:
        return to_string(text).encode(self.codec)


class EncodingStatics:
    @static_property
    def UTF8(rt: Runtime) -> Encoding:
        return Encoding("utf-8")

    @static_property
    def Unicode(rt: Runtime) -> Encoding:
        return Encoding("utf-16-le")

    @static_property
    def ASCII(rt: Runtime) -> Encoding:
        return Encoding("ascii")


class StringBuilder(NetObject):
    TYPE: ClassVar[str] = "System.Text.StringBuilder"

    def __init__(self, text: str = "") -> None:
        self.parts = [text]

    def Append(self, value: Any) -> StringBuilder:
        self.parts.append(to_string(value))
        return self

    def ToString(self, *args: Any) -> str:
        return "".join(self.parts)

    @property
    def Length(self) -> int:
        return sum(len(p) for p in self.parts)


class DBNull(NetObject):
    TYPE: ClassVar[str] = "System.DBNull"


class ArrayList(NetObject):
    TYPE: ClassVar[str] = "System.Collections.ArrayList"
    BASES: ClassVar[tuple[str, ...]] = (
        "System.Collections.IList",
        "System.Collections.ICollection",
        "System.Collections.IEnumerable",
    )

    def __init__(self, items: Any = ()) -> None:
        self.items: list[Any] = list(items)

    def Add(self, value: Any) -> int:
        self.items.append(value)
        return len(self.items) - 1

    def AddRange(self, values: Any) -> None:
        found = enumerate_value(values)
        self.items.extend([values] if found is None else list(found))

    def Contains(self, value: Any) -> bool:
        from rollup.lab.pwsh.values import equals

        return any(equals(i, value, case_sensitive=True) for i in self.items)

    def Remove(self, value: Any) -> None:
        if value in self.items:
            self.items.remove(value)

    def Clear(self) -> None:
        self.items.clear()

    @property
    def Count(self) -> int:
        return len(self.items)

    def ToArray(self) -> list[Any]:
        return list(self.items)

    def ps_enumerate(self) -> Any:
        return iter(list(self.items))

    def ps_index(self, key: Any) -> Any:
        i = int(to_number(key))
        if not 0 <= i < len(self.items):
            raise NetException(
                "System.ArgumentOutOfRangeException",
                "Index was out of range. Must be non-negative and less than the size of the collection.\r\nParameter name: index",
            )
        return self.items[i]

    def ps_set_index(self, key: Any, value: Any) -> None:
        self.items[int(to_number(key))] = value


register(
    "System.DateTime",
    aliases=("datetime",),
    statics=statics_of(DateTimeStatics),
    cast=lambda rt, v: to_datetime(v),
)
register("System.Console", statics=statics_of(Console))
register("System.Environment", statics=statics_of(Environment))
register("System.Convert", statics=statics_of(Convert))
register("System.BitConverter", statics=statics_of(BitConverter))
register("System.GC", statics=statics_of(Gc))
register("System.Array", aliases=("array",), statics=statics_of(ArrayStatics))
register("System.StringComparer", statics=statics_of(StringComparerStatics))
register("System.Globalization.CultureInfo", statics=statics_of(CultureStatics))
register(
    "System.Globalization.DateTimeStyles",
    enum_values={
        "None": 0,
        "AllowLeadingWhite": 1,
        "AllowTrailingWhite": 2,
        "AdjustToUniversal": 16,
        "AssumeLocal": 32,
        "AssumeUniversal": 64,
        "RoundtripKind": 128,
    },
    flags=True,
)
register(
    "System.StringComparison",
    enum_values={
        "CurrentCulture": 0,
        "CurrentCultureIgnoreCase": 1,
        "InvariantCulture": 2,
        "InvariantCultureIgnoreCase": 3,
        "Ordinal": 4,
        "OrdinalIgnoreCase": 5,
    },
)
register("System.Text.Encoding", statics=statics_of(EncodingStatics))
register("System.Text.StringBuilder", construct=lambda rt, *a: StringBuilder(to_string(a[0]) if a else ""))
register("System.DBNull")
register("System.Collections.ArrayList", construct=lambda rt, *a: ArrayList())


class DoubleStatics:
    @static
    def IsNaN(rt: Runtime, value: Any) -> bool:
        return isinstance(value, float) and math.isnan(value)

    @static
    def IsInfinity(rt: Runtime, value: Any) -> bool:
        return isinstance(value, float) and value in (float("inf"), float("-inf"))


register("System.Double", aliases=("double",), statics=statics_of(DoubleStatics))
