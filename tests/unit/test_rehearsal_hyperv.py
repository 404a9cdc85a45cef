"""
Hyper-V: the scripts' parsers (the 2008 R2 WMI return codes and job states above all), the
declared PowerShell version, and the provider against the simulated Hyper-V host, whose
checkpoints capture and restore its guests' states.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from rollup.credentials import CredentialCache, Credentials
from rollup.errors import CommandFailed
from rollup.lab.hyperv import VM_REGISTRY, hyperv_state, read_registry
from rollup.lab.runner import LabRunner
from rollup.lab.state import HostState, InstalledProduct, MemoryBlobStore, MemoryStateStore
from rollup.model.inventory import parse_inventory
from rollup.ops.base import CommandResult
from rollup.ops.files import EnsureDirParams
from rollup.ops.hyperv import PROBE, VM_ACTION, HyperVHost, ProbeParams, VmActionParams, parse_cmdlets
from rollup.ops.hyperv_wmi import WMI_VM_ACTION, parse_wmi
from rollup.ops.registry import operation
from rollup.ps.check import ps2_problems
from rollup.ps.result import format_result
from rollup.rehearsal.hyperv import HyperVProvider
from rollup.rehearsal.providers import ProviderContext, VmTarget
from rollup.secret import Secret
from rollup.testing.transport import direct_registry

ADMIN = "HOSTING\\rollup-lab"
VMS = (VmTarget(host="MPS01", vm="MPS01-LAB"), VmTarget(host="DNS01", vm="DNS01-LAB"))


def result(op: str, value: object, exit_code: int = 0) -> CommandResult:
    stdout = format_result(value) + "\n"
    return CommandResult(
        host="HV01", op=op, command="", exit_code=exit_code, stdout=stdout, stderr="", duration_s=0.1
    )


def test_the_wmi_parser_judges_return_codes_and_job_states() -> None:
    """0 is done, 4096 is done only when its job Completed (7), 32775 is an invalid state."""
    params = VmActionParams(action="restore", vms=("A", "B", "C", "D"), snapshot="s")
    apply = {"call": "ApplyVirtualSystemSnapshot", "return_value": 4096}
    missing = {"job_state": 10, "error_code": 32768, "error": "The snapshot files are missing"}
    calls: dict[str, list[dict[str, Any]]] = {
        "A": [{"call": "RequestStateChange", "return_value": 0}],
        "B": [{**apply, "job_state": 7, "error_code": 0}],
        "C": [{**apply, **missing}],
        "D": [{"call": "RequestStateChange", "return_value": 32775}],
    }
    value = {"vms": [{"vm": n, "ok": n in "AB", "calls": c, "state_before": 2, "state_after": 32769}
                     for n, c in calls.items()]}  # fmt: skip

    a, b, c, d = parse_wmi(result("hyperv.wmi_vm_action", value), params)

    assert (a.ok, b.ok, c.ok, d.ok) == (True, True, False, False)
    assert (a.state_before, a.state_after) == ("Running", "Saved")
    assert c.detail == (
        "ApplyVirtualSystemSnapshot: the job ended Exception: The snapshot files are missing "
        "(error code 32768)"
    )
    assert d.detail == "RequestStateChange returned 32775 (invalid state for this operation)"


def test_the_wmi_parser_never_trusts_ok_alone() -> None:
    """A VM the script calls ok but whose job ended Terminated fails; a thrown error is reported as such."""
    params = VmActionParams(action="create", vms=("A", "B"), snapshot="s")
    value = {"vms": [
        {"vm": "A", "ok": True, "calls": [{"call": "CreateVirtualSystemSnapshot", "return_value": 4096,
                                           "job_state": 8}]},
        {"vm": "B", "ok": False, "calls": [], "error": "0 virtual machines are named B"},
    ]}  # fmt: skip

    a, b = parse_wmi(result("hyperv.wmi_vm_action", value), params)

    assert not a.ok
    assert a.detail == "CreateVirtualSystemSnapshot: the job ended Terminated"
    assert (b.ok, b.detail) == (False, "0 virtual machines are named B")


def test_the_cmdlets_parser_reads_each_vm() -> None:
    """Each VM's ok, states and error, in the order asked."""
    params = VmActionParams(action="create", vms=("A", "B"), snapshot="s")
    value = {"vms": [{"vm": "A", "ok": True, "state_before": "Running", "state_after": "Running"},
                     {"vm": "B", "ok": False, "error": "a checkpoint named s already exists"}]}  # fmt: skip

    a, b = parse_cmdlets(result("hyperv.vm_action", value), params)

    assert (a.ok, a.state_after, a.detail) == (True, "Running", "")
    assert (b.ok, b.detail) == (False, "a checkpoint named s already exists")


