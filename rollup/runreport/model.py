"""
The typed model of a run's HTML report: what ``rollup.runreport.build`` gathers from a run
directory and ``rollup.runreport.render`` shows. Plain frozen data, no I/O.

Every text that came from a host or an operator (summaries, notices, retry reasons, verify's
expected and actual values, notes) is kept as it was: the template escapes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from rollup.engine.journal_state import Confirmation, Decision


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryWait:
    """A wait before a retry (audit ``retry_scheduled``): when it began, how long, and why."""

    attempt: int
    start: datetime
    wait_s: float
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class GateWait:
    """A manual gate waiting for an operator: from ``step_waiting`` to its confirmation (or open)."""

    start: datetime
    end: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class StepView:
    """One plan step of the run: its journaled state and its times."""

    id: str
    """The plan step id, ``<step>@<HOST>``."""
    step: str
    host: str
    kind: str | None
    """The step kind (the audit records' ``operation``); ``None`` for a step that never started."""
    status: str
    """A journal status (``done``, ``noop``, ...), or ``not started``."""
    attempts: int = 0
    exit_code: int | None = None
    retries: int = 0
    duration_s: float | None = None
    summary: str = ""
    started_at: datetime | None = None
    """The first attempt's start."""
    finished_at: datetime | None = None
    """The last finish; ``None`` while running, waiting, or never started."""
    attempt_starts: tuple[datetime, ...] = ()
    retry_waits: tuple[RetryWait, ...] = ()
    gate_waits: tuple[GateWait, ...] = ()
    evidence: tuple[str, ...] = ()
    notices: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class HostView:
    """A host of the run: its roles, the machine that answered, and its steps in plan order."""

    name: str
    roles: tuple[str, ...] = ()
    computer: str | None = None
    endpoint: str | None = None
    steps: tuple[StepView, ...] = ()

    def count(self, *statuses: str) -> int:
        return sum(step.status in statuses for step in self.steps)


@dataclass(frozen=True, slots=True, kw_only=True)
class Notice:
    """Something the operator should know: ``kind`` is ``notice``, ``restart``, ``skipped``,
    ``not started`` or ``failed``."""

    kind: str
    step: str
    host: str
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyCell:
    """One host's result of one check."""

    status: str
    expected: str
    actual: str
    detail: str


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyRow:
    """One check (group and name) across the hosts that have it."""

    group: str
    name: str
    expected: str
    """The expected value when every host expects the same, else ``varies by host``."""
    cells: dict[str, VerifyCell] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyMatrix:
    """A ``rollup verify --json`` document as host x check."""

    source: str
    started_at: str
    inventory: str
    exit_code: int
    hosts: tuple[str, ...]
    host_status: dict[str, str]
    rows: tuple[VerifyRow, ...]
    summary: dict[str, int]


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditView:
    """Whether the run's audit log verifies (chain, the heads the journal kept, evidence)."""

    path: str
    present: bool
    intact: bool = False
    records: int = 0
    head: str = ""
    problem: str | None = None
    journal_head: str | None = None
    """The head the journal's last ``run_finished`` kept."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EvidenceView:
    """An evidence file: its hash on disk, and whether it is the one its audit record holds."""

    name: str
    sha256: str
    size_bytes: int
    step: str | None
    """The step whose ``step_finished`` record names it (``None``: no record does)."""
    matches_record: bool | None
    """``None`` when no record names it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RunReportModel:
    """Everything the report shows about one run."""

    run_id: str
    state: str
    generated_at: datetime
    facts: dict[str, str]
    """``run.json``'s facts as label -> text, in display order (empty if it cannot be read)."""
    started_at: datetime | None
    ended_at: datetime | None
    """The journal's last entry."""
    resumes: tuple[datetime, ...]
    counts: dict[str, int]
    hosts: tuple[HostView, ...]
    notices: tuple[Notice, ...]
    confirmations: tuple[Confirmation, ...]
    """The manual gates confirmed, as the journal has them."""
    decisions: tuple[Decision, ...]
    """The operator decisions on failed steps, as the journal has them."""
    overrides: tuple[tuple[str, str, str], ...]
    """``override_recorded`` records: kind, reason, by."""
    audit: AuditView
    evidence: tuple[EvidenceView, ...]
    verify: VerifyMatrix | None
    problems: tuple[str, ...] = ()
    """One line per file that could not be read, or a verify document that is not of this run."""

    @property
    def steps(self) -> tuple[StepView, ...]:
        return tuple(step for host in self.hosts for step in host.steps)

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return (self.ended_at - self.started_at).total_seconds()
