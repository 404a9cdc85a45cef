"""
``hyperv.wmi_vm_action``: Hyper-V on Windows Server 2008 and 2008 R2, through WMI v1.

PowerShell 2.0 and WMI ``root\\virtualization`` (v1): ``Msvm_VirtualSystemManagementService``'s
``CreateVirtualSystemSnapshot``, ``ApplyVirtualSystemSnapshot``, ``RemoveVirtualSystemSnapshot``
and ``ModifyVirtualSystem`` (to name the snapshot), and ``RequestStateChange`` on the VM. Each
call returns 0 (done), 4096 (a job started: the script polls ``Msvm_ConcreteJob`` until it
leaves Starting/Running; 7 is Completed) or an error code such as 32775 (invalid state). The
script reports every call's codes and ``parse_wmi`` judges them, so the judgement is tested.
The parameters, outcome and rules it shares with the cmdlets script are ``rollup.ops.hyperv``'s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rollup.ops.base import CommandResult, Operation, compact_body
from rollup.ops.hyperv import EXAMPLE_VMS, VmActionParams, VmOutcome, check_names, enabled_state_word
from rollup.ops.results import ResultModel, read_object

if TYPE_CHECKING:
    pass

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
    check_names(result, [v.vm for v in read.vms], params)
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


WMI_VM_ACTION: Operation[VmActionParams, tuple[VmOutcome, ...]] = Operation(
    id="hyperv.wmi_vm_action",
    params=VmActionParams,
    body=compact_body(WMI_BODY),
    parse=parse_wmi,
    kind="hyperv",
    mutates=True,
    timeout_s=1800.0,
    examples=(
        VmActionParams(action="create", vms=EXAMPLE_VMS, snapshot="rollup-rehearsal-1"),
        VmActionParams(action="restore", vms=("DNS01-LAB",), snapshot="it's $(x)"),
        VmActionParams(action="remove", vms=("MPSSQL",), snapshot="s"),
        VmActionParams(action="start", vms=("COLLAB01",)),
    ),
)


OPERATIONS: tuple[Operation[Any, Any], ...] = (WMI_VM_ACTION,)