def test_the_probe_chooses_cmdlets_where_the_module_is_and_wmi_v1_otherwise() -> None:
    """PowerShell 3.0 with the Hyper-V module: cmdlets; root\\virtualization only: WMI; neither: none."""

    def probe(ps: str, module: bool, namespace: str) -> HyperVHost:
        value = {"ps_version": ps, "os_version": "6.1", "module": module, "namespace": namespace, "vms": []}
        return PROBE.parse(result("hyperv.probe", value), ProbeParams())

    assert probe("4.0", True, "root\\virtualization\\v2").api() == "cmdlets"
    assert probe("2.0", False, "root\\virtualization").api() == "wmi"
    assert probe("2.0", True, "root\\virtualization").api() == "wmi"
    assert probe("4.0", False, "").api() is None


def test_the_cmdlets_script_needs_its_declared_powershell_and_the_wmi_script_only_2_0() -> None:
    """Checked at 2.0 the cmdlets script is refused (the Hyper-V module); at its declared 3.0 it is clean."""
    cmdlets = VM_ACTION.command(VmActionParams(action="create", vms=("A",), snapshot="s")).redacted()
    wmi = WMI_VM_ACTION.command(VmActionParams(action="create", vms=("A",), snapshot="s")).redacted()

    at_2_0 = ps2_problems(cmdlets)

    assert VM_ACTION.min_powershell == "3.0"
    assert any("checkpoint-vm: Windows 8/Server 2012 module" in p for p in at_2_0)
    assert ps2_problems(cmdlets, minimum=VM_ACTION.min_powershell) == []
    assert WMI_VM_ACTION.min_powershell == "2.0"
    assert ps2_problems(wmi) == []


# ---- the provider against the simulated Hyper-V host --------------------------------------------


def guest(name: str, role: str) -> HostState:
    state = HostState(name=name, roles=[role])
    state.products["{A}"] = InstalledProduct(product_code="{A}", display_name="DNS Client",
                                             display_version="4.0.1", upgrade_code="{U}")  # fmt: skip
    return state


class Lab:
    """HV01 holding MPS01 and DNS01, served by a LabRunner through direct transports."""

    def __init__(self, *, modern: bool, api: str = "auto") -> None:
        hv = hyperv_state("HV01", {"MPS01-LAB": "MPS01", "DNS01-LAB": "DNS01"}, admin=ADMIN, modern=modern)
        self.store = MemoryStateStore([guest("MPS01", "deployment_tool"), guest("DNS01", "dns"), hv])
        self.runner = LabRunner(self.store, MemoryBlobStore(), time_factor=0.0, clock=lambda: 1.3e9)
        self.registry = direct_registry(self.runner)
        text = f"""
all:
  vars:
    rollup_user: {ADMIN}
    rollup_password: {{env: HV_PASSWORD}}
    rollup_hypervisors: {{HV01: {{provider: hyperv, hyperv_api: {api}, address: 127.0.0.1}}}}
  children:
    deployment_tool: {{hosts: {{MPS01: {{vm: {{hypervisor: HV01, name: MPS01-LAB}}}}}}}}
"""
        self.inventory = parse_inventory(yaml.safe_load(text), source="lab.yml", base_dir=Path("."))
        context = ProviderContext(
            transports=self.registry, credentials=CredentialCache(prompt=None, env={"HV_PASSWORD": "pw"})
        )
        self.provider = HyperVProvider(self.inventory.hypervisor("HV01"), context)

    def change(self, host: str) -> None:
        """Change ``host`` through an operation, as a rollup would (counted as a mutation)."""
        op = operation("files.ensure_dir")
        assert op is not None
        target = replace(self.inventory.hypervisor("HV01").connection, name=host)
        transport = self.registry.create(target, Credentials(ADMIN, Secret("pw")))
        transport.run(op.command(EnsureDirParams(path="C:\\temp\\rehearsal")), timeout_s=60)
        with self.store.update(host) as state:
            state.products["{A}"].display_version = "4.0.2"

    def registry_of_hv(self) -> Any:
        return read_registry(self.store.read("HV01"))


