"""
What a run journal (``rollup.engine.journal``) says: its entries, and their replay into run state.

Events (``event`` field; ``seq`` and ``ts`` on every line):

- ``run_started`` / ``run_resumed``: run id, operator, pid (and the plan fingerprint at start);
- ``step_started``: plan step id (``<step>@<HOST>``) and attempt (1-based);
- ``step_finished``: outcome ``done`` | ``noop`` (the guard found it already in effect) |
  ``failed`` | ``skipped`` (its condition was false), exit code, retries, duration, redacted summary;
- ``step_waiting``: a manual gate with no terminal to ask on, and the checklist shown;
- ``gate_confirmed``: who confirmed a gate, and a note (``ts`` says when);
- ``decision_waiting``: a failed step waits for an operator's decision (``--on-failure pause``
  with no terminal to ask on);
- ``decision``: an operator's decision about a failed step, ``retry`` | ``skip`` | ``exclude``
  (its host) | ``abort``, who made it, and a note;
- ``shell_opened``: a WinRM shell the process opened (host, ShellId, pid);
- ``unit_done``: a unit of work inside a step finished (one Deployment Tool command, one
  restart), so that a resume does not do it again;
- ``run_finished``: the final state, ``done`` | ``done-with-exceptions`` | ``failed`` | ``waiting``.

``replay`` folds entries into a ``JournalState``: each step's status, the confirmations and
decisions, the hosts excluded, and the run's state. It is pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter


class Outcome(StrEnum):
    """How a step ended."""

    DONE = "done"
    NOOP = "noop"
    FAILED = "failed"
    SKIPPED = "skipped"


FinalState = Literal["done", "done-with-exceptions", "failed", "waiting", "refused"]

Choice = Literal["retry", "skip", "exclude", "abort"]
"""What an operator decides about a failed step (``--on-failure pause``, ``rollup decide``)."""
CHOICES: tuple[Choice, ...] = ("retry", "skip", "exclude", "abort")


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    seq: int = Field(ge=1)
    ts: AwareDatetime
    prev: str | None = None
    """SHA-256 of the journal line before this one (64 zeros for the first): the journal's chain."""


class RunStarted(_Entry):
    event: Literal["run_started"] = "run_started"
    run_id: str
    plan_fingerprint: str
    operator: str
    pid: int


class RunResumed(_Entry):
    event: Literal["run_resumed"] = "run_resumed"
    run_id: str
    operator: str
    pid: int


class StepStarted(_Entry):
    event: Literal["step_started"] = "step_started"
    step: str
    attempt: int = Field(ge=1)


class StepFinished(_Entry):
    event: Literal["step_finished"] = "step_finished"
    step: str
    outcome: Outcome
    exit_code: int | None = None
    retries: int = Field(default=0, ge=0)
    duration_s: float = Field(default=0.0, ge=0)
    summary: str = ""


class StepWaiting(_Entry):
    event: Literal["step_waiting"] = "step_waiting"
    step: str
    checklist: tuple[str, ...] = ()


class GateConfirmed(_Entry):
    event: Literal["gate_confirmed"] = "gate_confirmed"
    step: str
    by: str
    note: str = ""


class DecisionWaiting(_Entry):
    """A failed step waits for an operator's decision (``rollup decide``): nobody to ask now."""

    event: Literal["decision_waiting"] = "decision_waiting"
    step: str


class Decided(_Entry):
    """An operator decided what becomes of a failed step (and, for ``exclude``, of its host)."""

    event: Literal["decision"] = "decision"
    step: str
    decision: Choice
    by: str
    note: str = ""


class UnitDone(_Entry):
    """A unit of work inside a step finished (a Deployment Tool command, a restart): a resume skips it."""

    event: Literal["unit_done"] = "unit_done"
    step: str
    unit: str


class ShellOpened(_Entry):
    """A WinRM shell this run's process ``pid`` opened on ``host``: a resume deletes those of
    earlier processes, which a killed controller leaves open against the shell quota."""

    event: Literal["shell_opened"] = "shell_opened"
    host: str
    shell_id: str
    pid: int


