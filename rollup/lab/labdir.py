"""
A lab's state directory: its layout, ``lab.json``, the account, the addresses, the inventory.

::

    DIR/lab.json          the hosts (roles, address, ports, OS), the account's user name, the scenario
    DIR/hosts/NAME.json   each host's state (``rollup.lab.store.FileStateStore``)
    DIR/blobs/            file contents by SHA-256 (``FileBlobStore``)
    DIR/package/          the rollup's 22 MSIs at the KB's sizes, for the controller
    DIR/certs/            each host's HTTPS certificate
    DIR/ssh/              the hosts' SSH host key, its known_hosts, and the lab's client key
    DIR/inventory.yml     an inventory of the lab for ``--inventory``
    DIR/lab-password      the lab's own random password (mode 0600), when no variable gives one
    DIR/lab.lock          held (flock) by the process creating or serving the lab
    DIR/lab.pid           the serving process's pid, while it serves
    DIR/lab.log           what the serving process logs

``lab.json`` is written last when a lab is created, so its presence means a complete lab.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rollup.errors import ConfigError, UsageError
from rollup.lab.scenario import Scenario
from rollup.lab.store import atomic_write
from rollup.lab.wsman import WindowsVersion
from rollup.load import validation_message
from rollup.model.roles import Role
from rollup.secret import Secret

USER_ENV = "ROLLUP_LAB_USER"
PASSWORD_ENV = "ROLLUP_LAB_PASSWORD"  # noqa: S105 - the name of a variable, not a password
DEFAULT_USER = "HOSTING\\rollup-lab"
PASSWORD_PREFIX = "Rollup-Lab-"  # noqa: S105 - the start of each lab's own password, not a password
"""Each lab's password, when ``ROLLUP_LAB_PASSWORD`` is not set, is this and 16 random characters."""
HTTP_PORT = 5985
HTTPS_PORT = 5986
SSH_PORT = 2222
"""Every host's SSH port, on its own address (``rollup.lab.sshserver``; 22 would need root)."""
LAB_PORTS = (HTTP_PORT, HTTPS_PORT, SSH_PORT)
"""Every port a lab host listens on, on its address."""
FIRST_ADDRESS = "127.0.2.1"
"""Where the lab's addresses start by default (127.0.0.x and 127.0.1.x are never used)."""
_RESERVED = ipaddress.ip_network("127.0.0.0/23")


@dataclass(frozen=True, slots=True)
class LabPaths:
    """The files of the lab in ``root``."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "lab.json"

    @property
    def hosts(self) -> Path:
        return self.root / "hosts"

    @property
    def blobs(self) -> Path:
        return self.root / "blobs"

    @property
    def package(self) -> Path:
        return self.root / "package"

    @property
    def certs(self) -> Path:
        return self.root / "certs"

    @property
    def ssh(self) -> Path:
        return self.root / "ssh"

    @property
    def inventory(self) -> Path:
        return self.root / "inventory.yml"

    @property
    def password(self) -> Path:
        return self.root / "lab-password"

    @property
    def lock(self) -> Path:
        return self.root / "lab.lock"

    @property
    def pid(self) -> Path:
        return self.root / "lab.pid"

    @property
    def log(self) -> Path:
        return self.root / "lab.log"


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LabHost(_Frozen):
    """One simulated host as ``lab.json`` records it."""

    name: str
    roles: tuple[Role, ...]
    address: str
    http_port: Annotated[int, Field(ge=1, le=65535)] = HTTP_PORT
    https_port: Annotated[int, Field(ge=1, le=65535)] | None = HTTPS_PORT
    os: WindowsVersion = WindowsVersion.SERVER_2003_SP2


LAB_FORMAT = 2
"""
The host model this rollup builds labs with. 2: site certificates, installed files with their
versions, boot times. A lab of another format (made by another rollup version) is refused by
``read_config``: its hosts lack what this version's scripts read.
"""


class StaleLab(ConfigError):
    """The lab was made by a rollup whose host model differs (``LabConfig.format``)."""


class LabConfig(_Frozen):
    """``lab.json``: everything about a lab but its hosts' states. It never holds a password."""

    format: int = LAB_FORMAT
    """The lab's layout (``LAB_FORMAT``); a lab made by a rollup with another one is not reused."""
    created_at: datetime
    manifest_id: str
    manifest_digest: str
    collab: int
    user: str
    credential_source: Literal["env", "file"]
    """Where the password is: ``ROLLUP_LAB_PASSWORD``, or the ``lab-password`` file (the default)."""
    hosts: tuple[LabHost, ...]
    scenario_source: str | None = None
    scenario: Scenario = Scenario()
    ssh_hosts: tuple[str, ...] = ()
    """The hosts the inventory reaches over SSH (``lab up --ssh-hosts``); every host serves SSH."""

    def host(self, name: str) -> LabHost:
        """The host called ``name`` (any case).

        Raises:
            UsageError: no such host, naming the lab's hosts.
        """
        for host in self.hosts:
            if host.name.casefold() == name.casefold():
                return host
        shown = ", ".join(h.name for h in self.hosts[:8]) + (", ..." if len(self.hosts) > 8 else "")
        raise UsageError(f"no host {name!r} in the lab (its hosts: {shown})")


