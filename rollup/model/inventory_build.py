"""
Resolving a host's variables by Ansible's precedence, and building the frozen records of an
inventory from them: a ``Host`` with its connection settings, the inventory-wide
``InventorySettings`` and the lab's hypervisors.

``HostBuilding`` is the half of ``rollup.model.inventory_loader.Loader`` that runs once every
variable is resolved; every failure is one ``InventoryError`` line naming where the variable
was set.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NoReturn

from rollup.errors import InventoryError
from rollup.load import join_key, quote
from rollup.model.inventory import (
    AuthTransport,
    CertValidation,
    Connection,
    Host,
    HyperVApi,
    Hypervisor,
    InventorySettings,
    Scheme,
    SshBastion,
    VmProvider,
    VmRef,
)
from rollup.model.inventory_vars import (
    DEFAULT_OPERATION_TIMEOUT_S,
    DEFAULT_READ_TIMEOUT_S,
    DNS_NAME,
    HOST_NAME_RULE,
    VmSpec,
)
from rollup.model.roles import Role


def other_of(where: str, other: str) -> str:
    """``other`` as a message about ``where`` names it: without the file when it is the same file."""
    file = where.partition(": ")[0]
    return other.removeprefix(f"{file}: ") if other.startswith(f"{file}: ") else other


@dataclass(frozen=True, slots=True)
class Var:
    """A checked value and where it was set (``file: key.path`` or ``file: line N: ...``)."""

    value: Any
    path: str


@dataclass(slots=True)
class Group:
    """A group as read: its variables (inline and from group_vars/), roles given, hosts and children."""

    name: str
    path: str
    vars: dict[str, Var] = field(default_factory=dict)
    file_vars: dict[str, Var] = field(default_factory=dict)
    roles: dict[str, Var] = field(default_factory=dict)
    hosts: set[str] = field(default_factory=set)
    children: set[str] = field(default_factory=set)


@dataclass(slots=True)
class HostEntry:
    """A host as read: its variables (inline and from host_vars/) and the roles given to it."""

    name: str
    path: str
    vars: dict[str, Var] = field(default_factory=dict)
    file_vars: dict[str, Var] = field(default_factory=dict)
    roles: dict[str, Var] = field(default_factory=dict)


class HostBuilding:
    """Resolves a host's variables by precedence and builds hosts and settings; the loader reads."""

    display: str
    base_dir: Path
    groups: dict[str, Group]
    defaults: dict[str, Var]
    file_defaults: dict[str, Var]
    settings: dict[str, Var]

    def fail_at(self, where: str, message: str) -> NoReturn:
        raise InventoryError(f"{where}: {message}")

    def read_vars(
        self, value: Any, path: str, *, inventory_wide: bool, base: str | None = None
    ) -> dict[str, Var]:
        raise NotImplementedError

    def descendants(self) -> dict[str, set[str]]:
        """Every group's transitive children; refuses groups that contain each other."""
        result: dict[str, set[str]] = {}

        def visit(name: str, trail: tuple[str, ...]) -> set[str]:
            if name in trail:
                self.fail_at(
                    self.groups[name].path, f"groups contain each other: {' > '.join((*trail, name))}"
                )
            if name not in result:
                below: set[str] = set()
                for child in self.groups[name].children:
                    below |= {child, *visit(child, (*trail, name))}
                result[name] = below
            return result[name]

        for name in self.groups:
            visit(name, ())
        return result

    def nearest(
        self,
        entry: HostEntry,
        groups: list[Group],
        descendants: dict[str, set[str]],
        *,
        files: bool,
        overridden: set[str],
    ) -> dict[str, Var]:
        """One level of group variables for a host: a child group's beat its parent's."""
        merged: dict[str, Var] = {}
        level = [(g, g.file_vars if files else g.vars) for g in groups]
        for name in sorted({name for _, found in level for name in found} - overridden):
            setters = [(g, found[name]) for g, found in level if name in found]
            nearest = [
                (g, v) for g, v in setters if not any(o.name in descendants[g.name] for o, _ in setters)
            ]
            first_group, first = nearest[0]
            for other_group, other in nearest[1:]:
                if other.value != first.value:
                    self.fail_at(
                        other.path,
                        f"conflicts with {other_of(other.path, first.path)} for host {entry.name}, "
                        "which is in both "
                        f"groups {first_group.name} and {other_group.name}; set {name} on the host",
                    )
            merged[name] = first
        return merged

    def resolve(
        self, entry: HostEntry, groups: list[Group], descendants: dict[str, set[str]]
    ) -> dict[str, Var]:
        """
        Ansible's precedence, lowest first: ``all`` vars in the inventory, group vars in the
        inventory, ``group_vars/all``, ``group_vars/<group>``, host vars in the inventory,
        ``host_vars/<host>``; within group levels a child group's beat its parent's.
        """
        overridden = {*entry.vars, *entry.file_vars}
        from_files = self.nearest(entry, groups, descendants, files=True, overridden=overridden)
        overridden |= {*from_files, *self.file_defaults}
        merged = dict(self.defaults)
        merged.update(self.nearest(entry, groups, descendants, files=False, overridden=overridden))
        merged.update(self.file_defaults)
        merged.update(from_files)
        merged.update(entry.vars)
        merged.update(entry.file_vars)
        return merged

    def build_host(
        self,
        host_name: str,
        v: dict[str, Var],
        roles: frozenset[Role],
        settings: InventorySettings,
        groups: frozenset[str] = frozenset(),
    ) -> Host:
        def get(name: str, default: Any) -> Any:
            return v[name].value if name in v else default

        scheme = Scheme(get("scheme", Scheme.HTTP))
        transport = AuthTransport(get("transport", AuthTransport.NTLM))
        insecure_lab = bool(get("insecure_lab", False))
        connection = self.connection(host_name, v)
        winrm = connection is Connection.WINRM
        if winrm and transport is AuthTransport.BASIC and scheme is Scheme.HTTP and not insecure_lab:
            self.fail_at(
                v["transport"].path,
                f"basic over http sends the password of {host_name} in clear; "
                "use scheme: https, or set insecure_lab: true in a lab",
            )
        if insecure_lab and settings.production:
            self.fail_at(v["insecure_lab"].path, "not allowed in a production inventory (rollup_production)")
        cert_validation = CertValidation(get("cert_validation", CertValidation.VALIDATE))
        unexplained = "cert_validation_reason" not in v
        if cert_validation is CertValidation.IGNORE and settings.production and unexplained:
            self.fail_at(
                v["cert_validation"].path,
                "ignore is not allowed in a production inventory (rollup_production) "
                "unless cert_validation_reason says why",
            )
        operation = get("operation_timeout_s", DEFAULT_OPERATION_TIMEOUT_S)
        read = get("read_timeout_s", DEFAULT_READ_TIMEOUT_S)
        if read <= operation:
            where = v["read_timeout_s"].path if "read_timeout_s" in v else v["operation_timeout_s"].path
            self.fail_at(where, f"read_timeout_s ({read:g}) must exceed operation_timeout_s ({operation:g})")
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
                    self.fail_at(
                        v[name].path,
                        f"is only used with ssh_bastion or ansible_connection: ssh; {host_name} has neither",
                    )
        key_file, known = get("ssh_key_file", None), get("ssh_known_hosts", None)
        return Host(
            name=host_name,
            address=get("address", host_name),
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
            groups=groups,
            insecure_lab=insecure_lab,
            operation_timeout_s=operation,
            read_timeout_s=read,
            vm=vm,
            ssh_bastion=bastion,
            connection=connection,
            ssh_key_file=None if winrm or key_file is None else self.base_dir / key_file,
            ssh_known_hosts=None if winrm or known is None else self.base_dir / known,
        )

    def connection(self, host_name: str, v: dict[str, Var]) -> Connection:
        """WinRM (the default; ``psrp`` too), or SSH, which needs ``ansible_shell_type: powershell``."""
        if "connection" not in v or v["connection"].value != Connection.SSH:
            return Connection.WINRM
        shell = v.get("shell_type")
        if shell is None or shell.value != "powershell":
            self.fail_at(
                v["connection"].path if shell is None else shell.path,
                f"{host_name} is reached over ssh, which rollup supports with ansible_shell_type: "
                "powershell only (OpenSSH for Windows running PowerShell)",
            )
        return Connection.SSH

    def vm_ref(self, var: Var, settings: InventorySettings) -> VmRef:
        """A host's ``vm``, its hypervisor found in ``rollup_hypervisors`` (and of the provider it names)."""
        spec: VmSpec = var.value
        wanted = spec.hypervisor.casefold()
        found = next((h for h in settings.hypervisors if h.name.casefold() == wanted), None)
        if found is None:
            known = ", ".join(h.name for h in settings.hypervisors) or "none"
            self.fail_at(
                join_key(var.path, "hypervisor"),
                f"no hypervisor {spec.hypervisor} in all.vars.rollup_hypervisors (listed: {known})",
            )
        if spec.provider is not None and spec.provider is not found.provider:
            self.fail_at(join_key(var.path, "provider"), f"{found.name} is a {found.provider} hypervisor")
        return VmRef(hypervisor=found.name, name=spec.name)

    def check_vm_unique(self, host: Host, v: dict[str, Var], seen: dict[tuple[str, str], str]) -> None:
        """Refuse two hosts on one VM (a group's ``vm`` shared by its hosts, or a copy-paste)."""
        if host.vm is None:
            return
        key = (host.vm.hypervisor.casefold(), host.vm.name.casefold())
        if key in seen:
            other = seen[key]
            self.fail_at(v["vm"].path, f"VM {quote(host.vm.name)} on {host.vm.hypervisor} is {other}'s too")
        seen[key] = host.name

    def read_hypervisors(self, var: Var, settings: InventorySettings) -> tuple[Hypervisor, ...]:
        """
        ``rollup_hypervisors``: each entry's provider and its connection, built as a host without
        roles. A Hyper-V host is reached over WinRM and inherits ``all.vars`` as hosts do; a
        vSphere server is not a WinRM host, so it inherits nothing and is reached over https.
        """
        found: dict[str, Hypervisor] = {}
        for name, body in var.value.items():
            path = join_key(var.path, name)
            if not isinstance(name, str) or not DNS_NAME.match(name) or name.endswith("."):
                self.fail_at(path, f"not a valid host name ({HOST_NAME_RULE})")
            if name.casefold() in found:
                self.fail_at(
                    path, f"also listed as {found[name.casefold()].name}; names are case-insensitive"
                )
            if not isinstance(body, dict) or "provider" not in body:
                self.fail_at(
                    path, "must be a mapping with provider (hyperv or vmware) and connection variables"
                )
            own = dict(body)
            provider = own.pop("provider")
            if provider not in tuple(VmProvider):
                self.fail_at(join_key(path, "provider"), f"must be one of {', '.join(VmProvider)}")
            api = own.pop("hyperv_api", HyperVApi.AUTO)
            if provider != VmProvider.HYPERV and "hyperv_api" in body:
                self.fail_at(join_key(path, "hyperv_api"), "only for provider hyperv")
            if api not in tuple(HyperVApi):
                self.fail_at(join_key(path, "hyperv_api"), f"must be one of {', '.join(HyperVApi)}")
            own_vars = self.read_vars(own, "", inventory_wide=False, base=path)
            if "vm" in own_vars:
                self.fail_at(own_vars["vm"].path, "a hypervisor is not a lab VM")
            if provider == VmProvider.VMWARE:
                scheme = own_vars.get("scheme")
                if scheme is not None and scheme.value != Scheme.HTTPS:
                    self.fail_at(scheme.path, "vSphere is reached over https only")
                merged = {"scheme": Var(Scheme.HTTPS.value, path), "port": Var(443, path), **own_vars}
            else:
                inherited = {**self.defaults, **self.file_defaults}
                merged = {**{k: d for k, d in inherited.items() if k != "vm"}, **own_vars}
            connection = self.build_host(name, merged, frozenset(), settings)
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
            path = strategy.path if strategy else f"{self.display}: all.vars"
            self.fail_at(path, "the command strategy needs rollup_deployment_tool_command")
        if command is not None and settings.deployment_tool_strategy != "command":
            self.fail_at(command.path, "only used with rollup_deployment_tool_strategy: command")
        hypervisors = self.settings.get("rollup_hypervisors")
        if hypervisors is not None:
            settings = replace(settings, hypervisors=self.read_hypervisors(hypervisors, settings))
        return settings
