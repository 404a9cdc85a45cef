"""``System.Version``: ``$PSVersionTable.PSVersion``, ``[Environment]::OSVersion.Version``."""

from __future__ import annotations

from typing import Any, ClassVar

from rollup.lab.pwsh.net import NetObject, register


class Version(NetObject):
    TYPE: ClassVar[str] = "System.Version"
    BASES: ClassVar[tuple[str, ...]] = ("System.IComparable",)

    def __init__(self, text: str) -> None:
        self.parts = [int(p) for p in text.split(".")]

    def _part(self, i: int) -> int:
        return self.parts[i] if i < len(self.parts) else -1

    @property
    def Major(self) -> int:
        return self._part(0)

    @property
    def Minor(self) -> int:
        return self._part(1)

    @property
    def Build(self) -> int:
        return self._part(2)

    @property
    def Revision(self) -> int:
        return self._part(3)

    def ToString(self, *args: Any) -> str:
        return ".".join(str(p) for p in self.parts)

    def Equals(self, other: Any) -> bool:
        return isinstance(other, Version) and other.parts == self.parts

    def ps_compare(self, other: Any) -> int:
        theirs = other.parts if isinstance(other, Version) else Version(str(other)).parts
        return (self.parts > theirs) - (self.parts < theirs)


def version_object(text: str) -> Version:
    return Version(text)


register(
    "System.Version",
    aliases=("version",),
    construct=lambda rt, text: Version(str(text)),
    cast=lambda rt, v: v if isinstance(v, Version) else Version(str(v)),
)
