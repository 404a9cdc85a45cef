"""
Creating a lab in a state directory, and serving it: every host's WinRM endpoints in one process.

The lab's hosts are those of a small HMC 4.0 deployment: MPS01 (the Deployment Tool, the MPS
engine and the provisioning web services), DNS01, MPSSQL and COLLAB01..N, each on its own
loopback address with WinRM's ports (docs/lab.md). ``prepare_lab`` creates the lab, or brings
an existing one up to date with the options of this start; ``RunningLab`` serves it:
file-backed host states (``rollup.lab.store``), the operations' simulations (``LabRunner``),
the scenario's faults (``rollup.lab.injector``) and the WinRM server (``rollup.lab.wsman``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from rollup.errors import UsageError
from rollup.lab.drift import apply_drift
from rollup.lab.injector import FaultInjector
from rollup.lab.labdir import (
    LAB_PORTS,
    LabConfig,
    LabHost,
    LabPaths,
    free_first_address,
    host_addresses,
    inventory_text,
    lab_password,
    lab_user,
    password_source,
    read_config,
    write_config,
    write_default_password,
)
from rollup.lab.prerollup import prerollup_states, rollup_package
from rollup.lab.runner import DEFAULT_DURATIONS, LabRunner
from rollup.lab.scenario import Scenario, check_hosts, load_scenario
from rollup.lab.sshserver import LabSshServer, SshHost, SshKeys
from rollup.lab.store import FileBlobStore, FileStateStore, atomic_write
from rollup.lab.wsman import Credential, EndpointConfig, LabServer, WindowsVersion
from rollup.model.manifest import load_manifest
from rollup.model.roles import Role
from rollup.ops.deploytool import LAB_TEMPLATE

MAX_COLLAB = 997
"""COLLAB hosts a lab may have (1,000 hosts in all)."""
CACHE_ENV = "ROLLUP_CACHE_DIR"
SITE_COMMAND = LAB_TEMPLATE
"""The inventory's ``rollup_deployment_tool_command``: the lab's site command on MPS01."""
SERVER_WORKERS = 8
"""Threads running simulations; each holds one host's lock while it reads and writes its file."""


RESTART_GRACE_S = 0.5
"""The least time between the run that starts a restart and the host going down: Windows first
stops its services, and the run's answer reaches the client."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LabOptions:
    """What ``rollup lab up`` was asked for; ``None`` keeps what the lab already has."""

    collab: int | None = None
    scenario: Path | None = None
    manifest: Path
    first_address: str | None = None
    time_factor: float | None = None
    latency_ms: float | None = None
    seed: int | None = None
    ssh_hosts: tuple[str, ...] | None = None
    """Host names (any case), or ``all``, that the inventory reaches over SSH; ``()``: none."""


def lab_hosts(collab: int) -> list[tuple[str, frozenset[Role]]]:
    """
    The lab's hosts and roles. MPS01 also plays ``web_services``: the lab has no separate
    provisioning web-services server (docs/lab.md says why).
    """
    hosts = [
        ("MPS01", frozenset({Role.DEPLOYMENT_TOOL, Role.MPS_ENGINE, Role.WEB_SERVICES})),
        ("DNS01", frozenset({Role.DNS})),
        ("MPSSQL", frozenset({Role.MPSSQL})),
    ]
    return hosts + [(f"COLLAB{n:02d}", frozenset({Role.COLLAB})) for n in range(1, collab + 1)]


def msi_cache_dir(env: Mapping[str, str]) -> Path:
    """Where built MSI sets are cached: ``$ROLLUP_CACHE_DIR``, else the user's cache directory."""
    if env.get(CACHE_ENV):
        return Path(env[CACHE_ENV]) / "lab-msi"
    base = Path(env["XDG_CACHE_HOME"]) if env.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    return base / "rollup" / "lab-msi"


