"""
The inventory loader: walks Ansible's layout (groups with ``hosts``, ``vars`` and ``children``,
under ``all`` or at the top level), gives each host its roles, resolves its variables by
Ansible's precedence and builds the frozen ``Inventory``.

Several documents (the files of an inventory folder) add up to one inventory. Every failure is one
``InventoryError`` line naming the file and the key path (or, for an INI file, the line); the
values themselves are checked by ``rollup.model.inventory_vars``, and the records are built by
``rollup.model.inventory_build``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

from rollup.credentials import LITERAL_PASSWORD, VaultRef, is_literal, is_secret_key
from rollup.errors import InventoryError
from rollup.load import join_key
from rollup.model.inventory import Inventory, UnusedVar
from rollup.model.inventory_build import Group, HostBuilding, HostEntry, Var, other_of
from rollup.model.inventory_patterns import expand_range, split_port
from rollup.model.inventory_side import Document, SideVars
from rollup.model.inventory_vars import (
    ANSIBLE_CHECKED,
    DNS_NAME,
    HOST_NAME_RULE,
    ROLE_VARS,
    SETTINGS,
    SPELLINGS,
    NestedValueError,
    Vaulted,
    check_value,
    has_control,
    is_template,
    role_names,
    unknown_variable,
)
from rollup.model.roles import ROLE_NAMES, Role

GROUP_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}\Z")


class Loader(HostBuilding):
    """Reads the documents of one inventory; collects groups and hosts, then builds the ``Inventory``."""

    def __init__(self, display: str, base_dir: Path, *, vault_password_file: Path | None = None) -> None:
        self.display = display  # the inventory as a whole: a file, a folder or an ansible-inventory source
        self.base_dir = base_dir
        self.vault_password_file = vault_password_file
        self.source = display  # the file being read
        self.where: Mapping[str, str] = {}
        self.typed = False
        self.groups: dict[str, Group] = {}
        self.hosts: dict[str, HostEntry] = {}  # by casefolded name, in file order
        self.defaults: dict[str, Var] = {}
        self.file_defaults: dict[str, Var] = {}
        self.settings: dict[str, Var] = {}
        self.all_roles: dict[str, Var] = {}
        self.unused: dict[tuple[str, str], UnusedVar] = {}

    def at(self, path: str) -> str:
        """Where ``path`` of the file being read is: ``file: key.path``, or ``file: line N: ...``."""
        probe = path if self.where else ""
        while probe:
            if probe in self.where:
                return f"{self.source}: {self.where[probe]}{path[len(probe) :]}"
            probe = probe.rpartition(".")[0]
        return f"{self.source}: {path or '(top level)'}"

    def fail(self, path: str, message: str) -> NoReturn:
        raise InventoryError(f"{self.at(path)}: {message}")

    def load(
        self,
        documents: Sequence[Document],
        *,
        group_vars: Sequence[SideVars] = (),
        host_vars: Sequence[SideVars] = (),
    ) -> Inventory:
        for document in documents:
            self.source, self.where, self.typed = document.display, document.where, document.ansible_typed
            self.read_document(document.data)
        self.source, self.where, self.typed = self.display, {}, False
        self.read_side_vars(group_vars, host_vars)
        descendants = self.descendants()
        members = {
            g: set().union(self.groups[g].hosts, *(self.groups[d].hosts for d in descendants[g]))
            for g in self.groups
        }
        settings = self.build_settings()
        built = []
        vms: dict[tuple[str, str], str] = {}
        for key, entry in self.hosts.items():
            in_groups = [g for g in self.groups.values() if key in members[g.name]]
            roles = self.roles_of(entry, in_groups)
            resolved = self.resolve(entry, in_groups, descendants)
            groups = frozenset(g.name for g in in_groups) or frozenset({"ungrouped"})
            built.append(self.build_host(entry.name, resolved, roles, settings, groups))
            self.check_vm_unique(built[-1], resolved, vms)
        self.check_deployment_tool(built)
        return Inventory(self.display, tuple(built), settings, tuple(self.unused.values()))

    def read_document(self, data: Any) -> None:
        """One file: ``all`` and top-level groups (which Ansible makes children of ``all``)."""
        self.refuse_unsafe_keys(data)
        if data is None:
            self.fail("", "the file is empty; an inventory starts with all: or a group")
        if not isinstance(data, dict):
            self.fail("", "an inventory is a mapping of group names (all, or groups of your own)")
        for name, body in data.items():
            if name == "all":
                self.read_all(body)
            else:
                self.read_group(name, body, join_key("", name), ())

    def read_all(self, value: Any) -> None:
        body = self.mapping(value, "all", ("vars", "hosts", "children"))
        all_vars = self.read_vars(body.get("vars"), "all.vars", inventory_wide=True)
        self.all_roles.update(self.take_roles(all_vars))
        self.merge(self.settings, {n: v for n, v in all_vars.items() if n in SETTINGS}, "all")
        self.merge(self.defaults, {n: v for n, v in all_vars.items() if n not in SETTINGS}, "all")
        self.read_hosts(body.get("hosts"), "all.hosts", None)
        children = self.mapping(body.get("children"), "all.children", None)
        for name, child in children.items():
            self.read_group(name, child, join_key("all.children", name), ())

    def merge(self, into: dict[str, Var], found: dict[str, Var], whose: str) -> None:
        """Add variables given again elsewhere (another file, another place): the same value only."""
        for name, var in found.items():
            earlier = into.setdefault(name, var)
            if earlier.value != var.value:
                self.fail_at(
                    var.path,
                    f"conflicts with {other_of(var.path, earlier.path)}: "
                    f"{whose} sets {name} twice differently",
                )

    def take_roles(self, found: dict[str, Var]) -> dict[str, Var]:
        """``rollup_role``/``rollup_roles`` out of a mapping's variables."""
        return {key: found.pop(key) for key in ROLE_VARS if key in found}

    def read_side_vars(self, group_vars: Sequence[SideVars], host_vars: Sequence[SideVars]) -> None:
        """``group_vars/`` and ``host_vars/`` files, a level of their own in Ansible's precedence."""
        for side in group_vars:
            self.source = side.display
            self.refuse_unsafe_keys(side.data)
            if side.name == "all":
                found = self.read_vars(side.data, "", inventory_wide=True)
                self.all_roles.update(self.take_roles(found))
                self.settings.update({n: v for n, v in found.items() if n in SETTINGS})
                self.file_defaults.update({n: v for n, v in found.items() if n not in SETTINGS})
                continue
            group = self.groups.get(side.name)
            if group is None:
                known = ", ".join(sorted(self.groups)) or "none"
                raise InventoryError(
                    f"{side.display}: the inventory has no group {side.name} (its groups: {known})"
                )
            found = self.read_vars(side.data, "", inventory_wide=False)
            group.roles.update(self.take_roles(found))
            group.file_vars.update(found)
        for side in host_vars:
            self.source = side.display
            self.refuse_unsafe_keys(side.data)
            entry = self.hosts.get(side.name.casefold())
            if entry is None:
                raise InventoryError(f"{side.display}: the inventory has no host {side.name}")
            found = self.read_vars(side.data, "", inventory_wide=False)
            entry.roles.update(self.take_roles(found))
            entry.file_vars.update(found)
        self.source = self.display

    def mapping(self, value: Any, path: str, keys: tuple[str, ...] | None) -> dict[Any, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            what = f"a mapping with {', '.join(keys)}" if keys else "a mapping of group names"
            self.fail(path, f"must be {what}")
        for key in value:
            if keys is not None and key not in keys:
                self.fail(join_key(path, key), f"unknown key; expected one of {', '.join(keys)}")
        return value

    def refuse_unsafe_keys(self, data: Any) -> None:
        """Refuse literal passwords and names with control characters anywhere, before reading anything."""
        stack: list[tuple[Any, str]] = [(data, "")]
        seen: set[int] = set()
        while stack:
            node, path = stack.pop()
            if isinstance(node, dict | list):
                if id(node) in seen:
                    continue
                seen.add(id(node))
                items = node.items() if isinstance(node, dict) else enumerate(node)
                pending = []
                for key, value in items:
                    item_path = join_key(path, key) if isinstance(node, dict) else f"{path}[{key}]"
                    if isinstance(key, str) and has_control(key):
                        self.fail(item_path, "the name contains a control character or a line break")
                    if isinstance(key, str) and is_secret_key(key) and is_literal(value):
                        self.fail(item_path, LITERAL_PASSWORD)
                    pending.append((value, item_path))
                stack.extend(reversed(pending))

    def refuse_unsafe_values(self, raw: Any, where: str) -> None:
        """Refuse control characters in a value rollup uses (at any depth)."""
        if isinstance(raw, str) and has_control(raw):
            self.fail_at(where, "the value contains a control character or a line break")
        if isinstance(raw, dict):
            for key, value in raw.items():
                self.refuse_unsafe_values(value, join_key(where, key))
        if isinstance(raw, list):
            for index, value in enumerate(raw):
                self.refuse_unsafe_values(value, f"{where}[{index}]")

    def read_group(self, name: Any, body: Any, path: str, parents: tuple[str, ...]) -> None:
        if not isinstance(name, str) or not GROUP_NAME.match(name):
            self.fail(path, "not a valid group name (letters, digits, _ . -)")
        if name == "all":
            self.fail(path, "all holds every group; it cannot be inside one")
        if name in parents:
            self.fail(path, f"group {name} is inside itself")
        group = self.groups.setdefault(name, Group(name, self.at(path)))
        body = self.mapping(body, path, ("hosts", "vars", "children"))
        found = self.read_vars(body.get("vars"), join_key(path, "vars"), inventory_wide=False)
        self.merge(group.roles, self.take_roles(found), f"group {name}")
        self.merge(group.vars, found, f"group {name}")
        self.read_hosts(body.get("hosts"), join_key(path, "hosts"), group)
        children = self.mapping(body.get("children"), join_key(path, "children"), None)
        for child, child_body in children.items():
            group.children.add(child)
            self.read_group(child, child_body, join_key(path, "children", child), (*parents, name))

    def read_hosts(self, value: Any, path: str, group: Group | None) -> None:
        if value is None:
            return
        if not isinstance(value, dict):
            self.fail(path, "must be a mapping of host names to their variables")
        for pattern, body in value.items():
            names, port = [pattern], None
            if isinstance(pattern, str):
                bare, port = split_port(pattern)
                try:
                    names = expand_range(bare)
                except ValueError as exc:
                    self.fail(join_key(path, pattern), str(exc))
            if port is not None and body is not None and not isinstance(body, dict):
                self.fail(join_key(path, pattern), "must be a mapping of variable names to values")
            given = body if port is None else {**(body or {}), "ansible_port": port}
            for name in names:
                self.read_host(name, given, join_key(path, name), group)

    def read_host(self, name: Any, body: Any, host_path: str, group: Group | None) -> None:
        if not isinstance(name, str) or not DNS_NAME.match(name) or name.endswith("."):
            self.fail(host_path, f"not a valid host name ({HOST_NAME_RULE})")
        entry = self.hosts.setdefault(name.casefold(), HostEntry(name, self.at(host_path)))
        if entry.name != name:
            self.fail(
                host_path,
                f"spelled differently at {other_of(self.at(host_path), entry.path)}; "
                "host names are case-insensitive",
            )
        if group is not None:
            group.hosts.add(name.casefold())
        found = self.read_vars(body, host_path, inventory_wide=False)
        self.merge(entry.roles, self.take_roles(found), f"host {name}")
        self.merge(entry.vars, found, f"host {name}")

    def read_vars(
        self, value: Any, path: str, *, inventory_wide: bool, base: str | None = None
    ) -> dict[str, Var]:
        """
        The variables rollup uses, checked, by rollup name (and ``rollup_role(s)`` as written);
        every other variable is recorded as unused. ``base``: the full location ``path`` is under.
        """
        where_of = (self.at(path) if path else self.source) if base is None else base
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail_at(where_of, "must be a mapping of variable names to values")
        found: dict[str, Var] = {}
        for key, raw in value.items():
            where = self.at(join_key(path, key)) if base is None else join_key(base, key)
            if not isinstance(key, str):
                self.fail_at(where, "a variable name must be text")
            if key in SETTINGS and not inventory_wide:
                self.fail_at(where, "an inventory-wide setting: only allowed under all.vars")
            name = key if key in SETTINGS or key in ROLE_VARS else SPELLINGS.get(key)
            if name is None and key not in ANSIBLE_CHECKED:
                refusal = unknown_variable(key)
                if refusal is not None:
                    self.fail_at(where, refusal)
                self.unused.setdefault((key, where_of), UnusedVar(key, where_of))
                continue
            found_value = self.checked(key, name, raw, where)
            if name is None:
                continue
            if name in found:
                self.fail_at(where, f"sets {name} again (already set by {other_of(where, found[name].path)})")
            found[name] = Var(found_value, where)
        return found

    def checked(self, key: str, name: str | None, raw: Any, where: str) -> Any:
        """A value rollup uses, checked; a template or a vaulted value other than a password refused."""
        if is_template(raw):
            self.fail_at(
                where, "a Jinja template ({{ }}), which rollup does not evaluate; give the value itself"
            )
        if isinstance(raw, Vaulted):
            if name != "password":
                self.fail_at(where, "encrypted with Ansible Vault; rollup decrypts passwords only")
            if self.vault_password_file is None:
                self.fail_at(where, "encrypted with Ansible Vault: give --vault-password-file FILE")
            return VaultRef(raw.ciphertext, self.vault_password_file)
        self.refuse_unsafe_values(raw, where)
        try:
            if name in ROLE_VARS:
                return role_names(key, raw)
            return check_value(key, name, raw, base_dir=self.base_dir, typed=self.typed)
        except NestedValueError as exc:
            self.fail_at(join_key(where, exc.key), str(exc))
        except ValueError as exc:
            self.fail_at(where, str(exc))

    def roles_of(self, entry: HostEntry, groups: list[Group]) -> frozenset[Role]:
        """A host's roles: its groups named as roles, and every ``rollup_role(s)`` given to it or them."""
        roles = {Role(g.name) for g in groups if g.name in ROLE_NAMES}
        for given in (self.all_roles, entry.roles, *(g.roles for g in groups)):
            for var in given.values():
                roles.update(Role(name) for name in var.value)
        if not roles:
            self.fail_at(
                entry.path,
                "the host has no role: list it in a group named after a role "
                f"({', '.join(sorted(ROLE_NAMES))}) or give it rollup_role",
            )
        return frozenset(roles)

    def check_deployment_tool(self, hosts: list[Any]) -> None:
        found = [host.name for host in hosts if Role.DEPLOYMENT_TOOL in host.roles]
        if not found:
            self.fail_at(self.display, "no host has the deployment_tool role; exactly one must")
        if len(found) > 1:
            where = (
                self.groups[Role.DEPLOYMENT_TOOL].path
                if Role.DEPLOYMENT_TOOL in self.groups
                else self.display
            )
            self.fail_at(where, f"exactly one host may play the deployment_tool role: {', '.join(found)}")
