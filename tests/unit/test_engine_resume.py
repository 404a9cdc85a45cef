"""Resuming runs: after a crash at any instant, after a plan change, after the run is done."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from rollup.engine.events import Event, Notice, StepOutcome
from rollup.engine.journal import read_journal
from rollup.engine.journal_state import StepStatus, replay
from rollup.engine.options import RunOptions
from rollup.engine.run import RunReport, apply_plan
from rollup.engine.rundir import list_runs
from rollup.errors import PlanError
from rollup.model.inventory import InventorySettings
from rollup.ops.registry import operation
from rollup.planner import build_plan
from rollup.testing.fleet import MemoryFleet, lab_manifest, memory_fleet, normalized
from rollup.testing.transport import FaultPlan, InjectedFault

GO = RunOptions(confirm=("confirm-prerequisites",))


class Crash(BaseException):
    """The controller dies here (nothing in the engine catches a BaseException of its own)."""


@pytest.fixture(scope="module", name="base")
def _base(tmp_path_factory: pytest.TempPathFactory) -> MemoryFleet:
    return memory_fleet(lab_manifest(), cache_dir=tmp_path_factory.getbasetemp() / "msi-cache", collab=2)


@pytest.fixture(scope="module", name="reference")
def _reference(base: MemoryFleet, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    fleet = base.fresh()
    assert apply_plan(fleet.setup(tmp_path_factory.mktemp("reference")), GO).state == "done"
    return {name: normalized(fleet.state(name)) for name in fleet.store.names()}


def _crash_at(host: str, op_id: str, *, processed: bool, n: int = 1) -> FaultPlan:
    def plan(name: str, op: str, count: int) -> InjectedFault | None:
        return InjectedFault(Crash(), processed=processed) if (name, op, count) == (host, op_id, n) else None

    return plan


def _crash_then_resume(fleet: MemoryFleet, runs: Path) -> RunReport:
    with pytest.raises(Crash):
        apply_plan(fleet.setup(runs), GO)
    healed = fleet.without_faults()
    (run,) = list_runs(runs)
    return apply_plan(healed.setup(runs), RunOptions(resume=run.run_id))


def test_a_crash_after_msiexec_ran_resumes_without_installing_again(
    base: MemoryFleet, tmp_path: Path
) -> None:
    """The journal shows the install started and never finished; the resume finds it installed."""
    fleet = base.fresh(faults=_crash_at("COLLAB01", "msi.install", processed=True))

    report = _crash_then_resume(fleet, tmp_path)

    install = next(r for r in report.reports if r.step.id == "install-wss-web-service@COLLAB01")

    assert report.state == "done"
    assert install.outcome is StepOutcome.DONE
    assert "after an earlier attempt" in install.summary
    assert fleet.state("COLLAB01").operations.count("msi.install") == 1


def test_a_crash_before_msiexec_ran_resumes_by_installing(base: MemoryFleet, tmp_path: Path) -> None:
    """The install never reached the host: the resume's guard finds it missing and installs it, once."""
    fleet = base.fresh(faults=_crash_at("COLLAB02", "msi.install", processed=False))

    report = _crash_then_resume(fleet, tmp_path)

    (run,) = list_runs(tmp_path)
    journal = replay(read_journal(run.journal_path).entries)

    assert report.state == "done"
    assert fleet.state("COLLAB02").operations.count("msi.install") == 1
    assert journal.steps["install-wss-web-service@COLLAB02"].attempt == 2
    assert journal.status("install-wss-web-service@COLLAB02") is StepStatus.DONE


def test_completed_steps_are_not_repeated_by_a_resume(base: MemoryFleet, tmp_path: Path) -> None:
    """Steps the journal records as done are kept: the resume sends none of their commands again."""
    fleet = base.fresh(faults=_crash_at("MPSSQL", "msi.install", processed=True))

    report = _crash_then_resume(fleet, tmp_path)

    ran = {r.step.id for r in report.reports}

    assert report.state == "done"
    assert "extract-package@MPS01" not in ran
    assert fleet.state("MPS01").operations.count("files.backup") == 1
    assert fleet.state("MPS01").operations.count("files.copy") == 1


