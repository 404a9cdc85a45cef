"""
hyperv.probe, hyperv.vm_action (the Hyper-V module's cmdlets) and hyperv.wmi_vm_action (WMI
root\\virtualization) run as scripts in the lab's PowerShell against the simulated Hyper-V host,
so a script broken for Windows fails here: a flipped comparison, a renamed result key, a wrong
namespace or query, a job never polled, a snapshot applied to a running VM.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from rollup.errors import ResultParseError
from rollup.lab.hyperv import SimHypervisor, hyperv_state, read_registry, write_registry
from rollup.lab.pwsh.host import run_powershell
from rollup.lab.runner import LabRunner
from rollup.lab.state import HostState, InstalledProduct, MemoryBlobStore, MemoryStateStore
from rollup.lab.windows.machine import Machine
from rollup.ops.base import CommandResult, Operation
from rollup.ops.hyperv import PROBE, VM_ACTION, HyperVHost, ProbeParams, VmActionParams, VmOutcome
from rollup.ops.hyperv_wmi import WMI_VM_ACTION

NOW = 1.3e9
ADMIN = "HOSTING\\rollup-lab"
VMS = ("MPS01-LAB", "DNS01-LAB")


def guest(name: str) -> HostState:
    state = HostState(name=name, roles=["dns"])
    state.products["{A}"] = InstalledProduct(
        product_code="{A}", display_name="DNS Client", display_version="4.0.1", upgrade_code="{U}"
    )
    return state


class Lab:
    """HV01 (2008 R2, or 2012 R2 when ``modern``) holding MPS01 and DNS01 as VMs."""

    def __init__(self, *, modern: bool, ps_version: str | None = None) -> None:
        hv = hyperv_state("HV01", dict(zip(VMS, ("MPS01", "DNS01"), strict=True)), admin=ADMIN, modern=modern)
        if ps_version is not None:
            hv.ps_version = ps_version
        self.store = MemoryStateStore([guest("MPS01"), guest("DNS01"), hv])
        self.blobs = MemoryBlobStore()

    def run(
        self, op: Operation[Any, Any], params: Any, *, host: str = "HV01", peers: bool = True
    ) -> CommandResult:
        """The op's real script on ``host``, straight through the interpreter."""
        with self.store.update(host) as state:
            machine = Machine(state, self.blobs, now=NOW, user=ADMIN, peers=self.store if peers else None)
            run = run_powershell(op.command(params).render(), machine)
        return CommandResult(
            host=host, op=op.id, command="", exit_code=run.exit_code, stdout=run.stdout,
            stderr=run.stderr, duration_s=0.0,
        )  # fmt: skip

    def act(self, op: Operation[Any, Any], action: str, vms: tuple[str, ...] = VMS) -> tuple[VmOutcome, ...]:
        params = VmActionParams(action=action, vms=vms, snapshot="rollup-rehearsal")  # type: ignore[arg-type]
        outcomes: tuple[VmOutcome, ...] = op.parse(self.run(op, params), params)
        return outcomes

    def registry(self) -> SimHypervisor:
        found = read_registry(self.store.read("HV01"))
        assert found is not None
        return found

    def power(self, vm: str) -> str:
        found = self.registry().vm(vm)
        assert found is not None
        return found.power


def broken(op: Operation[Any, Any], old: str, new: str) -> Operation[Any, Any]:
    """``op`` with one change to its script body, which must be there to change."""
    assert old in op.body, old
    return dataclasses.replace(op, body=op.body.replace(old, new, 1))


# ---- the real scripts on the simulated host ------------------------------------------------------


@pytest.mark.parametrize(
    ("modern", "namespace", "module", "api", "saved"),
    [
        (False, "root\\virtualization", False, "wmi", 32769),
        (True, "root\\virtualization\\v2", True, "cmdlets", 6),
    ],
    ids=["2008r2", "2012r2"],
)
def test_the_probe_finds_each_generations_interfaces_and_vms(
    modern: bool, namespace: str, module: bool, api: str, saved: int
) -> None:
    lab = Lab(modern=modern)
    with lab.store.update("HV01") as state:
        registry = read_registry(state)
        assert registry is not None
        registry.vms[1].power = "Saved"
        write_registry(state, registry, NOW)
    params = ProbeParams(vms=(*VMS, "COLLAB01-LAB"))

    found: HyperVHost = PROBE.parse(lab.run(PROBE, params), params)

    assert (found.namespace, found.module, found.api()) == (namespace, module, api)
    assert found.ps_version == ("4.0" if modern else "2.0")
    assert found.os_version == ("6.3.9600.0" if modern else "6.1.7601.65536")
    assert [(v.matches, v.enabled_state) for v in found.vms] == [(1, 2), (1, saved), (0, None)]
    assert found.vms[0].id == lab.registry().vms[0].id


