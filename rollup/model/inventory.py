"""
Inventories: which hosts play which roles, and how rollup reaches each of them.

The file layout is Ansible's YAML inventory, so an operator can reuse what they have::

    all:
      vars: {rollup_production: true, rollup_user: HOSTING\\svc-rollup, rollup_password: {env: PW}}
      children:
        deployment_tool: {hosts: {MPS01: {address: 192.0.2.11}}}
        mps_engine: {hosts: {MPS01: null, MPS02: {ansible_host: 192.0.2.12}}}

Groups are roles (``rollup.model.roles.Role``) and nothing else, so a typo in a group name is an
error rather than a group that selects no host. A group's ``children`` are roles too, whose hosts
also belong to the parent role. Variables resolve as in Ansible, ``all.vars`` < group vars < host
vars, except that two unrelated groups of one host disagreeing on a variable is refused instead
of settled by name order. The Ansible layout does not map onto one pydantic model (variables have
several spellings, and precedence needs to know where each value came from), so the loader walks
the document itself and checks each value with the small functions below; every failure is one
``InventoryError`` line naming the file and the YAML key path. docs/inventory.md is the
operator's reference for every rule here.
"""

from __future__ import annotations

import difflib
import fnmatch
import hashlib
import ipaddress
import json
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, NoReturn

from rollup.credentials import LITERAL_PASSWORD, CredentialRef, is_literal, is_secret_key, parse_reference
from rollup.errors import InventoryError, UsageError
from rollup.load import read_yaml
from rollup.model.roles import ROLE_NAMES, Role


class Scheme(StrEnum):
    HTTP = "http"
    HTTPS = "https"


class AuthTransport(StrEnum):
    """How a host authenticates; NTLM, Kerberos and CredSSP also encrypt messages over HTTP."""

    NTLM = "ntlm"
    KERBEROS = "kerberos"
    CREDSSP = "credssp"
    BASIC = "basic"


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
    vm: VmRef | None = None
    """The virtual machine the host is, in a lab that rehearsals snapshot; ``None`` otherwise."""

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
    package_dir: Path | None = None
    """The extracted rollup package on the control host (``rollup_package_dir``, relative to the
    inventory file): where ``rollup apply`` reads the files it sends and their MSI properties."""
    hypervisors: tuple[Hypervisor, ...] = ()
    """Where the lab's VMs are (``rollup_hypervisors``), for ``rollup rehearse``."""
    rehearsal_max_age_days: int = 14
    """How old a passing rehearsal may be for a production apply (``rollup_rehearsal_max_age_days``)."""


