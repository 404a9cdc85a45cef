"""
The simulated Hyper-V host: a lab host whose virtual machines are the lab's other hosts.

A hypervisor (``HV01``) plays no HMC role. Its model keeps, in one file (``VM_REGISTRY``), the VMs
it holds: each VM's name, the lab host it is (its guest), its power state and its checkpoints. A
checkpoint is the guest's whole ``HostState`` at that moment, stored in the lab's blob store,
except the lab's counters of what reached the guest through WinRM (``mutations``,
``operations``): those are the lab's bookkeeping, not Windows state, and keep counting through a
restore. So after a checkpoint, changes and a restore, ``rollup lab state GUEST`` shows the state
from before, the counters aside.

The guests' states are reached through the lab's state store (``Machine.peers``), each under
its own lock, while the running script holds the hypervisor's. A VM's power state is the registry's
word only: a guest that is "off" still answers WinRM (the lab takes a host down with its own
outage, ``LabEndpoint.set_down``, which is what the host-down drill uses in the simulated lab).

The host is a Windows Server 2008 R2 SP1 Hyper-V host by default (PowerShell 2.0 and WMI
``root\\virtualization``, the Hyper-V of January 2011); ``modern=True`` makes it a Windows
Server 2012 R2 host (the Hyper-V module and ``root\\virtualization\\v2``).

``rollup.lab.rehearsal_lab`` adds such a host to a lab and serves it for ``rollup rehearse --simulated``.

The lab runs the Hyper-V operations' real scripts in its PowerShell: the Hyper-V module's cmdlets
and WMI classes of ``rollup.lab.windows.hyperv*`` act on this registry through ``capture``,
``apply_checkpoint`` and the power states.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from rollup.lab.state import HostState, Service, StateStore, path_key
from rollup.lab.windows.hostfiles import put_text

if TYPE_CHECKING:
    pass

VM_REGISTRY = "C:\\ProgramData\\Microsoft\\Windows\\Hyper-V\\rollup-lab-vms.json"
"""Where the simulated host keeps its VMs (one small JSON file of its model)."""

COUNTERS = frozenset({"mutations", "operations"})
"""``HostState`` fields a checkpoint neither captures nor restores (see the module docstring)."""

Power = Literal["Running", "Off", "Saved"]
BlobWriter = Callable[[bytes], str]
"""``SimContext.write_blob``: store bytes, get their key."""
BlobReader = Callable[[str], bytes]
"""``SimContext.read_blob``: the bytes stored under a key."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class SimCheckpoint(_Model):
    """A checkpoint of one VM: its guest's state (a blob key) and the VM's power state then."""

    name: str
    created: float
    """Seconds since the epoch, from the lab's clock."""
    blob: str
    power: Power
    id: str = ""
    """A GUID telling apart checkpoints of the same name (``""`` in registries written before it)."""


class SimVm(_Model):
    """A VM on the simulated host."""

    name: str
    guest: str
    """The lab host this VM is."""
    id: str
    """A GUID, as ``Msvm_ComputerSystem.Name`` and ``VM.Id`` show it."""
    power: Power = "Running"
    checkpoints: list[SimCheckpoint] = Field(default_factory=list)


class SimHypervisor(_Model):
    """Everything ``VM_REGISTRY`` holds."""

    vms: list[SimVm] = Field(default_factory=list)

    def vm(self, name: str) -> SimVm | None:
        """The VM called ``name``, compared ignoring case as ``-eq`` does in PowerShell."""
        return next((vm for vm in self.vms if vm.name.casefold() == name.casefold()), None)


class GuestUnreachable(RuntimeError):
    """The lab gave the operation no access to the other hosts (``SimContext.peers`` is ``None``)."""


