"""Replaying a journal: each step's last status, the confirmations, and the run's state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rollup.engine.journal_state import (
    Confirmation,
    GateConfirmed,
    JournalEntry,
    Outcome,
    RunFinished,
    RunResumed,
    RunStarted,
    RunState,
    StepFinished,
    StepStarted,
    StepStatus,
    StepWaiting,
    replay,
)

RUN_ID = "20261121T104512Z-3f9c"
T0 = datetime(2026, 11, 21, 10, 45, 12, tzinfo=UTC)
STEP = "install-msi@COLLAB01"


def _entries(*specs: tuple[str, dict[str, Any]]) -> list[JournalEntry]:
    """Entries with seq 1, 2, ... and one second apart, from (event, fields) pairs."""
    kinds: dict[str, Any] = {
        "run_started": RunStarted,
        "run_resumed": RunResumed,
        "step_started": StepStarted,
        "step_finished": StepFinished,
        "step_waiting": StepWaiting,
        "gate_confirmed": GateConfirmed,
        "run_finished": RunFinished,
    }
    defaults: dict[str, dict[str, Any]] = {
        "run_started": {"run_id": RUN_ID, "plan_fingerprint": "f" * 64, "operator": "alice", "pid": 1},
        "run_resumed": {"run_id": RUN_ID, "operator": "bob", "pid": 2},
        "step_started": {"step": STEP, "attempt": 1},
        "step_finished": {"step": STEP, "outcome": "done"},
        "step_waiting": {"step": STEP},
        "gate_confirmed": {"step": STEP, "by": "alice"},
    }
    return [
        kinds[event](seq=n, ts=T0 + timedelta(seconds=n), **{**defaults.get(event, {}), **fields})
        for n, (event, fields) in enumerate(specs, 1)
    ]


START: tuple[str, dict[str, Any]] = ("run_started", {})


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        ([START], StepStatus.PENDING),
        ([START, ("step_started", {})], StepStatus.RUNNING),
        ([START, ("step_started", {}), ("step_finished", {"outcome": "done"})], StepStatus.DONE),
        ([START, ("step_started", {}), ("step_finished", {"outcome": "noop"})], StepStatus.NOOP),
        ([START, ("step_started", {}), ("step_finished", {"outcome": "failed"})], StepStatus.FAILED),
        ([START, ("step_finished", {"outcome": "skipped"})], StepStatus.SKIPPED),
        ([START, ("step_waiting", {})], StepStatus.WAITING),
        ([START, ("step_waiting", {}), ("gate_confirmed", {})], StepStatus.CONFIRMED),
        ([START, ("step_waiting", {}), ("gate_confirmed", {}), ("step_finished", {})], StepStatus.DONE),
        (
            [
                START,
                ("step_started", {}),
                ("step_finished", {"outcome": "failed"}),
                ("step_started", {"attempt": 2}),
            ],
            StepStatus.RUNNING,
        ),
    ],
)
def test_a_step_takes_the_status_of_its_last_transition(
    events: list[tuple[str, dict[str, Any]]], expected: StepStatus
) -> None:
    """pending, running, done, noop, failed, skipped, waiting, confirmed, and running again on retry."""
    state = replay(_entries(*events))

    assert state.status(STEP) is expected


@pytest.mark.parametrize(
    ("events", "is_live", "expected"),
    [
        ([], True, RunState.RUNNING),
        ([], False, RunState.INTERRUPTED),
        ([START, ("step_started", {})], True, RunState.RUNNING),
        ([START, ("step_started", {})], False, RunState.INTERRUPTED),
        ([START, ("step_waiting", {})], True, RunState.WAITING),
        ([START, ("step_waiting", {})], False, RunState.INTERRUPTED),
        ([START, ("step_waiting", {}), ("run_finished", {"state": "waiting"})], False, RunState.WAITING),
        (
            [START, ("step_finished", {"outcome": "failed"}), ("run_finished", {"state": "failed"})],
            False,
            RunState.FAILED,
        ),
        ([START, ("step_finished", {}), ("run_finished", {"state": "done"})], False, RunState.DONE),
        ([START, ("run_finished", {"state": "failed"}), ("run_resumed", {})], True, RunState.RUNNING),
        ([START, ("run_finished", {"state": "failed"}), ("run_resumed", {})], False, RunState.INTERRUPTED),
        (
            [
                START,
                ("run_finished", {"state": "waiting"}),
                ("run_resumed", {}),
                ("gate_confirmed", {}),
                ("step_finished", {}),
                ("run_finished", {"state": "done"}),
            ],
            False,
            RunState.DONE,
        ),
    ],
)
def test_the_run_state(events: list[tuple[str, dict[str, Any]]], is_live: bool, expected: RunState) -> None:
    """
    A run_finished after the last (re)start decides; else a live run runs or waits, a dead one is
    interrupted.
    """
    state = replay(_entries(*events), is_live=is_live)

    assert state.run_state is expected


def test_running_without_finish_keeps_the_attempt() -> None:
    """A step started with no finish is `running` with its attempt: it may have acted on the host."""
    state = replay(
        _entries(
            START,
            ("step_started", {}),
            ("step_finished", {"outcome": "failed", "exit_code": 1618}),
            ("step_started", {"attempt": 2}),
        ),
        is_live=False,
    )
    record = state.steps[STEP]

    assert (record.status, record.attempt) == (StepStatus.RUNNING, 2)
    assert record.exit_code == 1618
    assert state.steps_in(StepStatus.RUNNING) == (STEP,)


def test_finish_details_are_kept() -> None:
    """Exit code, retries, duration and summary come from the last step_finished."""
    state = replay(
        _entries(
            START,
            ("step_started", {}),
            ("step_finished", {"exit_code": 3010, "retries": 2, "duration_s": 4.5, "summary": "reboot"}),
        )
    )
    record = state.steps[STEP]

    assert (record.exit_code, record.retries, record.duration_s, record.summary) == (3010, 2, 4.5, "reboot")


def test_confirmations_record_who_when_and_why() -> None:
    """Each gate_confirmed is kept, in order, with the entry's time."""
    state = replay(
        _entries(
            START,
            ("step_waiting", {"checklist": ["backup taken"]}),
            ("gate_confirmed", {"by": "alice", "note": "backup 42"}),
        )
    )

    assert state.confirmations == (
        Confirmation(step=STEP, by="alice", at=T0 + timedelta(seconds=3), note="backup 42"),
    )
    assert state.steps[STEP].checklist == ("backup taken",)