def test_the_probe_finds_no_hyper_v_on_a_guest() -> None:
    lab = Lab(modern=False)

    found: HyperVHost = PROBE.parse(lab.run(PROBE, ProbeParams(vms=VMS), host="MPS01"), ProbeParams(vms=VMS))

    assert (found.namespace, found.module, found.api()) == ("", False, None)
    assert [v.matches for v in found.vms] == [0, 0]


@pytest.mark.parametrize(
    ("modern", "op"), [(False, WMI_VM_ACTION), (True, VM_ACTION)], ids=["wmi", "cmdlets"]
)
def test_checkpoint_change_restore_remove_through_the_lab_runner(
    modern: bool, op: Operation[Any, Any]
) -> None:
    """The whole rehearsal cycle as LabRunner runs it: the guest comes back, the VM runs again."""
    lab = Lab(modern=modern)
    runner = LabRunner(lab.store, lab.blobs, clock=lambda: NOW, time_factor=0)
    before = lab.store.read("MPS01").model_dump(exclude={"mutations", "operations"})

    def act(action: str) -> tuple[VmOutcome, ...]:
        params = VmActionParams(action=action, vms=VMS, snapshot="rollup-rehearsal")  # type: ignore[arg-type]
        done = runner("HV01", op.command(params).render()).finish()
        result = CommandResult(
            host="HV01", op=op.id, command="", exit_code=done.exit_code, stdout=done.stdout,
            stderr=done.stderr, duration_s=0.0,
        )  # fmt: skip
        outcomes: tuple[VmOutcome, ...] = op.parse(result, params)
        return outcomes

    created = act("create")
    with lab.store.update("MPS01") as state:
        state.products["{A}"].display_version = "4.0.2"
    restored = act("restore")
    removed = act("remove")

    assert all(o.ok for o in (*created, *restored, *removed)), [o.detail for o in (*created, *restored)]
    assert [(o.state_before, o.state_after) for o in restored] == [("Running", "Running")] * 2
    assert lab.store.read("MPS01").model_dump(exclude={"mutations", "operations"}) == before
    assert [vm.checkpoints for vm in lab.registry().vms] == [[], []]
    assert lab.store.read("HV01").operations == [op.id] * 3


def test_a_restore_without_start_leaves_the_vm_saved_as_its_checkpoint_was_taken_running() -> None:
    lab = Lab(modern=False)
    lab.act(WMI_VM_ACTION, "create")
    params = VmActionParams(action="restore", vms=VMS[:1], snapshot="rollup-rehearsal", start=False)

    (outcome,) = WMI_VM_ACTION.parse(lab.run(WMI_VM_ACTION, params), params)

    assert (outcome.ok, outcome.state_before, outcome.state_after) == (True, "Running", "Saved")
    assert lab.power("MPS01-LAB") == "Saved"


def test_the_wmi_script_finds_no_v1_namespace_on_2012_r2() -> None:
    lab = Lab(modern=True)

    result = lab.run(WMI_VM_ACTION, VmActionParams(action="stop", vms=VMS))

    assert result.exit_code == 1
    assert "Invalid namespace" in result.stderr


def test_the_cmdlets_need_powershell_3_even_where_the_module_is() -> None:
    """A 2012 R2 host left on PowerShell 2.0 cannot load the Hyper-V module."""
    lab = Lab(modern=True, ps_version="2.0")

    outcomes = lab.act(VM_ACTION, "stop")

    assert not any(o.ok for o in outcomes)
    assert "The term 'Get-VM' is not recognized" in outcomes[0].detail
    assert lab.power("MPS01-LAB") == "Running"


