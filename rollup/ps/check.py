"""
Checks that a rendered script parses and uses nothing newer than PowerShell 2.0.

Hosts run Windows Server 2003/2008 with WMF 2.0 (CLR 2.0, .NET 2.0-3.5), where a PowerShell 3.0
cmdlet or a .NET 4 method fails only when the script reaches it, possibly halfway through a
change. These checks run in the tests over every operation's script instead.

``parse_errors`` parses with tree-sitter-powershell. ``ps2_problems`` walks the same syntax
tree and looks at command names and their parameters, type literals, variables, operators and
member accesses, so comments and string contents never trigger a finding (``#requires`` lines,
which PowerShell obeys, are the exception). The deny-lists are in ``rollup.ps.ps2_denylist``,
which says what each entry is; it is a list of known traps, not a proof of compatibility. What
each kind of node is checked for is ``rollup.ps.check_nodes``.

A few operations target newer Windows only (Hyper-V's cmdlets on a Windows Server 2012 host)
and declare it (``Operation.min_powershell``). Both checks then take a ``minimum`` version and
drop the findings that version has: each finding names the version it needs, and the Windows
Server 2012 modules and .NET 4 APIs count as 3.0, the PowerShell that ships with 2012 (on .NET
4.5). A finding that names no version is always reported.

Known limits: parameter names are matched in full (an abbreviation such as ``-Dir`` is not
caught); whether a ``.CopyTo(`` is ``Stream.CopyTo`` is decided from how the receiver was
assigned in the script; member enumeration (``$list.Name`` over a collection) cannot be seen
without types. The grammar also rejects two things PowerShell accepts: a ``param(...)`` block on
the same line as its function's ``{``, and a switch's ``default`` clause on the same line as the
clause before it without a ``;``. Put each on a line of its own.

Parse errors quote the script, so check ``redacted()`` when a command holds a real secret.

Requires the ``tree-sitter`` and ``tree-sitter-powershell`` packages (test dependencies).
"""

from __future__ import annotations

import re

from tree_sitter import Node

from rollup.ps.check_nodes import (
    check_command,
    check_leaf,
    check_member,
    defined_functions,
    only_comments,
    parse_tree,
    short,
    stream_variables,
    walk,
    where,
)
from rollup.ps.command import read_header


class NotPowerShell2(AssertionError):
    """A script does not parse, or uses something newer than PowerShell 2.0."""


def parse_errors(script: str) -> list[str]:
    """
    Syntax errors found by tree-sitter-powershell, as ``line:column: ...`` strings.

    An ERROR node is reported once (nested ERROR nodes are part of it); a MISSING node names
    the token the grammar expected.
    """
    root, source = parse_tree(script)
    if not root.has_error or only_comments(root):
        return []
    found: list[str] = []
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, inside_error = stack.pop()
        if node.is_missing:
            found.append(f"{where(node, source)}: missing {node.type!r}")
        elif node.type == "ERROR" and not inside_error:
            found.append(f"{where(node, source)}: syntax error at {short(node)!r}")
        stack.extend((child, inside_error or node.type == "ERROR") for child in reversed(node.children))
    return sorted(found, key=lambda f: tuple(int(p) for p in f.split(":", 2)[:2]))


_NEEDS_VERSION = re.compile(r"PowerShell (\d+)(?:\.(\d+))?")
_NEEDS_3_0 = ("Windows 8/Server 2012 module", ".NET 4")


def _version(text: str) -> tuple[int, int]:
    """``"3.0"`` -> ``(3, 0)``; raises ValueError for anything but ``N`` or ``N.N``."""
    major, _, minor = text.partition(".")
    if not major.isdigit() or (minor and not minor.isdigit()):
        raise ValueError(f"not a PowerShell version: {text!r}")
    return int(major), int(minor or 0)


def finding_version(why: str) -> tuple[int, int] | None:
    """
    The PowerShell version a finding's reason says the construct needs, or ``None`` when it names
    none. The Windows Server 2012 modules and .NET 4 APIs need 3.0 (see the module docstring).
    """
    found = _NEEDS_VERSION.search(why)
    if found:
        return int(found.group(1)), int(found.group(2) or 0)
    return (3, 0) if any(marker in why for marker in _NEEDS_3_0) else None


def _beyond(why: str, minimum: tuple[int, int]) -> bool:
    needs = finding_version(why)
    return needs is None or needs > minimum


def ps2_problems(script: str, *, minimum: str = "2.0") -> list[str]:
    """
    What in ``script`` needs more than PowerShell 2.0 on CLR 2.0 (or more than ``minimum``, for
    an operation that declares one), as ``line:column: ...`` strings.

    Looks at syntax nodes only (see the module docstring for what is checked and the limits).

    Raises:
        ValueError: ``minimum`` is not a version such as ``3.0``.
    """
    floor = _version(minimum)
    root, source = parse_tree(script)
    streams, defined = stream_variables(root), defined_functions(root)
    findings: list[tuple[Node, str]] = []
    for node in walk(root):
        if node.type == "command":
            check_command(node, findings, defined)
        elif node.type in ("invokation_expression", "member_access"):
            check_member(node, findings, streams)
        else:
            why = check_leaf(node)
            if why:
                findings.append((node, f"{short(node)}: {why}"))
    kept = [f for f in findings if _beyond(f[1], floor)]
    ordered = sorted(kept, key=lambda f: (f[0].start_byte, f[1]))
    unique = dict.fromkeys(f"{where(node, source)}: {why}" for node, why in ordered)
    return list(unique)


def assert_ps2_clean(script: str, *, name: str | None = None, minimum: str = "2.0") -> None:
    """
    Raise unless ``script`` parses and uses nothing newer than PowerShell 2.0 (or ``minimum``).

    Args:
        name: What to call the script in the message; defaults to the operation id from the
            script's ``#rollup-op`` header, or ``script``.
        minimum: The operation's declared oldest PowerShell (``Operation.min_powershell``).

    Raises:
        NotPowerShell2: With every finding, parse errors first, on one line.
    """
    problems = parse_errors(script) + ps2_problems(script, minimum=minimum)
    if not problems:
        return
    if name is None:
        header = read_header(script)
        name = header[0] if header else "script"
    raise NotPowerShell2(f"{name}: {len(problems)} problem(s): " + "; ".join(problems))