def read_config(paths: LabPaths) -> LabConfig:
    """
    The lab's ``lab.json``.

    Raises:
        UsageError: there is no lab in the directory.
        ConfigError: the file is not a lab's.
    """
    try:
        raw = paths.config.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{paths.root}: no lab here (no lab.json); create one with rollup lab up") from None
    except OSError as exc:
        raise ConfigError(f"{paths.config}: cannot be read: {exc.strerror}") from None
    try:
        config = LabConfig.model_validate_json(raw)
    except ValidationError as exc:
        raise ConfigError(validation_message(exc, source=str(paths.config))) from None
    if config.format != LAB_FORMAT:
        raise StaleLab(
            f"{paths.root}: this lab was made by another rollup version (lab format {config.format}; "
            f"this one makes format {LAB_FORMAT})",
            hint=f"stop it (rollup lab down --state-dir {paths.root}), remove the folder, then rollup lab up",
        )
    return config


def write_config(paths: LabPaths, config: LabConfig) -> None:
    """Write ``lab.json`` atomically."""
    atomic_write(paths.config, config.model_dump_json(indent=2).encode("utf-8") + b"\n")


# ---- the account -------------------------------------------------------------------------------


def lab_user(env: Mapping[str, str], stored: str | None = None) -> str:
    """
    The lab account: ``ROLLUP_LAB_USER``, else the one the lab was created with, else the default.

    Raises:
        UsageError: the variable names another account than the lab was created with (the
            hosts' Domain Admins and the simulations know that one).
    """
    given = env.get(USER_ENV, "").strip()
    if stored is not None and given and given.casefold() != stored.casefold():
        raise UsageError(f"{USER_ENV} is {given!r}, but this lab was created for {stored!r}")
    return stored or given or DEFAULT_USER


def password_source(env: Mapping[str, str]) -> Literal["env", "file"]:
    """``env`` when ``ROLLUP_LAB_PASSWORD`` is set (and not empty), else ``file``."""
    return "env" if env.get(PASSWORD_ENV) else "file"


def write_default_password(paths: LabPaths) -> None:
    """
    Write a password of this lab's own to ``lab-password``, readable by its owner only: two labs
    never share an account, so a run meant for one lab cannot act on another that took over its
    addresses.
    """
    import secrets

    password = PASSWORD_PREFIX + secrets.token_urlsafe(12)
    atomic_write(paths.password, (password + "\n").encode("utf-8"), mode=0o600)
    paths.password.chmod(0o600)


def lab_password(config: LabConfig, paths: LabPaths, env: Mapping[str, str]) -> Secret:
    """
    The password the lab's hosts accept.

    Raises:
        UsageError: the lab was started with ``ROLLUP_LAB_PASSWORD`` and it is not set now.
    """
    if config.credential_source == "env":
        value = env.get(PASSWORD_ENV)
        if not value:
            raise UsageError(f"{PASSWORD_ENV} is not set, and the lab's inventory refers to it")
        return Secret(value)
    try:
        return Secret(paths.password.read_text(encoding="utf-8").strip())
    except OSError as exc:
        raise ConfigError(f"{paths.password}: cannot be read: {exc.strerror}") from None


# ---- addresses ---------------------------------------------------------------------------------


def host_addresses(first: str, count: int) -> list[str]:
    """
    ``count`` loopback addresses from ``first`` up, skipping those ending in .0 or .255 and the
    reserved 127.0.0.x and 127.0.1.x (127.0.0.1 is every local service's, 127.0.1.1 Debian's
    host name).

    Raises:
        UsageError: ``first`` is not a loopback address, or the range runs out of 127.0.0.0/8.
    """
    try:
        current = ipaddress.IPv4Address(first)
    except ValueError:
        raise UsageError(f"--first-address {first!r}: not an IPv4 address") from None
    if not current.is_loopback:
        raise UsageError(f"--first-address {first}: not a loopback address (127.0.0.0/8)")
    found: list[str] = []
    while len(found) < count:
        if not current.is_loopback:
            raise UsageError(f"--first-address {first}: {count} hosts do not fit below 127.255.255.254")
        if current not in _RESERVED and current.packed[3] not in (0, 255):
            found.append(str(current))
        current += 1
    return found