def hyperv_state(name: str, guests: Mapping[str, str], *, admin: str, modern: bool = False) -> HostState:
    """
    A Hyper-V host holding one running VM per ``guests`` entry (VM name -> lab host name).

    ``admin`` is the lab account (a member of Domain Admins, as on the other hosts).
    """
    state = HostState(
        name=name,
        roles=[],
        os_caption="Microsoft Windows Server 2012 R2 Datacenter"
        if modern
        else "Microsoft Windows Server 2008 R2 Enterprise",
        os_version="6.3.9600" if modern else "6.1.7601",
        service_pack=0 if modern else 1,
        arch="AMD64",
        ps_version="4.0" if modern else "2.0",
        services={
            "vmms": Service(name="vmms", display_name="Hyper-V Virtual Machine Management"),
            "winrm": Service(name="WinRM", display_name="Windows Remote Management (WS-Management)"),
        },
        domain_admins=[admin.lower()],
    )
    registry = SimHypervisor(
        vms=[
            SimVm(name=vm, guest=guest, id=str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{name}/{vm}")).upper())
            for vm, guest in guests.items()
        ]
    )
    write_registry(state, registry, 0.0)
    return state


def is_modern(state: HostState) -> bool:
    """Whether the host is Windows Server 2012 or later (6.2+): the Hyper-V module and WMI v2."""
    major, minor, *_ = (int(part) for part in state.os_version.split("."))
    return (major, minor) >= (6, 2)


def read_registry(state: HostState) -> SimHypervisor | None:
    """The host's VMs, or ``None`` when it is not a simulated Hyper-V host."""
    entry = state.files.get(path_key(VM_REGISTRY))
    if entry is None or entry.text is None:
        return None
    return SimHypervisor.model_validate_json(entry.text)


def write_registry(state: HostState, registry: SimHypervisor, now: float) -> None:
    """Save the host's VMs into its model."""
    put_text(state, VM_REGISTRY, registry.model_dump_json(indent=1), now)


def _peers(peers: StateStore | None) -> StateStore:
    if peers is None:
        raise GuestUnreachable("the simulated host cannot reach its guests' states")
    return peers


def checkpoint(
    vm: SimVm, snapshot: str, *, peers: StateStore | None, now: float, write_blob: BlobWriter
) -> None:
    """
    Capture the guest's state as checkpoint ``snapshot`` of ``vm``.

    Raises:
        ValueError: a checkpoint of that name exists (names must tell checkpoints apart).
        GuestUnreachable: no access to the guests.
    """
    if any(c.name == snapshot for c in vm.checkpoints):
        raise ValueError(f"a checkpoint named {snapshot} already exists")
    capture(vm, snapshot, peers=peers, now=now, write_blob=write_blob)


def capture(
    vm: SimVm, snapshot: str, *, peers: StateStore | None, now: float, write_blob: BlobWriter
) -> SimCheckpoint:
    """
    Add a checkpoint called ``snapshot`` to ``vm`` holding its guest's state now, whatever the
    other checkpoints are called (Hyper-V allows several of one name), and return it.

    Raises:
        GuestUnreachable: no access to the guests.
    """
    guest = _peers(peers).read(vm.guest)
    data = guest.model_dump_json(exclude=set(COUNTERS)).encode("utf-8")
    key = f"{vm.id}/{len(vm.checkpoints)}/{now!r}/{snapshot}"
    made = SimCheckpoint(
        name=snapshot,
        created=now,
        blob=write_blob(data),
        power=vm.power,
        id=str(uuid.uuid5(uuid.NAMESPACE_URL, key)).upper(),
    )
    vm.checkpoints.append(made)
    return made


def checkpoint_id(vm: SimVm, chosen: SimCheckpoint) -> str:
    """The checkpoint's GUID (derived for one saved before checkpoints had their own)."""
    if chosen.id:
        return chosen.id
    return str(
        uuid.uuid5(uuid.NAMESPACE_URL, f"{vm.id}/{chosen.blob}/{chosen.created!r}/{chosen.name}")
    ).upper()


def find_checkpoint(vm: SimVm, snapshot: str) -> SimCheckpoint:
    """
    The checkpoint called ``snapshot`` (exactly one).

    Raises:
        ValueError: none, or several, have that name.
    """
    found = [c for c in vm.checkpoints if c.name == snapshot]
    if len(found) != 1:
        raise ValueError(f"{len(found)} checkpoints are named {snapshot}")
    return found[0]


def restore(vm: SimVm, snapshot: str, *, peers: StateStore | None, read_blob: BlobReader) -> None:
    """
    Put the guest back in the state of checkpoint ``snapshot``, counters aside. The VM is then in
    the state the checkpoint saved: ``Saved`` for one taken while it ran (its memory), else ``Off``.

    Raises:
        ValueError: no such checkpoint.
        GuestUnreachable: no access to the guests.
    """
    apply_checkpoint(vm, find_checkpoint(vm, snapshot), peers=peers, read_blob=read_blob)


def apply_checkpoint(
    vm: SimVm, chosen: SimCheckpoint, *, peers: StateStore | None, read_blob: BlobReader
) -> None:
    """``restore`` of one checkpoint of ``vm`` (see there)."""
    captured = HostState.model_validate_json(read_blob(chosen.blob))
    with _peers(peers).update(vm.guest) as live:
        for field in HostState.model_fields:
            if field not in COUNTERS:
                setattr(live, field, getattr(captured, field))
    vm.power = "Saved" if chosen.power in ("Running", "Saved") else "Off"


def remove(vm: SimVm, snapshot: str) -> None:
    """
    Delete checkpoint ``snapshot`` (its captured state stays in the content-addressed blob store).

    Raises:
        ValueError: no such checkpoint.
    """
    chosen = find_checkpoint(vm, snapshot)
    vm.checkpoints = [c for c in vm.checkpoints if c is not chosen]
