"""
Inventories: which hosts play which roles, and how rollup reaches each of them.

The layout is Ansible's inventory (YAML or INI, a file or a folder, or whatever
``ansible-inventory`` reads), so an operator can reuse what they have::

    all:
      vars: {rollup_production: true, rollup_user: HOSTING\\svc-rollup, rollup_password: {env: PW}}
      children:
        deployment_tool: {hosts: {MPS01: {address: 192.0.2.11}}}
        mps_engine: {hosts: {MPS01: null, MPS02: {ansible_host: 192.0.2.12}}}

A host's roles (``rollup.model.roles.Role``) are its groups named after a role and every
``rollup_role``/``rollup_roles`` given to it or its groups; a host with no role is an error, so a
misspelt group cannot quietly leave a host out. Variables resolve by Ansible's precedence,
except that two unrelated groups of one host disagreeing on a variable is refused instead of
settled by name order. The Ansible layout does not map onto one pydantic model (variables have
several spellings, and precedence needs to know where each value came from), so the loader walks
the documents itself (``rollup.model.inventory_sources`` finds them, ``inventory_loader`` walks
them) and checks each value with the small functions of ``rollup.model.inventory_vars``; every
failure is one ``InventoryError`` line naming the file and the key path or line. docs/inventory.md
is the operator's reference for every rule here.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from rollup.credentials import CredentialRef
from rollup.errors import InventoryError, UsageError
from rollup.load import quote
from rollup.model.roles import Role


class Scheme(StrEnum):
    HTTP = "http"
    HTTPS = "https"


class AuthTransport(StrEnum):
    """How a host authenticates; NTLM, Kerberos and CredSSP also encrypt messages over HTTP."""

    NTLM = "ntlm"
    KERBEROS = "kerberos"
    CREDSSP = "credssp"
    BASIC = "basic"


class Connection(StrEnum):
    """How rollup reaches a host (``ansible_connection``): WinRM, or SSH to OpenSSH for Windows."""

    WINRM = "winrm"
    SSH = "ssh"


class CertValidation(StrEnum):
    VALIDATE = "validate"
    IGNORE = "ignore"


class VmProvider(StrEnum):
    """What holds a lab host's virtual machine, and so how rollup snapshots it (docs/rehearse.md)."""

    HYPERV = "hyperv"
    VMWARE = "vmware"


class HyperVApi(StrEnum):
    """How rollup drives a Hyper-V host: its 2012+ cmdlets, 2008/2008 R2 WMI, or whichever it has."""

    AUTO = "auto"
    CMDLETS = "cmdlets"
    WMI = "wmi"


@dataclass(frozen=True, slots=True, kw_only=True)
class VmRef:
    """Where a lab host runs (host variable ``vm``): the hypervisor's inventory name and the VM's name."""

    hypervisor: str
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SshBastion:
    """
    The SSH jump host a host's WinRM goes through (``ssh_bastion: user@jumphost[:port]``):
    rollup opens a ``direct-tcpip`` channel through it to the host's WinRM port. The key is
    ``key_file``, else the SSH agent's or ``~/.ssh``'s; the jump host's own key must be in
    ``known_hosts`` (default ``~/.ssh/known_hosts``): an unknown or changed key is refused.
    """

    user: str
    host: str
    port: int = 22
    key_file: Path | None = None
    known_hosts: Path | None = None

    def describe(self) -> str:
        """``user@host:port``, for messages."""
        return f"{self.user}@{self.host}:{self.port}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Host:
    """One Windows host: its roles and everything needed to open a WinRM session to it."""

    name: str
    address: str
    port: int
    scheme: Scheme
    transport: AuthTransport
    cert_validation: CertValidation
    ca_trust_path: Path | None
    user: str | None
    password: CredentialRef | None
    roles: frozenset[Role]
    insecure_lab: bool
    operation_timeout_s: float
    read_timeout_s: float
    cert_validation_reason: str | None = None
    computer_name: str | None = None
    """The computer name the host must report, when it is not the host name's first label."""
    machine_id: str | None = None
    """The machine SID the host must report (``S-1-5-21-...``), when the inventory pins it."""
    domain: str | None = None
    """The domain the host must be a member of (its DNS name, or that name's first label), if pinned."""
    """Why a production host's certificate is not checked (required with ``cert_validation: ignore``)."""
    vm: VmRef | None = None
    """The virtual machine the host is, in a lab that rehearsals snapshot; ``None`` otherwise."""
    ssh_bastion: SshBastion | None = None
    """The SSH jump host its WinRM connections go through; ``None``: straight to the host."""
    groups: frozenset[str] = frozenset()
    """Every inventory group the host is in, through groups of groups too (``all`` left out)."""
    connection: Connection = Connection.WINRM
    """WinRM (``port`` is WinRM's), or SSH to OpenSSH for Windows with PowerShell (``port`` is SSH's)."""
    ssh_key_file: Path | None = None
    """With ``connection: ssh``: the private key for the host (the password is tried after it)."""
    ssh_known_hosts: Path | None = None
    """With ``connection: ssh``: the known_hosts file that must hold the host's key (else ``~/.ssh``'s)."""

    @property
    def session_name(self) -> str:
        """What reports call the host's session: ``WinRM session`` or ``SSH session``."""
        return "SSH session" if self.connection is Connection.SSH else "WinRM session"

    @property
    def endpoint(self) -> str:
        """The WS-Management URL: ``http://address:port/wsman`` (an IPv6 address in brackets)."""
        address = f"[{self.address}]" if ":" in self.address else self.address
        return f"{self.scheme}://{address}:{self.port}/wsman"


