"""
The .NET object model the lab's PowerShell sees: objects, types, and their members.

A .NET object is a ``NetObject``: its ``TYPE`` is the .NET full name, ``BASES`` the base classes
and interfaces ``-is`` accepts, and its members are the Python attributes whose names start with
an upper-case letter, matched ignoring case as PowerShell does (``Length`` as a property,
``GetAttribute(...)`` as a method). Anything else does not exist: a script that calls a member the
model lacks fails as it fails on Windows, with the same message.

A type (``[IO.File]``) is a ``NetType`` registered by full name: its static members are
functions decorated with ``static`` (called with the running ``Runtime`` first), its
constructor is what ``New-Object`` calls, its ``cast`` is what ``[Type]$value`` calls.
Primitive values are Python values (``rollup.lab.pwsh.values``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    pass


class NetException(Exception):
    """A .NET exception thrown by a modelled member: its type name and message, as on Windows."""

    def __init__(self, type_name: str, message: str, inner: NetException | None = None) -> None:
        super().__init__(message)
        self.type_name = type_name
        self.message = message
        self.inner = inner


def io_error(message: str) -> NetException:
    return NetException("System.IO.IOException", message)


def not_found(path: str) -> NetException:
    return NetException("System.IO.FileNotFoundException", f"Could not find file '{path}'.")


def dir_not_found(path: str) -> NetException:
    return NetException(
        "System.IO.DirectoryNotFoundException", f"Could not find a part of the path '{path}'."
    )


def argument_error(message: str) -> NetException:
    return NetException("System.ArgumentException", message)


_EXCEPTION_BASES = {
    "System.IO.FileNotFoundException": ("System.IO.IOException",),
    "System.IO.DirectoryNotFoundException": ("System.IO.IOException",),
    "System.IO.IOException": ("System.SystemException",),
    "System.UnauthorizedAccessException": ("System.SystemException",),
    "System.ArgumentException": ("System.SystemException",),
    "System.ArgumentNullException": ("System.ArgumentException", "System.SystemException"),
    "System.FormatException": ("System.SystemException",),
    "System.InvalidOperationException": ("System.SystemException",),
    "System.Runtime.InteropServices.COMException": ("System.Runtime.InteropServices.ExternalException",),
    "System.Threading.WaitHandleCannotBeOpenedException": ("System.ApplicationException",),
}


def exception_bases(type_name: str) -> tuple[str, ...]:
    """The base classes of a modelled exception type, up to ``System.Exception``."""
    out: list[str] = []
    todo = [type_name]
    while todo:
        name = todo.pop()
        for base in _EXCEPTION_BASES.get(name, ()):
            if base not in out:
                out.append(base)
                todo.append(base)
    if type_name.startswith("System.Management.Automation."):
        out.append("System.Management.Automation.RuntimeException")
        out.append("System.SystemException")
    out.append("System.Exception")
    return tuple(dict.fromkeys(out))


class NetObject:
    """A .NET object of the model. Subclasses set ``TYPE`` and ``BASES`` and define members."""

    TYPE: ClassVar[str] = "System.Object"
    BASES: ClassVar[tuple[str, ...]] = ()
    _member_cache: ClassVar[dict[str, str]]

    @classmethod
    def member_names(cls) -> dict[str, str]:
        """Lower-case member name -> attribute name, for this class (cached)."""
        cached = cls.__dict__.get("_member_cache")
        if cached is None:
            cached = {}
            for klass in reversed(cls.__mro__):
                for name in vars(klass):
                    if name[:1].isupper() and name not in ("TYPE", "BASES"):
                        cached[name.lower()] = name
            cls._member_cache = cached
        return cached

    def ToString(self, *args: Any) -> str:
        return self.TYPE

    def GetType(self) -> NetType:
        return NetType.lookup(self.TYPE) or NetType(self.TYPE)

    def Equals(self, other: Any) -> bool:
        return self is other

    def GetHashCode(self) -> int:
        return id(self) & 0x7FFFFFFF

    def ps_enumerate(self) -> Iterator[Any] | None:
        """The items PowerShell unrolls this object into in a pipeline, or ``None``."""
        return None

    def ps_index(self, key: Any) -> Any:
        """``$obj[key]``; objects without an indexer give ``$null`` as in PowerShell 2.0."""
        return None

    def ps_set_index(self, key: Any, value: Any) -> None:
        raise NetException(
            "System.NotSupportedException", f"Unable to index into an object of type {self.TYPE}."
        )

    def ps_dynamic_member(self, name: str) -> tuple[bool, Any]:
        """A member that is not a Python attribute (adapted properties such as XML attributes)."""
        return False, None


def static(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a function of a ``NetType`` definition as a static method (``[T]::Name(...)``)."""
    fn.ps_static = "method"  # type: ignore[attr-defined]
    return fn


def static_property(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a function as a static property (``[T]::Name``); called with the runtime only."""
    fn.ps_static = "property"  # type: ignore[attr-defined]
    return fn


@dataclass(eq=False)
class NetType(NetObject):
    """A .NET type: ``[IO.File]``. Instances of ``System.Type`` are these too."""

    TYPE: ClassVar[str] = "System.RuntimeType"
    full_name: str
    statics: dict[str, Callable[..., Any]] = field(default_factory=dict)
    construct: Callable[..., Any] | None = None
    cast: Callable[..., Any] | None = None
    element: NetType | None = None
    """For an array type, its element type."""
    enum_values: dict[str, int] | None = None
    flags: bool = False
    bases: tuple[str, ...] = ()

    registry: ClassVar[dict[str, NetType]] = {}

    @classmethod
    def lookup(cls, name: str) -> NetType | None:
        return cls.registry.get(name.lower())

    @property
    def Name(self) -> str:
        base = self.full_name.rsplit(".", 1)[-1]
        return base

    @property
    def FullName(self) -> str:
        return self.full_name

    def ToString(self, *args: Any) -> str:
        return self.full_name

    def Equals(self, other: Any) -> bool:
        return isinstance(other, NetType) and other.full_name.lower() == self.full_name.lower()


def register(
    full_name: str,
    *,
    statics: Iterable[Callable[..., Any]] = (),
    construct: Callable[..., Any] | None = None,
    cast: Callable[..., Any] | None = None,
    aliases: Iterable[str] = (),
    enum_values: dict[str, int] | None = None,
    flags: bool = False,
    bases: tuple[str, ...] = (),
) -> NetType:
    """Add a type to the model under its full name (and PowerShell's accelerators for it)."""
    existing = NetType.lookup(full_name)
    t = existing or NetType(full_name)
    for fn in statics:
        t.statics[fn.__name__.lower()] = fn
    t.construct = construct or t.construct
    t.cast = cast or t.cast
    t.enum_values = enum_values if enum_values is not None else t.enum_values
    t.flags = flags or t.flags
    t.bases = bases or t.bases
    for name in (full_name, *aliases):
        NetType.registry[name.lower()] = t
    return t


def statics_of(namespace: object) -> list[Callable[..., Any]]:
    """The functions of a class body marked ``static`` or ``static_property``."""
    return [v for v in vars(namespace).values() if callable(v) and hasattr(v, "ps_static")]
