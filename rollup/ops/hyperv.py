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

The simulations are the simulated Hyper-V host's (``rollup.lab.hyperv``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from rollup.errors import ResultParseError
from rollup.ops.base import CommandResult, Operation, SimContext, SimResult
from rollup.ops.files import compact_body
from rollup.ops.service import ResultModel, read_object

if TYPE_CHECKING:
    from rollup.lab.state import HostState

Action = Literal["create", "restore", "remove", "stop", "start"]
ACTIONS: tuple[Action, ...] = ("create", "restore", "remove", "stop", "start")

V1_NAMESPACE = "root\\virtualization"
V2_NAMESPACE = "root\\virtualization\\v2"

RETURN_CODES: dict[int, str] = {
    0: "completed",
    4096: "job started",
    32768: "failed",
    32769: "access denied",
    32770: "not supported",
    32771: "status is unknown",
    32772: "timeout",
    32773: "invalid parameter",
    32774: "system is in use",
    32775: "invalid state for this operation",
    32776: "incorrect data type",
    32777: "system is not available",
    32778: "out of memory",
}
"""``Msvm_VirtualSystemManagementService`` and ``RequestStateChange`` return values (WMI v1)."""

JOB_STATES: dict[int, str] = {
    2: "New", 3: "Starting", 4: "Running", 5: "Suspended", 6: "Shutting Down",
    7: "Completed", 8: "Terminated", 9: "Killed", 10: "Exception", 11: "Service",
}  # fmt: skip
"""``Msvm_ConcreteJob.JobState``."""

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
    _check_names(result, [v.vm for v in read.vms], params)
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


class WmiCall(ResultModel):
    """One WMI method call: its return value and, for 4096, how its job ended."""

    call: str
    return_value: int
    job_state: int | None = None
    error_code: int | None = None
    error: str | None = None

    def problem(self) -> str | None:
        """Why the call failed, or ``None``: 0 and a 4096 job that Completed (7) succeed."""
        if self.return_value == 0:
            return None
        if self.return_value == 4096:
            if self.job_state == 7:
                return None
            state = JOB_STATES.get(self.job_state or 0, f"state {self.job_state}")
            why = f": {self.error}" if self.error else ""
            code = f" (error code {self.error_code})" if self.error_code else ""
            return f"{self.call}: the job ended {state}{why}{code}"
        meaning = RETURN_CODES.get(self.return_value, "unknown return value")
        return f"{self.call} returned {self.return_value} ({meaning})"


class _WmiVm(ResultModel):
    vm: str
    ok: bool
    calls: tuple[WmiCall, ...] = ()
    state_before: int | None = None
    state_after: int | None = None
    error: str | None = None


class _WmiResult(ResultModel):
    vms: tuple[_WmiVm, ...]


def parse_wmi(result: CommandResult, params: VmActionParams) -> tuple[VmOutcome, ...]:
    """
    Each VM's outcome, judged from its WMI calls' return values and job states (the script's own
    ``ok`` must agree: a VM succeeds only if both say so).

    Raises:
        ResultParseError: as ``parse_cmdlets``.
    """
    read = _WmiResult.read(result, read_object(result))
    _check_names(result, [v.vm for v in read.vms], params)
    outcomes = []
    for v in read.vms:
        problems = [p for p in (call.problem() for call in v.calls) if p]
        if v.error:
            problems.append(v.error)
        if not v.ok and not problems:
            problems.append("failed without a message")
        outcomes.append(
            VmOutcome(
                vm=v.vm,
                ok=not problems,
                state_before=enabled_state_word(v.state_before),
                state_after=enabled_state_word(v.state_after),
                detail="; ".join(problems),
            )
        )
    return tuple(outcomes)


def _check_names(result: CommandResult, names: list[str], params: VmActionParams) -> None:
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

