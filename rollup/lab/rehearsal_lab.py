"""
A lab with a simulated Hyper-V host, served in this process (``rollup rehearse --simulated``).

``add_hypervisor`` adds the host (``rollup.lab.hyperv``) holding each of the lab's hosts as a VM,
``write_rehearsal_inventory`` writes the inventory that names those VMs, and
``serving_rehearsal_lab`` creates or reuses such a lab and serves it for a block. ``LabOutage``
is the host-down drill's way to take a host down in it.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from rollup.lab.hyperv import hyperv_state
from rollup.lab.labdir import (
    HTTP_PORT,
    LAB_PORTS,
    LabConfig,
    LabHost,
    LabPaths,
    StaleLab,
    free_first_address,
    host_addresses,
    read_config,
    write_config,
)
from rollup.lab.store import FileStateStore, atomic_write
from rollup.lab.wsman import AddressTaken, WindowsVersion

if TYPE_CHECKING:
    from rollup.lab.fleet import RunningLab

HYPERVISOR = "HV01"
REHEARSAL_INVENTORY = "rehearsal.yml"


def add_hypervisor(paths: LabPaths, config: LabConfig, *, name: str = HYPERVISOR) -> LabConfig:
    """
    Add a simulated Hyper-V host to the lab in ``paths``, holding each of the lab's hosts as a VM
    of the same name, on the next address after the last host. A lab that has it already is
    returned as it is. The caller holds the lab's lock.
    """
    if any(host.name.casefold() == name.casefold() for host in config.hosts):
        return config
    guests = {host.name: host.name for host in config.hosts if host.roles}
    address = host_addresses(config.hosts[0].address, len(config.hosts) + 1)[-1]
    names = [host.name for host in config.hosts]
    FileStateStore(paths.hosts, [*names, name]).write(hyperv_state(name, guests, admin=config.user))
    added = LabHost(name=name, roles=(), address=address, os=WindowsVersion.SERVER_2008_R2_SP1)
    updated = config.model_copy(update={"hosts": (*config.hosts, added)})
    write_config(paths, updated)
    return updated


def write_rehearsal_inventory(paths: LabPaths, config: LabConfig, *, hypervisor: str = HYPERVISOR) -> Path:
    """
    ``rehearsal.yml`` beside the lab's own inventory: that inventory, with each host's ``vm`` and
    the hypervisor under ``rollup_hypervisors`` (its WinRM settings are the lab's).
    """
    data: Any = yaml.safe_load(paths.inventory.read_text(encoding="utf-8"))
    host = config.host(hypervisor)
    entry: dict[str, Any] = {"provider": "hyperv", "address": host.address}
    if host.http_port != HTTP_PORT:
        entry["port"] = host.http_port
    data["all"]["vars"]["rollup_hypervisors"] = {host.name: entry}
    for group in data["all"]["children"].values():
        for name, variables in group["hosts"].items():
            if variables is not None:
                variables["vm"] = {"hypervisor": host.name, "name": name}
    head = "# The simulated lab as a rehearsal lab: its hosts are VMs on the simulated Hyper-V host.\n"
    text = head + yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=1000)
    target = paths.root / REHEARSAL_INVENTORY
    atomic_write(target, text.encode("utf-8"))
    return target


class LabOutage:
    """The host-down drill in the simulated lab: a host's listeners close for a while (``set_down``)."""

    def __init__(self, lab: RunningLab) -> None:
        self._lab = lab

    def take_down(self, host: str, seconds: float) -> None:
        self._lab.server.endpoint(host).set_down(seconds)

    def wait_up(self, host: str, timeout_s: float) -> bool:
        endpoint = self._lab.server.endpoint(host)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with socket.create_connection((endpoint.address, endpoint.port), timeout=1.0):
                    return True
            except OSError:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.05)


@dataclass(frozen=True, slots=True)
class RehearsalLab:
    """A lab with a Hyper-V host, being served, and its rehearsal inventory."""

    paths: LabPaths
    config: LabConfig
    inventory: Path
    running: RunningLab


def _forget_stale(paths: LabPaths) -> None:
    """
    The rehearsal lab is rollup's own (a rehearsal puts it back as it found it): one made by
    another rollup version is removed, so that this one is made afresh.
    """
    if not paths.config.exists():
        return
    try:
        read_config(paths)
    except StaleLab:
        for child in paths.root.iterdir():
            if child.name == paths.lock.name:
                continue
            if child.is_dir():
                shutil.rmtree(child)
            else:
                child.unlink()


MOVES = 5
"""How many times a rehearsal lab whose addresses another program took moves to free ones."""


def _started(paths: LabPaths, config: LabConfig, env: Mapping[str, str]) -> tuple[LabConfig, RunningLab]:
    """
    The lab served, on its addresses or, when another program listens on them (another lab
    started between the probe and the bind, or took them since the last rehearsal), on the next
    free block: the rehearsal lab is rollup's own, so where it listens is rollup's choice.

    Raises:
        AddressTaken: the addresses were taken ``MOVES`` times over.
        ConfigError: an address cannot be listened on for another reason.
    """
    from rollup.lab.fleet import RunningLab, move_lab

    moves = 0
    while True:
        running = RunningLab(paths, config, env)
        try:
            running.start()
        except AddressTaken:
            running.injector.close()  # the listeners are closed already; the scenario's timers too
            if moves == MOVES:
                raise
            moves += 1
            config = move_lab(paths, config)
        else:
            return config, running


@contextlib.contextmanager
def serving_rehearsal_lab(
    root: Path, *, manifest: Path, collab: int, time_factor: float, seed: int, env: Mapping[str, str]
) -> Iterator[RehearsalLab]:
    """
    Create (or reuse) the lab in ``root`` with ``collab`` COLLAB hosts and a Hyper-V host, and
    serve it in this process for the block, holding the lab's lock.

    Raises:
        UsageError: a lab already runs in ``root``, or it was created with another COLLAB count.
        ConfigError: an address cannot be listened on (``AddressTaken``: taken after ``MOVES`` moves).
    """
    from rollup.lab.fleet import LabOptions, lab_hosts, prepare_lab
    from rollup.lab.process import holding_lock

    paths = LabPaths(root)
    root.mkdir(parents=True, exist_ok=True)
    with holding_lock(paths):
        _forget_stale(paths)
        count = len(lab_hosts(collab)) + 1
        first = None if paths.config.exists() else free_first_address(count, LAB_PORTS)
        options = LabOptions(
            collab=collab,
            scenario=None,
            manifest=manifest,
            first_address=first,
            time_factor=time_factor,
            seed=seed,
        )
        config = add_hypervisor(paths, prepare_lab(paths, options, env))
        config, running = _started(paths, config, env)
        inventory = write_rehearsal_inventory(paths, config)
        try:
            yield RehearsalLab(paths=paths, config=config, inventory=inventory, running=running)
        finally:
            running.stop()