def prepare_lab(paths: LabPaths, options: LabOptions, env: Mapping[str, str]) -> LabConfig:
    """
    Create the lab in ``paths.root``, or update an existing one with ``options``; then write the
    account's password file (when no variable gives the password) and the inventory. The caller
    holds the lab's lock.

    Raises:
        UsageError: options that conflict with the existing lab.
        ConfigError: a bad manifest or scenario (one line with its key path).
    """
    scenario = None if options.scenario is None else load_scenario(options.scenario)
    if paths.config.exists():
        config = _reuse(read_config(paths), options, scenario, env)
    else:
        config = _create(paths, options, scenario or Scenario(), env)
    overrides = {
        key: value
        for key, value in (
            ("time_factor", options.time_factor),
            ("latency_ms", options.latency_ms),
            ("seed", options.seed),
        )
        if value is not None
    }
    config = config.model_copy(
        update={
            "scenario": Scenario.model_validate({**config.scenario.model_dump(), **overrides}),
            "credential_source": password_source(env),
        }
    )
    if options.ssh_hosts is not None:
        config = config.model_copy(update={"ssh_hosts": _ssh_hosts(config, options.ssh_hosts)})
    SshKeys(paths.ssh).ensure(ssh_endpoints(config))
    write_config(paths, config)
    if config.credential_source == "file":
        write_default_password(paths)
    text = inventory_text(config, site_command=SITE_COMMAND)
    atomic_write(paths.inventory, text.encode("utf-8"))
    return config


def move_lab(paths: LabPaths, config: LabConfig) -> LabConfig:
    """
    The lab in ``paths`` on the first block of loopback addresses (from ``FIRST_ADDRESS`` up) that
    nobody listens on, its hosts in the same order; its config, known_hosts and inventory are
    rewritten. The caller holds the lab's lock.
    """
    first = free_first_address(len(config.hosts), LAB_PORTS)
    addresses = host_addresses(first, len(config.hosts))
    hosts = tuple(
        host.model_copy(update={"address": address})
        for host, address in zip(config.hosts, addresses, strict=True)
    )
    moved = config.model_copy(update={"hosts": hosts})
    SshKeys(paths.ssh).ensure(ssh_endpoints(moved))
    write_config(paths, moved)
    atomic_write(paths.inventory, inventory_text(moved, site_command=SITE_COMMAND).encode("utf-8"))
    return moved


def _ssh_hosts(config: LabConfig, names: tuple[str, ...]) -> tuple[str, ...]:
    """The lab's names of ``names`` (``all``: every host), in the lab's order."""
    known = {host.name.casefold(): host.name for host in config.hosts}
    wanted = {name.casefold() for name in names}
    if "all" in wanted:
        return tuple(known.values())
    unknown = sorted(name for name in names if name.casefold() not in known)
    if unknown:
        raise UsageError(
            f"--ssh-hosts: no host {unknown[0]!r} in the lab (its hosts: {', '.join(known.values())})"
        )
    return tuple(name for key, name in known.items() if key in wanted)


def ssh_endpoints(config: LabConfig) -> list[SshHost]:
    """Every host's SSH endpoint."""
    return [SshHost(host.name, host.address, WindowsVersion(host.os)) for host in config.hosts]


def _reuse(
    config: LabConfig, options: LabOptions, scenario: Scenario | None, env: Mapping[str, str]
) -> LabConfig:
    if options.collab is not None and options.collab != config.collab:
        raise UsageError(
            f"--collab {options.collab}: this lab has {config.collab} COLLAB hosts; leave --collab out "
            "to start it, or use another --state-dir"
        )
    if options.first_address is not None and options.first_address != config.hosts[0].address:
        raise UsageError(
            f"--first-address {options.first_address}: the lab's addresses start at {config.hosts[0].address}"
        )
    lab_user(env, config.user)
    if scenario is None:
        return config
    source = str(options.scenario)
    if scenario.drift != config.scenario.drift:
        raise UsageError(
            f"{source}: its drift differs from the drift this lab was created with; drift applies "
            "only when a lab is created (use another --state-dir)"
        )
    check_hosts(scenario, [h.name for h in config.hosts], source=source)
    return config.model_copy(update={"scenario": scenario, "scenario_source": source})


