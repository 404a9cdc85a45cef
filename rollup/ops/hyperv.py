"""
Hyper-V operations, run on the Hyper-V host: find VMs, checkpoint, restore, remove, stop, start.

Rehearsals (``rollup.rehearsal.hyperv``) snapshot the lab's VMs through these. Two generations of
Hyper-V need two scripts (windows-ops §4):

- ``hyperv.vm_action``: Windows Server 2012 and later, with the Hyper-V module's cmdlets
  (``Checkpoint-VM``, ``Restore-VMSnapshot``, ``Remove-VMSnapshot``, ``Stop-VM``, ``Start-VM``).
  The module needs PowerShell 3.0, so the operation declares ``min_powershell="3.0"`` and the
  PowerShell checker holds it to that version instead of 2.0.
- ``hyperv.wmi_vm_action``: Windows Server 2008 and 2008 R2, PowerShell 2.0 and WMI
  ``root\\virtualization`` (v1): ``Msvm_VirtualSystemManagementService``'s
  ``CreateVirtualSystemSnapshot``, ``ApplyVirtualSystemSnapshot``, ``RemoveVirtualSystemSnapshot``
  and ``ModifyVirtualSystem`` (to name the snapshot), and ``RequestStateChange`` on the VM. Each
  call returns 0 (done), 4096 (a job started: the script polls ``Msvm_ConcreteJob`` until it
  leaves Starting/Running; 7 is Completed) or an error code such as 32775 (invalid state). The
  script reports every call's codes and ``parse_wmi`` judges them, so the judgement is tested.

``hyperv.probe`` (PowerShell 2.0, read-only) tells which of the two a host has, and finds the VMs.

VMs and checkpoints are matched by exact name in the scripts (``-eq``), never through a name
parameter that takes wildcards or through WQL text. Each script reports one entry per VM, in
the order asked; a failing VM does not stop the others. Restoring turns the VM off first, and
starts it again afterwards when it was running and ``start`` is set (a checkpoint of a running
VM restores into the Saved state, which starting resumes).

This module holds the probe and the cmdlets script; ``rollup.ops.hyperv_wmi`` the WMI v1 one.
The simulated lab runs these scripts on its Hyper-V host (``rollup.lab.hyperv``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from rollup.errors import ResultParseError
from rollup.ops.base import CommandResult, Operation, compact_body
from rollup.ops.results import ResultModel, read_object

if TYPE_CHECKING:
    pass

Action = Literal["create", "restore", "remove", "stop", "start"]
ACTIONS: tuple[Action, ...] = ("create", "restore", "remove", "stop", "start")

V1_NAMESPACE = "root\\virtualization"
V2_NAMESPACE = "root\\virtualization\\v2"

ENABLED_STATES: dict[int, str] = {
    2: "Running", 3: "Off", 6: "Saved", 9: "Paused", 32768: "Paused", 32769: "Saved",
    32770: "Starting", 32771: "Snapshotting", 32773: "Saving", 32774: "Stopping",
    32776: "Pausing", 32777: "Resuming",
}  # fmt: skip
"""``Msvm_ComputerSystem.EnabledState`` as the cmdlets name it (6 and 9 are WMI v2's words)."""


def enabled_state_word(value: int | None) -> str:
    """``EnabledState`` as a word (``Running``, ``Off``, ``Saved``...); ``""`` when not known."""
    if value is None:
        return ""
    return ENABLED_STATES.get(value, f"state {value}")


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeParams:
    """The VM names to look for (exact names, compared ignoring case)."""

    vms: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class VmActionParams:
    """What to do to which VMs; ``snapshot`` names the checkpoint (unused by stop and start)."""

    action: Action
    vms: tuple[str, ...]
    snapshot: str = ""
    start: bool = True
    """After a restore, start each VM that was running before it."""

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"hyperv: no action {self.action!r}; one of {', '.join(ACTIONS)}")
        if not self.vms:
            raise ValueError("hyperv: give at least one VM name")
        if self.action in ("create", "restore", "remove") and not self.snapshot:
            raise ValueError(f"hyperv: {self.action} needs a snapshot name")


