"""
The Hyper-V module's objects: ``VirtualMachine`` and ``VMSnapshot`` (their ``State``, ``Id`` and
names as the cmdlets of ``rollup.lab.windows.hyperv_cmdlets`` returned them; snapshots of that
moment), the ``VMState`` enumeration, and the module as ``Get-Module`` lists it.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, ClassVar

from rollup.lab.pwsh.dotnet.guid import Guid
from rollup.lab.pwsh.dotnet.system import DateTime
from rollup.lab.pwsh.net import NetObject, register
from rollup.lab.pwsh.types import EnumValue
from rollup.lab.windows.hyperv import MODULE_PATH

if TYPE_CHECKING:
    from datetime import datetime

    from rollup.lab.hyperv import SimCheckpoint, SimVm

VM_STATE = register(
    "Microsoft.HyperV.PowerShell.VMState",
    enum_values={
        "Other": 1, "Running": 2, "Off": 3, "Stopping": 4, "Saved": 6, "Paused": 9, "Starting": 10,
        "Reset": 11, "Saving": 32773, "Pausing": 32776, "Resuming": 32777,
    },
)  # fmt: skip


def _datetime(moment: float) -> DateTime:
    from datetime import UTC
    from datetime import datetime as dt

    stamp: datetime = dt.fromtimestamp(moment, tz=UTC)
    return DateTime(stamp, "Local")


def guid_of(text: str) -> Guid:
    return Guid(uuid.UUID(text))


class VirtualMachine(NetObject):
    """``Microsoft.HyperV.PowerShell.VirtualMachine``, as ``Get-VM`` returned it."""

    TYPE: ClassVar[str] = "Microsoft.HyperV.PowerShell.VirtualMachine"
    BASES: ClassVar[tuple[str, ...]] = ("Microsoft.HyperV.PowerShell.VirtualizationObject",)

    def __init__(self, host: str, vm: SimVm) -> None:
        self.host = host
        self.vm_id = vm.id
        self.name = vm.name
        self.power = vm.power

    @property
    def Name(self) -> str:
        return self.name

    @property
    def VMName(self) -> str:
        return self.name

    @property
    def Id(self) -> Guid:
        return guid_of(self.vm_id)

    @property
    def VMId(self) -> Guid:
        return guid_of(self.vm_id)

    @property
    def State(self) -> EnumValue:
        return EnumValue(VM_STATE, (VM_STATE.enum_values or {})[self.power])

    @property
    def Status(self) -> str:
        return "Operating normally"

    @property
    def ComputerName(self) -> str:
        return self.host

    def ToString(self, *args: Any) -> str:
        return f"VirtualMachine (Name = '{self.name}') [Id = '{self.vm_id.lower()}']"


class VMSnapshot(NetObject):
    """``Microsoft.HyperV.PowerShell.VMSnapshot``: a checkpoint, as ``Get-VMSnapshot`` returned it."""

    TYPE: ClassVar[str] = "Microsoft.HyperV.PowerShell.VMSnapshot"
    BASES: ClassVar[tuple[str, ...]] = ("Microsoft.HyperV.PowerShell.VirtualMachineBase",)

    def __init__(self, host: str, vm: SimVm, snapshot_id: str, snapshot: SimCheckpoint) -> None:
        self.host = host
        self.vm_id = vm.id
        self.vm_name = vm.name
        self.snapshot_id = snapshot_id
        self.name = snapshot.name
        self.created = snapshot.created

    @property
    def Name(self) -> str:
        return self.name

    @property
    def Id(self) -> Guid:
        return guid_of(self.snapshot_id)

    @property
    def VMName(self) -> str:
        return self.vm_name

    @property
    def VMId(self) -> Guid:
        return guid_of(self.vm_id)

    @property
    def SnapshotType(self) -> str:
        return "Standard"

    @property
    def CreationTime(self) -> DateTime:
        return _datetime(self.created)

    @property
    def ComputerName(self) -> str:
        return self.host

    def ToString(self, *args: Any) -> str:
        return f"VMSnapshot (Name = '{self.name}') [Id = '{self.snapshot_id.lower()}']"


class ModuleInfo(NetObject):
    """``Get-Module``'s answer for the Hyper-V module."""

    TYPE: ClassVar[str] = "System.Management.Automation.PSModuleInfo"

    @property
    def Name(self) -> str:
        return "Hyper-V"

    @property
    def Path(self) -> str:
        return MODULE_PATH

    @property
    def ModuleType(self) -> str:
        return "Manifest"

    def ToString(self, *args: Any) -> str:
        return "Hyper-V"


def module_info() -> ModuleInfo:
    return ModuleInfo()
