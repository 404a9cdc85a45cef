"""
Where an inventory comes from: which files ``--inventory`` names, how each is read, and when
``ansible-inventory`` reads the source instead of rollup.

- ``NAME``: ``inventory/NAME.yml``, ``.yaml``, ``.ini``, or the file or folder ``inventory/NAME``;
  a ``PATH``: a file or a folder.
- A file is read as Ansible picks its plugin: ``.yml``, ``.yaml`` and ``.json`` are YAML; a file
  without extension is YAML when it is a YAML mapping and INI otherwise; any other extension is
  INI. An executable file starting with ``#!`` is a dynamic inventory script, a YAML file with
  ``plugin:`` an inventory plugin's configuration, a ``.toml`` file Ansible's TOML format.
- A folder is every inventory file in it and its subfolders, in name order, as Ansible reads a
  folder: hidden files, ``group_vars``, ``host_vars``, ``vars_plugins`` and the extensions Ansible
  ignores (``.orig .cfg .retry .pyc .pyo .swp .bak ~ .rpm .md .txt .rst``) are skipped; its
  ``group_vars/`` and ``host_vars/`` are those inside it.
- ``ansible-inventory`` reads the source (``rollup.model.inventory_ansible``) when it is written
  ``ansible:SOURCE``, when ``--vault-password-file`` is given, or when the source holds something
  only Ansible reads (a script, a plugin configuration, TOML, Ansible Vault). Without the program,
  such a source is refused with one line naming the file (and key) and what needs Ansible.
"""

from __future__ import annotations

import os
import re
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from rollup.errors import InventoryError
from rollup.load import MAX_FILE_BYTES, parse_yaml, quote
from rollup.model import inventory_ansible
from rollup.model.inventory import Inventory
from rollup.model.inventory_ini import parse_ini
from rollup.model.inventory_side import Document, NeedsAnsible, find_vault_tag, side_vars

ANSIBLE_PREFIX = "ansible:"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
NAME_FORMS = (".yml", ".yaml", ".ini", "")
YAML_EXTENSIONS = (".yml", ".yaml", ".json")
IGNORED_NAMES = ("host_vars", "group_vars", "vars_plugins")
IGNORED_ENDINGS = (
    ".orig",
    ".cfg",
    ".retry",
    ".pyc",
    ".pyo",
    ".swp",
    ".bak",
    "~",
    ".rpm",
    ".md",
    ".txt",
    ".rst",
)

VAULT_PASSWORD_FILE: ContextVar[Path | None] = ContextVar("rollup_vault_password_file", default=None)
"""``--vault-password-file`` of the running command, for ``load_inventory`` calls that do not pass one."""


def locate(ref: str, base: Path) -> tuple[str, Path]:
    """
    ``(display, path)`` of the file or folder an inventory reference names.

    Raises:
        InventoryError: neither a name of an inventory here nor an existing path.
    """
    if "/" not in ref and NAME.match(ref):
        for form in NAME_FORMS:
            candidate = base / "inventory" / f"{ref}{form}"
            if candidate.exists():
                return f"inventory/{ref}{form}", candidate
        if not (base / ref).exists():
            folder = base / "inventory"
            known = (
                sorted({p.name.removesuffix(p.suffix) for p in folder.iterdir()}) if folder.is_dir() else []
            )
            raise InventoryError(
                f"inventory/{ref}.yml: no such file",
                hint=f"inventories here: {', '.join(known)}"
                if known
                else "an inventory NAME is inventory/NAME.yml under the current directory: "
                "run rollup from the project directory, or give the inventory file's path",
            )
    elif "/" not in ref and not ref.endswith((".yml", ".yaml", ".ini", ".json")):
        raise InventoryError(f"{quote(ref)}: not an inventory name (letters, digits, _ . -) or a path")
    path = base / ref
    if not path.exists():
        raise InventoryError(f"{ref}: no such file")
    return ref, path


