"""
Operator decisions about failed steps (``--on-failure pause``): their journal entries, their replay,
what the scheduler does with them, and the run state they lead to.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from rollup.engine.decisions import final_state
from rollup.engine.events import StepOutcome
from rollup.engine.executors import StepReport
from rollup.engine.journal import Journal
from rollup.engine.journal_state import (
    ENTRY,
    JournalEntry,
    Outcome,
    RunState,
    StepStatus,
    replay,
)
from rollup.engine.scheduler import Scheduler
from rollup.model.steps import Retry
from rollup.planner import Plan, PlanStep

RUN_ID = "20261121T104512Z-3f9c"
T0 = datetime(2026, 11, 21, 10, 45, 12, tzinfo=UTC)
STEP = "install-msi@COLLAB01"
DEFAULTS: dict[str, dict[str, Any]] = {
    "run_started": {"run_id": RUN_ID, "plan_fingerprint": "f" * 64, "operator": "alice", "pid": 1},
    "run_resumed": {"run_id": RUN_ID, "operator": "bob", "pid": 2},
    "step_started": {"step": STEP, "attempt": 1},
    "step_finished": {"step": STEP, "outcome": "failed", "exit_code": 1603},
    "decision_waiting": {"step": STEP},
    "decision": {"step": STEP, "by": "alice", "note": "CHG-42"},
    "run_finished": {"state": "waiting"},
}


def _entries(*specs: tuple[str, dict[str, Any]]) -> list[JournalEntry]:
    """Entries with seq 1, 2, ... one second apart, from (event, fields) pairs, as the journal reads them."""
    return [
        ENTRY.validate_python(
            {"event": event, "seq": n, "ts": T0 + timedelta(seconds=n), **DEFAULTS.get(event, {}), **fields}
        )
        for n, (event, fields) in enumerate(specs, 1)
    ]


FAILED_AND_WAITING = (
    ("run_started", {}),
    ("step_started", {}),
    ("step_finished", {}),
    ("decision_waiting", {}),
)


def test_a_failed_step_waiting_for_a_decision_leaves_the_run_waiting() -> None:
    live = replay(_entries(*FAILED_AND_WAITING), is_live=True)
    stopped = replay(_entries(*FAILED_AND_WAITING, ("run_finished", {})), is_live=False)

    assert live.status(STEP) is StepStatus.AWAITING_DECISION
    assert live.run_state is RunState.WAITING
    assert stopped.run_state is RunState.WAITING
    assert stopped.steps[STEP].exit_code == 1603


@pytest.mark.parametrize(
    ("decision", "status"),
    [
        ("skip", StepStatus.SKIPPED_BY_OPERATOR),
        ("exclude", StepStatus.EXCLUDED),
        ("retry", StepStatus.FAILED),
        ("abort", StepStatus.FAILED),
    ],
)
def test_each_decision_is_replayed_with_who_made_it(decision: str, status: StepStatus) -> None:
    state = replay(
        _entries(*FAILED_AND_WAITING, ("run_finished", {}), ("decision", {"decision": decision})),
        is_live=False,
    )

    (recorded,) = state.decisions
    assert state.status(STEP) is status
    assert (recorded.step, recorded.decision, recorded.by, recorded.note) == (
        STEP,
        decision,
        "alice",
        "CHG-42",
    )
    assert recorded.at == T0 + timedelta(seconds=6)
    assert state.decision(STEP) == recorded
    assert state.run_state is RunState.WAITING  # a decision alone changes nothing until the resume
    assert state.abort_pending is (decision == "abort")
    assert dict(state.excluded) == ({"COLLAB01": recorded} if decision == "exclude" else {})


def test_retry_ends_when_the_step_starts_again_and_abort_when_the_run_resumes() -> None:
    retried = replay(
        _entries(*FAILED_AND_WAITING, ("decision", {"decision": "retry"}), ("step_started", {"attempt": 2}))
    )
    resumed = replay(
        _entries(*FAILED_AND_WAITING, ("decision", {"decision": "abort"}), ("run_resumed", {})), is_live=True
    )

    assert retried.status(STEP) is StepStatus.RUNNING
    assert retried.steps[STEP].attempt == 2
    assert resumed.abort_pending is False


def test_a_skip_and_an_exclusion_stay_through_later_resumes() -> None:
    other = "install-msi@COLLAB02"
    state = replay(
        _entries(
            *FAILED_AND_WAITING,
            ("step_finished", {"step": other}),
            ("run_finished", {}),
            ("decision", {"decision": "skip"}),
            ("decision", {"step": other, "decision": "exclude", "by": "bob", "note": ""}),
            ("run_resumed", {}),
            ("run_finished", {"state": "done-with-exceptions"}),
            ("run_resumed", {}),
        ),
        is_live=True,
    )

    assert state.status(STEP) is StepStatus.SKIPPED_BY_OPERATOR
    assert state.status(other) is StepStatus.EXCLUDED
    assert [d.by for d in state.excluded.values()] == ["bob"]
    assert list(state.excluded) == ["COLLAB02"]


def test_run_finished_done_with_exceptions_is_the_run_state() -> None:
    state = replay(_entries(("run_started", {}), ("run_finished", {"state": "done-with-exceptions"})))

    assert state.run_state is RunState.DONE_WITH_EXCEPTIONS


def test_the_journal_writes_decisions_durably_and_reads_them_back(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    with Journal.open(path) as journal:
        journal.run_started(run_id=RUN_ID, plan_fingerprint="f" * 64, operator="alice")
        journal.step_started(STEP, attempt=1)
        journal.step_finished(STEP, outcome=Outcome.FAILED, exit_code=1603)
        journal.decision_waiting(STEP)
        journal.decided(STEP, decision="exclude", by="alice", note="flaky NIC")

    state = Journal.open(path).state(is_live=False)

    assert state.status(STEP) is StepStatus.EXCLUDED
    assert [(d.decision, d.by, d.note) for d in state.decisions] == [("exclude", "alice", "flaky NIC")]
    assert '"event":"decision"' in path.read_text().splitlines()[-1]


def _step(step_id: str, host: str, after: tuple[str, ...] = ()) -> PlanStep:
    return PlanStep(
        id=f"{step_id}@{host}",
        step=step_id,
        host=host,
        kind="manual_gate",
        title=step_id,
        after=after,
        params={},
        wave=None,
        timeout_s=60,
        retry=Retry(),
    )


PLAN = Plan(
    manifest_id="m",
    manifest_digest="d",
    inventory_source="i",
    tool_version="t",
    fingerprint="f",
    steps=(
        _step("a", "H1"),
        _step("b", "H1", ("a@H1",)),
        _step("c", "H2", ("b@H1",)),
        _step("d", "H2"),
        _step("x", "H3"),
        _step("y", "H3", ("x@H3",)),
    ),
)


def _run(
    prior: dict[str, StepOutcome], excluded: dict[str, str], outcome: StepOutcome = StepOutcome.DONE
) -> tuple[Scheduler, dict[str, StepReport], list[str]]:
    ran: list[str] = []

    def run(step: PlanStep) -> StepReport:
        ran.append(step.id)
        return StepReport(step=step, outcome=outcome, summary="")

    scheduler = Scheduler(
        PLAN, run, prior=prior, forks=4, max_fail_percent=0, emit=lambda e: None, excluded=excluded
    )
    return scheduler, scheduler.run(), sorted(ran)


def test_the_steps_after_a_skipped_step_do_not_start_and_are_no_failure() -> None:
    scheduler, reports, ran = _run({"a@H1": StepOutcome.SKIPPED_BY_OPERATOR}, {})

    assert ran == ["d@H2", "x@H3", "y@H3"]
    assert reports["b@H1"].outcome is StepOutcome.BLOCKED
    assert reports["b@H1"].summary == "not started: a@H1 was skipped by an operator"
    assert reports["c@H2"].summary == "not started: a@H1 was skipped by an operator"
    assert set(scheduler.excepted) == {"b@H1", "c@H2"}
    assert final_state(reports, scheduler.excepted) == "done-with-exceptions"
    assert final_state(reports) == "failed"


def test_an_excluded_host_runs_nothing_more_and_its_dependants_do_not_start() -> None:
    scheduler, reports, ran = _run({}, {"H1": "H1 was excluded by an operator, alice"})

    assert ran == ["d@H2", "x@H3", "y@H3"]
    assert reports["a@H1"].outcome is StepOutcome.EXCLUDED
    assert reports["a@H1"].summary == "not started: H1 was excluded by an operator, alice"
    assert reports["c@H2"].outcome is StepOutcome.BLOCKED
    assert reports["c@H2"].summary == "not started: H1 was excluded by an operator"
    assert final_state(reports, scheduler.excepted) == "done-with-exceptions"


def test_a_failure_still_fails_the_run_whatever_was_decided_elsewhere() -> None:
    scheduler, reports, _ = _run({"x@H3": StepOutcome.SKIPPED_BY_OPERATOR}, {}, outcome=StepOutcome.FAILED)

    assert final_state(reports, scheduler.excepted) == "failed"


def test_nothing_decided_and_nothing_failed_is_done() -> None:
    scheduler, reports, _ = _run({}, {})

    assert final_state(reports, scheduler.excepted) == "done"