@dataclass(frozen=True, slots=True)
class Inventory:
    """A loaded, validated inventory. ``hosts`` keeps file order; host names are case-insensitive."""

    source: str
    hosts: tuple[Host, ...]
    settings: InventorySettings = field(default_factory=InventorySettings)

    @property
    def production(self) -> bool:
        return self.settings.production

    def host(self, name: str) -> Host:
        """The host called ``name`` (any case). Raises InventoryError if there is none."""
        for host in self.hosts:
            if host.name.casefold() == name.casefold():
                return host
        raise InventoryError(f"{self.source}: no host named {_quote(name)}")

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
        raise InventoryError(f"{self.source}: all.vars.rollup_hypervisors: no hypervisor {_quote(name)}")

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
            raise UsageError(f"--limit {_quote(limit)}: selects no host")
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
            rows.append(row)
        text = json.dumps(rows, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def _names(self) -> Iterable[str]:
        return (host.name for host in self.hosts)

    def _match(self, term: str) -> set[str]:
        if not term:
            raise UsageError("--limit: '!' and '&' must be followed by a name")
        if term.startswith("~"):
            raise UsageError(f"--limit {_quote(term)}: regular expressions are not supported; use globs")
        pattern = term.casefold()
        if pattern in ("all", "*"):
            return set(self._names())
        found = {h.name for h in self.hosts if fnmatch.fnmatchcase(h.name.casefold(), pattern)}
        for role in Role:
            if fnmatch.fnmatchcase(role.value, pattern):
                found.update(h.name for h in self.hosts_in(role))
        if not found:
            raise UsageError(f"--limit {_quote(term)}: matches no host or group")
        return found


def load_inventory(ref: str, *, base_dir: Path | None = None) -> Inventory:
    """
    Load and validate an inventory.

    Args:
        ref: a NAME (``inventory/NAME.yml`` under ``base_dir``) or a path (it contains ``/`` or
            ends in ``.yml``/``.yaml``; relative to ``base_dir``).
        base_dir: defaults to the current directory.

    Raises:
        InventoryError: one line naming the file and the YAML key path.
    """
    base = Path.cwd() if base_dir is None else base_dir
    if "/" in ref or ref.endswith((".yml", ".yaml")):
        display, path = ref, base / ref
    elif re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", ref):
        display, path = f"inventory/{ref}.yml", base / "inventory" / f"{ref}.yml"
    else:
        raise InventoryError(f"{_quote(ref)}: not an inventory name (letters, digits, _ . -) or a path")
    data = read_yaml(path, error=InventoryError, display=display)
    return parse_inventory(data, source=display, base_dir=path.parent)


def parse_inventory(data: Any, *, source: str, base_dir: Path) -> Inventory:
    """Validate a parsed YAML document (``base_dir``: where file references are relative to)."""
    return _Loader(source, base_dir).load(data)


# ---- variables: spellings and value checks -------------------------------------------------------

Check = Callable[[Any], Any]


def _choice(*options: str) -> Check:
    def check(value: Any) -> Any:
        if value not in options or not isinstance(value, str):
            raise ValueError(f"must be one of {', '.join(options)}")
        return value

    return check


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def _whole(low: int, high: int) -> Check:
    def check(value: Any) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise ValueError(f"must be {low}-{high}")
        return value

    return check


def _seconds(value: Any) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 < value <= 86400:
        raise ValueError("must be a number of seconds, more than 0 and at most 86400")
    return float(value)


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 1024:
        raise ValueError("must be text of 1 to 1024 characters")
    return value


_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DNS_NAME = re.compile(rf"(?=.{{1,253}}\Z){_LABEL}(?:\.{_LABEL})*\.?\Z")
_USER_NAME = re.compile(r"[^\"/\[\]:;|=,+*?<>]{1,256}\Z")
HOST_NAME_RULE = "letters, digits and hyphens, in dot-separated labels of at most 63 characters"


def _address(value: Any) -> str:
    if isinstance(value, str):
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            if _DNS_NAME.match(value):
                return value
    raise ValueError("must be an IP address or a DNS name")


def _user(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or not _USER_NAME.match(value):
        raise ValueError('must be a Windows user name (DOMAIN\\user or user@domain; none of "/[]:;|=,+*?<>)')
    return value


class _NestedValueError(ValueError):
    """A value error about one key inside a mapping value (the error names ``key`` in its path)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True, slots=True)
class _VmSpec:
    """A host's ``vm`` as written; checked against ``rollup_hypervisors`` when the host is built."""

    hypervisor: str
    name: str
    provider: VmProvider | None


def _vm(value: Any) -> _VmSpec:
    if not isinstance(value, dict):
        raise ValueError("must be a mapping: {hypervisor: NAME, name: VM NAME} (provider optional)")
    for key in value:
        if key not in ("hypervisor", "name", "provider"):
            raise _NestedValueError(str(key), "unknown key; expected one of hypervisor, name, provider")
    for key in ("hypervisor", "name"):
        if key not in value:
            raise ValueError(f"{key} is required")
    hypervisor, name, provider = value["hypervisor"], value["name"], value.get("provider")
    if not isinstance(hypervisor, str) or not _DNS_NAME.match(hypervisor):
        raise _NestedValueError("hypervisor", "must name an entry of all.vars.rollup_hypervisors")
    try:
        _text(name)
    except ValueError as exc:
        raise _NestedValueError("name", str(exc)) from None
    if provider is not None and provider not in tuple(VmProvider):
        raise _NestedValueError("provider", f"must be one of {', '.join(VmProvider)}")
    return _VmSpec(hypervisor, name, None if provider is None else VmProvider(provider))


def _hypervisors(value: Any) -> dict[Any, Any]:
    if not isinstance(value, dict) or not value:
        raise ValueError("must be a mapping of hypervisor names to their provider and connection")
    return value


def _transport(value: Any) -> str:
    if value in ("plaintext", "ssl"):
        raise ValueError("must be ntlm, kerberos, credssp or basic (pywinrm's plaintext and ssl are basic)")
    return str(_choice(*AuthTransport)(value))


_ANSIBLE_NAMES: dict[str, tuple[str, ...]] = {
    # rollup name: its Ansible spellings; every name may also be written rollup_<name>
    "address": ("ansible_host", "ansible_winrm_host"),
    "port": ("ansible_port", "ansible_winrm_port"),
    "scheme": ("ansible_winrm_scheme",),
    "transport": ("ansible_winrm_transport",),
    "cert_validation": ("ansible_winrm_server_cert_validation",),
    "ca_trust_path": ("ansible_winrm_ca_trust_path",),
    "user": ("ansible_user", "ansible_winrm_user"),
    "password": ("ansible_password", "ansible_winrm_password", "ansible_winrm_pass"),
    "insecure_lab": (),
    "vm": (),
    "operation_timeout_s": ("ansible_winrm_operation_timeout_sec",),
    "read_timeout_s": ("ansible_winrm_read_timeout_sec",),
}
_HOST_VARS: dict[str, Check] = {  # password is a credential reference, checked by rollup.credentials
    "address": _address,
    "port": _whole(1, 65535),
    "scheme": _choice(*Scheme),
    "transport": _transport,
    "cert_validation": _choice(*CertValidation),
    "ca_trust_path": _text,
    "user": _user,
    "insecure_lab": _bool,
    "operation_timeout_s": _seconds,
    "read_timeout_s": _seconds,
    "vm": _vm,
}
_SPELLINGS = {
    spelling: name
    for name, ansible in _ANSIBLE_NAMES.items()
    for spelling in (name, f"rollup_{name}", *ansible)
}
_ANSIBLE_CHECKED: dict[str, Check] = {
    # accepted for compatibility; checked, but rollup's behaviour does not depend on them
    "ansible_connection": _choice("winrm", "psrp"),
    "ansible_winrm_message_encryption": _choice("auto", "always"),
    "ansible_winrm_path": _choice("/wsman", "wsman"),
}
_ANSIBLE_IGNORED = frozenset(  # no bearing on how rollup connects or what it runs
    {
        "ansible_shell_type",
        "ansible_python_interpreter",
        "ansible_winrm_kinit_cmd",
        "ansible_winrm_kinit_mode",
    },
)
_SETTINGS: dict[str, Check] = {
    "rollup_production": _bool,
    "rollup_collab_wave_size": _whole(1, 1000),
    "rollup_deployment_tool_strategy": _choice("manual", "command"),
    "rollup_deployment_tool_command": _text,
    "rollup_shared_oab": _choice("auto", "always", "never"),
    "rollup_package_dir": _text,
    "rollup_hypervisors": _hypervisors,
    "rollup_rehearsal_max_age_days": _whole(1, 3650),
}
_KNOWN = sorted({*_SPELLINGS, *_ANSIBLE_CHECKED, *_ANSIBLE_IGNORED, *_SETTINGS})
DEFAULT_OPERATION_TIMEOUT_S = 20.0
DEFAULT_READ_TIMEOUT_S = 30.0


# ---- the loader --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Var:
    """A checked value and the key path it was set at."""

    value: Any
    path: str


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


class _Loader:
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

    def load(self, data: Any) -> Inventory:
        self.refuse_unsafe_values(data)
        if data is None:
            self.fail("", "the file is empty; an inventory starts with all:")
        if not isinstance(data, dict) or "all" not in data:
            self.fail("", "an inventory is a mapping with the single key all")
        for key in data:
            if key != "all":
                self.fail(_join("", key), "unknown key; groups go under all.children")
        body = self.mapping(data["all"], "all", ("vars", "hosts", "children"))
        all_vars = self.read_vars(body.get("vars"), "all.vars", inventory_wide=True)
        self.settings = {name: var for name, var in all_vars.items() if name in _SETTINGS}
        self.defaults = {name: var for name, var in all_vars.items() if name not in _SETTINGS}
        self.read_hosts(body.get("hosts"), "all.hosts", None)
        children = self.mapping(body.get("children"), "all.children", None)
        for name, child in children.items():
            self.read_group(name, child, _join("all.children", name), ())
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

    def mapping(self, value: Any, path: str, keys: tuple[str, ...] | None) -> dict[Any, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            what = f"a mapping with {', '.join(keys)}" if keys else "a mapping of group names"
            self.fail(path, f"must be {what}")
        for key in value:
            if keys is not None and key not in keys:
                self.fail(_join(path, key), f"unknown key; expected one of {', '.join(keys)}")
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
                    item_path = _join(path, key) if isinstance(node, dict) else f"{path}[{key}]"
                    if isinstance(key, str) and _has_control(key):
                        self.fail(item_path, "the name contains a control character or a line break")
                    if isinstance(key, str) and is_secret_key(key) and is_literal(value):
                        self.fail(item_path, LITERAL_PASSWORD)
                    pending.append((value, item_path))
                stack.extend(reversed(pending))
            elif isinstance(node, str) and _has_control(node):
                self.fail(path, "the value contains a control character or a line break")

    def read_group(self, name: Any, body: Any, path: str, parents: tuple[str, ...]) -> None:
        if name not in ROLE_NAMES:
            self.fail(path, f"unknown group; groups are roles: {', '.join(sorted(ROLE_NAMES))}")
        if name in parents:
            self.fail(path, f"group {name} is inside itself")
        group = self.groups.setdefault(name, _Group(name, path))
        body = self.mapping(body, path, ("hosts", "vars", "children"))
        if body.get("vars") not in (None, {}):
            vars_path = _join(path, "vars")
            if group.vars_path is not None:
                self.fail(vars_path, f"vars of group {name} are also at {group.vars_path}; give them once")
            group.vars = self.read_vars(body["vars"], vars_path, inventory_wide=False)
            group.vars_path = vars_path
        self.read_hosts(body.get("hosts"), _join(path, "hosts"), group)
        children = self.mapping(body.get("children"), _join(path, "children"), None)
        for child, child_body in children.items():
            group.children.add(child)
            self.read_group(child, child_body, _join(path, "children", child), (*parents, name))

    def read_hosts(self, value: Any, path: str, group: _Group | None) -> None:
        if value is None:
            return
        if not isinstance(value, dict):
            self.fail(path, "must be a mapping of host names to their variables")
        for name, body in value.items():
            host_path = _join(path, name)
            if not isinstance(name, str) or not _DNS_NAME.match(name) or name.endswith("."):
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
            key_path = _join(path, key)
            if not isinstance(key, str):
                self.fail(key_path, "a variable name must be text")
            if key in _SETTINGS and not inventory_wide:
                self.fail(key_path, "an inventory-wide setting: only allowed under all.vars")
            name = key if key in _SETTINGS else _SPELLINGS.get(key)
            if name is None and key not in _ANSIBLE_CHECKED and key not in _ANSIBLE_IGNORED:
                self.fail(key_path, _unknown(key))
            try:
                checked = self.check(key, name, raw)
            except _NestedValueError as exc:
                self.fail(_join(key_path, exc.key), str(exc))
            except ValueError as exc:
                self.fail(key_path, str(exc))
            if name is None:
                continue
            if name in found:
                self.fail(key_path, f"sets {name} again (already set by {found[name].path})")
            found[name] = _Var(checked, key_path)
        return found

    def check(self, key: str, name: str | None, raw: Any) -> Any:
        """The checked value of one variable; raises ValueError with a message free of the value."""
        if key in _ANSIBLE_CHECKED:
            return _ANSIBLE_CHECKED[key](raw)
        if name is None:
            return None
        if name in _SETTINGS:
            return _SETTINGS[name](raw)
        if name == "password":
            return parse_reference(raw, base_dir=self.base_dir)
        return _HOST_VARS[name](raw)

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
        if transport is AuthTransport.BASIC and scheme is Scheme.HTTP and not insecure_lab:
            self.fail(
                v["transport"].path,
                f"basic over http sends the password of {entry.name} in clear; "
                "use scheme: https, or set insecure_lab: true in a lab",
            )
        if insecure_lab and settings.production:
            self.fail(v["insecure_lab"].path, "not allowed in a production inventory (rollup_production)")
        operation = get("operation_timeout_s", DEFAULT_OPERATION_TIMEOUT_S)
        read = get("read_timeout_s", DEFAULT_READ_TIMEOUT_S)
        if read <= operation:
            where = v["read_timeout_s"].path if "read_timeout_s" in v else v["operation_timeout_s"].path
            self.fail(where, f"read_timeout_s ({read:g}) must exceed operation_timeout_s ({operation:g})")
        ca_trust = get("ca_trust_path", None)
        vm = self.vm_ref(v["vm"], settings) if "vm" in v else None
        return Host(
            name=entry.name,
            address=get("address", entry.name),
            port=get("port", 5986 if scheme is Scheme.HTTPS else 5985),
            scheme=scheme,
            transport=transport,
            cert_validation=CertValidation(get("cert_validation", CertValidation.VALIDATE)),
            ca_trust_path=None if ca_trust is None else self.base_dir / ca_trust,
            user=get("user", None),
            password=get("password", None),
            roles=roles,
            insecure_lab=insecure_lab,
            operation_timeout_s=operation,
            read_timeout_s=read,
            vm=vm,
        )

    def vm_ref(self, var: _Var, settings: InventorySettings) -> VmRef:
        """A host's ``vm``, its hypervisor found in ``rollup_hypervisors`` (and of the provider it names)."""
        spec: _VmSpec = var.value
        wanted = spec.hypervisor.casefold()
        found = next((h for h in settings.hypervisors if h.name.casefold() == wanted), None)
        if found is None:
            known = ", ".join(h.name for h in settings.hypervisors) or "none"
            self.fail(
                _join(var.path, "hypervisor"),
                f"no hypervisor {spec.hypervisor} in all.vars.rollup_hypervisors (listed: {known})",
            )
        if spec.provider is not None and spec.provider is not found.provider:
            self.fail(_join(var.path, "provider"), f"{found.name} is a {found.provider} hypervisor")
        return VmRef(hypervisor=found.name, name=spec.name)

    def check_vm_unique(self, host: Host, v: dict[str, _Var], seen: dict[tuple[str, str], str]) -> None:
        """Refuse two hosts on one VM (a group's ``vm`` shared by its hosts, or a copy-paste)."""
        if host.vm is None:
            return
        key = (host.vm.hypervisor.casefold(), host.vm.name.casefold())
        if key in seen:
            other = seen[key]
            self.fail(v["vm"].path, f"VM {_quote(host.vm.name)} on {host.vm.hypervisor} is {other}'s too")
        seen[key] = host.name

    def read_hypervisors(self, var: _Var, settings: InventorySettings) -> tuple[Hypervisor, ...]:
        """
        ``rollup_hypervisors``: each entry's provider and its connection, built as a host without
        roles. A Hyper-V host is reached over WinRM and inherits ``all.vars`` as hosts do; a
        vSphere server is not a WinRM host, so it inherits nothing and is reached over https.
        """
        found: dict[str, Hypervisor] = {}
        for name, body in var.value.items():
            path = _join(var.path, name)
            if not isinstance(name, str) or not _DNS_NAME.match(name) or name.endswith("."):
                self.fail(path, f"not a valid host name ({HOST_NAME_RULE})")
            if name.casefold() in found:
                self.fail(path, f"also listed as {found[name.casefold()].name}; names are case-insensitive")
            if not isinstance(body, dict) or "provider" not in body:
                self.fail(path, "must be a mapping with provider (hyperv or vmware) and connection variables")
            own = dict(body)
            provider = own.pop("provider")
            if provider not in tuple(VmProvider):
                self.fail(_join(path, "provider"), f"must be one of {', '.join(VmProvider)}")
            api = own.pop("hyperv_api", HyperVApi.AUTO)
            if provider != VmProvider.HYPERV and "hyperv_api" in body:
                self.fail(_join(path, "hyperv_api"), "only for provider hyperv")
            if api not in tuple(HyperVApi):
                self.fail(_join(path, "hyperv_api"), f"must be one of {', '.join(HyperVApi)}")
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


def _unknown(key: str) -> str:
    if key.startswith("ansible_"):
        return "an Ansible variable rollup does not use (docs/inventory.md lists those it understands)"
    close = difflib.get_close_matches(key, _KNOWN, n=1, cutoff=0.75)
    return "unknown variable" + (f" (did you mean {close[0]}?)" if close else "")


def _has_control(text: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in text)


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_.-]+\Z")


def _join(path: str, *keys: Any) -> str:
    """Extend a dotted key path; a key that is not plain is shown quoted, so the path stays one line."""
    for key in keys:
        if isinstance(key, int) and not isinstance(key, bool) and abs(key) < 10**18:
            segment = str(key)
        else:
            segment = key if isinstance(key, str) and _PLAIN_KEY.match(key) else _quote(key)
        path = f"{path}.{segment}" if path else segment
    return path


def _quote(value: Any) -> str:
    """Any value as one line of ASCII: JSON-quoted, shortened past 80 characters."""
    try:
        text = value if isinstance(value, str) else str(value)
    except ValueError:  # an integer too long to print
        text = "(a very long number)"
    if len(text) > 80:
        text = text[:77] + "..."
    return json.dumps(text)
