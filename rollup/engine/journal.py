"""
The run journal: an append-only record of step transitions, and its replay into run state.

The journal is what makes a run resumable. Every transition is one JSON line, written and
``fsync``ed before the call returns (the directory too when the file is created), so after a
SIGKILL at any instant every complete line is durable. A torn last line, the only damage a crash
can do, is reported and ignored on read, and cut off when the journal is reopened for appending.

Events (``event`` field; ``seq`` and ``ts`` on every line):

- ``run_started`` / ``run_resumed``: run id, operator, pid (and the plan fingerprint at start);
- ``step_started``: plan step id (``<step>@<HOST>``) and attempt (1-based);
- ``step_finished``: outcome ``done`` | ``noop`` (the guard found it already in effect) |
  ``failed`` | ``skipped`` (its condition was false), exit code, retries, duration, redacted summary;
- ``step_waiting``: a manual gate with no terminal to ask on, and the checklist shown;
- ``gate_confirmed``: who confirmed a gate, and a note (``ts`` says when);
- ``run_finished``: the final state, ``done`` | ``failed`` | ``waiting``.

The journal is for the engine, the audit log (``rollup.audit.log``) is for auditors: the journal
is not hash-chained, but it is redacted with the same registry.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from rollup.audit.durable import DurableAppender, cut_torn_tail, read_lines
from rollup.audit.redact import SecretRegistry, redact_value
from rollup.errors import RollupError


class Outcome(StrEnum):
    """How a step ended."""

    DONE = "done"
    NOOP = "noop"
    FAILED = "failed"
    SKIPPED = "skipped"


FinalState = Literal["done", "failed", "waiting"]


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    seq: int = Field(ge=1)
    ts: AwareDatetime


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


class RunFinished(_Entry):
    event: Literal["run_finished"] = "run_finished"
    state: FinalState


JournalEntry = Annotated[
    RunStarted | RunResumed | StepStarted | StepFinished | StepWaiting | GateConfirmed | RunFinished,
    Field(discriminator="event"),
]
_ENTRY: TypeAdapter[JournalEntry] = TypeAdapter(JournalEntry)


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


class RunState(StrEnum):
    """Where a run stands after replay."""

    RUNNING = "running"
    WAITING = "waiting"
    FAILED = "failed"
    DONE = "done"
    INTERRUPTED = "interrupted"
    """No ``run_finished`` since the last start or resume, and no live process holds the run."""


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
class JournalState:
    """The replay of a journal: per-step status, confirmations, and the run's state."""

    run_state: RunState
    steps: Mapping[str, StepRecord]
    """Plan steps the journal mentions, in the order it first mentions them."""
    confirmations: tuple[Confirmation, ...] = ()
    run_id: str | None = None
    resumes: int = 0

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


StepEntry = StepStarted | StepFinished | StepWaiting | GateConfirmed


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
    return replace(record, status=StepStatus.CONFIRMED)


def replay(entries: Iterable[JournalEntry], *, is_live: bool = True) -> JournalState:
    """
    Fold journal entries into a ``JournalState``. Pure: no I/O, no clock.

    Each step's status is its last transition. The run's state is the ``run_finished`` state
    if one follows the last start or resume; otherwise the run has not ended, and it is
    ``waiting`` (a gate is waiting) or ``running`` while ``is_live`` (a live process holds the
    run's lock), else ``interrupted``.
    """
    steps: dict[str, StepRecord] = {}
    confirmations: list[Confirmation] = []
    finished: RunState | None = None
    run_id: str | None = None
    resumes = 0
    for entry in entries:
        if isinstance(entry, RunStarted | RunResumed):
            run_id, finished = entry.run_id, None
            resumes += isinstance(entry, RunResumed)
        elif isinstance(entry, RunFinished):
            finished = RunState(entry.state)
        else:
            record = steps.get(entry.step, StepRecord(step=entry.step, status=StepStatus.PENDING))
            steps[entry.step] = _step_update(record, entry)
            if isinstance(entry, GateConfirmed):
                confirmations.append(Confirmation(step=entry.step, by=entry.by, at=entry.ts, note=entry.note))
    if finished is not None:
        state = finished
    elif not is_live:
        state = RunState.INTERRUPTED
    elif any(record.status is StepStatus.WAITING for record in steps.values()):
        state = RunState.WAITING
    else:
        state = RunState.RUNNING
    return JournalState(
        run_state=state,
        steps=MappingProxyType(steps),
        confirmations=tuple(confirmations),
        run_id=run_id,
        resumes=resumes,
    )


@dataclass(frozen=True, slots=True)
class TornTail:
    """A last line whose write never finished: ignored, and cut off on reopening."""

    line: int
    size_bytes: int


