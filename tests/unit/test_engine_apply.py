"""A whole run on a simulated fleet in-process: the rollup state, idempotence, gates, dry runs."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from rollup.audit.chain import verify_chain
from rollup.engine.dryrun import preview_plan
from rollup.engine.events import Event, StepOutcome, StepPreview, Verdict
from rollup.engine.journal import read_journal
from rollup.engine.journal_state import Confirmation, RunFinished, StepStatus
from rollup.engine.options import RunOptions
from rollup.engine.run import RunReport, apply_plan, confirm_step
from rollup.engine.rundir import list_runs
from rollup.errors import UsageError
from rollup.lab.state import HostState
from rollup.model.manifest import DEFAULT_MANIFEST, load_manifest
from rollup.planner import PlanStep
from rollup.testing.fleet import MemoryFleet, lab_manifest, memory_fleet

PREREQUISITES = "confirm-prerequisites"
NEW = "4.0.2491.0"


@pytest.fixture(scope="module", name="base")
def _base(tmp_path_factory: pytest.TempPathFactory) -> MemoryFleet:
    return memory_fleet(lab_manifest(), cache_dir=tmp_path_factory.getbasetemp() / "msi-cache", collab=3)


@pytest.fixture(name="fleet")
def _fleet(base: MemoryFleet) -> MemoryFleet:
    return base.fresh()


def _versions(state: HostState) -> dict[str, str]:
    return {p.display_name: p.display_version for p in state.products.values()}


def _apply(fleet: MemoryFleet, runs: Path, **options: Any) -> RunReport:
    return apply_plan(fleet.setup(runs), RunOptions(**options))


def test_a_full_apply_brings_every_host_to_the_rollup_state(fleet: MemoryFleet, tmp_path: Path) -> None:
    """MPS01, DNS01, MPSSQL and three COLLAB hosts end at the rollup's builds; the run is done."""
    report = _apply(fleet, tmp_path, confirm=(PREREQUISITES,))

    mps, dns, sql = fleet.state("MPS01"), fleet.state("DNS01"), fleet.state("MPSSQL")
    vdir = dns.iis["dnsprovider"]

    assert report.state == "done"
    assert len([v for v in _versions(mps).values() if v == NEW]) >= 17
    assert _versions(dns)["DNS Client"] == NEW
    assert _versions(sql)["Resource Manage Database"] == NEW
    for n in (1, 2, 3):
        assert _versions(fleet.state(f"COLLAB0{n}"))["Windows SharePoint Services Web Service"] == NEW
    assert (vdir.default_logon_domain, vdir.access_ssl) == ("\\", True)
    assert "c:\\configshare\\rollup.lock" not in mps.files


def test_the_share_keeps_every_original_msi_as_a_backup(fleet: MemoryFleet, tmp_path: Path) -> None:
    """After the run C:\\MSIShare holds the new files, and each original is kept as <name>.<stamp>.bak."""
    before = {k: f.sha256 for k, f in fleet.state("MPS01").files.items() if k.startswith("c:\\msishare\\")}

    _apply(fleet, tmp_path, confirm=(PREREQUISITES,))

    after = fleet.state("MPS01").files
    backups = {f.sha256 for k, f in after.items() if k.startswith("c:\\msishare\\") and k.endswith(".bak")}

    assert len(before) == 21
    assert set(before.values()) <= backups
    for name in fleet.manifest.msishare_files():
        assert after[f"c:\\msishare\\{name.name.lower()}"].sha256 == fleet.package.file(name.name).sha256


def test_a_second_apply_changes_nothing(fleet: MemoryFleet, tmp_path: Path) -> None:
    """Run again, every step is a no-op (or a false condition) and no host changes but the run's marker."""
    _apply(fleet, tmp_path, confirm=(PREREQUISITES,))
    states = {name: fleet.state(name) for name in fleet.store.names()}
    mutations = fleet.mutations()

    report = _apply(fleet, tmp_path)

    outcomes = {r.outcome for r in report.reports}
    changed = {n: fleet.mutations()[n] - mutations[n] for n in mutations}

    assert report.state == "done"
    assert outcomes <= {StepOutcome.NOOP, StepOutcome.SKIPPED}
    assert changed == {name: (3 if name == "MPS01" else 0) for name in mutations}  # marker, head, marker
    for name, state in states.items():
        assert _without_heads(fleet.state(name)) == _without_heads(state)


