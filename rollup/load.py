"""
Reading YAML files and turning every way they can be wrong into one line of text.

Manifests, inventories and lab scenarios are all YAML validated by pydantic models.
This module is the shared edge: it reads a file, refuses duplicate keys (PyYAML
silently keeps the last one), and formats a pydantic ``ValidationError`` as
``<file>: <key.path>: <message>``, so an operator sees which key of which file is wrong.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from rollup.errors import ConfigError

M = TypeVar("M", bound=BaseModel)
E = TypeVar("E", bound=ConfigError)

MAX_FILE_BYTES = 4 * 1024 * 1024


_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's parser when PyYAML has it (about ten times as fast on a large inventory)."""


class _UniqueKeyLoader(_SafeLoader):  # type: ignore[valid-type,misc]
    """A SafeLoader that refuses a mapping with the same key twice."""


_MERGE_TAG = "tag:yaml.org,2002:merge"


def _construct_mapping(
    loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False
) -> dict[Any, Any]:
    """
    The mapping, refusing a key the mapping itself spells twice. YAML merge keys (``<<: *common``)
    are allowed: PyYAML puts the merged pairs first, and a key of the mapping's own overrides a
    merged one, as YAML (and Ansible) read it.
    """
    own = sum(1 for key_node, _ in node.value if key_node.tag != _MERGE_TAG)
    loader.flatten_mapping(node)
    merged = len(node.value) - own
    mapping: dict[Any, Any] = {}
    spelt: set[Any] = set()
    for index, (key_node, value_node) in enumerate(node.value):
        key = loader.construct_object(key_node, deep=deep)
        try:
            hash(key)
        except TypeError as exc:
            raise yaml.constructor.ConstructorError(
                None, None, "a mapping key must be a plain value", key_node.start_mark
            ) from exc
        if index >= merged:
            if key in spelt:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            spelt.add(key)
        mapping[key] = loader.construct_object(value_node, deep=deep)
    return mapping


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)

MAX_INT_CHARS = 64
"""The longest integer a YAML file may spell; no value of a manifest, inventory or scenario needs more."""


def _construct_int(loader: _UniqueKeyLoader, node: yaml.ScalarNode) -> int:
    text = str(node.value)
    if len(text) > MAX_INT_CHARS:
        raise yaml.constructor.ConstructorError(
            None, None, f"an integer of {len(text)} characters; at most {MAX_INT_CHARS} are accepted",
            node.start_mark,
        )  # fmt: skip
    return int(yaml.SafeLoader.construct_yaml_int(loader, node))


_UniqueKeyLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)

BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
"""Invisible characters that change the display order of text (Trojan Source, CVE-2021-42574)."""


def find_bidi(data: Any) -> tuple[str, str] | None:
    """
    The key path of the first key or string in ``data`` holding a text-direction control, and
    that character as ``U+XXXX``; ``None`` if there is none.
    """
    stack: list[tuple[Any, str]] = [(data, "")]
    seen: set[int] = set()
    while stack:
        node, path = stack.pop()
        if isinstance(node, str):
            found = next((ch for ch in node if ch in BIDI_CONTROLS), None)
            if found is not None:
                return path or "(top level)", f"U+{ord(found):04X}"
        elif isinstance(node, dict | list) and id(node) not in seen:
            seen.add(id(node))
            items = list(node.items()) if isinstance(node, dict) else list(enumerate(node))
            pending: list[tuple[Any, str]] = []
            for key, value in items:
                item_path = join_key(path, key) if isinstance(node, dict) else f"{path}[{key}]"
                pending.extend([(key, item_path), (value, item_path)])
            stack.extend(reversed(pending))
    return None


def parse_yaml(text: str, *, source: str, error: type[E]) -> Any:
    """
    Parse YAML text with duplicate keys refused.

    Raises:
        ConfigError (of type ``error``): one line naming ``source``, line and column.
    """
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - the loader derives from SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = exc.problem or exc.context or "not valid YAML"
        raise error(f"{source}: {problem}{where}") from None
    except yaml.YAMLError as exc:
        raise error(f"{source}: not valid YAML: {_one_line(str(exc))}") from None
    except RecursionError:
        raise error(f"{source}: nested too deeply") from None
    bidi = find_bidi(data)
    if bidi is not None:
        where, char = bidi
        raise error(f"{source}: {where}: contains an invisible text-direction character ({char})")
    return data


def read_yaml(path: Path, *, error: type[E], display: str | None = None) -> Any:
    """Read and parse a YAML file; every failure is one line naming the file."""
    source = display or str(path)
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise error(f"{source}: larger than {MAX_FILE_BYTES} bytes")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise error(f"{source}: no such file") from None
    except IsADirectoryError:
        raise error(f"{source}: is a directory, not a file") from None
    except OSError as exc:
        raise error(f"{source}: cannot be read: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise error(f"{source}: not UTF-8 text (byte {exc.start})") from None
    return parse_yaml(text, source=source, error=error)


def key_path(loc: Sequence[int | str], prefix: str = "") -> str:
    """
    Render a pydantic ``loc`` as a dotted key path (``all.children.collab.hosts.COLLAB01.port``);
    a key that is not plain is shown JSON-quoted, so the path stays one line.
    """
    parts = [prefix] if prefix else []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(item if _PLAIN_KEY.match(item) else quote(item))
    text = ".".join(parts)
    return text.replace(".[", "[") or "(top level)"


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_.-]+\Z")


def join_key(path: str, *keys: Any) -> str:
    """Extend a dotted key path; a key that is not plain is shown quoted, so the path stays one line."""
    for key in keys:
        if isinstance(key, int) and not isinstance(key, bool) and abs(key) < 10**18:
            segment = str(key)
        else:
            segment = key if isinstance(key, str) and _PLAIN_KEY.match(key) else quote(key)
        path = f"{path}.{segment}" if path else segment
    return path


def quote(value: Any) -> str:
    """Any value as one line of ASCII: JSON-quoted, shortened past 80 characters."""
    try:
        text = value if isinstance(value, str) else str(value)
    except ValueError:  # an integer too long to print
        text = "(a very long number)"
    if len(text) > 80:
        text = text[:77] + "..."
    return json.dumps(text)


def validation_message(exc: ValidationError, *, source: str, prefix: str = "") -> str:
    """The first validation error of ``exc`` as ``source: key.path: message``."""
    first = exc.errors(include_url=False)[0]
    loc = [part for part in first["loc"] if not _is_union_tag(part)]
    message = first["msg"]
    if first["type"] == "extra_forbidden":
        message = "unknown key"
    elif first["type"] == "missing":
        message = "required key is missing"
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    return f"{source}: {key_path(loc, prefix)}: {_one_line(message)}"


def validate(
    model: type[M],
    data: Any,
    *,
    source: str,
    error: type[E],
    prefix: str = "",
    context: dict[str, Any] | None = None,
) -> M:
    """Validate ``data`` against ``model``; one-line ``error`` on failure."""
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise error(validation_message(exc, source=source, prefix=prefix)) from None


def _is_union_tag(part: int | str) -> bool:
    """Pydantic puts the discriminator value or a type name into ``loc`` for unions; drop it."""
    return isinstance(part, str) and (part.startswith(("function-", "tagged-union[")) or "[" in part)


def _one_line(text: str) -> str:
    return " ".join(text.split())