@dataclass(frozen=True, slots=True)
class JournalRead:
    """The entries of a journal file, and its torn last line if it has one."""

    entries: tuple[JournalEntry, ...]
    torn: TornTail | None


def read_journal(path: Path) -> JournalRead:
    """
    Read every complete entry of the journal at ``path`` (a missing file has none).

    Raises:
        RollupError: a complete line is not a journal entry (the file was edited or damaged;
            a crash can only tear the last line, which is not an error).
    """
    lines = read_lines(path)
    entries = []
    for number, raw in enumerate(lines.lines, 1):
        try:
            entries.append(_ENTRY.validate_json(raw))
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(part) for part in error["loc"])
            raise RollupError(
                f"{path}: line {number}: not a journal entry: {where + ': ' if where else ''}{error['msg']}"
            ) from None
    torn = None if lines.torn is None else TornTail(len(lines.lines) + 1, len(lines.torn))
    return JournalRead(tuple(entries), torn)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Journal:
    """
    An open journal; ``Journal.open`` creates one or continues it. Appends are thread-safe.

    ``existing`` holds what was in the file when it was opened (for a resume), including the
    torn last line that was cut off, if any.
    """

    def __init__(
        self,
        appender: DurableAppender,
        existing: JournalRead,
        *,
        registry: SecretRegistry | None,
        clock: Callable[[], datetime],
    ) -> None:
        self.path = appender.path
        self.existing = existing
        self._appender = appender
        self._registry = registry
        self._clock = clock
        self._lock = threading.Lock()
        self._seq = existing.entries[-1].seq if existing.entries else 0

    @classmethod
    def open(
        cls, path: Path, *, registry: SecretRegistry | None = None, clock: Callable[[], datetime] = _utc_now
    ) -> Journal:
        """
        Create the journal at ``path`` or continue the existing one (its torn last line cut off).

        Raises:
            RollupError: the existing journal has a damaged line before its last.
        """
        existing = read_journal(path)
        if existing.torn is not None:
            cut_torn_tail(path, read_lines(path))
        return cls(DurableAppender(path), existing, registry=registry, clock=clock)

    def _append(self, event: str, **fields: Any) -> JournalEntry:
        with self._lock:
            data = {"event": event, "seq": self._seq + 1, "ts": self._clock().astimezone(UTC), **fields}
            entry = _ENTRY.validate_python(data)
            clean = redact_value(entry.model_dump(mode="json"), self._registry)
            line = json.dumps(clean, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
            self._appender.append(line)
            self._seq += 1
            return _ENTRY.validate_json(line)

    def run_started(self, *, run_id: str, plan_fingerprint: str, operator: str) -> JournalEntry:
        """The run began (this process's pid is recorded)."""
        return self._append(
            "run_started",
            run_id=run_id,
            plan_fingerprint=plan_fingerprint,
            operator=operator,
            pid=os.getpid(),
        )

    def run_resumed(self, *, run_id: str, operator: str) -> JournalEntry:
        """A resume of the run began in this process."""
        return self._append("run_resumed", run_id=run_id, operator=operator, pid=os.getpid())

    def step_started(self, step: str, *, attempt: int) -> JournalEntry:
        """A plan step is about to act on its host: from here it may have had effects."""
        return self._append("step_started", step=step, attempt=attempt)

    def step_finished(
        self,
        step: str,
        *,
        outcome: Outcome,
        exit_code: int | None = None,
        retries: int = 0,
        duration_s: float = 0.0,
        summary: str = "",
    ) -> JournalEntry:
        """A plan step ended with ``outcome``; ``summary`` is redacted before it is written."""
        return self._append(
            "step_finished",
            step=step,
            outcome=outcome,
            exit_code=exit_code,
            retries=retries,
            duration_s=round(duration_s, 3),
            summary=summary,
        )

    def step_waiting(self, step: str, *, checklist: Iterable[str]) -> JournalEntry:
        """A manual gate waits for confirmation; ``checklist`` is what the operator must check."""
        return self._append("step_waiting", step=step, checklist=tuple(checklist))

    def gate_confirmed(self, step: str, *, by: str, note: str = "") -> JournalEntry:
        """``by`` confirmed the manual gate ``step``."""
        return self._append("gate_confirmed", step=step, by=by, note=note)

    def run_finished(self, state: FinalState) -> JournalEntry:
        """The run stopped in ``state``."""
        return self._append("run_finished", state=state)

    def state(self, *, is_live: bool = True) -> JournalState:
        """The replay of everything in the file now (see ``replay``)."""
        return replay(read_journal(self.path).entries, is_live=is_live)

    def close(self) -> None:
        self._appender.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