def _without_heads(state: HostState) -> dict[str, object]:
    """A host's state but its run counters and the heads file every run appends to (heads.record)."""
    dumped = state.model_dump(exclude={"mutations", "operations"})
    dumped["files"].pop("c:\\configshare\\rollup-heads.log", None)
    return dumped


def test_every_transition_is_journaled_and_audited(fleet: MemoryFleet, tmp_path: Path) -> None:
    """The journal has a start and a finish for each step; the audit chain verifies and records the run."""
    report = _apply(fleet, tmp_path, confirm=(PREREQUISITES,))
    (run,) = list_runs(tmp_path)
    entries = read_journal(run.journal_path).entries
    audit = run.audit_path.read_text().splitlines()

    started = {e.step for e in entries if e.event == "step_started"}
    finished = {e.step for e in entries if e.event == "step_finished"}

    assert started == finished == {r.step.id for r in report.reports}
    assert isinstance(entries[-1], RunFinished)
    assert entries[-1].state == "done"
    assert verify_chain(run.audit_path).bad is None
    assert '"event":"run_started"' in audit[0]
    assert '"event":"gate_confirmed"' in "".join(audit)
    assert '"event":"run_finished"' in audit[-1]


def test_dry_run_sends_only_reads_and_says_what_would_run(fleet: MemoryFleet, tmp_path: Path) -> None:
    """On the pre-rollup fleet the dry run predicts work everywhere, and no host's state changes."""
    events: list[Event] = []

    previews = preview_plan(fleet.setup(tmp_path, emit=events.append))

    verdicts = {p.step_id: p.verdict for p in previews}

    assert set(fleet.mutations().values()) == {0}
    assert verdicts[f"{PREREQUISITES}@MPS01"] is Verdict.ASK
    assert verdicts["extract-package@MPS01"] is Verdict.RUN
    assert verdicts["install-wss-web-service@COLLAB02"] is Verdict.RUN
    assert verdicts["collab-iis-restart@COLLAB02"] is Verdict.RUN
    assert verdicts["shared-oab-utility@MPS01"] is Verdict.SKIP
    assert [e for e in events if isinstance(e, StepPreview)] == list(previews)
    assert list_runs(tmp_path) == ()


def test_dry_run_after_the_rollup_predicts_no_work(fleet: MemoryFleet, tmp_path: Path) -> None:
    """Once applied, the dry run finds every step in effect, the gate included."""
    _apply(fleet, tmp_path, confirm=(PREREQUISITES,))
    mutations = fleet.mutations()

    previews = preview_plan(fleet.setup(tmp_path))

    assert {p.verdict for p in previews} <= {Verdict.NOOP, Verdict.SKIP}
    assert fleet.mutations() == mutations


def test_a_gate_with_nobody_to_ask_waits_then_confirm_and_resume_finish(
    fleet: MemoryFleet, tmp_path: Path
) -> None:
    """Without a terminal the run stops waiting; ``confirm`` records the operator; the resume finishes."""
    first = _apply(fleet, tmp_path)
    (run,) = list_runs(tmp_path)
    waiting_state = fleet.mutations()

    confirmed_run, step = confirm_step(
        tmp_path, "last", PREREQUISITES, operator="alice", control_host="c1", note="checked with the DBA"
    )
    second = _apply(fleet, tmp_path, resume=run.run_id)

    journal = read_journal(run.journal_path).entries
    gate = [e for e in journal if e.event == "gate_confirmed"]

    assert first.state == "waiting"
    assert [r.outcome for r in first.reports] == [StepOutcome.WAITING]
    assert waiting_state["MPS01"] == 2, "the marker stays while the run waits; its head is kept beside it"
    assert (confirmed_run.run_id, step) == (run.run_id, f"{PREREQUISITES}@MPS01")
    assert len(gate) == 1
    assert (gate[0].by, gate[0].note) == ("alice", "checked with the DBA")
    assert second.state == "done"
    assert verify_chain(run.audit_path).bad is None


