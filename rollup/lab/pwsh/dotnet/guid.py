"""``System.Guid``: a GUID, shown in lower case as .NET's ``ToString()`` does."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, ClassVar

from rollup.lab.pwsh.net import NetException, NetObject, register
from rollup.lab.pwsh.values import to_string

if TYPE_CHECKING:
    from rollup.lab.pwsh.runtime import Runtime


class Guid(NetObject):
    TYPE: ClassVar[str] = "System.Guid"
    BASES: ClassVar[tuple[str, ...]] = ("System.ValueType", "System.IComparable", "System.IFormattable")

    def __init__(self, value: uuid.UUID) -> None:
        self.value = value

    def ToString(self, *args: Any) -> str:
        return str(self.value)

    def Equals(self, other: Any) -> bool:
        if isinstance(other, Guid):
            return other.value == self.value
        if isinstance(other, str):
            try:
                return uuid.UUID(other) == self.value
            except ValueError:
                return False
        return False

    def GetHashCode(self) -> int:
        return hash(self.value) & 0x7FFFFFFF


def to_guid(value: Any) -> Guid:
    """A GUID from a ``Guid`` or its text, or .NET's ``FormatException``."""
    if isinstance(value, Guid):
        return value
    try:
        return Guid(uuid.UUID(to_string(value).strip()))
    except ValueError:
        raise NetException(
            "System.FormatException",
            "Guid should contain 32 digits with 4 dashes (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx).",
        ) from None


def _cast(rt: Runtime, value: Any) -> Guid:
    return to_guid(value)


register("System.Guid", cast=_cast, construct=lambda rt, text: to_guid(text))