@dataclass(frozen=True, slots=True, kw_only=True)
class Hypervisor:
    """
    A Hyper-V host or a vSphere server holding lab VMs (``all.vars.rollup_hypervisors``).
    ``connection`` is how rollup reaches it, as a host without roles: WinRM for Hyper-V; for
    vSphere, its address, port (443), user, password and certificate settings.
    """

    name: str
    provider: VmProvider
    connection: Host
    hyperv_api: HyperVApi = HyperVApi.AUTO


@dataclass(frozen=True, slots=True, kw_only=True)
class InventorySettings:
    """Inventory-wide settings, from ``all.vars`` (``rollup_<field>``)."""

    production: bool = False
    collab_wave_size: int = 2
    deployment_tool_strategy: str = "manual"
    deployment_tool_command: str | None = None
    shared_oab: str = "auto"
    reboot_policy: str = "stop"
    """What an MSI step does on a host whose restart is pending (``rollup_reboot_policy``): ``stop``
    (fail, naming the reasons), ``reboot`` (restart it through WinRM, wait, go on) or ``ignore``
    (install anyway)."""
    package_dir: Path | None = None
    """The extracted rollup package on the control host (``rollup_package_dir``, relative to the
    inventory file): where ``rollup apply`` reads the files it sends and their MSI properties."""
    hypervisors: tuple[Hypervisor, ...] = ()
    """Where the lab's VMs are (``rollup_hypervisors``), for ``rollup rehearse``."""
    rehearsal_max_age_days: int = 14
    """How old a passing rehearsal may be for a production apply (``rollup_rehearsal_max_age_days``)."""


@dataclass(frozen=True, slots=True)
class UnusedVar:
    """A variable the inventory sets that rollup does not read, and where it is set."""

    name: str
    where: str


