"""
The Hyper-V of a simulated host, as its PowerShell module and its WMI providers see it.

The VMs, their power states and their checkpoints are the simulated Hyper-V host's registry
(``rollup.lab.hyperv``: ``VM_REGISTRY`` in the host's state); a checkpoint holds its guest's
whole state, captured from and restored into the lab's other hosts through ``Machine.peers``.
Every read takes the registry afresh and every change saves it at once, so objects a script
holds are snapshots of the moment it got them, as WMI instances and the module's objects are.

What a host has follows the simulated host (``rollup.lab.hyperv``): a host with the registry is
a Hyper-V host; Windows Server 2012 and later (6.2+) has WMI ``root\\virtualization\\v2`` and the
Hyper-V module (whose cmdlets need PowerShell 3.0), earlier ones ``root\\virtualization`` (v1).

Jobs (``Msvm_ConcreteJob``) live as long as the script's run: each runs ``JOB_SECONDS`` of the
machine's clock (which ``Start-Sleep`` advances), then reports how it ended.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rollup.lab.hyperv import (
    GuestUnreachable,
    Power,
    SimCheckpoint,
    SimHypervisor,
    SimVm,
    apply_checkpoint,
    capture,
    checkpoint_id,
    is_modern,
    read_registry,
    write_registry,
)
from rollup.ops.hyperv import V1_NAMESPACE, V2_NAMESPACE

if TYPE_CHECKING:
    from rollup.lab.windows.machine import Machine

JOB_SECONDS = 1.5
"""How long (machine time) a Hyper-V job runs before it reports how it ended."""

JOB_RUNNING = 4
JOB_COMPLETED = 7
JOB_EXCEPTION = 10

MODULE_PATH = "C:\\Windows\\system32\\WindowsPowerShell\\v1.0\\Modules\\Hyper-V\\Hyper-V.psd1"


class HyperVError(Exception):
    """An action Hyper-V refuses: ``code`` is WMI v1's return value for it (32775 invalid state...)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Job:
    """A Hyper-V job: its id, what it does, when it ends and how."""

    id: str
    description: str
    ends: float
    final_state: int = JOB_COMPLETED
    error_code: int = 0
    error: str = ""


