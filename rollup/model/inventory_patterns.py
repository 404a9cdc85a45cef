"""
Host patterns as Ansible's inventory plugins read them (YAML keys and INI host lines alike).

``COLLAB[01:04]`` names COLLAB01 to COLLAB04 (leading zeros kept), ``WEB[a:c]`` WEBa to WEBc,
``SP[1:9:4]`` SP1, SP5 and SP9; several ranges in one name multiply. ``HOST:5986`` (or
``[HOST]:5986``) also gives the hosts ``ansible_port``, as Ansible's ``parse_address`` does.
"""

from __future__ import annotations

import re

HOST_RANGE = re.compile(
    r"\[(?P<first>[0-9]*|[A-Za-z]):(?P<last>[0-9]+|[A-Za-z])(?::(?P<step>[1-9][0-9]*))?\]"
)
"""An Ansible host range: ``[01:04]``, ``[a:f]``, ``[1:9:2]``, ``[:3]`` (from 0)."""
MAX_RANGE_HOSTS = 10_000
_BRACKETED_PORT = re.compile(r"\[(?P<host>.+)\]:(?P<port>[0-9]+)\Z")
_HOST_PORT = re.compile(r"(?P<host>(?:[^:\[\]]|\[[^\]]*\])*):(?P<port>[0-9]+)\Z")


def split_port(pattern: str) -> tuple[str, int | None]:
    """``(pattern, port)``: a ``:port`` suffix taken off, as Ansible's ``parse_address`` does."""
    for form in (_BRACKETED_PORT, _HOST_PORT):
        found = form.match(pattern)
        if found:
            return found["host"], int(found["port"])
    return pattern, None


def expand_range(pattern: str) -> list[str]:
    """
    The host names a pattern spells (the pattern itself when it has no range).

    Raises:
        ValueError: a range of other kinds, or of no host or more than ``MAX_RANGE_HOSTS``.
    """
    found = HOST_RANGE.search(pattern)
    if found is None:
        if "[" in pattern or "]" in pattern:
            raise ValueError(
                "a host range is [first:last] or [first:last:step], both numbers or both letters"
            )
        return [pattern]
    first, last, step = found["first"] or "0", found["last"], int(found["step"] or 1)
    head, tail = pattern[: found.start()], pattern[found.end() :]
    if first.isdigit() and last.isdigit():
        width = len(first) if first.startswith("0") and len(first) > 1 else 0
        if width and len(last) != width:
            raise ValueError("a host range with leading zeros needs first and last of the same width")
        names = [f"{head}{n:0{width}d}{tail}" for n in range(int(first), int(last) + 1, step)]
    elif first.isalpha() and last.isalpha():
        names = [f"{head}{chr(c)}{tail}" for c in range(ord(first), ord(last) + 1, step)]
    else:
        raise ValueError("a host range is [first:last] or [first:last:step], both numbers or both letters")
    if not names or len(names) > MAX_RANGE_HOSTS:
        raise ValueError(f"a host range names 1 to {MAX_RANGE_HOSTS} hosts")
    return [name for expanded in names for name in expand_range(expanded)]
