"""
The rehearsal's stages when something goes wrong early, with fake providers and checks (no
``rollup apply`` process is started): what runs, what is skipped, and that the lab is always
put back and a record always written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from rollup.checks import Check, Status, check
from rollup.errors import CommandFailed, InventoryError
from rollup.model.inventory import Inventory, parse_inventory
from rollup.model.manifest import load_manifest
from rollup.rehearsal.applyrun import ApplyCommand
from rollup.rehearsal.flow import Rehearsal, RehearsalResult, rehearse
from rollup.rehearsal.providers import VmTarget
from rollup.rehearsal.record import read_records, rehearsals_dir

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = load_manifest(ROOT / "manifests" / "hmc40-rollup-2011-01.yml")
LAB = """
all:
  vars:
    rollup_user: LAB\\svc-rollup
    rollup_password: {env: ROLLUP_LAB_PASSWORD}
    rollup_hypervisors: {HV01: {provider: hyperv, address: 127.0.0.1}}
  children:
    deployment_tool: {hosts: {MPS01: {vm: {hypervisor: HV01, name: MPS01-LAB}}}}
    mps_engine: {hosts: {MPS01: }}
    dns: {hosts: {DNS01: {vm: {hypervisor: HV01, name: DNS01-LAB}}}}
"""


@dataclass
class FakeProvider:
    """Records every call; fails the ones named in ``fail``."""

    hypervisor: str = "HV01"
    fail: set[str] = field(default_factory=set)
    calls: list[str] = field(default_factory=list)
    closed: bool = False

    def _call(self, what: str, vms: Sequence[VmTarget]) -> None:
        self.calls.append(f"{what} {','.join(vm.vm for vm in vms)}")
        if what in self.fail:
            raise CommandFailed(f"{self.hypervisor}: {what} failed: {vms[0].vm}: invalid state")

    def check(self, vms: Sequence[VmTarget]) -> None:
        self._call("check", vms)

    def snapshot(self, vms: Sequence[VmTarget], name: str) -> None:
        self._call("snapshot", vms)

    def revert(self, vms: Sequence[VmTarget], name: str) -> None:
        self._call("revert", vms)

    def remove(self, vms: Sequence[VmTarget], name: str) -> None:
        self._call("remove", vms)

    def power_off(self, vm: VmTarget) -> None:
        self._call("power_off", (vm,))

    def power_on(self, vm: VmTarget) -> None:
        self._call("power_on", (vm,))

    def close(self) -> None:
        self.closed = True


@dataclass(frozen=True)
class Checked:
    passed: bool
    line: str
    failed: tuple[tuple[str, Check], ...] = ()

    def summary(self) -> str:
        return self.line

    def failures(self) -> tuple[tuple[str, Check], ...]:
        return self.failed


PENDING = check("host", "pending reboot", "none", "PendingFileRenameOperations", Status.FAIL)


def lab(tmp_path: Path, text: str = LAB) -> Inventory:
    return parse_inventory(yaml.safe_load(text), source="inventory/lab.yml", base_dir=tmp_path)


def run(
    tmp_path: Path, provider: FakeProvider, *, preflight: bool = True, keep: bool = False
) -> RehearsalResult:
    runs = tmp_path / ".rollup" / "runs"
    line = f"preflight: 3 hosts, 9 checks: {'9 ok' if preflight else '1 fail'}"
    rehearsal = Rehearsal(
        manifest=MANIFEST,
        inventory=lab(tmp_path),
        runs_dir=runs,
        providers={"HV01": provider},
        preflight=lambda: Checked(preflight, line, () if preflight else (("DNS01", PENDING),)),
        verify=lambda: Checked(True, "verify: fine"),
        apply=ApplyCommand(
            inventory=tmp_path / "lab.yml", manifest=tmp_path / "m.yml", runs_dir=runs, package_dir=None
        ),
        outage=None,
        drills=("kill-resume",),
        keep=keep,
        seed=3,
    )
    return rehearse(rehearsal, now=lambda: datetime(2011, 3, 21, 9, 30, tzinfo=UTC))


def test_a_failed_preflight_skips_apply_and_verify_but_the_lab_is_put_back(tmp_path: Path) -> None:
    """Snapshot, preflight fails, revert and cleanup still run; the record says failed, and why."""
    provider = FakeProvider()

    result = run(tmp_path, provider, preflight=False)
    stages = {s.name: (s.result, s.detail) for s in result.record.stages}

    assert provider.calls == ["check MPS01-LAB,DNS01-LAB", "snapshot MPS01-LAB,DNS01-LAB",
                              "revert MPS01-LAB,DNS01-LAB", "remove MPS01-LAB,DNS01-LAB"]  # fmt: skip
    assert stages["preflight"] == (
        "failed",
        "preflight: 3 hosts, 9 checks: 1 fail (DNS01: pending reboot: PendingFileRenameOperations [fail])",
    )
    assert stages["apply"] == ("skipped", "an earlier stage failed")
    assert stages["verify"] == ("skipped", "the apply did not finish")
    assert (stages["revert"][0], stages["cleanup"][0]) == ("passed", "passed")
    assert result.record.result == "failed"
    assert result.record.run_id is None
    assert provider.closed
    assert [r.rehearsal_id for _, r in read_records(rehearsals_dir(tmp_path / ".rollup" / "runs"))[0]] == [
        result.record.rehearsal_id
    ]


def test_a_failed_snapshot_touches_nothing_else_and_is_not_reverted(tmp_path: Path) -> None:
    """Nothing runs after a failed snapshot; there is nothing to revert; removal is still tried."""
    provider = FakeProvider(fail={"snapshot"})

    result = run(tmp_path, provider)
    stages = {s.name: (s.result, s.detail) for s in result.record.stages}

    assert stages["snapshot"] == ("failed", "HV01: snapshot failed: MPS01-LAB: invalid state")
    assert stages["preflight"] == ("skipped", "no snapshot was taken")
    assert stages["apply"] == ("skipped", "an earlier stage failed")
    assert stages["revert"] == ("skipped", "no snapshot was taken")
    assert provider.calls[-1] == "remove MPS01-LAB,DNS01-LAB"
    assert result.record.result == "failed"


def test_keep_leaves_the_snapshot_and_skips_revert_and_cleanup(tmp_path: Path) -> None:
    """With ``keep`` the lab stays as it is and the snapshot remains; the record says so."""
    provider = FakeProvider()

    result = run(tmp_path, provider, preflight=False, keep=True)
    snapshot = result.record.snapshot

    assert provider.calls == ["check MPS01-LAB,DNS01-LAB", "snapshot MPS01-LAB,DNS01-LAB"]
    assert snapshot is not None
    assert (snapshot.kept, snapshot.reverted, snapshot.removed) == (True, False, False)
    assert snapshot.name == f"rollup-{result.record.rehearsal_id}"
    assert [(v.host, v.vm, v.provider) for v in snapshot.vms] == [
        ("MPS01", "MPS01-LAB", "hyperv"),
        ("DNS01", "DNS01-LAB", "hyperv"),
    ]


def test_a_failed_revert_fails_the_rehearsal_and_is_named(tmp_path: Path) -> None:
    """The revert's failure is the stage's detail; cleanup is still tried."""
    provider = FakeProvider(fail={"revert"})

    result = run(tmp_path, provider, preflight=False)
    revert = result.record.stage("revert")

    assert revert is not None
    assert (revert.result, revert.detail) == ("failed", "HV01: revert failed: MPS01-LAB: invalid state")
    assert provider.calls[-1] == "remove MPS01-LAB,DNS01-LAB"


def test_an_inventory_host_without_a_vm_is_refused_before_anything(tmp_path: Path) -> None:
    """A host the rehearsal could not put back stops it before any snapshot."""
    provider = FakeProvider()
    text = LAB.replace("{DNS01: {vm: {hypervisor: HV01, name: DNS01-LAB}}}", "{DNS01: }")

    with pytest.raises(InventoryError, match="DNS01: no vm; a rehearsal snapshots every host"):
        rehearse(Rehearsal(
            manifest=MANIFEST, inventory=lab(tmp_path, text), runs_dir=tmp_path, providers={"HV01": provider},
            preflight=lambda: Checked(True, ""), verify=lambda: Checked(True, ""),
            apply=ApplyCommand(inventory=tmp_path, manifest=tmp_path, runs_dir=tmp_path, package_dir=None),
            outage=None,
        ))  # fmt: skip

    assert provider.calls == []