class ProbeVm(ResultModel):
    """One VM asked for: how many VMs have that name, and the one found's id and state."""

    vm: str
    matches: int
    id: str | None = None
    enabled_state: int | None = None

    @property
    def state(self) -> str:
        return enabled_state_word(self.enabled_state)


class HyperVHost(ResultModel):
    """What ``hyperv.probe`` found: versions, which Hyper-V interfaces exist, and the VMs."""

    ps_version: str
    os_version: str
    module: bool
    """The Hyper-V PowerShell module is installed (Windows Server 2012 and later)."""
    namespace: str
    """The WMI namespace found: ``root\\virtualization\\v2``, ``root\\virtualization`` or ``""``."""
    vms: tuple[ProbeVm, ...]

    def api(self) -> Literal["cmdlets", "wmi"] | None:
        """The interface rollup drives this host with: the cmdlets where present, else WMI v1."""
        major = int(self.ps_version.split(".")[0] or 0)
        if self.module and major >= 3:
            return "cmdlets"
        return "wmi" if self.namespace == V1_NAMESPACE else None


@dataclass(frozen=True, slots=True, kw_only=True)
class VmOutcome:
    """How an action went for one VM, whichever script ran it."""

    vm: str
    ok: bool
    state_before: str
    state_after: str
    detail: str = ""
    """Why it failed (empty when ``ok``)."""


def parse_probe(result: CommandResult, params: ProbeParams) -> HyperVHost:
    """
    The host's Hyper-V facts, one VM entry per name asked for, in order.

    Raises:
        ResultParseError: no result line, a malformed one, or entries that do not answer the names.
    """
    found = HyperVHost.read(result, read_object(result))
    if tuple(v.vm for v in found.vms) != params.vms:
        raise ResultParseError(f"{result.host}: {result.op}: the result does not list the VMs asked for")
    return found


class _CmdletVm(ResultModel):
    vm: str
    ok: bool
    state_before: str | None = None
    state_after: str | None = None
    error: str | None = None


class _CmdletResult(ResultModel):
    vms: tuple[_CmdletVm, ...]


def parse_cmdlets(result: CommandResult, params: VmActionParams) -> tuple[VmOutcome, ...]:
    """
    Each VM's outcome as the cmdlets script reported it.

    Raises:
        ResultParseError: no result line (the script failed before its loop), a malformed one,
            or entries that do not answer the VMs asked for.
    """
    read = _CmdletResult.read(result, read_object(result))
    check_names(result, [v.vm for v in read.vms], params)
    return tuple(
        VmOutcome(
            vm=v.vm,
            ok=v.ok and not v.error,
            state_before=v.state_before or "",
            state_after=v.state_after or "",
            detail="" if v.ok and not v.error else (v.error or "failed without a message"),
        )
        for v in read.vms
    )


def check_names(result: CommandResult, names: list[str], params: VmActionParams) -> None:
    if tuple(names) != params.vms:
        raise ResultParseError(f"{result.host}: {result.op}: the result does not list the VMs asked for")


# ---- the scripts ---------------------------------------------------------------------------------

PROBE_BODY = r"""
$ErrorActionPreference = 'Stop'
$module = @(Get-Module -ListAvailable -Name Hyper-V).Count -gt 0
$ns = ''
foreach ($n in @('root\virtualization\v2', 'root\virtualization')) {
    if ($ns) { continue }
    try {
        $svc = @(Get-WmiObject -Namespace $n -Class Msvm_VirtualSystemManagementService)
        if ($svc.Count -gt 0) { $ns = $n }
    }
    catch { }
}
$out = New-Object Collections.ArrayList
$all = @()
if ($ns) {
    $all = @(Get-WmiObject -Namespace $ns -Class Msvm_ComputerSystem |
        Where-Object { $_.Caption -ne 'Hosting Computer System' })
}
foreach ($v in $p_vms) {
    $e = @{ vm = $v; matches = 0 }
    foreach ($m in $all) {
        if ($m.ElementName -ne $v) { continue }
        $e.matches += 1
        $e.id = [string]$m.Name
        $e.enabled_state = [int]$m.EnabledState
    }
    [void]$out.Add($e)
}
$os = [string][Environment]::OSVersion.Version
Write-RollupResult @{ ps_version = [string]$PSVersionTable.PSVersion; os_version = $os
    module = $module; namespace = $ns; vms = $out }
exit 0
"""

