"""
Ansible's INI inventory format, read as ansible-core's ``ini`` inventory plugin reads it.

::

    MPS01                                   # before any section: the group ungrouped
    [collab]                                # a group and its hosts
    COLLAB[01:04] ansible_host=192.0.2.31   # a host pattern, then key=value variables
    [collab:vars]                           # the group's variables, one key=value a line
    ansible_port=5986
    [hmc:children]                          # groups inside the group, one a line
    collab

As in Ansible: comment lines start with ``#`` or ``;``; a host line is split as a shell would
(quotes, backslashes, and ``#`` starting a comment); every value, on a host line or in a
``:vars`` section, is read as a Python literal when it is one (``5986`` is a number, ``True`` a
boolean, ``"x"`` text) and is text otherwise (``true`` and ``yes`` are text, which rollup reads as
Ansible's options do). ``HOST:5986`` gives the host ``ansible_port``. A ``:vars`` or
``:children`` section must name a group that the file defines.

The result is the YAML layout (``all.children.<group>``) with, for every key path, the line it
came from, so each error names the file and the line.
"""

from __future__ import annotations

import ast
import re
import shlex
import warnings
from dataclasses import dataclass, field
from typing import Any, NoReturn

from rollup.errors import InventoryError
from rollup.load import join_key
from rollup.model.inventory_patterns import expand_range, split_port

_SECTION = re.compile(r"\[(?P<group>[^:\]\s]+)(?::(?P<kind>\w+))?\]\s*(?:#.*)?\Z")
_GROUP_LINE = re.compile(r"(?P<group>[^:\]\s]+)\s*(?:#.*)?\Z")


def parse_value(text: str) -> Any:
    """A value as Ansible's INI plugin reads it: a Python literal if it is one, else the text."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text
    return _plain(value)


def _plain(value: Any) -> Any:
    """Tuples and sets as lists, other literal kinds Ansible does not keep as text (as it does)."""
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {_plain(key): _plain(item) for key, item in value.items()}
    if value is ...:
        return "..."
    if isinstance(value, complex):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value


@dataclass(slots=True)
class IniDocument:
    """An INI inventory in the YAML layout, and where each key path was written."""

    data: dict[str, Any]
    where: dict[str, str] = field(default_factory=dict)


class _Reader:
    def __init__(self, display: str) -> None:
        self.display = display
        self.line = 0
        self.all: dict[str, Any] = {"vars": {}, "hosts": {}, "children": {}}
        self.where: dict[str, str] = {}
        self.defined = {"all", "ungrouped"}
        self.pending: dict[str, str] = {}  # group: the section that needs it defined

    def fail(self, message: str) -> NoReturn:
        raise InventoryError(f"{self.display}: line {self.line}: {message}")

    def note(self, path: str, label: str) -> None:
        self.where.setdefault(path, f"line {self.line}: {label}")

    def group(self, name: str) -> tuple[dict[str, Any], str]:
        """The body of group ``name`` and its key path (``all`` is the top level)."""
        if name == "all":
            return self.all, "all"
        path = join_key("all.children", name)
        body = self.all["children"].setdefault(name, {"hosts": {}, "vars": {}, "children": {}})
        self.note(path, f"[{name}]")
        return body, path

    def read(self, lines: list[str]) -> IniDocument:
        name, kind = "ungrouped", "hosts"
        for number, raw in enumerate(lines, start=1):
            self.line = number
            line = raw.strip()
            if not line or line[0] in "#;":
                continue
            section = _SECTION.match(line)
            if section:
                name, kind = section["group"], section["kind"] or "hosts"
                if kind not in ("hosts", "children", "vars"):
                    self.fail(f"section [{name}:{kind}] has an unknown type; expected [{name}], "
                              f"[{name}:vars] or [{name}:children]")  # fmt: skip
                if kind == "vars":
                    self.pending.setdefault(name, f"line {number}: section [{name}:vars] is for group {name}")
                else:
                    self.defined.add(name)
                self.group(name)
                continue
            if line.startswith("[") and line.endswith("]"):
                self.fail(f"{line}: not a valid section header (a group name without spaces, "
                          "then :vars or :children)")  # fmt: skip
            if kind == "hosts":
                self.host_line(line, name)
            elif kind == "vars":
                self.vars_line(line, name)
            else:
                self.child_line(line, name)
        for group, where in self.pending.items():
            if group not in self.defined:
                raise InventoryError(f"{self.display}: {where}, which the file does not define "
                                     f"(no [{group}] or [{group}:children] section)")  # fmt: skip
        return IniDocument({"all": self.all}, self.where)

    def host_line(self, line: str, group: str) -> None:
        try:
            tokens = shlex.split(line, comments=True, posix=True)
        except ValueError as exc:
            self.fail(f"cannot split the host line: {exc}")
        if not tokens:
            return
        pattern, port = split_port(tokens[0])
        if tokens[0].endswith(":") and port is None:
            self.fail(f"host {tokens[0]}: a host pattern may not end in ':' (it introduces a port)")
        try:
            names = expand_range(pattern)
        except ValueError as exc:
            self.fail(f"host {pattern}: {exc}")
        variables: dict[str, Any] = {}
        for token in tokens[1:]:
            key, equals, value = token.partition("=")
            if not equals:
                self.fail(f"host {pattern}: expected key=value, got {token!r}")
            variables[key] = parse_value(value)
        if port is not None:
            variables["ansible_port"] = port
        body, group_path = self.group(group)
        hosts_path = join_key(group_path, "hosts")
        for host in names:
            path = join_key(hosts_path, host)
            known = body["hosts"].setdefault(host, {})
            self.note(path, host)
            for key, value in variables.items():
                if key in known and known[key] != value:
                    self.fail(
                        f"{host} {key}: set again, to another value ({self.where[join_key(path, key)]})"
                    )
                known[key] = value
                self.note(join_key(path, key), f"{host} {key}")

    def vars_line(self, line: str, group: str) -> None:
        key, equals, value = line.partition("=")
        if not equals:
            self.fail(f"[{group}:vars]: expected key=value, got {line!r}")
        key = key.strip()
        body, group_path = self.group(group)
        path = join_key(group_path, "vars", key)
        parsed = parse_value(value.strip())
        if key in body["vars"] and body["vars"][key] != parsed:
            self.fail(f"[{group}:vars] {key}: set again, to another value ({self.where[path]})")
        body["vars"][key] = parsed
        self.note(join_key(group_path, "vars"), f"[{group}:vars]")
        self.note(path, f"[{group}:vars] {key}")

    def child_line(self, line: str, group: str) -> None:
        found = _GROUP_LINE.match(line)
        if found is None:
            self.fail(f"[{group}:children]: expected a group name, got {line!r}")
        child = found["group"]
        body, group_path = self.group(group)
        body["children"][child] = None
        self.note(join_key(group_path, "children", child), f"[{group}:children] {child}")
        self.pending.setdefault(child, f"line {self.line}: section [{group}:children] names group {child}")
        self.group(child)


def parse_ini(text: str, *, display: str) -> IniDocument:
    """
    Read an INI inventory's text (``display``: the file as shown in messages).

    Raises:
        InventoryError: one line naming the file and the line.
    """
    return _Reader(display).read(text.splitlines())