def without_counters(state: HostState) -> dict[str, Any]:
    return state.model_dump(exclude={"mutations", "operations"})


@pytest.mark.parametrize(
    ("modern", "api"), [(False, "wmi"), (True, "cmdlets")], ids=["2008r2-wmi", "2012r2-cmdlets"]
)
def test_a_checkpoint_and_restore_put_the_guests_back_counters_aside(modern: bool, api: str) -> None:
    """Snapshot, change a guest, revert: the guest equals its state before, but for the lab's counters."""
    lab = Lab(modern=modern)
    before = {name: lab.store.read(name) for name in ("MPS01", "DNS01")}

    lab.provider.check(VMS)
    lab.provider.snapshot(VMS, "rollup-rehearsal")
    lab.change("MPS01")
    changed = lab.store.read("MPS01")
    lab.provider.revert(VMS, "rollup-rehearsal")
    lab.provider.remove(VMS, "rollup-rehearsal")
    after = {name: lab.store.read(name) for name in ("MPS01", "DNS01")}

    assert lab.provider.api() == api
    assert without_counters(changed) != without_counters(before["MPS01"])
    assert without_counters(after["MPS01"]) == without_counters(before["MPS01"])
    assert without_counters(after["DNS01"]) == without_counters(before["DNS01"])
    assert after["MPS01"].mutations == changed.mutations == before["MPS01"].mutations + 1
    assert all(vm.power == "Running" and vm.checkpoints == [] for vm in lab.registry_of_hv().vms)


def test_power_off_and_on_change_the_vms_state() -> None:
    """The host-down drill's operations: off, then running again."""
    lab = Lab(modern=False)

    lab.provider.power_off(VMS[1])
    off = lab.registry_of_hv().vm("DNS01-LAB").power
    lab.provider.power_on(VMS[1])

    assert off == "Off"
    assert lab.registry_of_hv().vm("DNS01-LAB").power == "Running"


def test_a_missing_vm_is_named_with_its_host_before_anything_changes() -> None:
    """``check`` names each VM that does not exist, and its inventory host."""
    lab = Lab(modern=True)

    with pytest.raises(CommandFailed) as caught:
        lab.provider.check((*VMS, VmTarget(host="COLLAB01", vm="COLLAB01-LAB")))

    assert str(caught.value) == "HV01: COLLAB01-LAB (host COLLAB01): no such VM"
    assert lab.store.read("HV01").files[VM_REGISTRY.lower()].text is not None


def test_failures_name_the_hypervisor_and_each_vm() -> None:
    """Reverting to a checkpoint that does not exist fails for every VM, each named."""
    lab = Lab(modern=False)

    with pytest.raises(CommandFailed) as caught:
        lab.provider.revert(VMS, "nothing")

    assert str(caught.value) == (
        "HV01: restore of nothing failed: MPS01-LAB: 0 checkpoints are named nothing; "
        "DNS01-LAB: 0 checkpoints are named nothing"
    )


def test_the_cmdlets_are_refused_by_a_2008_r2_host() -> None:
    """Forcing ``hyperv_api: cmdlets`` on a 2008 R2 host fails with PowerShell's own words."""
    lab = Lab(modern=False, api="cmdlets")

    with pytest.raises(CommandFailed) as caught:
        lab.provider.snapshot(VMS[:1], "s")

    assert "The term 'Get-VM' is not recognized" in str(caught.value)