@dataclass(frozen=True, slots=True)
class Inventory:
    """A loaded, validated inventory. ``hosts`` keeps file order; host names are case-insensitive."""

    source: str
    hosts: tuple[Host, ...]
    settings: InventorySettings = field(default_factory=InventorySettings)
    unused: tuple[UnusedVar, ...] = ()
    """Every variable rollup does not use, once per place it is set, in reading order."""

    @property
    def production(self) -> bool:
        return self.settings.production

    def host(self, name: str) -> Host:
        """The host called ``name`` (any case). Raises InventoryError if there is none."""
        for host in self.hosts:
            if host.name.casefold() == name.casefold():
                return host
        raise InventoryError(f"{self.source}: no host named {quote(name)}")

    def hosts_in(self, role: Role) -> tuple[Host, ...]:
        """The hosts playing ``role``, in file order."""
        return tuple(host for host in self.hosts if role in host.roles)

    def roles_of(self, name: str) -> frozenset[Role]:
        return self.host(name).roles

    def hypervisor(self, name: str) -> Hypervisor:
        """The hypervisor called ``name`` (any case). Raises InventoryError if there is none."""
        for hypervisor in self.settings.hypervisors:
            if hypervisor.name.casefold() == name.casefold():
                return hypervisor
        raise InventoryError(f"{self.source}: all.vars.rollup_hypervisors: no hypervisor {quote(name)}")

    def select(self, limit: str | None) -> Inventory:
        """
        The inventory restricted to the hosts an Ansible ``--limit`` pattern selects.

        ``limit`` is terms separated by ``,`` or ``:``: host or role names (any case), shell
        globs (``COLLAB0*``), ``all``; ``&term`` intersects, ``!term`` excludes. As in Ansible,
        plain terms are united first, then intersections, then exclusions, whatever their order.

        Raises:
            UsageError: a term matches nothing, or the whole pattern selects no host.
        """
        if limit is None:
            return self
        terms = [term.strip() for term in re.split(r"[,:]", limit) if term.strip()]
        if not terms:
            raise UsageError("--limit: the pattern is empty")
        plain = [term for term in terms if term[0] not in "!&"]
        chosen = set().union(*(self._match(term) for term in plain)) if plain else set(self._names())
        for term in terms:
            if term[0] == "&":
                chosen &= self._match(term[1:].strip())
            elif term[0] == "!":
                chosen -= self._match(term[1:].strip())
        if not chosen:
            raise UsageError(f"--limit {quote(limit)}: selects no host")
        return replace(self, hosts=tuple(host for host in self.hosts if host.name in chosen))

    def digest(self) -> str:
        """
        sha256 over host names, roles and connection settings, independent of file order.

        Leaves out secrets, local file locations (``ca_trust_path``, ``{file: PATH}``) and the
        reference targets, which may differ between workstations for the same fleet.
        """
        rows = []
        for host in sorted(self.hosts, key=lambda h: h.name.casefold()):
            row: dict[str, Any] = {f.name: getattr(host, f.name) for f in fields(host)}
            row["roles"] = sorted(host.roles)
            row["password"] = host.password.kind if host.password else None
            row["ca_trust_path"] = host.ca_trust_path is not None
            del row["vm"]  # where a lab VM runs is not how rollup connects to it
            del row["groups"]  # the operator's own grouping; roles say what a host is
            for name in ("connection", "ssh_key_file", "ssh_known_hosts"):
                if row[name] == _SSH_DEFAULTS[name]:  # inventories without SSH keep their digest
                    del row[name]
            rows.append(row)
        text = json.dumps(rows, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def _names(self) -> Iterable[str]:
        return (host.name for host in self.hosts)

    def _match(self, term: str) -> set[str]:
        if not term:
            raise UsageError("--limit: '!' and '&' must be followed by a name")
        if term.startswith("~"):
            raise UsageError(f"--limit {quote(term)}: regular expressions are not supported; use globs")
        pattern = term.casefold()
        if pattern in ("all", "*"):
            return set(self._names())
        found = {h.name for h in self.hosts if fnmatch.fnmatchcase(h.name.casefold(), pattern)}
        for role in Role:
            if fnmatch.fnmatchcase(role.value, pattern):
                found.update(h.name for h in self.hosts_in(role))
        for host in self.hosts:
            if any(fnmatch.fnmatchcase(group.casefold(), pattern) for group in host.groups):
                found.add(host.name)
        if not found:
            raise UsageError(f"--limit {quote(term)}: matches no host or group")
        return found


_SSH_DEFAULTS: dict[str, Any] = {
    "connection": Connection.WINRM,
    "ssh_key_file": None,
    "ssh_known_hosts": None,
}


def load_inventory(
    ref: str, *, base_dir: Path | None = None, vault_password_file: Path | None = None
) -> Inventory:
    """
    Load and validate an inventory (``rollup.model.inventory_sources`` says which sources, and
    which of them are read through ``ansible-inventory``).

    Args:
        ref: a NAME (``inventory/NAME.yml``, ``.yaml``, ``.ini`` or the folder ``inventory/NAME``
            under ``base_dir``), a path (a file or a folder, relative to ``base_dir``), or
            ``ansible:SOURCE`` for any source ``ansible-inventory`` reads.
        base_dir: defaults to the current directory.
        vault_password_file: handed to ``ansible-inventory``; its use makes the source read by it.

    Raises:
        InventoryError: one line naming the file and the key path or line.
    """
    from rollup.model.inventory_sources import read_inventory

    return read_inventory(
        ref, base_dir=Path.cwd() if base_dir is None else base_dir, vault_password_file=vault_password_file
    )


def parse_inventory(
    data: Any, *, source: str, base_dir: Path, group_vars: Sequence[Any] = (), host_vars: Sequence[Any] = ()
) -> Inventory:
    """
    Validate a parsed YAML document (``base_dir``: where file references are relative to), with
    the ``group_vars``/``host_vars`` files beside it (``rollup.model.inventory_side.SideVars``).
    """
    from rollup.model.inventory_loader import Loader
    from rollup.model.inventory_side import Document

    return Loader(source, base_dir).load([Document(source, data)], group_vars=group_vars, host_vars=host_vars)