def test_a_crash_in_the_middle_of_the_backup_loses_no_original(
    base: MemoryFleet, reference: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    """The backup renamed the originals, then the controller died: every original is kept, once."""
    fleet = base.fresh(faults=_crash_at("MPS01", "files.backup", processed=True))
    originals = {k: f.sha256 for k, f in fleet.state("MPS01").files.items() if k.startswith("c:\\msishare\\")}

    report = _crash_then_resume(fleet, tmp_path)

    kept = normalized(fleet.state("MPS01"))["backups"]

    assert report.state == "done"
    assert dict.fromkeys(originals.items(), 1) == kept
    assert normalized(fleet.state("MPS01")) == reference["MPS01"]


class _NthMutation:
    """Crashes the controller at the n-th operation (counted over all hosts) that may change a host."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.seen = 0
        self.lock = threading.Lock()

    def __call__(self, host: str, op_id: str, count: int) -> InjectedFault | None:
        op = operation(op_id)
        if op is None or not op.mutates or op_id.startswith("lock."):
            return None
        with self.lock:
            self.seen += 1
            hit = self.seen == self.n
        return InjectedFault(Crash(), processed=self.n % 2 == 0) if hit else None


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 13, 17, 21, 24, 27, 30, 34])
def test_a_crash_at_any_change_ends_like_an_uninterrupted_run(
    base: MemoryFleet, reference: dict[str, dict[str, Any]], tmp_path: Path, n: int
) -> None:
    """Killed at the n-th change (before or after it reached the host), the resume ends in the same state."""
    fleet = base.fresh(faults=_NthMutation(n))

    report = _crash_then_resume(fleet, tmp_path)

    assert report.state == "done"
    assert {name: normalized(fleet.state(name)) for name in fleet.store.names()} == reference


def test_a_resume_with_a_changed_plan_is_refused_naming_the_change(base: MemoryFleet, tmp_path: Path) -> None:
    """Other COLLAB waves than the run started with: refused, saying which host moved; --replan goes on."""
    fleet = base.fresh(faults=_crash_at("COLLAB01", "msi.install", processed=False))
    with pytest.raises(Crash):
        apply_plan(fleet.setup(tmp_path), GO)
    healed = fleet.without_faults()
    (run,) = list_runs(tmp_path)
    other = build_plan(fleet.manifest, fleet.inventory, wave_size=1)

    with pytest.raises(PlanError, match=r"COLLAB02 moved from wave 1 to wave 2") as refused:
        apply_plan(healed.setup(tmp_path, plan=other), RunOptions(resume=run.run_id))
    replanned = apply_plan(healed.setup(tmp_path, plan=other), RunOptions(resume=run.run_id, replan=True))

    audit = (run.path / "audit.jsonl").read_text()

    assert "--replan" in (refused.value.hint or "")
    assert replanned.state == "done"
    assert '"event":"override_recorded"' in audit
    assert "COLLAB02 moved from wave 1 to wave 2" in audit


def test_resuming_a_finished_run_does_nothing(base: MemoryFleet, tmp_path: Path) -> None:
    """A done run is not run again: a notice says so, and no host is contacted."""
    fleet = base.fresh()
    first = apply_plan(fleet.setup(tmp_path), GO)
    mutations = fleet.mutations()
    events: list[Event] = []

    report = apply_plan(fleet.setup(tmp_path, emit=events.append), RunOptions(resume="last"))

    assert first.state == "done"
    assert report.state == "done"
    assert report.reports == ()
    assert fleet.mutations() == mutations
    assert any(isinstance(e, Notice) and "already done" in e.text for e in events)


def test_a_resume_of_another_inventory_settings_is_refused(base: MemoryFleet, tmp_path: Path) -> None:
    """The Deployment Tool strategy shapes the plan too: changing it is named."""
    fleet = base.fresh(faults=_crash_at("DNS01", "msi.install", processed=False))
    with pytest.raises(Crash):
        apply_plan(fleet.setup(tmp_path), GO)
    changed = fleet.without_faults()
    changed.inventory = replace(
        changed.inventory, settings=InventorySettings(collab_wave_size=2, shared_oab="never")
    )

    with pytest.raises(PlanError, match=r"rollup_shared_oab: auto -> never"):
        apply_plan(changed.setup(tmp_path), RunOptions(resume="last"))


def test_ctrl_c_lets_running_steps_finish_and_leaves_a_resumable_run(
    base: MemoryFleet, tmp_path: Path
) -> None:
    """An interrupt stops the run: the audit log says interrupted, the journal has no end, resume finishes."""

    def interrupt(host: str, op: str, n: int) -> InjectedFault | None:
        return InjectedFault(KeyboardInterrupt()) if (host, op, n) == ("DNS01", "msi.install", 1) else None

    fleet = base.fresh(faults=interrupt)

    with pytest.raises(KeyboardInterrupt):
        apply_plan(fleet.setup(tmp_path), GO)
    (run,) = list_runs(tmp_path)
    last_audit = run.audit_path.read_text().splitlines()[-1]
    state = replay(read_journal(run.journal_path).entries, is_live=False)
    resumed = apply_plan(fleet.without_faults().setup(tmp_path), RunOptions(resume="last"))

    assert '"state":"interrupted"' in last_audit
    assert state.run_state.value == "interrupted"
    assert state.status("dnsclient-run-twice@DNS01") is StepStatus.RUNNING
    assert resumed.state == "done"