def test_a_vm_that_does_not_exist_fails_alone() -> None:
    lab = Lab(modern=True)

    missing, present = lab.act(VM_ACTION, "create", ("COLLAB01-LAB", "MPS01-LAB"))

    assert (missing.ok, missing.detail) == (False, "0 virtual machines are named COLLAB01-LAB")
    assert present.ok
    assert [c.name for c in lab.registry().vms[0].checkpoints] == ["rollup-rehearsal"]


def test_a_job_that_fails_is_judged_from_its_state_even_if_the_script_says_ok() -> None:
    """Without the guests' states the snapshot job ends Exception; a forced ok hides nothing."""
    lab = Lab(modern=False)
    op = broken(WMI_VM_ACTION, "$e.ok = [bool]$ok", "$e.ok = $true")
    params = VmActionParams(action="create", vms=VMS[:1], snapshot="s")

    (outcome,) = op.parse(lab.run(op, params, peers=False), params)

    assert not outcome.ok
    assert outcome.detail.startswith("CreateVirtualSystemSnapshot: the job ended Exception: ")


# ---- mutations: each realistic break of a script is caught ----------------------------------------

Mutation = tuple[str, str]

PROBE_MUTATIONS: dict[str, tuple[Mutation, bool]] = {
    "host counted as a VM (2008 R2)": (("$_.Caption -ne 'Hosting", "$_.Caption -eq 'Hosting"), False),
    "host counted as a VM (2012 R2)": (("$_.Caption -ne 'Hosting", "$_.Caption -eq 'Hosting"), True),
    "v1 namespace misspelt": (("'root\\virtualization')", "'root\\virtualisation')"), False),
    "result key renamed": (("$e.enabled_state = ", "$e.state = "), False),
    "loaded modules only": (("Get-Module -ListAvailable -Name", "Get-Module -Name"), True),
}


@pytest.mark.parametrize(("mutation", "modern"), PROBE_MUTATIONS.values(), ids=PROBE_MUTATIONS.keys())
def test_a_broken_probe_is_caught(mutation: Mutation, modern: bool) -> None:
    lab = Lab(modern=modern)
    params = ProbeParams(vms=VMS)
    good = PROBE.parse(lab.run(PROBE, params), params)

    result = lab.run(broken(PROBE, *mutation), params)

    try:
        found = PROBE.parse(result, params)
    except ResultParseError:
        return
    assert (found.api(), found.vms) != (good.api(), good.vms)


def _caught(
    lab: Lab, op: Operation[Any, Any], setup: Callable[[Lab, Operation[Any, Any]], None], final: str
) -> bool:
    """Whether ``op`` (broken) fails where the real op succeeds: parse error, a failed VM, or wrong state."""
    setup(lab, op)
    try:
        outcomes = lab.act(op, final, VMS[:1])
    except ResultParseError:
        return True
    checkpoints = [c.name for c in lab.registry().vms[0].checkpoints]
    expected = [] if final == "remove" else ["rollup-rehearsal"]
    version = lab.store.read("MPS01").products["{A}"].display_version
    return (
        not all(o.ok for o in outcomes)
        or lab.power("MPS01-LAB") != "Running"
        or checkpoints != expected
        or (final == "restore" and version != "4.0.1")
    )


def _create(lab: Lab, op: Operation[Any, Any]) -> None:
    lab.act(op, "create", VMS[:1])
    with lab.store.update("MPS01") as state:
        state.products["{A}"].display_version = "4.0.2"


def _nothing(lab: Lab, op: Operation[Any, Any]) -> None:
    return None


CMDLET_MUTATIONS: dict[str, tuple[Mutation, str]] = {
    "VM name comparison flipped": (("$_.Name -eq $v", "$_.Name -ne $v"), "create"),
    "result key renamed": (("$e.state_after = ", "$e.after = "), "create"),
    "checkpoint left unnamed": ((" -SnapshotName $p_snapshot", ""), "restore"),
    "snapshot comparison flipped": (("$_.Name -eq $p_snapshot", "$_.Name -ne $p_snapshot"), "restore"),
    "restore left to confirm": ((" -Confirm:$false", ""), "restore"),
}