def test_counts_ids_and_resumes() -> None:
    """Steps are counted by status, listed in first-mention order; resumes are counted; the run id kept."""
    state = replay(
        _entries(
            START,
            ("step_finished", {"step": "b@H1"}),
            ("step_started", {"step": "a@H1"}),
            ("run_resumed", {}),
            ("step_finished", {"step": "c@H1", "outcome": Outcome.NOOP}),
        ),
    )

    assert list(state.steps) == ["b@H1", "a@H1", "c@H1"]
    assert state.counts() == {"done": 1, "running": 1, "noop": 1}
    assert state.resumes == 1
    assert state.run_id == RUN_ID
    assert state.status("never-mentioned@H1") is StepStatus.PENDING


@pytest.mark.parametrize(
    ("before", "expected"),
    [
        ([("step_waiting", {}), ("run_finished", {"state": "waiting"})], RunState.WAITING),
        ([("step_started", {})], RunState.INTERRUPTED),
        ([("step_finished", {"outcome": "failed"}), ("run_finished", {"state": "failed"})], RunState.FAILED),
    ],
)
def test_a_refused_resume_leaves_the_run_as_it_was(
    before: list[tuple[str, dict[str, Any]]], expected: RunState
) -> None:
    """A resume refused before its first step (another run's marker) is not the run's outcome."""
    entries = _entries(START, *before, ("run_resumed", {}), ("run_finished", {"state": "refused"}))
    assert replay(entries, is_live=False).run_state is expected


def test_a_refused_fresh_run_is_refused() -> None:
    """A run refused at its start has nothing else to be."""
    assert replay(_entries(START, ("run_finished", {"state": "refused"}))).run_state is RunState.REFUSED