def test_confirming_a_step_that_does_not_wait_is_refused(fleet: MemoryFleet, tmp_path: Path) -> None:
    """Only a waiting gate can be confirmed; the message lists what waits."""
    _apply(fleet, tmp_path)

    with pytest.raises(UsageError, match=r"extract-package is not waiting .*confirm-prerequisites@MPS01"):
        confirm_step(tmp_path, "last", "extract-package", operator="alice", control_host="c1")


def test_on_a_terminal_the_operator_is_asked_and_the_answer_recorded(
    fleet: MemoryFleet, tmp_path: Path
) -> None:
    """The ask callback gets the gate's checklist; its confirmation is journaled with the operator's name."""
    asked: list[tuple[str, tuple[str, ...]]] = []

    def ask(step: PlanStep, checklist: tuple[str, ...]) -> Confirmation:
        asked.append((step.id, checklist))
        return Confirmation(step=step.id, by="bob", at=datetime.now(UTC), note="ok")

    report = apply_plan(fleet.setup(tmp_path, ask=ask), RunOptions())

    (run,) = list_runs(tmp_path)
    records = read_journal(run.journal_path).entries

    assert report.state == "done"
    assert asked[0][0] == f"{PREREQUISITES}@MPS01"
    assert len(asked[0][1]) == 3
    assert [getattr(e, "by", None) for e in records if e.event == "gate_confirmed"] == ["bob"]


def test_an_operator_who_does_not_confirm_leaves_the_run_waiting(fleet: MemoryFleet, tmp_path: Path) -> None:
    """Answering no is not a failure: the run waits, and the journal says so."""
    report = apply_plan(fleet.setup(tmp_path, ask=lambda step, checklist: None), RunOptions())

    (run,) = list_runs(tmp_path)
    from rollup.engine.journal_state import replay

    state = replay(read_journal(run.journal_path).entries)

    assert report.state == "waiting"
    assert state.status(f"{PREREQUISITES}@MPS01") is StepStatus.WAITING


@pytest.fixture(scope="module", name="manual")
def _manual(tmp_path_factory: pytest.TempPathFactory) -> MemoryFleet:
    cache = tmp_path_factory.getbasetemp() / "msi-cache"
    return memory_fleet(load_manifest(DEFAULT_MANIFEST), cache_dir=cache, collab=1)


def test_a_manual_deployment_tool_step_runs_its_checks_after_confirmation(
    manual: MemoryFleet, tmp_path: Path
) -> None:
    """Confirming the uninstall without doing it fails its checks, and nothing after it starts."""
    fleet = manual.fresh()

    report = _apply(fleet, tmp_path, confirm=(PREREQUISITES, "uninstall-components"))

    failed = report.in_state(StepOutcome.FAILED)

    assert report.state == "failed"
    assert [r.step.id for r in failed] == ["uninstall-components@MPS01"]
    assert "no Deployment Tool log" in failed[0].summary
    assert {r.outcome for r in report.reports[2:]} == {StepOutcome.BLOCKED}
    assert fleet.mutations()["MPS01"] == 3, "the marker taken and removed, the head kept"


def test_dry_run_of_a_manual_deployment_tool_step_asks(manual: MemoryFleet, tmp_path: Path) -> None:
    """A manual Deployment Tool action not yet done is predicted as a question for an operator."""
    previews = preview_plan(manual.fresh().setup(tmp_path))

    verdicts = {p.step_id: (p.verdict, p.reason) for p in previews}

    assert verdicts["uninstall-components@MPS01"][0] is Verdict.ASK
    assert "17 component(s) to do" in verdicts["uninstall-components@MPS01"][1]
