"""
The variables an inventory may set, and the checks of their values.

Every host variable has a rollup name (``address``), which may also be written ``rollup_<name>``,
and its Ansible spellings (``ansible_host``); inventory-wide settings are ``rollup_<field>`` under
``all.vars``. Each check takes the value as written and returns it checked (or raises
``ValueError`` with a message that does not repeat the value); ``rollup.model.inventory_loader``
names the file and key path.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rollup.credentials import parse_reference
from rollup.load import quote
from rollup.model.inventory import AuthTransport, CertValidation, Scheme, VmProvider

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


_NETBIOS = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,14}\Z")
_SID = re.compile(r"S-1-5-21-\d{1,10}-\d{1,10}-\d{1,10}\Z", re.IGNORECASE)


def _computer_name(value: Any) -> str:
    if not isinstance(value, str) or not _NETBIOS.match(value):
        raise ValueError("must be a computer name (letters, digits and hyphens, at most 15 characters)")
    return value


_DOMAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,62}(\.[A-Za-z0-9][A-Za-z0-9-]{0,62})*\Z")


def _domain(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 253 or not _DOMAIN.match(value):
        raise ValueError("must be a domain name such as hosting.local or HOSTING")
    return value


def _machine_id(value: Any) -> str:
    if not isinstance(value, str) or not _SID.match(value):
        raise ValueError("must be a machine SID such as S-1-5-21-1004336348-1177238915-682003330")
    return value


def _template(value: Any) -> str:
    from rollup.model.steps import check_command_template

    return check_command_template(_text(value))


_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
DNS_NAME = re.compile(rf"(?=.{{1,253}}\Z){_LABEL}(?:\.{_LABEL})*\.?\Z")
_USER_NAME = re.compile(r"[^\"/\[\]:;|=,+*?<>]{1,256}\Z")
HOST_NAME_RULE = "letters, digits and hyphens, in dot-separated labels of at most 63 characters"


def _address(value: Any) -> str:
    if isinstance(value, str):
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            if DNS_NAME.match(value):
                return value
    raise ValueError("must be an IP address or a DNS name")


def _user(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or not _USER_NAME.match(value):
        raise ValueError('must be a Windows user name (DOMAIN\\user or user@domain; none of "/[]:;|=,+*?<>)')
    return value


class NestedValueError(ValueError):
    """A value error about one key inside a mapping value (the error names ``key`` in its path)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True, slots=True)
class VmSpec:
    """A host's ``vm`` as written; checked against ``rollup_hypervisors`` when the host is built."""

    hypervisor: str
    name: str
    provider: VmProvider | None


def _vm(value: Any) -> VmSpec:
    if not isinstance(value, dict):
        raise ValueError("must be a mapping: {hypervisor: NAME, name: VM NAME} (provider optional)")
    for key in value:
        if key not in ("hypervisor", "name", "provider"):
            raise NestedValueError(str(key), "unknown key; expected one of hypervisor, name, provider")
    for key in ("hypervisor", "name"):
        if key not in value:
            raise ValueError(f"{key} is required")
    hypervisor, name, provider = value["hypervisor"], value["name"], value.get("provider")
    if not isinstance(hypervisor, str) or not DNS_NAME.match(hypervisor):
        raise NestedValueError("hypervisor", "must name an entry of all.vars.rollup_hypervisors")
    try:
        _text(name)
    except ValueError as exc:
        raise NestedValueError("name", str(exc)) from None
    if provider is not None and provider not in tuple(VmProvider):
        raise NestedValueError("provider", f"must be one of {', '.join(VmProvider)}")
    return VmSpec(hypervisor, name, None if provider is None else VmProvider(provider))


def _hypervisors(value: Any) -> dict[Any, Any]:
    if not isinstance(value, dict) or not value:
        raise ValueError("must be a mapping of hypervisor names to their provider and connection")
    return value