class RunFinished(_Entry):
    event: Literal["run_finished"] = "run_finished"
    state: FinalState
    audit_head: str | None = None
    """The audit log's head hash after its ``run_finished`` record: a copy a truncation of the
    audit log does not remove (``rollup audit verify RUN`` checks it is still in the chain)."""


JournalEntry = Annotated[
    RunStarted
    | RunResumed
    | StepStarted
    | StepFinished
    | StepWaiting
    | GateConfirmed
    | DecisionWaiting
    | Decided
    | UnitDone
    | ShellOpened
    | RunFinished,
    Field(discriminator="event"),
]
ENTRY: TypeAdapter[JournalEntry] = TypeAdapter(JournalEntry)


class StepStatus(StrEnum):
    """Where a plan step stands after replay."""

    PENDING = "pending"
    RUNNING = "running"
    """Started with no finish: it MAY have acted on the host. A resume never re-runs it blindly;
    the engine asks the step's guard fact whether its effect is in place."""
    DONE = "done"
    NOOP = "noop"
    FAILED = "failed"
    SKIPPED = "skipped"
    WAITING = "waiting"
    CONFIRMED = "confirmed"
    AWAITING_DECISION = "awaiting-decision"
    """Failed, and waits for an operator's decision (``rollup decide``)."""
    SKIPPED_BY_OPERATOR = "skipped-by-operator"
    """Failed, and an operator decided to skip it: the steps after it do not start in this run."""
    EXCLUDED = "excluded"
    """Failed, and an operator excluded its host from the rest of the run."""


class RunState(StrEnum):
    """Where a run stands after replay."""

    RUNNING = "running"
    WAITING = "waiting"
    FAILED = "failed"
    DONE = "done"
    DONE_WITH_EXCEPTIONS = "done-with-exceptions"
    """Ended with nothing failed or waiting, but an operator skipped a step or excluded a host."""
    INTERRUPTED = "interrupted"
    """No ``run_finished`` since the last start or resume, and no live process holds the run."""
    REFUSED = "refused"
    """Stopped before its first step (another run's marker on the Deployment Tool host): never ``last``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StepRecord:
    """A plan step's last known state, from its last transition (and the last finish)."""

    step: str
    status: StepStatus
    attempt: int = 0
    """The last attempt started (0: never started)."""
    exit_code: int | None = None
    retries: int = 0
    duration_s: float | None = None
    summary: str = ""
    checklist: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Confirmation:
    """A manual gate confirmed by an operator."""

    step: str
    by: str
    at: datetime
    note: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """An operator's decision about a failed step."""

    step: str
    decision: Choice
    by: str
    at: datetime
    note: str

    @property
    def host(self) -> str:
        """The step's host (the part of the plan step id after ``@``)."""
        return self.step.rsplit("@", 1)[-1]


@dataclass(frozen=True, slots=True, kw_only=True)
class JournalState:
    """The replay of a journal: per-step status, confirmations, and the run's state."""

    run_state: RunState
    steps: Mapping[str, StepRecord]
    """Plan steps the journal mentions, in the order it first mentions them."""
    confirmations: tuple[Confirmation, ...] = ()
    run_id: str | None = None
    resumes: int = 0
    units: Mapping[str, frozenset[str]] = field(default_factory=lambda: MappingProxyType({}))
    """The units of work done inside each step (``unit_done``), by plan step id."""
    decisions: tuple[Decision, ...] = ()
    """Every operator decision about a failed step, in journal order."""
    abort_pending: bool = False
    """An ``abort`` decision no start or resume has followed yet: the next resume ends the run ``failed``."""

    @property
    def excluded(self) -> Mapping[str, Decision]:
        """The hosts an operator excluded from the rest of the run, with the decision (the first)."""
        found: dict[str, Decision] = {}
        for decision in self.decisions:
            if decision.decision == "exclude":
                found.setdefault(decision.host, decision)
        return found

    def decision(self, step: str) -> Decision | None:
        """The last decision about ``step``, if any."""
        return next((d for d in reversed(self.decisions) if d.step == step), None)

    def status(self, step: str) -> StepStatus:
        """The status of ``step``: ``pending`` when the journal never mentions it."""
        record = self.steps.get(step)
        return StepStatus.PENDING if record is None else record.status

    def steps_in(self, *statuses: StepStatus) -> tuple[str, ...]:
        """The plan steps whose status is one of ``statuses``, in journal order."""
        return tuple(step for step, record in self.steps.items() if record.status in statuses)

    def counts(self) -> dict[str, int]:
        """How many steps are in each status (only statuses that occur)."""
        counts: dict[str, int] = {}
        for record in self.steps.values():
            counts[record.status.value] = counts.get(record.status.value, 0) + 1
        return counts


