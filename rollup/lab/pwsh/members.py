"""
Member access: ``$x.Name``, ``$x.Name = v``, ``$x.Method(...)``, ``[T]::Name``, ``$x[i]``.

Strings, numbers and arrays get the .NET members the project's scripts use (``rollup.lab.pwsh.
primitives``); model objects their own (``NetObject``). A property that does not exist is
``$null`` (an error under ``Set-StrictMode -Version 2.0``); a method that does not exist fails with
PowerShell 2.0's message. Arrays have no member enumeration: ``@($a).Name`` is ``$null`` in 2.0.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from rollup.lab.pwsh.errors import PsError, method_error, property_error, runtime_error
from rollup.lab.pwsh.net import NetException, NetObject, NetType
from rollup.lab.pwsh.primitives import primitive_member
from rollup.lab.pwsh.values import Hashtable, enumerate_value, to_number, type_name

if TYPE_CHECKING:
    from rollup.lab.pwsh.runtime import Runtime

_MISSING = object()


_STATIC_ATTRS: dict[tuple[type, str], Any] = {}


def _static_attr(obj: object, attr: str) -> Any:
    """The class-level definition of ``attr`` (a property or a function), cached per class."""
    key = (type(obj), attr)
    found = _STATIC_ATTRS.get(key, _MISSING)
    if found is _MISSING:
        found = _STATIC_ATTRS[key] = inspect.getattr_static(obj, attr)
    return found


def _net_attribute(obj: NetObject, name: str) -> str | None:
    return obj.member_names().get(name.lower())


def get_member(rt: Runtime, target: Any, name: str) -> Any:
    """``$target.name``."""
    if target is None:
        if rt.strict:
            raise runtime_error(
                f"Property '{name}' cannot be found on this object. Make sure that it exists.",
                "PropertyNotFoundStrict",
            )
        return None
    if isinstance(target, NetObject):
        found, value = target.ps_dynamic_member(name)
        if found:
            return value
        attr = _net_attribute(target, name)
        if attr is not None:
            raw = _static_attr(target, attr)
            if isinstance(raw, property):
                try:
                    return getattr(target, attr)
                except NetException as exc:
                    raise property_error(name, exc, setting=False) from None
            return BoundMethod(target, attr)
    else:
        found, value = primitive_member(target, name)
        if found:
            return value
    if rt.strict:
        raise runtime_error(
            f"Property '{name}' cannot be found on this object. Make sure that it exists.",
            "PropertyNotFoundStrict",
        )
    return None


def set_member(rt: Runtime, target: Any, name: str, value: Any) -> None:
    """``$target.name = value``."""
    if isinstance(target, Hashtable):
        target.set(name, value)
        return
    if isinstance(target, NetObject):
        if hasattr(target, "ps_set_dynamic") and target.ps_set_dynamic(name, value):
            return
        attr = _net_attribute(target, name)
        if attr is not None:
            raw = _static_attr(target, attr)
            if isinstance(raw, property) and raw.fset is not None:
                try:
                    setattr(target, attr, value)
                except NetException as exc:
                    raise property_error(name, exc, setting=True) from None
                return
            if isinstance(raw, property):
                raise runtime_error(f"'{name}' is a ReadOnly property.", "PropertyAssignmentException")
    if target is None:
        raise runtime_error(
            "Property '" + name + "' cannot be found on this object; make sure it exists and is settable.",
            "PropertyAssignmentException",
        )
    raise runtime_error(
        f"Property '{name}' cannot be found on this object; make sure it exists and is settable.",
        "PropertyAssignmentException",
    )


class BoundMethod(NetObject):
    """``$obj.Method`` without parentheses (a ``PSMethod``)."""

    TYPE = "System.Management.Automation.PSMethod"

    def __init__(self, target: Any, attr: str) -> None:
        self.target = target
        self.attr = attr

    def ToString(self, *args: Any) -> str:
        return f"{self.attr}()"


def invoke_method(rt: Runtime, target: Any, name: str, args: list[Any]) -> Any:
    """``$target.name(args)``."""
    if target is None:
        raise runtime_error("You cannot call a method on a null-valued expression.", "InvokeMethodOnNull")
    fn: Any = None
    if isinstance(target, NetObject):
        attr = _net_attribute(target, name)
        if attr is not None and not isinstance(_static_attr(target, attr), property):
            fn = getattr(target, attr)
    else:
        found, value = primitive_member(target, name, method=True)
        if found:
            fn = value
    if fn is None:
        raise runtime_error(
            f"Method invocation failed because [{type_name(target)}] doesn't contain a method named '{name}'.",
            "MethodNotFound",
        )
    return call(name, fn, args, rt)


def call(
    name: str, fn: Any, args: list[Any], rt: Runtime | None = None, *, with_runtime: bool = False
) -> Any:
    try:
        result = fn(rt, *args) if with_runtime else fn(*args)
    except NetException as exc:
        raise method_error(name, len(args), exc) from None
    except TypeError as exc:
        if "positional argument" in str(exc) or "required" in str(exc):
            raise runtime_error(
                f'Cannot find an overload for "{name}" and the argument count: "{len(args)}".',
                "MethodCountCouldNotFindBest",
            ) from None
        raise
    if result is None and _returns_void(fn):
        from rollup.lab.pwsh.types import VOID

        return VOID
    return result


def _returns_void(fn: Any) -> bool:
    """A member declared ``-> None`` is a .NET ``void`` method: it writes nothing to the pipeline."""
    target = getattr(fn, "__func__", fn)
    return getattr(target, "__annotations__", {}).get("return") in ("None", None.__class__)


def static_member(rt: Runtime, t: NetType, name: str) -> Any:
    """``[T]::name``."""
    fn = t.statics.get(name.lower())
    if fn is not None and getattr(fn, "ps_static", "") == "property":
        try:
            return fn(rt)
        except NetException as exc:
            raise property_error(name, exc, setting=False) from None
    if t.enum_values is not None:
        for key, value in t.enum_values.items():
            if key.lower() == name.lower():
                from rollup.lab.pwsh.types import EnumValue

                return EnumValue(t, value)
    if fn is not None:
        return BoundMethod(t, name)
    if rt.strict:
        raise runtime_error(
            f"Property '{name}' cannot be found on this object. Make sure that it exists.",
            "PropertyNotFoundStrict",
        )
    return None


def invoke_static(rt: Runtime, t: NetType, name: str, args: list[Any]) -> Any:
    """``[T]::name(args)``."""
    fn = t.statics.get(name.lower())
    if fn is None or getattr(fn, "ps_static", "") != "method":
        raise runtime_error(
            f"Method invocation failed because [{t.full_name}] doesn't contain a method named '{name}'.",
            "MethodNotFound",
        )
    return call(name, fn, args, rt, with_runtime=True)


def index(rt: Runtime, target: Any, key: Any) -> Any:
    """``$target[key]``: arrays (negative indexes, several indexes), strings, hashtables, objects."""
    if target is None:
        raise runtime_error("Cannot index into a null array.", "NullArray")
    if isinstance(target, Hashtable | NetObject) and not isinstance(target, list):
        if isinstance(target, Hashtable):
            keys = key if isinstance(key, list) else None
            if keys is not None:
                return [target.get(k) for k in keys]
            return target.get(key)
        try:
            return target.ps_index(key)
        except NetException as exc:
            raise method_error("get_Item", 1, exc) from None
    if isinstance(key, list):
        out = [index(rt, target, k) for k in key]
        return [v for v in out if v is not None]
    if isinstance(target, str):
        from rollup.lab.pwsh.values import Char

        i = int(to_number(key))
        if -len(target) <= i < len(target):
            return Char(target[i])
        return None
    if isinstance(target, list | bytes | bytearray):
        try:
            i = int(to_number(key))
        except Exception:
            raise runtime_error(
                "Cannot convert value to type System.Int32.", "InvalidCastFromStringToInteger"
            ) from None
        if -len(target) <= i < len(target):
            item = target[i]
            if isinstance(target, bytes | bytearray):
                from rollup.lab.pwsh.values import Byte

                return Byte(item)
            return item
        return None
    items = enumerate_value(target)
    if items is not None:
        return index(rt, list(items), key)
    raise runtime_error(f"Unable to index into an object of type {type_name(target)}.", "CannotIndex")


def set_index(rt: Runtime, target: Any, key: Any, value: Any) -> None:
    if isinstance(target, list):
        i = int(to_number(key))
        if not -len(target) <= i < len(target):
            raise runtime_error(
                "Array assignment failed because index '" + str(i) + "' was out of range.", "IndexOutOfRange"
            )
        target[i] = value
        return
    if isinstance(target, NetObject):
        try:
            target.ps_set_index(key, value)
        except NetException as exc:
            raise method_error("set_Item", 2, exc) from None
        return
    if target is None:
        raise runtime_error("Cannot index into a null array.", "NullArray")
    raise runtime_error(f"Unable to index into an object of type {type_name(target)}.", "CannotIndex")


__all__ = [
    "PsError",
    "get_member",
    "index",
    "invoke_method",
    "invoke_static",
    "set_index",
    "set_member",
    "static_member",
]