_BASTION = re.compile(
    r"^(?P<user>[A-Za-z0-9._][A-Za-z0-9._-]{0,63})@(?P<host>[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]+\])(?::(?P<port>[0-9]{1,5}))?$"
)


def _bastion(value: Any) -> tuple[str, str, int]:
    """``user@jumphost[:port]`` as ``(user, host, port)``; an IPv6 address goes in brackets."""
    found = _BASTION.match(value) if isinstance(value, str) else None
    port = int(found["port"]) if found and found["port"] else 22
    if found is None or not 1 <= port <= 65535:
        raise ValueError("must be user@jumphost or user@jumphost:port (port 1-65535)")
    return found["user"], found["host"].strip("[]"), port


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
    "cert_validation_reason": (),
    "computer_name": (),
    "machine_id": (),
    "domain": (),
    "ca_trust_path": ("ansible_winrm_ca_trust_path",),
    "user": ("ansible_user", "ansible_winrm_user"),
    "password": ("ansible_password", "ansible_winrm_password", "ansible_winrm_pass"),
    "insecure_lab": (),
    "vm": (),
    "operation_timeout_s": ("ansible_winrm_operation_timeout_sec",),
    "read_timeout_s": ("ansible_winrm_read_timeout_sec",),
    "ssh_bastion": (),
    "ssh_key_file": ("ansible_ssh_private_key_file", "ansible_private_key_file"),
    "ssh_known_hosts": (),
    "connection": ("ansible_connection",),
    "shell_type": ("ansible_shell_type",),
}
HOST_VARS: dict[str, Check] = {  # password is a credential reference, checked by rollup.credentials
    "address": _address,
    "port": _whole(1, 65535),
    "scheme": _choice(*Scheme),
    "transport": _transport,
    "cert_validation": _choice(*CertValidation),
    "cert_validation_reason": _text,
    "computer_name": _computer_name,
    "machine_id": _machine_id,
    "domain": _domain,
    "ca_trust_path": _text,
    "user": _user,
    "insecure_lab": _bool,
    "operation_timeout_s": _seconds,
    "read_timeout_s": _seconds,
    "vm": _vm,
    "ssh_bastion": _bastion,
    "ssh_key_file": _text,
    "ssh_known_hosts": _text,
    "connection": _choice("winrm", "psrp", "ssh"),
    "shell_type": _text,
}
SPELLINGS = {
    spelling: name
    for name, ansible in _ANSIBLE_NAMES.items()
    for spelling in (name, f"rollup_{name}", *ansible)
}
ANSIBLE_CHECKED: dict[str, Check] = {
    # accepted for compatibility; checked, but rollup's behaviour does not depend on them
    "ansible_winrm_message_encryption": _choice("auto", "always"),
    "ansible_winrm_path": _choice("/wsman", "wsman"),
}
SETTINGS: dict[str, Check] = {
    "rollup_production": _bool,
    "rollup_collab_wave_size": _whole(1, 1000),
    "rollup_deployment_tool_strategy": _choice("manual", "command"),
    "rollup_deployment_tool_command": _template,
    "rollup_shared_oab": _choice("auto", "always", "never"),
    "rollup_reboot_policy": _choice("stop", "reboot", "ignore"),
    "rollup_package_dir": _text,
    "rollup_hypervisors": _hypervisors,
    "rollup_rehearsal_max_age_days": _whole(1, 3650),
}
_NUMBER_CHECKS = frozenset({
    HOST_VARS["port"], HOST_VARS["operation_timeout_s"], HOST_VARS["read_timeout_s"],
    SETTINGS["rollup_collab_wave_size"], SETTINGS["rollup_rehearsal_max_age_days"],
})  # fmt: skip
_KNOWN = sorted({*SPELLINGS, *ANSIBLE_CHECKED, *SETTINGS})
DEFAULT_OPERATION_TIMEOUT_S = 20.0
DEFAULT_READ_TIMEOUT_S = 30.0


