"""
The typed events a run emits, for whoever shows progress (the CLI renders them).

The engine never prints. It calls an ``EventSink`` with one of the frozen values below at each
moment an operator may want to see: a step starting, retrying, ending, waiting for a person, a
wave being stopped, the run ending. A sink is called from host worker threads as well as the
scheduler thread, so it must be thread-safe (the CLI's renderer takes a lock); it must also
return quickly and never raise, because a failing renderer must not fail a rollout.

Events carry only redacted text: summaries are built from redacted commands and host output,
never from revealed secrets.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum


class StepOutcome(StrEnum):
    """How a step ended in this run (the journal's outcomes, plus ``waiting`` and ``blocked``)."""

    DONE = "done"
    """The step acted on its host and its effect was verified."""
    NOOP = "noop"
    """The step's guard found its effect already in place; nothing was sent that changes anything."""
    SKIPPED = "skipped"
    """A conditional step whose condition was false (it counts as done for the steps after it)."""
    FAILED = "failed"
    WAITING = "waiting"
    """A manual gate with nobody to ask: the run stops here until ``rollup confirm``."""
    BLOCKED = "blocked"
    """Never started: a step it depends on failed or waits, or its wave was stopped."""
    SKIPPED_BY_OPERATOR = "skipped-by-operator"
    """A step that failed, which an operator decided to skip: the steps after it do not start."""
    EXCLUDED = "excluded"
    """A step of a host an operator excluded from the rest of the run (the failed step, and every
    step of that host not yet done)."""


class Verdict(StrEnum):
    """What a dry run predicts for a step."""

    NOOP = "noop"
    RUN = "run"
    SKIP = "skip"
    ASK = "ask"
    """A manual gate or manual Deployment Tool action: an operator would be asked."""
    UNKNOWN = "unknown"
    """The facts could not be read (the message says why)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RunStarted:
    """A run (or a resume of one) began; ``audit_path`` is where its audit log is."""

    run_id: str
    resumed: bool
    dry_run: bool
    hosts: tuple[str, ...]
    steps: int
    audit_path: str
    fingerprint: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Notice:
    """Something the operator should read that is not a step's progress (a stale lock taken over)."""

    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StepStarted:
    """An attempt of a step began on its host."""

    step_id: str
    host: str
    kind: str
    title: str
    attempt: int


@dataclass(frozen=True, slots=True, kw_only=True)
class StepProgress:
    """A step began a unit of its work: a Deployment Tool command, an msiexec run, a wait for a restart."""

    step_id: str
    host: str
    unit: str
    """What is under way, for a person: ``uninstall Hosted SharePoint 2007 Namespace (3 of 17)``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StepRetrying:
    """An attempt failed in a way worth retrying; the next one starts after ``wait_s``."""

    step_id: str
    host: str
    attempt: int
    """The attempt that failed."""
    wait_s: float
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StepFinished:
    """A step ended (for ``blocked``: it will not start in this run)."""

    step_id: str
    host: str
    kind: str
    title: str
    outcome: StepOutcome
    summary: str
    exit_code: int | None = None
    retries: int = 0
    duration_s: float = 0.0
    hint: str | None = None
    log_tail: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class GateWaiting:
    """A manual gate waits for an operator: what to do, and how to confirm it later."""

    step_id: str
    host: str
    title: str
    checklist: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class GateConfirmed:
    """An operator confirmed a manual gate."""

    step_id: str
    host: str
    by: str
    note: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DecisionWaiting:
    """A failed step waits for an operator's decision (``--on-failure pause``, no terminal)."""

    step_id: str
    host: str
    decide: str
    """The command that records a decision: ``rollup decide RUN STEP retry|skip|exclude|abort``."""
    resume: str
    """The command that applies it: ``rollup apply --resume RUN``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Decided:
    """An operator decided what becomes of a failed step."""

    step_id: str
    host: str
    decision: str
    by: str
    note: str


@dataclass(frozen=True, slots=True, kw_only=True)
class WaveStopped:
    """A COLLAB wave's failures passed ``--max-fail-percent``: later waves do not start."""

    wave: int
    failed_hosts: tuple[str, ...]
    hosts: int
    percent: float
    threshold: float


@dataclass(frozen=True, slots=True, kw_only=True)
class StepPreview:
    """A dry run's prediction for one step: what would run, or why it would not."""

    step_id: str
    host: str
    kind: str
    title: str
    verdict: Verdict
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RunFinished:
    """The run ended in ``state``: ``done``, ``done-with-exceptions``, ``failed``, ``waiting``, ``dry-run``"""

    run_id: str
    state: str
    counts: Mapping[str, int] = field(default_factory=dict)
    duration_s: float = 0.0
    audit_path: str = ""
    audit_head: str = ""


Event = (
    RunStarted
    | Notice
    | StepStarted
    | StepProgress
    | StepRetrying
    | StepFinished
    | GateWaiting
    | GateConfirmed
    | DecisionWaiting
    | Decided
    | WaveStopped
    | StepPreview
    | RunFinished
)

EventSink = Callable[[Event], None]
"""Receives every event; thread-safe, quick, and never raises."""


def discard(event: Event) -> None:
    """An ``EventSink`` that ignores everything (for callers that only want the report)."""


def redacting(sink: EventSink, redact: Callable[[str], str]) -> EventSink:
    """
    ``sink``, receiving each event with every text field (and every text of a tuple field)
    passed through ``redact``: the engine puts host output and error messages into events, and
    a password can come back inside one.
    """

    def emit(event: Event) -> None:
        changes: dict[str, object] = {}
        for item in fields(event):
            value = getattr(event, item.name)
            if type(value) is str:  # an enum's value (an outcome, a verdict) is no free text
                changes[item.name] = redact(value)
            elif isinstance(value, tuple) and all(type(v) is str for v in value):
                changes[item.name] = tuple(redact(v) for v in value)
        sink(replace(event, **changes))  # type: ignore[arg-type]

    return emit