def read_inventory(ref: str, *, base_dir: Path, vault_password_file: Path | None = None) -> Inventory:
    """The inventory ``ref`` names (see the module's docstring)."""
    from rollup.model.inventory_loader import Loader

    vault = vault_password_file or VAULT_PASSWORD_FILE.get()
    if vault is not None:
        vault = (base_dir / vault).resolve()
        if not vault.is_file():
            raise InventoryError(f"--vault-password-file {vault}: no such file")
    if ref.startswith(ANSIBLE_PREFIX):
        source = ref.removeprefix(ANSIBLE_PREFIX)
        if not source:
            raise InventoryError("ansible: must be followed by a source ansible-inventory reads")
        return _through_ansible(ref, source, base_dir, vault)
    display, path = locate(ref, base_dir)
    if vault is not None:
        return _through_ansible(display, str(path), base_dir, vault)
    try:
        documents = [_read_file(file, shown) for file, shown in _inventory_files(path, display)]
        inventory_dir = path if path.is_dir() else path.parent
        shown_dir = display if path.is_dir() else str(Path(display).parent).removeprefix(".")
        group_vars, host_vars = side_vars(inventory_dir, shown_dir)
    except NeedsAnsible as exc:
        if inventory_ansible.program() is None:
            raise InventoryError(f"{exc.message}; {inventory_ansible.NEEDS_ANSIBLE}") from None
        if exc.vault:
            raise InventoryError(f"{exc.message}; give --vault-password-file FILE to read it") from None
        return _through_ansible(display, str(path), base_dir, None)
    base = path if path.is_dir() else path.parent
    return Loader(display, base).load(documents, group_vars=group_vars, host_vars=host_vars)


def _through_ansible(display: str, source: str, base_dir: Path, vault: Path | None) -> Inventory:
    from rollup.model.inventory_loader import Loader

    document = inventory_ansible.run(source, display=display, cwd=base_dir, vault_password_file=vault)
    local = base_dir / source
    base = local if local.is_dir() else local.parent if local.exists() else base_dir
    return Loader(display, base, vault_password_file=vault).load([document])


def _inventory_files(path: Path, display: str, *, top: bool = True) -> list[tuple[Path, str]]:
    """The inventory files of a file (itself) or a folder (by Ansible's rules), with their display names."""
    if not path.is_dir():
        return [(path, display)]
    found: list[tuple[Path, str]] = []
    for entry in sorted(path.iterdir()):
        shown = f"{display.rstrip('/')}/{entry.name}"
        if entry.name.startswith(".") or entry.name.endswith(IGNORED_ENDINGS):
            continue
        if entry.name in IGNORED_NAMES:
            if not top:
                raise InventoryError(
                    f"{shown}: Ansible reads {entry.name} only in the inventory's own folder"
                )
            continue
        found += _inventory_files(entry, shown, top=False) if entry.is_dir() else [(entry, shown)]
    if top and not found:
        raise InventoryError(f"{display}: the folder holds no inventory file")
    return found


def _read_file(path: Path, display: str) -> Document:
    """One inventory file, read by the plugin Ansible would pick (see the module's docstring)."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise InventoryError(f"{display}: larger than {MAX_FILE_BYTES} bytes")
        raw = path.read_bytes()
    except OSError as exc:
        raise InventoryError(f"{display}: cannot be read: {exc.strerror}") from None
    if raw.startswith(b"#!") and os.access(path, os.X_OK):
        raise NeedsAnsible(f"{display}: a dynamic inventory script")
    if raw.lstrip().startswith(b"$ANSIBLE_VAULT"):
        raise NeedsAnsible(f"{display}: encrypted with Ansible Vault", vault=True)
    if path.suffix == ".toml":
        raise NeedsAnsible(f"{display}: an inventory in Ansible's TOML format")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InventoryError(f"{display}: not UTF-8 text (byte {exc.start})") from None
    if path.suffix in YAML_EXTENSIONS or not path.suffix:
        data = _yaml_or_none(text, display, strict=bool(path.suffix))
        if data is not None:
            if "plugin" in data:
                raise NeedsAnsible(f"{display}: plugin: the configuration of an inventory plugin")
            return Document(display, data)
    document = parse_ini(text, display=display)
    return Document(display, document.data, document.where, ansible_typed=True)


def _yaml_or_none(text: str, display: str, *, strict: bool) -> dict[str, Any] | None:
    """
    The YAML mapping of a file; for a file without extension (``strict`` false), ``None`` when it
    is not a YAML mapping, so that it is read as INI, as Ansible falls back from YAML to INI.
    """
    tagged = find_vault_tag(text)
    if tagged is not None:
        line, key = tagged
        raise NeedsAnsible(
            f"{display}: line {line}: {key}: encrypted with Ansible Vault (!vault)", vault=True
        )
    try:
        data = parse_yaml(text, source=display, error=InventoryError)
    except InventoryError:
        if strict:
            raise
        return None
    if isinstance(data, dict) or (strict and data is not None):
        return data if isinstance(data, dict) else _not_mapping(display)
    if strict:
        raise InventoryError(
            f"{display}: (top level): the file is empty; an inventory starts with all: or a group"
        )
    return None


def _not_mapping(display: str) -> dict[str, Any]:
    raise InventoryError(
        f"{display}: (top level): an inventory is a mapping of group names (all, or groups of your own)"
    )