StepEntry = StepStarted | StepFinished | StepWaiting | GateConfirmed | DecisionWaiting | Decided
_DECIDED = {
    "retry": StepStatus.FAILED,
    "abort": StepStatus.FAILED,
    "skip": StepStatus.SKIPPED_BY_OPERATOR,
    "exclude": StepStatus.EXCLUDED,
}


def _step_update(record: StepRecord, entry: StepEntry) -> StepRecord:
    if isinstance(entry, StepStarted):
        return replace(record, status=StepStatus.RUNNING, attempt=entry.attempt)
    if isinstance(entry, StepFinished):
        return replace(
            record,
            status=StepStatus(entry.outcome.value),
            exit_code=entry.exit_code,
            retries=entry.retries,
            duration_s=entry.duration_s,
            summary=entry.summary,
        )
    if isinstance(entry, StepWaiting):
        return replace(record, status=StepStatus.WAITING, checklist=entry.checklist)
    if isinstance(entry, DecisionWaiting):
        return replace(record, status=StepStatus.AWAITING_DECISION)
    if isinstance(entry, Decided):
        return replace(record, status=_DECIDED[entry.decision])
    return replace(record, status=StepStatus.CONFIRMED)


def replay(entries: Iterable[JournalEntry], *, is_live: bool = True) -> JournalState:
    """
    Fold journal entries into a ``JournalState``. Pure: no I/O, no clock.

    Each step's status is its last transition. The run's state is the ``run_finished`` state
    if one follows the last start or resume (a resume refused before its first step, by another
    run's marker, leaves the run as it was before that resume); otherwise the run has not ended, and it is
    ``waiting`` (a gate or a decision is waiting) or ``running`` while ``is_live`` (a live process holds the
    run's lock), else ``interrupted``.
    """
    steps: dict[str, StepRecord] = {}
    confirmations: list[Confirmation] = []
    finished: RunState | None = None
    run_id: str | None = None
    resumes = 0
    units: dict[str, frozenset[str]] = {}
    decisions: list[Decision] = []
    abort_pending = False
    before_resume: RunState | None = None
    resumed = False
    for entry in entries:
        if isinstance(entry, ShellOpened):
            continue
        if isinstance(entry, UnitDone):
            units[entry.step] = units.get(entry.step, frozenset()) | {entry.unit}
        elif isinstance(entry, RunStarted | RunResumed):
            resumed = isinstance(entry, RunResumed)
            before_resume = finished
            run_id, finished = entry.run_id, None
            resumes += resumed
            abort_pending = False
        elif isinstance(entry, RunFinished):
            refused_resume = resumed and entry.state == "refused"
            finished = before_resume if refused_resume else RunState(entry.state)
        else:
            record = steps.get(entry.step, StepRecord(step=entry.step, status=StepStatus.PENDING))
            steps[entry.step] = _step_update(record, entry)
            if isinstance(entry, GateConfirmed):
                confirmations.append(Confirmation(step=entry.step, by=entry.by, at=entry.ts, note=entry.note))
            elif isinstance(entry, Decided):
                decision = Decision(
                    step=entry.step, decision=entry.decision, by=entry.by, at=entry.ts, note=entry.note
                )
                decisions.append(decision)
                abort_pending = abort_pending or entry.decision == "abort"
    if finished is not None:
        state = finished
    elif not is_live:
        state = RunState.INTERRUPTED
    elif any(r.status in (StepStatus.WAITING, StepStatus.AWAITING_DECISION) for r in steps.values()):
        state = RunState.WAITING
    else:
        state = RunState.RUNNING
    return JournalState(
        run_state=state,
        steps=MappingProxyType(steps),
        confirmations=tuple(confirmations),
        run_id=run_id,
        resumes=resumes,
        units=MappingProxyType(units),
        decisions=tuple(decisions),
        abort_pending=abort_pending,
    )