@pytest.mark.parametrize(("mutation", "final"), CMDLET_MUTATIONS.values(), ids=CMDLET_MUTATIONS.keys())
def test_a_broken_cmdlets_script_is_caught(mutation: Mutation, final: str) -> None:
    setup = _nothing if final == "create" else _create
    assert not _caught(Lab(modern=True), VM_ACTION, setup, final)

    assert _caught(Lab(modern=True), broken(VM_ACTION, *mutation), setup, final)


WMI_MUTATIONS: dict[str, tuple[Mutation, str]] = {
    "job check flipped": (("if ($c.return_value -eq 4096)", "if ($c.return_value -ne 4096)"), "create"),
    "job never read again": (("$j = [wmi]$r.Job\n$n += 1", "$n += 1"), "create"),
    "snapshot text as MOF": (("GetText(1)", "GetText(0)"), "create"),
    "result key renamed": (("$e.state_after = ", "$e.after = "), "create"),
    "query for the VM's own settings": (("AND SettingType=5", "AND SettingType=3"), "restore"),
    "running VM not turned off": (("$ok = Set-RollupVmState $m 3", "$ok = $true"), "restore"),
    "snapshot path passed as its name": (("RemoveVirtualSystemSnapshot($s[0].__PATH)", "RemoveVirtualSystemSnapshot($s[0].ElementName)"), "remove"),
}  # fmt: skip


@pytest.mark.parametrize(("mutation", "final"), WMI_MUTATIONS.values(), ids=WMI_MUTATIONS.keys())
def test_a_broken_wmi_script_is_caught(mutation: Mutation, final: str) -> None:
    setup = _nothing if final == "create" else _create
    assert not _caught(Lab(modern=False), WMI_VM_ACTION, setup, final)

    assert _caught(Lab(modern=False), broken(WMI_VM_ACTION, *mutation), setup, final)


@pytest.mark.parametrize(("ps_version", "prefix"), [("4.0", ""), ("2.0", "Command execution stopped")])
def test_a_stopped_cmdlet_error_reads_as_the_hosts_powershell_writes_it(ps_version: str, prefix: str) -> None:
    """Under ``Stop``, PowerShell 2.0 wraps a non-terminating error; 3.0 and later throw it as it is."""
    lab = Lab(modern=True, ps_version=ps_version)
    script = (
        "$ErrorActionPreference = 'Stop'\n"
        "try { Get-Item 'C:\\nowhere' } catch { Write-Host $_.Exception.Message }\n"
    )
    with lab.store.update("HV01") as state:
        run = run_powershell(script, Machine(state, lab.blobs, now=NOW, user=ADMIN))

    assert run.stdout.startswith(prefix)
    assert "C:\\nowhere" in run.stdout


def test_a_wmi_path_naming_no_instance_fails_as_wmi_does() -> None:
    lab = Lab(modern=False)
    script = (
        "$j = [wmi]'\\\\HV01\\root\\virtualization:Msvm_ConcreteJob.InstanceID=\"NONE\"'\n"
        "$v = [wmi]'\\\\HV01\\root\\virtualization\\v2:Msvm_ConcreteJob.InstanceID=\"NONE\"'\n"
    )
    with lab.store.update("HV01") as state:
        run = run_powershell(script, Machine(state, lab.blobs, now=NOW, user=ADMIN))

    assert 'to type "System.Management.ManagementObject". Error: "Not found "' in run.stderr
    assert 'Error: "Invalid namespace "' in run.stderr


def test_checkpoints_may_share_a_name_and_the_script_then_refuses_to_choose() -> None:
    """Checkpoint-VM takes a name twice, as Hyper-V does; restoring by that name then fails."""
    lab = Lab(modern=True)
    with lab.store.update("HV01") as state:
        machine = Machine(state, lab.blobs, now=NOW, user=ADMIN, peers=lab.store)
        run = run_powershell(
            "foreach ($i in @(1, 2)) { Checkpoint-VM -Name 'MPS01-LAB' -SnapshotName s }", machine
        )
    params = VmActionParams(action="restore", vms=VMS[:1], snapshot="s")

    (outcome,) = VM_ACTION.parse(lab.run(VM_ACTION, params), params)

    assert run.stderr == ""
    assert [c.name for c in lab.registry().vms[0].checkpoints] == ["s", "s"]
    assert (outcome.ok, outcome.detail) == (False, "2 checkpoints are named s")