def _create(paths: LabPaths, options: LabOptions, scenario: Scenario, env: Mapping[str, str]) -> LabConfig:
    collab = 2 if options.collab is None else options.collab
    if not 1 <= collab <= MAX_COLLAB:
        raise UsageError(f"--collab {collab}: must be 1-{MAX_COLLAB}")
    hosts = lab_hosts(collab)
    names = [name for name, _ in hosts]
    source = str(options.scenario) if options.scenario is not None else "scenario"
    check_hosts(scenario, names, source=source)
    manifest = load_manifest(options.manifest)
    first = options.first_address or free_first_address(len(hosts), LAB_PORTS)
    addresses = host_addresses(first, len(hosts))
    user = lab_user(env)
    cache = msi_cache_dir(env)
    blobs = FileBlobStore(paths.blobs)
    states = prerollup_states(manifest, hosts, blobs=blobs, msi_cache_dir=cache, admin=user)
    apply_drift(states, scenario.drift, blobs, source=source)
    if paths.hosts.exists():  # what an interrupted creation left
        shutil.rmtree(paths.hosts)
    FileStateStore.create(paths.hosts, states)
    _copy_package(rollup_package(manifest, cache), paths.package)
    return LabConfig(
        created_at=datetime.now(UTC),
        manifest_id=manifest.metadata.id,
        manifest_digest=manifest.digest(),
        collab=collab,
        user=user,
        credential_source=password_source(env),
        hosts=tuple(
            LabHost(name=name, roles=tuple(r for r in Role if r in roles), address=address)
            for (name, roles), address in zip(hosts, addresses, strict=True)
        ),
        scenario_source=None if options.scenario is None else source,
        scenario=scenario,
    )


def _copy_package(files: Mapping[str, Path], folder: Path) -> None:
    """The controller's copy of the package: each file with its size and modification time."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for name, path in files.items():
        shutil.copy2(path, folder / name)


class RunningLab:
    """
    A lab being served: ``start`` returns once every listener accepts connections, ``stop``
    finishes the operations in progress (their effects are saved) and lifts the scenario's
    timed conditions.
    """

    def __init__(self, paths: LabPaths, config: LabConfig, env: Mapping[str, str] = os.environ) -> None:
        """
        Raises:
            UsageError: the password's variable is not set although the lab's inventory names it.
        """
        self.paths = paths
        self.config = config
        password = lab_password(config, paths, env)
        names = [host.name for host in config.hosts]
        self.store = FileStateStore(paths.hosts, names)
        self.blobs = FileBlobStore(paths.blobs)
        scenario = config.scenario
        self.injector = FaultInjector(scenario, names, self.store)
        self.runner = LabRunner(
            self.store,
            self.blobs,
            durations={**DEFAULT_DURATIONS, **scenario.durations},
            time_factor=scenario.time_factor,
            before=self.injector.before,
            user=config.user,
            restart=self._restart_later,
        )
        accounts = (Credential(config.user, password),)
        self.server = LabServer(
            [
                EndpointConfig(
                    host.name,
                    host.address,
                    accounts,
                    self.runner,
                    port=host.http_port,
                    https_port=host.https_port,
                    os=WindowsVersion(host.os),
                    hook=self.injector.request_hook(host.name),
                    latency_s=scenario.latency_s(host.name),
                    on_restart=self.runner.restarted,
                )
                for host in config.hosts
            ],
            cert_dir=paths.certs,
            workers=SERVER_WORKERS,
        )
        keys = SshKeys(paths.ssh)
        self.ssh = LabSshServer(
            ssh_endpoints(config), self.runner, accounts, keys.load_host_key(), keys.load_client_key()
        )

    def _restart_later(self, host: str, after_s: float, down_s: float) -> None:
        """``host`` restarts: ``after_s`` from now (``RESTART_GRACE_S`` at least) for ``down_s``."""
        timer = threading.Timer(max(after_s, RESTART_GRACE_S), self._go_down, (host, down_s))
        timer.daemon = True
        timer.start()

    def _go_down(self, host: str, down_s: float) -> None:
        with contextlib.suppress(RuntimeError):  # the lab stopped meanwhile: nothing to restart
            self.ssh.set_down(host, down_s)
            self.server.endpoint(host).set_down(down_s)

    def start(self) -> None:
        """
        Listen on every host's ports.

        Raises:
            AddressTaken: another program listens on an address and port (nothing is left listening).
            ConfigError: an address cannot be listened on for another reason.
        """
        self.server.start()
        try:
            self.ssh.start()
        except BaseException:
            self.server.stop()
            raise

    def stop(self) -> None:
        """Finish the runs in progress, close every listener, lift timed conditions."""
        self.ssh.stop()
        self.server.stop()
        self.injector.close()