def connects(key: str) -> bool:
    """Whether ``key`` is a host variable rollup reads or checks (any spelling), not a setting or role."""
    return key in SPELLINGS or key in ANSIBLE_CHECKED


ROLE_VARS = ("rollup_role", "rollup_roles")
"""The variables that give a host roles besides its groups' names (they add up, they do not override)."""


def unknown_variable(key: str) -> str | None:
    """
    The refusal of a variable rollup does not know, or ``None`` when it is simply not rollup's
    (it is then reported as unused): a ``rollup_`` name is rollup's own, so an unknown one is a
    mistake.
    """
    if not key.startswith("rollup_"):
        return None
    close = difflib.get_close_matches(key, [*_KNOWN, *ROLE_VARS], n=1, cutoff=0.75)
    return "unknown rollup variable" + (f" (did you mean {close[0]}?)" if close else "")


def role_names(key: str, raw: Any) -> tuple[str, ...]:
    """The roles ``rollup_role`` (one name) or ``rollup_roles`` (a list, or names split by commas) give."""
    from rollup.model.roles import ROLE_NAMES

    if key == "rollup_role":
        names = [raw] if isinstance(raw, str) else None
    elif isinstance(raw, str):
        names = [part.strip() for part in raw.split(",")]
    else:
        names = raw if isinstance(raw, list) and raw else None
    rule = f"roles are {', '.join(sorted(ROLE_NAMES))}"
    if names is None or not all(isinstance(n, str) for n in names):
        shape = "a role name" if key == "rollup_role" else "a list of role names"
        raise ValueError(f"must be {shape}; {rule}")
    for name in names:
        if name not in ROLE_NAMES:
            raise ValueError(f"{quote(name)} is not a role; {rule}")
    return tuple(names)


@dataclass(frozen=True, slots=True)
class Vaulted:
    """A value encrypted with Ansible Vault, as ``ansible-inventory`` hands it on (still encrypted)."""

    ciphertext: str


def is_template(raw: Any) -> bool:
    """Whether a value holds a Jinja template (``{{ }}``, ``{% %}``), which only Ansible evaluates."""
    if isinstance(raw, str):
        return "{{" in raw or "{%" in raw
    if isinstance(raw, dict):
        return any(is_template(key) or is_template(value) for key, value in raw.items())
    if isinstance(raw, list):
        return any(is_template(item) for item in raw)
    return False


_TRUE = frozenset({"y", "yes", "on", "1", "true", "t"})
_FALSE = frozenset({"n", "no", "off", "0", "false", "f"})
_NUMBERS = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?\Z")


def ansible_typed(check: Check, raw: Any) -> Any:
    """
    A text value as Ansible's connection options read it where rollup expects a boolean or a
    number (an INI file has ``true`` and ``yes`` as text); any other value as it is.
    """
    if not isinstance(raw, str):
        return raw
    text = raw.strip()
    if check is _bool and text.casefold() in _TRUE | _FALSE:
        return text.casefold() in _TRUE
    if check in _NUMBER_CHECKS and _NUMBERS.match(text):
        return float(text) if "." in text else int(text)
    return raw


def has_control(text: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in text)


def check_value(key: str, name: str | None, raw: Any, *, base_dir: Path, typed: bool = False) -> Any:
    """
    The checked value of variable ``key`` (rollup name ``name``, ``None`` for an Ansible variable
    rollup only checks); raises ValueError with a message free of the value. ``typed``: read text
    as Ansible's options do (``ansible_typed``).
    """
    check: Check | None = None
    if key in ANSIBLE_CHECKED:
        check = ANSIBLE_CHECKED[key]
    elif name in SETTINGS:
        check = SETTINGS[name]
    elif name == "password":
        return parse_reference(raw, base_dir=base_dir)
    elif name is not None:
        check = HOST_VARS[name]
    if check is None:
        return None
    return check(ansible_typed(check, raw) if typed else raw)
