"""
The PowerShell 2.0 functions rendered scripts carry: the result writer and the optional helpers.

The readable source is ``prelude.ps1`` beside this module (comments, indentation). Rendering
uses a compact form of each function, without comment lines, indentation or blank lines,
because a script that travels on the command line has about 3,000 characters in all
(``rollup.ps.delivery``). A script carries the writer (``ConvertTo-RollupJson`` and
``Write-RollupResult``) when its body reports a result, and a helper only when its command
names it, so a script holds only what it uses.

The compaction is safe because the source keeps to three rules, checked when it is loaded: each
function starts with ``function Name`` at column 0 and ends with a line holding only ``}``,
comments sit on lines of their own, and there are no here-strings (whose lines would be
altered by stripping indentation).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import cache
from importlib.resources import files
from types import MappingProxyType

WRITER: tuple[str, ...] = ("ConvertTo-RollupJson", "Write-RollupResult")
"""The functions every rendered script carries, in the order they are rendered."""

HELPERS: tuple[str, ...] = ("Get-RollupSha256", "Get-RollupMsiProperty", "Test-RollupMsiBusy")
"""The helpers a command may ask for through ``RemoteCommand.helpers``."""

_FUNCTION_START = re.compile(r"^function ([A-Za-z][A-Za-z0-9-]*)\b")


@cache
def source() -> str:
    """The readable PowerShell source of the prelude, as shipped in ``prelude.ps1``."""
    return files("rollup.ps").joinpath("prelude.ps1").read_text(encoding="utf-8")


@cache
def _functions() -> Mapping[str, str]:
    """Each function of the source by name, in compact form, in source order."""
    found: dict[str, str] = {}
    name: str | None = None
    lines: list[str] = []
    for number, raw in enumerate(source().splitlines(), start=1):
        line = raw.strip()
        if "@'" in line or '@"' in line:
            raise ValueError(f"prelude.ps1:{number}: here-strings cannot be compacted")
        if name is None:
            start = _FUNCTION_START.match(raw)
            if start is not None:
                name, lines = start.group(1), [line]
            elif line and not line.startswith("#"):
                raise ValueError(f"prelude.ps1:{number}: code outside a function")
            continue
        if raw == "}":
            lines.append(line)
            found[name] = "\n".join(lines)
            name = None
        elif line and not line.startswith("#"):
            lines.append(line)
    if name is not None:
        raise ValueError(f"prelude.ps1: function {name} has no closing line")
    return MappingProxyType(found)


def function_names() -> tuple[str, ...]:
    """Every function the prelude defines, in source order."""
    return tuple(_functions())


def compact(name: str) -> str:
    """
    The compact text of one prelude function, as rendered into scripts.

    Raises:
        KeyError: The prelude defines no function of that name.
    """
    return _functions()[name]


def render_prelude(helpers: Iterable[str] = (), *, writer: bool = True) -> str:
    """
    The prelude a script carries: the named helpers, plus the writer when ``writer`` is true,
    in source order, once each.

    Raises:
        ValueError: A name is not one of ``HELPERS``.
    """
    wanted = set(helpers)
    unknown = sorted(wanted - set(HELPERS))
    if unknown:
        raise ValueError(f"unknown prelude helper {unknown[0]!r}; known: {', '.join(HELPERS)}")
    if writer:
        wanted.update(WRITER)
    return "\n".join(text for name, text in _functions().items() if name in wanted)
