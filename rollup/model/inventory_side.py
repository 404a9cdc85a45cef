"""
``group_vars/`` and ``host_vars/`` beside an inventory file, as Ansible reads them.

``group_vars/<group>`` and ``host_vars/<host>`` are each a YAML (or JSON) file, with the
extension ``.yml``, ``.yaml`` or ``.json`` or none, or a directory of such files, read in name
order. Their variables override those the inventory file gives the group or host (Ansible's
precedence). Nothing there is silently ignored: a file for a group or host the inventory does
not have, a file of another kind, and a vault-encrypted file (which needs Ansible) are refused
with one line naming the file. Hidden files and editors' backups (``.*``, ``*~``) are skipped,
as Ansible skips them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rollup.errors import InventoryError
from rollup.load import read_yaml

EXTENSIONS = ("", ".yml", ".yaml", ".json")
VAULT_HEADER = b"$ANSIBLE_VAULT"


@dataclass(frozen=True, slots=True)
class Document:
    """
    One inventory file, parsed: ``display`` is the file as messages show it, ``data`` the YAML
    layout (``all``, groups, ``hosts``, ``vars``, ``children``), ``where`` the line each key path
    was written on (for INI files), and ``ansible_typed`` whether values are read as Ansible's
    connection options read text (INI files and ``ansible-inventory``: ``"yes"`` is true).
    """

    display: str
    data: Any
    where: Mapping[str, str] = field(default_factory=dict)
    ansible_typed: bool = False


@dataclass(frozen=True, slots=True)
class SideVars:
    """One file of variables: the group's or host's name, the file as shown in messages, its mapping."""

    name: str
    display: str
    data: Any


def _files(folder: Path, display: str) -> list[tuple[str, Path, str]]:
    """``(name, path, display)`` of every variables file under ``folder`` (a kind's folder)."""
    found: list[tuple[str, Path, str]] = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(".") or entry.name.endswith("~"):
            continue
        shown = f"{display}/{entry.name}"
        if entry.is_dir():
            inner = [
                p for p in sorted(entry.iterdir()) if not p.name.startswith(".") and not p.name.endswith("~")
            ]
            found += [(entry.name, p, f"{shown}/{p.name}") for p in inner if _kind(p, f"{shown}/{p.name}")]
        elif _kind(entry, shown):
            found.append((entry.stem if entry.suffix in EXTENSIONS else entry.name, entry, shown))
    return found


def _kind(path: Path, shown: str) -> bool:
    """Whether ``path`` is a variables file; refuses one Ansible would not read as YAML or JSON."""
    if path.is_dir():
        raise InventoryError(
            f"{shown}: a folder inside a group's or host's folder; Ansible reads files there only"
        )
    if path.suffix not in EXTENSIONS:
        raise InventoryError(f"{shown}: not a variables file (.yml, .yaml, .json or no extension)")
    with path.open("rb") as head:
        if head.read(len(VAULT_HEADER)) == VAULT_HEADER:
            raise NeedsAnsible(f"{shown}: encrypted with Ansible Vault", vault=True)
    return True


class NeedsAnsible(InventoryError):
    """Something only Ansible reads (a script, a plugin, Ansible Vault): ``ansible-inventory`` may read it."""

    def __init__(self, message: str, *, vault: bool = False) -> None:
        super().__init__(message)
        self.vault = vault


def find_vault_tag(text: str) -> tuple[int, str] | None:
    """``(line, key)`` of the first ``!vault`` value of a YAML text, or ``None``."""
    if "!vault" not in text:
        return None
    key = "(top level)"
    expect_key = False
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            if isinstance(token, yaml.KeyToken):
                expect_key = True
            elif isinstance(token, yaml.ScalarToken) and expect_key:
                key, expect_key = token.value, False
            elif isinstance(token, yaml.TagToken) and token.value == ("!", "vault"):
                return token.start_mark.line + 1, key
    except yaml.YAMLError:
        return None  # the parser names the syntax error
    return None


def _read(path: Path, display: str) -> Any:
    """A variables file's mapping; a ``!vault`` value in it needs Ansible."""
    tagged = find_vault_tag(path.read_text(encoding="utf-8", errors="replace"))
    if tagged is not None:
        raise NeedsAnsible(
            f"{display}: line {tagged[0]}: {tagged[1]}: encrypted with Ansible Vault (!vault)", vault=True
        )
    return read_yaml(path, error=InventoryError, display=display)


def side_vars(inventory_dir: Path, display_dir: str) -> tuple[tuple[SideVars, ...], tuple[SideVars, ...]]:
    """
    ``(group_vars, host_vars)`` beside an inventory file in ``inventory_dir`` (shown as
    ``display_dir``), each file read and in name order.

    Raises:
        InventoryError: a file that is not a variables file, is encrypted, or is not valid YAML.
    """
    kinds: list[tuple[SideVars, ...]] = []
    for kind in ("group_vars", "host_vars"):
        folder = inventory_dir / kind
        shown = f"{display_dir}/{kind}" if display_dir else kind
        files = _files(folder, shown) if folder.is_dir() else []
        kinds.append(tuple(SideVars(name, display, _read(path, display)) for name, path, display in files))
    return kinds[0], kinds[1]
