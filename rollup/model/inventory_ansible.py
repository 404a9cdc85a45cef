"""
Reading an inventory through Ansible's own ``ansible-inventory`` program, for what only Ansible
reads: dynamic inventory scripts, inventory plugin configurations, Ansible Vault.

rollup runs ``ansible-inventory -i SOURCE --list --export [--vault-password-file FILE]`` and
reads its JSON: groups with their ``hosts``, ``children`` and ``vars`` (the inventory's and
``group_vars/``'s together), and each host's own variables. A value still encrypted with Ansible
Vault (a ``!vault`` value; ``ansible-inventory`` does not decrypt those) stays encrypted: a
password is decrypted by ``ansible-vault`` only when a run needs it
(``rollup.credentials.VaultRef``). rollup does not import Ansible: it runs its programs when they
are on ``PATH``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from rollup.errors import InventoryError
from rollup.load import join_key
from rollup.model.inventory_side import Document
from rollup.model.inventory_vars import Vaulted, connects

PROGRAM = "ansible-inventory"
TIMEOUT_S = 300
MAX_OUTPUT_BYTES = 64 * 1024 * 1024
NEEDS_ANSIBLE = f"reading it needs {PROGRAM} (ansible-core) installed"


def program() -> str | None:
    """The ``ansible-inventory`` program on ``PATH``, or ``None``."""
    return shutil.which(PROGRAM)


def run(source: str, *, display: str, cwd: Path, vault_password_file: Path | None) -> Document:
    """
    ``ansible-inventory``'s view of ``source`` as one document in the YAML layout: the groups and
    where each variable is set from ``--list --export``; the values of the connection variables
    rollup uses as Ansible resolves them for each host (``--list``), so precedence is Ansible's.

    Raises:
        InventoryError: the program is missing, fails (its error line is quoted) or prints
            something other than an inventory.
    """
    exported = _listing(source, display=display, cwd=cwd, vault=vault_password_file, export=True)
    resolved = _listing(source, display=display, cwd=cwd, vault=vault_password_file, export=False)
    meta = resolved.get("_meta")
    hostvars = meta.get("hostvars") if isinstance(meta, dict) else None
    return convert(exported, display=display, resolved=hostvars if isinstance(hostvars, dict) else {})


def _listing(source: str, *, display: str, cwd: Path, vault: Path | None, export: bool) -> dict[str, Any]:
    found = program()
    if found is None:
        raise InventoryError(f"{display}: {NEEDS_ANSIBLE}")
    command = [found, "-i", source, "--list", *(["--export"] if export else [])]
    if vault is not None:
        command += ["--vault-password-file", str(vault)]
    env = {
        **os.environ,
        # a source Ansible cannot read is an error, not a warning
        "ANSIBLE_INVENTORY_UNPARSED_FAILED": "true",
        "ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED": "true",
        "ANSIBLE_NOCOLOR": "true",
        "PYTHONWARNINGS": "ignore",
    }
    try:
        done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, timeout=TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise InventoryError(f"{display}: {PROGRAM} took over {TIMEOUT_S} s") from None
    if done.returncode != 0:
        raise InventoryError(f"{display}: {PROGRAM} failed: {_reason(done.stderr, done.returncode)}")
    if len(done.stdout) > MAX_OUTPUT_BYTES:
        raise InventoryError(f"{display}: {PROGRAM} printed more than {MAX_OUTPUT_BYTES} bytes")
    try:
        listing = json.loads(done.stdout)
    except ValueError:
        raise InventoryError(f"{display}: {PROGRAM} did not print JSON") from None
    if not isinstance(listing, dict):
        raise InventoryError(f"{display}: {PROGRAM} did not print an inventory")
    return listing


def _reason(stderr: bytes, code: int) -> str:
    """The error line of Ansible's message (``[ERROR]: ...`` or ``ERROR! ...``), else the exit code."""
    lines = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines()]
    errors = [line for line in lines if line.startswith(("[ERROR]", "ERROR"))]
    if not errors:
        return f"exit {code}"
    first = errors[0].removeprefix("[ERROR]:").removeprefix("ERROR!").strip()
    return " ".join(first.split())[:300]


def _vaulted(value: Any) -> Any:
    """``{"__ansible_vault": ciphertext}`` (how the JSON keeps a vaulted value) as ``Vaulted``."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_vault"} and isinstance(value["__ansible_vault"], str):
            return Vaulted(value["__ansible_vault"])
        return {key: _vaulted(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_vaulted(item) for item in value]
    return value


def _names(value: Any, what: str, display: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise InventoryError(f"{display}: {PROGRAM} gave {what} that is not a list of names")
    return value


def _host_body(own: Any, resolved: Any) -> Any:
    """
    A host's variables: those rollup connects with as Ansible resolved them for the host, and
    its own others (so a variable rollup does not use is reported where it is set).
    """
    own = own if isinstance(own, dict) else {}
    resolved = resolved if isinstance(resolved, dict) else {}
    body = {key: value for key, value in own.items() if not connects(key)}
    body.update({key: value for key, value in resolved.items() if connects(key)})
    return _vaulted(body)


def convert(listing: dict[str, Any], *, display: str, resolved: dict[str, Any] | None = None) -> Document:
    """
    ``ansible-inventory --list --export`` JSON as one document, groups in the order Ansible lists
    them; ``resolved``: each host's variables as ``--list`` resolves them.
    """
    resolved = resolved or {}
    meta = listing.get("_meta") or {}
    hostvars = meta.get("hostvars") or {} if isinstance(meta, dict) else {}
    if not isinstance(hostvars, dict):
        raise InventoryError(f"{display}: {PROGRAM} gave _meta.hostvars that is not a mapping")
    top = listing.get("all") or {}
    children: dict[str, Any] = {}
    where: dict[str, str] = {"all.vars": "group all"}
    given: set[str] = set()
    order = _names(top.get("children"), "all.children", display)
    pending = list(reversed(order))
    while pending:
        name = pending.pop()
        if name in children:
            continue
        body = listing.get(name) or {}
        if not isinstance(body, dict):
            raise InventoryError(f"{display}: {PROGRAM} gave group {name} that is not a mapping")
        hosts: dict[str, Any] = {}
        for host in _names(body.get("hosts"), f"hosts of {name}", display):
            hosts[host] = None if host in given else _host_body(hostvars.get(host), resolved.get(host))
            given.add(host)
            where[join_key("all.children", name, "hosts", host)] = f"host {host}"
        inner = _names(body.get("children"), f"children of {name}", display)
        children[name] = {
            "hosts": hosts,
            "vars": _vaulted(body.get("vars")),
            "children": dict.fromkeys(inner),
        }
        where[join_key("all.children", name)] = f"group {name}"
        where[join_key("all.children", name, "vars")] = f"group {name}"
        pending.extend(reversed(inner))
    loose = {
        host: _host_body(hostvars.get(host), resolved.get(host))
        for host in _names(top.get("hosts"), "all.hosts", display)
    }
    for host in loose:
        where[join_key("all.hosts", host)] = f"host {host}"
    data = {"all": {"vars": _vaulted(top.get("vars")), "hosts": loose, "children": children}}
    return Document(display, data, where, ansible_typed=True)
