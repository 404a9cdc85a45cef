"""
The inventory loader: walks the Ansible layout (``all``, ``children``, ``hosts``, ``vars``),
resolves each host's variables by precedence and builds the frozen ``Inventory``.

Every failure is one ``InventoryError`` line naming the file and the YAML key path; the values
themselves are checked by ``rollup.model.inventory_vars``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NoReturn

from rollup.credentials import LITERAL_PASSWORD, is_literal, is_secret_key
from rollup.errors import InventoryError
from rollup.load import join_key, quote
from rollup.model.inventory import (
    AuthTransport,
    CertValidation,
    Connection,
    Host,
    HyperVApi,
    Hypervisor,
    Inventory,
    InventorySettings,
    Scheme,
    SshBastion,
    VmProvider,
    VmRef,
)
from rollup.model.inventory_side import SideVars
from rollup.model.inventory_vars import (
    ANSIBLE_CHECKED,
    ANSIBLE_IGNORED,
    DEFAULT_OPERATION_TIMEOUT_S,
    DEFAULT_READ_TIMEOUT_S,
    DNS_NAME,
    HOST_NAME_RULE,
    SETTINGS,
    SPELLINGS,
    NestedValueError,
    VmSpec,
    check_value,
    has_control,
    unknown_variable,
)
from rollup.model.roles import ROLE_NAMES, Role


@dataclass(frozen=True, slots=True)
class _Var:
    """A checked value and the key path it was set at."""

    value: Any
    path: str


HOST_RANGE = re.compile(
    r"\[(?P<first>[0-9]+|[A-Za-z]):(?P<last>[0-9]+|[A-Za-z])(?::(?P<step>[1-9][0-9]*))?\]"
)
"""An Ansible host range: ``[01:04]``, ``[a:f]``, ``[1:9:2]``."""
MAX_RANGE_HOSTS = 10_000


@dataclass(slots=True)
class _Group:
    name: str
    path: str
    vars: dict[str, _Var] = field(default_factory=dict)
    vars_path: str | None = None
    hosts: set[str] = field(default_factory=set)
    children: set[str] = field(default_factory=set)


@dataclass(slots=True)
class _HostEntry:
    name: str
    path: str
    vars: dict[str, _Var] = field(default_factory=dict)


class Loader:
    """Reads one document; collects groups and hosts, then builds the frozen ``Inventory``."""

    def __init__(self, source: str, base_dir: Path) -> None:
        self.source = source
        self.base_dir = base_dir
        self.groups: dict[str, _Group] = {}
        self.hosts: dict[str, _HostEntry] = {}  # by casefolded name, in file order
        self.defaults: dict[str, _Var] = {}
        self.settings: dict[str, _Var] = {}

    def fail(self, path: str, message: str) -> NoReturn:
        raise InventoryError(f"{self.source}: {path or '(top level)'}: {message}")

    def load(
        self, data: Any, *, group_vars: Sequence[SideVars] = (), host_vars: Sequence[SideVars] = ()
    ) -> Inventory:
        self.refuse_unsafe_values(data)
        if data is None:
            self.fail("", "the file is empty; an inventory starts with all:")
        if not isinstance(data, dict) or "all" not in data:
            self.fail("", "an inventory is a mapping with the single key all")
        for key in data:
            if key != "all":
                self.fail(join_key("", key), "unknown key; groups go under all.children")
        body = self.mapping(data["all"], "all", ("vars", "hosts", "children"))
        all_vars = self.read_vars(body.get("vars"), "all.vars", inventory_wide=True)
        self.settings = {name: var for name, var in all_vars.items() if name in SETTINGS}
        self.defaults = {name: var for name, var in all_vars.items() if name not in SETTINGS}
        self.read_hosts(body.get("hosts"), "all.hosts", None)
        children = self.mapping(body.get("children"), "all.children", None)
        for name, child in children.items():
            self.read_group(name, child, join_key("all.children", name), ())
        self.read_side_vars(group_vars, host_vars)
        descendants = self.descendants()
        members = {
            g: set().union(self.groups[g].hosts, *(self.groups[d].hosts for d in descendants[g]))
            for g in self.groups
        }
        self.check_deployment_tool(members)
        settings = self.build_settings()
        built = []
        vms: dict[tuple[str, str], str] = {}
        for key, entry in self.hosts.items():
            in_groups = [g for g in self.groups.values() if key in members[g.name]]
            if not in_groups:
                self.fail(entry.path, "the host is in no role group; list it under all.children.<role>.hosts")
            resolved = self.resolve(entry, in_groups, descendants)
            roles = frozenset(Role(g.name) for g in in_groups)
            built.append(self.build_host(entry, resolved, roles, settings))
            self.check_vm_unique(built[-1], resolved, vms)
        return Inventory(self.source, tuple(built), settings)

    def read_side_vars(self, group_vars: Sequence[SideVars], host_vars: Sequence[SideVars]) -> None:
        """The ``group_vars/`` and ``host_vars/`` files, which override the file's values (as in Ansible)."""
        for side in group_vars:
            self.refuse_unsafe_values(side.data)
            if side.name == "all":
                found = self.read_vars(side.data, side.display, inventory_wide=True)
                self.settings.update({n: v for n, v in found.items() if n in SETTINGS})
                self.defaults.update({n: v for n, v in found.items() if n not in SETTINGS})
                continue
            group = self.groups.get(side.name)
            if group is None:
                known = ", ".join(sorted(self.groups)) or "none"
                raise InventoryError(
                    f"{side.display}: the inventory has no group {side.name} (its groups: {known})"
                )
            group.vars.update(self.read_vars(side.data, side.display, inventory_wide=False))
        for side in host_vars:
            self.refuse_unsafe_values(side.data)
            entry = self.hosts.get(side.name.casefold())
            if entry is None:
                raise InventoryError(f"{side.display}: the inventory has no host {side.name}")
            entry.vars.update(self.read_vars(side.data, side.display, inventory_wide=False))

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

    def refuse_unsafe_values(self, data: Any) -> None:
        """Refuse literal passwords and control characters anywhere, before reading anything."""
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
            elif isinstance(node, str) and has_control(node):
                self.fail(path, "the value contains a control character or a line break")

    def read_group(self, name: Any, body: Any, path: str, parents: tuple[str, ...]) -> None:
        if name not in ROLE_NAMES:
            self.fail(path, f"unknown group; groups are roles: {', '.join(sorted(ROLE_NAMES))}")
        if name in parents:
            self.fail(path, f"group {name} is inside itself")
        group = self.groups.setdefault(name, _Group(name, path))
        body = self.mapping(body, path, ("hosts", "vars", "children"))
        if body.get("vars") not in (None, {}):
            vars_path = join_key(path, "vars")
            if group.vars_path is not None:
                self.fail(vars_path, f"vars of group {name} are also at {group.vars_path}; give them once")
            group.vars = self.read_vars(body["vars"], vars_path, inventory_wide=False)
            group.vars_path = vars_path
        self.read_hosts(body.get("hosts"), join_key(path, "hosts"), group)
        children = self.mapping(body.get("children"), join_key(path, "children"), None)
        for child, child_body in children.items():
            group.children.add(child)
            self.read_group(child, child_body, join_key(path, "children", child), (*parents, name))

    def read_hosts(self, value: Any, path: str, group: _Group | None) -> None:
        if value is None:
            return
        if not isinstance(value, dict):
            self.fail(path, "must be a mapping of host names to their variables")
        for pattern, body in value.items():
            for name in self.expand_range(pattern, join_key(path, pattern)):
                self.read_host(name, body, join_key(path, name), group)

    def expand_range(self, pattern: Any, path: str) -> list[Any]:
        """
        The host names an Ansible range spells (``COLLAB[01:04]``: COLLAB01 to COLLAB04, leading
        zeros kept; ``[a:c]``; ``[1:9:2]`` with a step), or the name itself.
        """
        found = HOST_RANGE.search(pattern) if isinstance(pattern, str) else None
        if found is None:
            return [pattern]
        first, last, step = found["first"], found["last"], int(found["step"] or 1)
        head, tail = pattern[: found.start()], pattern[found.end() :]
        if first.isdigit() and last.isdigit():
            width = len(first) if first.startswith("0") else 0
            numbers = range(int(first), int(last) + 1, step)
            names = [f"{head}{n:0{width}d}{tail}" for n in numbers]
        elif first.isalpha() and last.isalpha() and len(first) == len(last) == 1:
            names = [f"{head}{chr(c)}{tail}" for c in range(ord(first), ord(last) + 1, step)]
        else:
            self.fail(path, "a host range is [first:last] or [first:last:step], both numbers or both letters")
        if not names or len(names) > MAX_RANGE_HOSTS:
            self.fail(path, f"a host range names 1 to {MAX_RANGE_HOSTS} hosts")
        return [name for expanded in names for name in self.expand_range(expanded, path)]

    def read_host(self, name: Any, body: Any, host_path: str, group: _Group | None) -> None:
        if not isinstance(name, str) or not DNS_NAME.match(name) or name.endswith("."):
            self.fail(host_path, f"not a valid host name ({HOST_NAME_RULE})")
        entry = self.hosts.setdefault(name.casefold(), _HostEntry(name, host_path))
        if entry.name != name:
            self.fail(host_path, f"spelled differently at {entry.path}; host names are case-insensitive")
        if group is not None:
            group.hosts.add(name.casefold())
        for var_name, var in self.read_vars(body, host_path, inventory_wide=False).items():
            earlier = entry.vars.setdefault(var_name, var)
            if earlier.value != var.value:
                self.fail(
                    var.path, f"conflicts with {earlier.path}: host {name} is defined twice differently"
                )

    def read_vars(self, value: Any, path: str, *, inventory_wide: bool) -> dict[str, _Var]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(path, "must be a mapping of variable names to values")
        found: dict[str, _Var] = {}
        for key, raw in value.items():
            key_path = join_key(path, key)
            if not isinstance(key, str):
                self.fail(key_path, "a variable name must be text")
            if key in SETTINGS and not inventory_wide:
                self.fail(key_path, "an inventory-wide setting: only allowed under all.vars")
            name = key if key in SETTINGS else SPELLINGS.get(key)
            if name is None and key not in ANSIBLE_CHECKED and key not in ANSIBLE_IGNORED:
                self.fail(key_path, unknown_variable(key))
            try:
                checked = check_value(key, name, raw, base_dir=self.base_dir)
            except NestedValueError as exc:
                self.fail(join_key(key_path, exc.key), str(exc))
            except ValueError as exc:
                self.fail(key_path, str(exc))
            if name is None:
                continue
            if name in found:
                self.fail(key_path, f"sets {name} again (already set by {found[name].path})")
            found[name] = _Var(checked, key_path)
        return found

    def descendants(self) -> dict[str, set[str]]:
        """Every group's transitive children; refuses groups that contain each other."""
        result: dict[str, set[str]] = {}

        def visit(name: str, trail: tuple[str, ...]) -> set[str]:
            if name in trail:
                self.fail(self.groups[name].path, f"groups contain each other: {' > '.join((*trail, name))}")
            if name not in result:
                below: set[str] = set()
                for child in self.groups[name].children:
                    below |= {child, *visit(child, (*trail, name))}
                result[name] = below
            return result[name]

        for name in self.groups:
            visit(name, ())
        return result

    def check_deployment_tool(self, members: dict[str, set[str]]) -> None:
        found = members.get(Role.DEPLOYMENT_TOOL, set())
        if not found:
            self.fail("all.children", "no host has the deployment_tool role; exactly one must")
        if len(found) > 1:
            names = ", ".join(entry.name for key, entry in self.hosts.items() if key in found)
            self.fail(self.groups[Role.DEPLOYMENT_TOOL].path, f"exactly one host may play this role: {names}")

    def resolve(
        self, entry: _HostEntry, groups: list[_Group], descendants: dict[str, set[str]]
    ) -> dict[str, _Var]:
        """all.vars < group vars < host vars; a child group's vars beat its parent's."""
        merged = dict(self.defaults)
        for name in sorted({name for group in groups for name in group.vars} - set(entry.vars)):
            setters = [group for group in groups if name in group.vars]
            nearest = [g for g in setters if not any(o.name in descendants[g.name] for o in setters)]
            first = nearest[0]
            for other in nearest[1:]:
                if other.vars[name].value != first.vars[name].value:
                    self.fail(
                        other.vars[name].path,
                        f"conflicts with {first.vars[name].path} for host {entry.name}, which is in both "
                        f"groups {first.name} and {other.name}; set {name} on the host",
                    )
            merged[name] = first.vars[name]
        merged.update(entry.vars)
        return merged

    def build_host(
        self, entry: _HostEntry, v: dict[str, _Var], roles: frozenset[Role], settings: InventorySettings
    ) -> Host:
        def get(name: str, default: Any) -> Any:
            return v[name].value if name in v else default

        scheme = Scheme(get("scheme", Scheme.HTTP))
        transport = AuthTransport(get("transport", AuthTransport.NTLM))
        insecure_lab = bool(get("insecure_lab", False))
        connection = self.connection(entry, v)
        winrm = connection is Connection.WINRM
        if winrm and transport is AuthTransport.BASIC and scheme is Scheme.HTTP and not insecure_lab:
            self.fail(
                v["transport"].path,
                f"basic over http sends the password of {entry.name} in clear; "
                "use scheme: https, or set insecure_lab: true in a lab",
            )
        if insecure_lab and settings.production:
            self.fail(v["insecure_lab"].path, "not allowed in a production inventory (rollup_production)")
        cert_validation = CertValidation(get("cert_validation", CertValidation.VALIDATE))
        unexplained = "cert_validation_reason" not in v
        if cert_validation is CertValidation.IGNORE and settings.production and unexplained:
            self.fail(
                v["cert_validation"].path,
                "ignore is not allowed in a production inventory (rollup_production) "
                "unless cert_validation_reason says why",
            )
        operation = get("operation_timeout_s", DEFAULT_OPERATION_TIMEOUT_S)
        read = get("read_timeout_s", DEFAULT_READ_TIMEOUT_S)
        if read <= operation:
            where = v["read_timeout_s"].path if "read_timeout_s" in v else v["operation_timeout_s"].path
            self.fail(where, f"read_timeout_s ({read:g}) must exceed operation_timeout_s ({operation:g})")
        ca_trust = get("ca_trust_path", None)
        vm = self.vm_ref(v["vm"], settings) if "vm" in v else None
        bastion = None
        if "ssh_bastion" in v:
            user, jump, jump_port = v["ssh_bastion"].value
            key_file, known = get("ssh_key_file", None), get("ssh_known_hosts", None)
            bastion = SshBastion(
                user=user,
                host=jump,
                port=jump_port,
                key_file=None if key_file is None else self.base_dir / key_file,
                known_hosts=None if known is None else self.base_dir / known,
            )
        elif winrm:
            for name in ("ssh_key_file", "ssh_known_hosts"):
                if name in v:
                    self.fail(
                        v[name].path,
                        f"is only used with ssh_bastion or ansible_connection: ssh; {entry.name} has neither",
                    )
        key_file, known = get("ssh_key_file", None), get("ssh_known_hosts", None)
        return Host(
            name=entry.name,
            address=get("address", entry.name),
            port=get("port", 22 if not winrm else 5986 if scheme is Scheme.HTTPS else 5985),
            scheme=scheme,
            transport=transport,
            cert_validation=cert_validation,
            cert_validation_reason=get("cert_validation_reason", None),
            computer_name=get("computer_name", None),
            machine_id=get("machine_id", None),
            domain=get("domain", None),
            ca_trust_path=None if ca_trust is None else self.base_dir / ca_trust,
            user=get("user", None),
            password=get("password", None),
            roles=roles,
            insecure_lab=insecure_lab,
            operation_timeout_s=operation,
            read_timeout_s=read,
            vm=vm,
            ssh_bastion=bastion,
            connection=connection,
            ssh_key_file=None if winrm or key_file is None else self.base_dir / key_file,
            ssh_known_hosts=None if winrm or known is None else self.base_dir / known,
        )

    def connection(self, entry: _HostEntry, v: dict[str, _Var]) -> Connection:
        """WinRM (the default; ``psrp`` too), or SSH, which needs ``ansible_shell_type: powershell``."""
        if "connection" not in v or v["connection"].value != Connection.SSH:
            return Connection.WINRM
        shell = v.get("shell_type")
        if shell is None or shell.value != "powershell":
            self.fail(
                v["connection"].path if shell is None else shell.path,
                f"{entry.name} is reached over ssh, which rollup supports with ansible_shell_type: "
                "powershell only (OpenSSH for Windows running PowerShell)",
            )
        return Connection.SSH

    def vm_ref(self, var: _Var, settings: InventorySettings) -> VmRef:
        """A host's ``vm``, its hypervisor found in ``rollup_hypervisors`` (and of the provider it names)."""
        spec: VmSpec = var.value
        wanted = spec.hypervisor.casefold()
        found = next((h for h in settings.hypervisors if h.name.casefold() == wanted), None)
        if found is None:
            known = ", ".join(h.name for h in settings.hypervisors) or "none"
            self.fail(
                join_key(var.path, "hypervisor"),
                f"no hypervisor {spec.hypervisor} in all.vars.rollup_hypervisors (listed: {known})",
            )
        if spec.provider is not None and spec.provider is not found.provider:
            self.fail(join_key(var.path, "provider"), f"{found.name} is a {found.provider} hypervisor")
        return VmRef(hypervisor=found.name, name=spec.name)

    def check_vm_unique(self, host: Host, v: dict[str, _Var], seen: dict[tuple[str, str], str]) -> None:
        """Refuse two hosts on one VM (a group's ``vm`` shared by its hosts, or a copy-paste)."""
        if host.vm is None:
            return
        key = (host.vm.hypervisor.casefold(), host.vm.name.casefold())
        if key in seen:
            other = seen[key]
            self.fail(v["vm"].path, f"VM {quote(host.vm.name)} on {host.vm.hypervisor} is {other}'s too")
        seen[key] = host.name

    def read_hypervisors(self, var: _Var, settings: InventorySettings) -> tuple[Hypervisor, ...]:
        """
        ``rollup_hypervisors``: each entry's provider and its connection, built as a host without
        roles. A Hyper-V host is reached over WinRM and inherits ``all.vars`` as hosts do; a
        vSphere server is not a WinRM host, so it inherits nothing and is reached over https.
        """
        found: dict[str, Hypervisor] = {}
        for name, body in var.value.items():
            path = join_key(var.path, name)
            if not isinstance(name, str) or not DNS_NAME.match(name) or name.endswith("."):
                self.fail(path, f"not a valid host name ({HOST_NAME_RULE})")
            if name.casefold() in found:
                self.fail(path, f"also listed as {found[name.casefold()].name}; names are case-insensitive")
            if not isinstance(body, dict) or "provider" not in body:
                self.fail(path, "must be a mapping with provider (hyperv or vmware) and connection variables")
            own = dict(body)
            provider = own.pop("provider")
            if provider not in tuple(VmProvider):
                self.fail(join_key(path, "provider"), f"must be one of {', '.join(VmProvider)}")
            api = own.pop("hyperv_api", HyperVApi.AUTO)
            if provider != VmProvider.HYPERV and "hyperv_api" in body:
                self.fail(join_key(path, "hyperv_api"), "only for provider hyperv")
            if api not in tuple(HyperVApi):
                self.fail(join_key(path, "hyperv_api"), f"must be one of {', '.join(HyperVApi)}")
            own_vars = self.read_vars(own, path, inventory_wide=False)
            if "vm" in own_vars:
                self.fail(own_vars["vm"].path, "a hypervisor is not a lab VM")
            if provider == VmProvider.VMWARE:
                scheme = own_vars.get("scheme")
                if scheme is not None and scheme.value != Scheme.HTTPS:
                    self.fail(scheme.path, "vSphere is reached over https only")
                merged = {"scheme": _Var(Scheme.HTTPS.value, path), "port": _Var(443, path), **own_vars}
            else:
                merged = {**{k: d for k, d in self.defaults.items() if k != "vm"}, **own_vars}
            connection = self.build_host(_HostEntry(name, path, own_vars), merged, frozenset(), settings)
            found[name.casefold()] = Hypervisor(
                name=name, provider=VmProvider(provider), connection=connection, hyperv_api=HyperVApi(api)
            )
        return tuple(found.values())

    def build_settings(self) -> InventorySettings:
        values = {name.removeprefix("rollup_"): var.value for name, var in self.settings.items()}
        if "package_dir" in values:
            values["package_dir"] = self.base_dir / values["package_dir"]
        values.pop("hypervisors", None)
        settings = InventorySettings(**values)
        strategy = self.settings.get("rollup_deployment_tool_strategy")
        command = self.settings.get("rollup_deployment_tool_command")
        if settings.deployment_tool_strategy == "command" and command is None:
            path = strategy.path if strategy else "all.vars"
            self.fail(path, "the command strategy needs rollup_deployment_tool_command")
        if command is not None and settings.deployment_tool_strategy != "command":
            self.fail(command.path, "only used with rollup_deployment_tool_strategy: command")
        hypervisors = self.settings.get("rollup_hypervisors")
        if hypervisors is not None:
            settings = replace(settings, hypervisors=self.read_hypervisors(hypervisors, settings))
        return settings
