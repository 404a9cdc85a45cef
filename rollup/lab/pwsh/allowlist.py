"""
What a script uses that the lab's PowerShell does not implement: the allow-list check.

A script passes when it parses into the interpreter's syntax tree (every construct is one the
interpreter implements), every command is a function it defines, a cmdlet the interpreter has
(``rollup.lab.pwsh.cmdlets``, with only PowerShell 2.0's parameters) or a program by path or
``.exe`` name, every type literal names a modelled .NET type, every ``[Type]::Member`` is one of
that type's modelled static members, and every method called as ``$x.Name(...)`` exists on some
modelled object or primitive. The Hyper-V module's cmdlets count as implemented: the hosts whose
model has the module (Windows Server 2012 with PowerShell 3.0) run them. Property names are not checked (hashtable keys, XML attributes and
WMI properties are only known when the script runs).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import fields, is_dataclass
from functools import cache
from typing import Any

import rollup.lab.pwsh.host
import rollup.lab.windows.com
import rollup.lab.windows.complus
import rollup.lab.windows.hyperv_objects
import rollup.lab.windows.hyperv_wmi
import rollup.lab.windows.provider
import rollup.lab.windows.wmi  # noqa: F401 - these modules define the modelled .NET types
from rollup.lab.pwsh import ast as A
from rollup.lab.pwsh.cmdlets import ALIASES, CMDLETS
from rollup.lab.pwsh.errors import PsError
from rollup.lab.pwsh.net import NetObject, NetType
from rollup.lab.pwsh.primitives import _STRING
from rollup.lab.pwsh.syntax import PsSyntaxError, parse
from rollup.lab.pwsh.types import resolve
from rollup.lab.windows.hyperv_cmdlets import CMDLETS as MODULE_CMDLETS

_UNIVERSAL_METHODS = frozenset({"tostring", "gettype", "equals", "gethashcode"})


def _nodes(node: Any) -> Iterator[Any]:
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        if isinstance(current, tuple):
            stack.extend(current)
        elif is_dataclass(current) and not isinstance(current, type):
            stack.extend(getattr(current, f.name) for f in fields(current))


@cache
def known_methods() -> frozenset[str]:
    """Every method name some modelled .NET object or primitive has (lower-case)."""
    names: set[str] = set(_STRING) | _UNIVERSAL_METHODS
    todo: list[type[NetObject]] = [NetObject]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        for lower, attr in cls.member_names().items():
            if callable(getattr(cls, attr, None)) and not isinstance(getattr(cls, attr, None), property):
                names.add(lower)
    return frozenset(names)


def problems(script: str) -> list[str]:
    """What ``script`` uses that the interpreter does not implement; empty when nothing."""
    try:
        tree = parse(script)
    except PsSyntaxError as exc:
        return [str(exc)]
    found: list[str] = []
    functions = {n.name.lower() for n in _nodes(tree) if isinstance(n, A.FunctionDef)}
    for node in _nodes(tree):
        if isinstance(node, A.Command) and isinstance(node.name, str):
            name = node.name.lower()
            key = ALIASES.get(name, name)
            native = name.endswith(".exe") or "\\" in name
            known = {**CMDLETS, **MODULE_CMDLETS}
            if key not in known and key not in functions and not native:
                found.append(f"command {node.name} is not implemented")
            elif key in known:
                for arg in node.args:
                    if isinstance(arg, A.ParamArg):
                        try:
                            known[key].parameter(arg.name)
                        except PsError as exc:
                            found.append(f"{node.name}: {exc.record.exception.message}")
        elif isinstance(node, A.TypeLiteral | A.Cast):
            name = node.name if isinstance(node, A.TypeLiteral) else node.type
            try:
                resolve(name)
            except PsError:
                found.append(f"type [{name}] is not modelled")
        elif isinstance(node, A.Member | A.Invoke) and node.static and isinstance(node.target, A.TypeLiteral):
            found.extend(_static_problem(node.target.name, node.name))
        elif (
            isinstance(node, A.Invoke)
            and not node.static
            and isinstance(node.name, str)
            and node.name.lower() not in known_methods()
        ):
            found.append(f"method {node.name}() exists on no modelled object")
    return list(dict.fromkeys(found))


def _static_problem(type_name: str, member: str | A.Expr) -> list[str]:
    if not isinstance(member, str):
        return []
    try:
        t: NetType = resolve(type_name)
    except PsError:
        return []
    if member.lower() in t.statics or any(k.lower() == member.lower() for k in (t.enum_values or {})):
        return []
    return [f"[{type_name}]::{member} is not modelled"]
