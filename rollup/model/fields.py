"""
The checked scalar types a manifest is built from, and the helpers its models share.

Each type refuses what it cannot represent safely: strict integers and booleans (YAML's
``"5"`` or ``yes`` never turn into numbers or flags by accident), one-line operator text,
plain Windows file names that cannot escape the folder they are joined to, and absolute local
Windows folders. ``key_error`` raises an error about one key below the model that raises it,
so the one-line message names the exact key path of the YAML document.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable
from typing import Annotated, TypeVar

from pydantic import AfterValidator, ConfigDict, Field, Strict
from pydantic_core import PydanticCustomError

from rollup.model.roles import Role

FROZEN = ConfigDict(extra="forbid", frozen=True)
T = TypeVar("T")


def key_error(key: str, detail: str) -> PydanticCustomError:
    """A validation error about ``key`` (a key path below the model that raises it)."""
    return PydanticCustomError("rollup_key", "{key}: {detail}", {"key": key, "detail": detail})


def between(low: int, high: int) -> Callable[[int], int]:
    """A validator refusing integers outside ``low..high`` with a message naming both bounds."""

    def check(value: int) -> int:
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}")
        return value

    return check


def one_line(max_len: int) -> Callable[[str], str]:
    """A validator for one line of text: not blank, no control characters, at most ``max_len``."""

    def check(value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
            raise ValueError("must be one line without control characters")
        if len(value) > max_len:
            raise ValueError(f"must be at most {max_len} characters")
        return value

    return check


def unique(items: tuple[T, ...], key: Callable[[T], Hashable] = lambda item: item) -> tuple[T, ...]:
    """Refuse a list that names the same entry twice (as compared by ``key``)."""
    seen: set[Hashable] = set()
    for item in items:
        k = key(item)
        if k in seen:
            shown = repr(str(item)) if isinstance(item, str) else repr(item)
            raise ValueError(f"lists {shown} twice")
        seen.add(k)
    return items


def non_empty(items: tuple[T, ...]) -> tuple[T, ...]:
    """Refuse an empty list."""
    if not items:
        raise ValueError("must list at least one entry")
    return items


_FORBIDDEN = frozenset('<>:"/\\|?*')
_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL"] + [f"COM{i}" for i in range(1, 10)] + [f"LPT{i}" for i in range(1, 10)]
)


def check_file_name(name: str) -> str:
    """
    Refuse anything that is not one plain Windows file name.

    Path separators, ``..``, drive letters, control characters, the characters Windows forbids
    in names, a trailing dot or space (Windows silently drops them) and device names (``NUL``)
    are refused, so a name can never address a file outside the folder it is joined to.
    """
    if not name:
        raise ValueError("must not be empty")
    if "/" in name or "\\" in name:
        raise ValueError("must be a file name, not a path (no / or \\)")
    if re.match(r"[A-Za-z]:", name):
        raise ValueError("must not start with a drive letter")
    if ".." in name:
        raise ValueError("must not contain '..'")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise ValueError("must not contain control characters")
    bad = sorted(set(name) & _FORBIDDEN)
    if bad:
        raise ValueError(f'must not contain {"".join(bad)!r}: Windows forbids < > : " / \\ | ? * in names')
    if name[-1] in ". ":
        raise ValueError("must not end with a dot or a space")
    if name.split(".", maxsplit=1)[0].rstrip().upper() in _RESERVED:
        raise ValueError("is a reserved Windows device name")
    if len(name) > 255:
        raise ValueError("must be at most 255 characters")
    return name


def windows_key(name: str) -> str:
    """
    The key under which Windows compares two file names: a per-character upper-case mapping.

    ``str.upper`` alone would turn ``ß`` into ``SS``; NTFS maps each character on its own.
    """
    return "".join(up if len(up := ch.upper()) == 1 else ch for ch in name)


def check_windows_dir(path: str) -> str:
    """Refuse anything that is not an absolute local Windows folder such as ``C:\\MSIShare``."""
    if not re.match(r"[A-Za-z]:\\", path):
        raise ValueError("must be an absolute local Windows path such as C:\\MSIShare")
    if len(path) > 248:
        raise ValueError("must be at most 248 characters")
    rest = path[3:]
    if not rest:
        return path
    if rest.endswith("\\"):
        raise ValueError("must not end with a backslash")
    for part in rest.split("\\"):
        try:
            check_file_name(part)
        except ValueError as exc:
            raise ValueError(f"folder name {part!r} {exc}") from None
    return path


def literal_argument(value: str) -> str:
    """
    Refuse what cannot reach a remote script or a cmd.exe command line literally: ``"``, ``%``
    (cmd.exe expands ``%NAME%`` even inside quotes) and spaces around the value.
    """
    bad = sorted(set(value) & {'"', "%"})
    if bad:
        raise ValueError(f"must not contain {' or '.join(bad)}: the value reaches a command line literally")
    if value != value.strip():
        raise ValueError("must not begin or end with a space")
    return value


def iis_site_name(value: str) -> str:
    """An IIS web site's name, as the IIS scripts look it up: no quotes, slashes or outer spaces."""
    if '"' in value:
        raise ValueError('must not contain ": IIS scripts receive the site name literally')
    if "/" in value or "\\" in value:
        raise ValueError("must not contain / or \\: it is a web site's name, not a path")
    if value != value.strip():
        raise ValueError("must not begin or end with a space")
    return value


def logon_domain(value: str) -> str:
    """A Basic-auth default logon domain as IIS keeps it: no quotes; with a space, no final backslash."""
    if '"' in value:
        raise ValueError('must not contain ": the IIS scripts set it literally')
    if " " in value and value.endswith("\\"):
        raise ValueError("a domain with a space cannot end with a backslash")
    return value


Int = Annotated[int, Strict()]
Bool = Annotated[bool, Strict()]
Str = Annotated[str, Strict()]
Line = Annotated[str, Strict(), AfterValidator(one_line(200))]
"""One line of operator-facing text (a title, a name)."""
Text = Annotated[str, Strict(), AfterValidator(one_line(1000))]
"""A longer note, still one line (use a folded ``>-`` scalar in YAML)."""
FileName = Annotated[str, Strict(), AfterValidator(check_file_name)]
WindowsDir = Annotated[str, Strict(), AfterValidator(check_windows_dir)]
FileNames = Annotated[
    tuple[FileName, ...], AfterValidator(non_empty), AfterValidator(lambda v: unique(v, windows_key))
]
StepId = Annotated[str, Strict(), Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length=64)]
Roles = Annotated[tuple[Role, ...], AfterValidator(non_empty), AfterValidator(unique)]
ArgName = Annotated[str, Strict(), AfterValidator(one_line(200)), AfterValidator(literal_argument)]
"""A name that reaches a command line (a Deployment Tool component or node): ``literal_argument``."""
Names = Annotated[tuple[ArgName, ...], AfterValidator(unique)]
ExitCode = Annotated[Int, AfterValidator(between(-(2**31), 2**32 - 1))]
"""A process exit code as Windows reports it (a DWORD, or its signed reading)."""
ExitCodes = Annotated[tuple[ExitCode, ...], AfterValidator(unique)]
Seconds = Annotated[Int, AfterValidator(between(0, 3600))]
