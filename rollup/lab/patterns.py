"""
Values a lab's scenario file shares across its sections: host names and globs, Windows paths,
durations and one-line texts, each checked by pydantic with a message that names the problem.
"""

from __future__ import annotations

import fnmatch
import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

_GLOB = re.compile(r"(?:[A-Za-z0-9.*?-]|\[!?[A-Za-z0-9.-]+\])+\Z")
VERSION = r"^\d+(\.\d+){1,3}$"
"""A product version: two to four dot-separated numbers."""


class Frozen(BaseModel):
    """A model of the scenario file: unknown keys refused, values immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _glob(value: Any) -> Any:
    if isinstance(value, str) and not _GLOB.match(value):
        raise ValueError(
            f"{value!r} is not a host name or glob (letters, digits, '-', '.', with * ? and [...] classes)"
        )
    return value


def _glob_list(value: Any) -> Any:
    items = [value] if isinstance(value, str) else value
    if isinstance(items, list | tuple):
        if not items:
            raise ValueError("must name at least one host or glob")
        for item in items:
            _glob(item)
    return items


HostGlob = Annotated[str, BeforeValidator(_glob)]
"""A host name or a shell glob of host names (``COLLAB*``, ``COLLAB0[1-3]``)."""
HostGlobs = Annotated[tuple[str, ...], BeforeValidator(_glob_list)]
"""One host glob, or a list of them."""
Seconds = Annotated[float, Field(gt=0, le=86400)]
WindowsPath = Annotated[str, Field(pattern=r"^[A-Za-z]:\\[^\x00-\x1f\"<>|*?]*$", max_length=260)]
Text = Annotated[str, Field(min_length=1, max_length=256, pattern=r"^[^\x00-\x1f]+$")]


def matches(pattern: str, host: str) -> bool:
    """Whether ``host`` matches a name or glob, ignoring case as Windows does."""
    return fnmatch.fnmatchcase(host.casefold(), pattern.casefold())