class HyperV:
    """The Hyper-V of one machine (``Machine.hyperv()``)."""

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self.jobs: dict[str, Job] = {}

    # what the host has ---------------------------------------------------------------------

    def installed(self) -> bool:
        return read_registry(self.machine.state) is not None

    def modern(self) -> bool:
        return is_modern(self.machine.state)

    def namespaces(self) -> tuple[str, ...]:
        """The Hyper-V WMI namespaces of this host (lower case)."""
        if not self.installed():
            return ()
        return (V2_NAMESPACE.lower(),) if self.modern() else (V1_NAMESPACE.lower(),)

    def module_available(self) -> bool:
        """The Hyper-V module is installed (Windows Server 2012 and later with the role)."""
        return self.installed() and self.modern()

    def cmdlets_available(self) -> bool:
        """The module's cmdlets can run: the module, and PowerShell 3.0 or later to load it."""
        major = int(self.machine.ps_version.split(".")[0] or 0)
        return self.module_available() and major >= 3

    # the VMs -------------------------------------------------------------------------------

    def registry(self) -> SimHypervisor:
        found = read_registry(self.machine.state)
        return found if found is not None else SimHypervisor()

    def save(self, registry: SimHypervisor) -> None:
        write_registry(self.machine.state, registry, self.machine.now())

    def vms(self) -> list[SimVm]:
        return list(self.registry().vms)

    def vm_by_id(self, vm_id: str) -> SimVm | None:
        return next((v for v in self.vms() if v.id.lower() == vm_id.lower()), None)

    def _locate(self, registry: SimHypervisor, vm_id: str) -> SimVm:
        vm = next((v for v in registry.vms if v.id.lower() == vm_id.lower()), None)
        if vm is None:
            raise HyperVError(32773, "The virtual machine could not be found.")
        return vm

    def create_checkpoint(self, vm_id: str, name: str | None) -> SimCheckpoint:
        """A new checkpoint of the VM; without a name, Hyper-V's ``VM - (date - time)``."""
        registry = self.registry()
        vm = self._locate(registry, vm_id)
        label = name if name is not None else f"{vm.name} - ({self.timestamp()})"
        try:
            made = capture(
                vm, label, peers=self.machine.peers, now=self.machine.now(), write_blob=self.machine.blobs.put
            )
        except GuestUnreachable as exc:
            raise HyperVError(32768, str(exc)) from None
        self.save(registry)
        return made

    def rename_checkpoint(self, vm_id: str, snapshot_id: str, name: str) -> None:
        registry = self.registry()
        vm = self._locate(registry, vm_id)
        self._checkpoint(vm, snapshot_id).name = name
        self.save(registry)

    def rename_vm(self, vm_id: str, name: str) -> None:
        registry = self.registry()
        self._locate(registry, vm_id).name = name
        self.save(registry)

    def apply(self, vm_id: str, snapshot_id: str) -> None:
        """Restore a checkpoint into its VM, which must be off or saved."""
        registry = self.registry()
        vm = self._locate(registry, vm_id)
        chosen = self._checkpoint(vm, snapshot_id)
        if vm.power == "Running":
            raise HyperVError(
                32775, "The operation cannot be performed while the object is in its current state."
            )
        try:
            apply_checkpoint(vm, chosen, peers=self.machine.peers, read_blob=self.machine.blobs.get)
        except GuestUnreachable as exc:
            raise HyperVError(32768, str(exc)) from None
        self.save(registry)

    def remove(self, vm_id: str, snapshot_id: str) -> None:
        registry = self.registry()
        vm = self._locate(registry, vm_id)
        chosen = self._checkpoint(vm, snapshot_id)
        vm.checkpoints = [c for c in vm.checkpoints if c is not chosen]
        self.save(registry)

    def set_power(self, vm_id: str, power: Power) -> None:
        """Start, turn off or save the VM; asking for the state it is in is an invalid state."""
        registry = self.registry()
        vm = self._locate(registry, vm_id)
        if vm.power == power or (power == "Saved" and vm.power != "Running"):
            raise HyperVError(
                32775, "The operation cannot be performed while the object is in its current state."
            )
        vm.power = power
        self.save(registry)

    def _checkpoint(self, vm: SimVm, wanted: str) -> SimCheckpoint:
        found = next((c for c in vm.checkpoints if checkpoint_id(vm, c).lower() == wanted.lower()), None)
        if found is None:
            raise HyperVError(32773, "The checkpoint could not be found.")
        return found

    def checkpoints(self, vm: SimVm) -> list[tuple[str, SimCheckpoint]]:
        """The VM's checkpoints with their GUIDs, oldest first."""
        return [(checkpoint_id(vm, c), c) for c in vm.checkpoints]

    # jobs and time -------------------------------------------------------------------------

    def start_job(self, description: str, failure: HyperVError | None = None) -> Job:
        key = f"{self.machine.computer_name()}/{len(self.jobs)}/{self.machine.now()!r}/{description}"
        job = Job(
            id=str(uuid.uuid5(uuid.NAMESPACE_URL, key)).upper(),
            description=description,
            ends=self.machine.now() + JOB_SECONDS,
        )
        if failure is not None:
            job.final_state, job.error_code, job.error = JOB_EXCEPTION, failure.code, failure.message
        self.jobs[job.id] = job
        return job

    def job_state(self, job: Job) -> int:
        return JOB_RUNNING if self.machine.now() < job.ends else job.final_state

    def timestamp(self) -> str:
        """The machine's time as Hyper-V names checkpoints: ``3/21/2011 - 9:30:00 AM``."""
        from datetime import UTC, datetime

        moment = datetime.fromtimestamp(self.machine.now(), tz=UTC)
        hour = moment.hour % 12 or 12
        half = "AM" if moment.hour < 12 else "PM"
        return f"{moment.month}/{moment.day}/{moment.year} - {hour}:{moment.minute:02d}:{moment.second:02d} {half}"