CMDLETS_BODY = r"""
$ErrorActionPreference = 'Stop'
$out = New-Object Collections.ArrayList
foreach ($v in $p_vms) {
    $e = @{ vm = $v; ok = $false }
    try {
        $m = @(Get-VM | Where-Object { $_.Name -eq $v })
        if ($m.Count -ne 1) { throw ([string]$m.Count + ' virtual machines are named ' + $v) }
        $m = $m[0]
        $e.state_before = [string]$m.State
        $s = @(Get-VMSnapshot -VM $m | Where-Object { $_.Name -eq $p_snapshot })
        if ($p_action -eq 'create') {
            if ($s.Count -gt 0) { throw ('a checkpoint named ' + $p_snapshot + ' already exists') }
            Checkpoint-VM -VM $m -SnapshotName $p_snapshot
        }
        elseif ($p_action -eq 'restore' -or $p_action -eq 'remove') {
            if ($s.Count -ne 1) { throw ([string]$s.Count + ' checkpoints are named ' + $p_snapshot) }
            if ($p_action -eq 'remove') { Remove-VMSnapshot -VMSnapshot $s[0] }
            else {
                if ((Get-VM -Id $m.Id).State -ne 'Off') { Stop-VM -VM $m -TurnOff -Force }
                Restore-VMSnapshot -VMSnapshot $s[0] -Confirm:$false
                if ($e.state_before -eq 'Running' -and $p_start) { Start-VM -VM $m }
            }
        }
        elseif ($p_action -eq 'stop') { if ($m.State -ne 'Off') { Stop-VM -VM $m -TurnOff -Force } }
        elseif ($p_action -eq 'start') { if ($m.State -ne 'Running') { Start-VM -VM $m } }
        $e.state_after = [string](Get-VM -Id $m.Id).State
        $e.ok = $true
    }
    catch { $e.error = $_.Exception.Message }
    [void]$out.Add($e)
}
Write-RollupResult @{ vms = $out }
exit 0
"""


EXAMPLE_VMS = ("MPS01-LAB", 'it\'s "odd"; $(Stop-VM x) [*]')

PROBE: Operation[ProbeParams, HyperVHost] = Operation(
    id="hyperv.probe",
    params=ProbeParams,
    body=compact_body(PROBE_BODY),
    parse=parse_probe,
    kind="hyperv",
    mutates=False,
    timeout_s=120.0,
    examples=(ProbeParams(), ProbeParams(vms=EXAMPLE_VMS)),
)

VM_ACTION: Operation[VmActionParams, tuple[VmOutcome, ...]] = Operation(
    id="hyperv.vm_action",
    params=VmActionParams,
    body=compact_body(CMDLETS_BODY),
    parse=parse_cmdlets,
    kind="hyperv",
    mutates=True,
    timeout_s=1800.0,
    min_powershell="3.0",
    examples=(
        VmActionParams(action="create", vms=EXAMPLE_VMS, snapshot="rollup-rehearsal-1"),
        VmActionParams(action="restore", vms=("DNS01-LAB",), snapshot="it's $(x)", start=False),
        VmActionParams(action="stop", vms=("COLLAB01",)),
    ),
)

OPERATIONS: tuple[Operation[Any, Any], ...] = (PROBE, VM_ACTION)