def free_first_address(count: int, ports: Sequence[int], start_at: str = FIRST_ADDRESS) -> str:
    """
    The first block of ``count`` addresses from ``start_at`` whose ``ports`` nobody listens on,
    in steps of whole /24 networks (another lab on this machine keeps its own block).

    Raises:
        UsageError: no free block is left in 127.0.0.0/8.
    """
    blocks = -(-count // 254)
    start = ipaddress.IPv4Address(start_at)
    while True:
        first = str(start)
        addresses = host_addresses(first, count)
        if all(_free(address, port) for address in addresses for port in ports):
            return first
        start += 256 * blocks


def _free(address: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds
        try:
            probe.bind((address, port))
        except OSError:
            return False
    return True


# ---- the inventory -----------------------------------------------------------------------------


def inventory_text(config: LabConfig, *, site_command: str, package_dir: str = "package") -> str:
    """
    An inventory of the lab in the project's format (docs/inventory.md): NTLM over HTTP, or SSH
    for the hosts in ``config.ssh_hosts`` (their key checked against ``ssh/known_hosts``), the
    password by reference (the variable, or the ``lab-password`` file beside it), the
    Deployment Tool driven by the lab's site command, and the controller's package folder.
    """
    reference = {"env": PASSWORD_ENV} if config.credential_source == "env" else {"file": "lab-password"}
    groups: dict[str, dict[str, Any]] = {}
    described: set[str] = set()
    for role in Role:
        members: dict[str, Any] = {}
        for host in config.hosts:
            if role not in host.roles:
                continue
            if host.name in described:
                members[host.name] = None
                continue
            described.add(host.name)
            entry: dict[str, Any] = {"address": host.address}
            if host.name in config.ssh_hosts:
                entry.update(
                    ansible_connection="ssh",
                    ansible_shell_type="powershell",
                    ansible_port=SSH_PORT,
                    ssh_known_hosts="ssh/known_hosts",
                )
            elif host.http_port != HTTP_PORT:
                entry["port"] = host.http_port
            members[host.name] = entry
        if members:
            groups[role.value] = {"hosts": members}
    document = {
        "all": {
            "vars": {
                "rollup_production": False,
                "rollup_deployment_tool_strategy": "command",
                "rollup_deployment_tool_command": site_command,
                "rollup_package_dir": package_dir,
                "rollup_user": config.user,
                "rollup_password": reference,
                "scheme": "http",
                "transport": "ntlm",
            },
            "children": groups,
        }
    }
    head = (
        "# The simulated lab in this folder, written by `rollup lab up` (docs/lab.md); it is\n"
        "# rewritten on every start. WinRM over HTTP with NTLM, which encrypts every message;\n"
        "# SSH (OpenSSH for Windows, PowerShell) for the hosts `lab up --ssh-hosts` names.\n"
    )
    return head + yaml.safe_dump(document, sort_keys=False, default_flow_style=False, width=1000)


# ---- who runs the lab --------------------------------------------------------------------------


class LabLock:
    """
    The lab's exclusive lock (``flock`` on ``lab.lock``): held while a lab is created, and for
    the whole life of the process serving it, so two never run on one directory. The kernel
    releases it when the holder dies, so a crashed lab never looks alive.
    """

    def __init__(self, paths: LabPaths) -> None:
        self._path = paths.lock
        self._descriptor: int | None = None

    def acquire(self) -> bool:
        """Take the lock if free; whether it was taken."""
        descriptor = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            return False
        self._descriptor = descriptor
        return True

    def release(self) -> None:
        """Let the lock go (idempotent)."""
        if self._descriptor is not None:
            os.close(self._descriptor)
            self._descriptor = None

    def is_held_elsewhere(self) -> bool:
        """Whether another process holds the lock now (a lab is being created or served)."""
        if not self.acquire():
            return True
        self.release()
        return False


def read_pid(paths: LabPaths) -> int | None:
    """The pid in ``lab.pid``, or ``None`` when there is no readable one."""
    with contextlib.suppress(OSError, ValueError):
        return int(paths.pid.read_text(encoding="ascii").strip())
    return None


def write_pid(paths: LabPaths, pid: int) -> None:
    """Write ``lab.pid`` atomically."""
    atomic_write(paths.pid, f"{pid}\n".encode("ascii"))


def remove_pid(paths: LabPaths) -> None:
    """Remove ``lab.pid`` if it is there."""
    with contextlib.suppress(FileNotFoundError):
        paths.pid.unlink()