WMI_BODY = r"""
$ErrorActionPreference = 'Stop'
$ns = 'root\virtualization'
function Invoke-RollupVmCall($name, $r) {
    $c = @{ call = $name; return_value = [int]$r.ReturnValue }
    if ($c.return_value -eq 4096) {
        $j = [wmi]$r.Job
        $n = 0
        while (($j.JobState -eq 3 -or $j.JobState -eq 4) -and $n -lt 3600) {
            Start-Sleep -Milliseconds 500
            $j = [wmi]$r.Job
            $n += 1
        }
        $c.job_state = [int]$j.JobState
        $c.error_code = [int]$j.ErrorCode
        $c.error = [string]$j.ErrorDescription
    }
    [void]$script:calls.Add($c)
    ($c.return_value -eq 0) -or ($c.return_value -eq 4096 -and $c.job_state -eq 7)
}
function Get-RollupVmSnapshots($m) {
    $f = "SystemName='" + $m.Name + "' AND SettingType=5"
    @(Get-WmiObject -Namespace $ns -Class Msvm_VirtualSystemSettingData -Filter $f)
}
function Set-RollupVmState($m, $want) {
    if ([int]$m.EnabledState -eq $want) { return $true }
    $r = $m.RequestStateChange($want)
    Invoke-RollupVmCall 'RequestStateChange' $r
}
$vsms = Get-WmiObject -Namespace $ns -Class Msvm_VirtualSystemManagementService
$all = @(Get-WmiObject -Namespace $ns -Class Msvm_ComputerSystem |
    Where-Object { $_.Caption -ne 'Hosting Computer System' })
$out = New-Object Collections.ArrayList
foreach ($v in $p_vms) {
    $script:calls = New-Object Collections.ArrayList
    $e = @{ vm = $v; ok = $false; calls = $script:calls }
    try {
        $m = @($all | Where-Object { $_.ElementName -eq $v })
        if ($m.Count -ne 1) { throw ([string]$m.Count + ' virtual machines are named ' + $v) }
        $m = $m[0]
        $e.state_before = [int]$m.EnabledState
        $s = @(Get-RollupVmSnapshots $m | Where-Object { $_.ElementName -eq $p_snapshot })
        $ok = $true
        if ($p_action -eq 'create') {
            if ($s.Count -gt 0) { throw ('a checkpoint named ' + $p_snapshot + ' already exists') }
            $known = @(Get-RollupVmSnapshots $m | ForEach-Object { $_.InstanceID })
            $r = $vsms.CreateVirtualSystemSnapshot($m.__PATH)
            $ok = Invoke-RollupVmCall 'CreateVirtualSystemSnapshot' $r
            if ($ok) {
                $new = @(Get-RollupVmSnapshots $m | Where-Object { $known -notcontains $_.InstanceID })
                if ($new.Count -ne 1) { throw 'the new snapshot cannot be told from the others' }
                $new[0].ElementName = $p_snapshot
                $r = $vsms.ModifyVirtualSystem($m.__PATH, $new[0].GetText(1))
                $ok = Invoke-RollupVmCall 'ModifyVirtualSystem' $r
            }
        }
        elseif ($p_action -eq 'restore' -or $p_action -eq 'remove') {
            if ($s.Count -ne 1) { throw ([string]$s.Count + ' checkpoints are named ' + $p_snapshot) }
            if ($p_action -eq 'remove') {
                $r = $vsms.RemoveVirtualSystemSnapshot($s[0].__PATH)
                $ok = Invoke-RollupVmCall 'RemoveVirtualSystemSnapshot' $r
            }
            else {
                $ok = Set-RollupVmState $m 3
                if ($ok) {
                    $r = $vsms.ApplyVirtualSystemSnapshot($m.__PATH, $s[0].__PATH)
                    $ok = Invoke-RollupVmCall 'ApplyVirtualSystemSnapshot' $r
                }
                if ($ok -and $e.state_before -eq 2 -and $p_start) {
                    $ok = Set-RollupVmState ([wmi]$m.__PATH) 2
                }
            }
        }
        elseif ($p_action -eq 'stop') { $ok = Set-RollupVmState $m 3 }
        elseif ($p_action -eq 'start') { $ok = Set-RollupVmState $m 2 }
        $e.state_after = [int]([wmi]$m.__PATH).EnabledState
        $e.ok = [bool]$ok
    }
    catch { $e.error = $_.Exception.Message }
    [void]$out.Add($e)
}
Write-RollupResult @{ vms = $out }
exit 0
"""


# ---- the simulated Hyper-V host (rollup.lab.hyperv) ---------------------------------------------


def simulate_probe(state: HostState, params: ProbeParams, ctx: SimContext) -> SimResult:
    """Read-only: the simulated host's versions, interfaces and VMs."""
    from rollup.lab.hyperv import simulate_probe as run

    return run(state, params, ctx)


def simulate_cmdlets(state: HostState, params: VmActionParams, ctx: SimContext) -> SimResult:
    """The cmdlets script on the simulated host (which has them only as Windows Server 2012 R2)."""
    from rollup.lab.hyperv import simulate_cmdlets as run

    return run(state, params, ctx)


def simulate_wmi(state: HostState, params: VmActionParams, ctx: SimContext) -> SimResult:
    """The WMI v1 script on the simulated host (which has it only as Windows Server 2008 R2)."""
    from rollup.lab.hyperv import simulate_wmi as run

    return run(state, params, ctx)


_EXAMPLE_VMS = ("MPS01-LAB", 'it\'s "odd"; $(Stop-VM x) [*]')

PROBE: Operation[ProbeParams, HyperVHost] = Operation(
    id="hyperv.probe",
    params=ProbeParams,
    body=compact_body(PROBE_BODY),
    parse=parse_probe,
    simulate=simulate_probe,
    kind="hyperv",
    mutates=False,
    timeout_s=120.0,
    examples=(ProbeParams(), ProbeParams(vms=_EXAMPLE_VMS)),
)

VM_ACTION: Operation[VmActionParams, tuple[VmOutcome, ...]] = Operation(
    id="hyperv.vm_action",
    params=VmActionParams,
    body=compact_body(CMDLETS_BODY),
    parse=parse_cmdlets,
    simulate=simulate_cmdlets,
    kind="hyperv",
    mutates=True,
    timeout_s=1800.0,
    min_powershell="3.0",
    examples=(
        VmActionParams(action="create", vms=_EXAMPLE_VMS, snapshot="rollup-rehearsal-1"),
        VmActionParams(action="restore", vms=("DNS01-LAB",), snapshot="it's $(x)", start=False),
        VmActionParams(action="stop", vms=("COLLAB01",)),
    ),
)

WMI_VM_ACTION: Operation[VmActionParams, tuple[VmOutcome, ...]] = Operation(
    id="hyperv.wmi_vm_action",
    params=VmActionParams,
    body=compact_body(WMI_BODY),
    parse=parse_wmi,
    simulate=simulate_wmi,
    kind="hyperv",
    mutates=True,
    timeout_s=1800.0,
    examples=(
        VmActionParams(action="create", vms=_EXAMPLE_VMS, snapshot="rollup-rehearsal-1"),
        VmActionParams(action="restore", vms=("DNS01-LAB",), snapshot="it's $(x)"),
        VmActionParams(action="remove", vms=("MPSSQL",), snapshot="s"),
        VmActionParams(action="start", vms=("COLLAB01",)),
    ),
)

OPERATIONS: tuple[Operation[Any, Any], ...] = (PROBE, VM_ACTION, WMI_VM_ACTION)
