"""
Running one plan step inside a run: its context, its records, its gates.

``StepDriver.run`` is what the scheduler calls on a worker thread for each step. Around
``rollup.engine.executors.run_step`` it keeps the run's promises:

- before each attempt touches the host, ``step_started`` is in the journal (fsynced) and the
  audit log, with the attempt's number (counting on from the attempts of earlier invocations
  of the run, so every MSI log and evidence file of an attempt has its own name);
- after the step, ``step_finished`` (``done``, ``noop``, ``skipped``, ``failed``) is journaled
  and audited with its exit code, duration, retries and their waits, and a summary; the report,
  its events and every record carry only text redacted with the run's secret registry (a
  password can come back inside a host's error message);
  its evidence (MSI log tails, the list of backups) is written to the run directory and
  referenced by SHA-256 from the audit record;
- a manual gate is confirmed in advance (``--confirm``), asked on a terminal, or journaled as
  ``step_waiting`` and left for ``rollup confirm``; every confirmation is journaled and audited
  with who confirmed it;
- with ``--on-failure pause``, a failed step is decided by an operator on the terminal (``retry``
  runs it again as a new attempt, ``skip``, ``exclude`` its host, ``abort`` the run), or
  journaled as ``decision_waiting`` and left for ``rollup decide``; every decision is journaled
  and audited with who made it. The question is asked on the failed step's worker thread, so the
  failed host's branch waits while other hosts go on.

It also answers the two questions executors ask about the rest of the run: did anything a
step depends on act in this run (restarts need that), and does any step after a gate still
have work to do (the gate is needed only then).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial

from rollup.audit.log import AuditLog
from rollup.engine import events as ev
from rollup.engine.changes import changes
from rollup.engine.decisions import after_failure
from rollup.engine.events import StepOutcome
from rollup.engine.executors import GATES, RESTARTS, StepReport, executor_for, policy_for, run_step
from rollup.engine.journal import Journal
from rollup.engine.journal_state import Confirmation, Decision, JournalState, Outcome, StepStatus
from rollup.engine.options import RunSetup
from rollup.engine.rundir import RunDir, runs_dir_arg
from rollup.engine.steps.context import GateWaiting, Hosts, StepContext
from rollup.errors import RollupError
from rollup.planner import Plan, PlanStep

_SETTLED = frozenset({StepOutcome.DONE, StepOutcome.NOOP, StepOutcome.SKIPPED})
_JOURNALED = {
    StepOutcome.DONE: Outcome.DONE,
    StepOutcome.NOOP: Outcome.NOOP,
    StepOutcome.SKIPPED: Outcome.SKIPPED,
    StepOutcome.FAILED: Outcome.FAILED,
}


def relatives(plan: Plan) -> tuple[dict[str, frozenset[str]], dict[str, frozenset[str]]]:
    """Every step's ancestors and descendants (transitively), by plan step id."""
    up: dict[str, frozenset[str]] = {}
    for step in plan.steps:
        found: set[str] = set()
        for dep in step.after:
            found |= {dep} | up.get(dep, frozenset())
        up[step.id] = frozenset(found)
    down: dict[str, set[str]] = {s.id: set() for s in plan.steps}
    for below, above in up.items():
        for ancestor in above:
            down.setdefault(ancestor, set()).add(below)
    return up, {k: frozenset(v) for k, v in down.items()}


@dataclass(slots=True, kw_only=True)
class StepDriver:
    """Runs plan steps for one invocation of a run (see the module docstring)."""

    setup: RunSetup
    hosts: Hosts
    run_id: str
    run_dir: RunDir
    journal: Journal
    audit: AuditLog
    prior: JournalState
    first_started: dict[str, datetime]
    confirmed_ahead: tuple[str, ...] = ()
    note: str = ""
    outcomes: Mapping[str, StepOutcome] = field(default_factory=dict)
    """The scheduler's outcomes so far (read, never written, here)."""
    on_failure: str = "stop"
    """``pause``: a failed step waits for an operator's decision."""
    exclude: Callable[[str, str], object] = lambda host, why: None
    """Called with a host and why, when an operator excludes it (the scheduler stops its work)."""
    abort: Callable[[], object] = lambda: None
    """Called when an operator aborts the run (the scheduler starts no more steps)."""
    deciding: list[str] = field(default_factory=list)
    """Failed steps left waiting for a decision (``rollup decide``) in this invocation."""
    aborted: threading.Event = field(default_factory=threading.Event)
    """Set when an operator aborts the run: no other failure is asked about."""
    _attempts: dict[str, int] = field(default_factory=dict)
    _confirmations: dict[str, Confirmation] = field(default_factory=dict)
    asking: threading.Lock = field(default_factory=threading.Lock)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _up: dict[str, frozenset[str]] = field(default_factory=dict)
    _down: dict[str, frozenset[str]] = field(default_factory=dict)
    _units: dict[str, frozenset[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for confirmation in self.prior.confirmations:
            self._confirmations[confirmation.step] = confirmation
        self._units.update(self.prior.units)
        self._up, self._down = relatives(self.setup.plan)

    # ---- contexts --------------------------------------------------------------------------

    def context(self, step: PlanStep, attempt: int) -> StepContext:
        """The context of ``attempt`` of ``step`` (attempt 0: a read-only look, for a gate)."""
        s = self.setup
        with self._lock:
            started = self.first_started.get(step.id, datetime.now(UTC))
            confirmation = self._confirmations.get(step.id)
            units = self._units.get(step.id, frozenset())
        return StepContext(
            step=step,
            plan=s.plan,
            manifest=s.manifest,
            package=s.package,
            hosts=self.hosts,
            run_id=self.run_id,
            attempt=attempt,
            started_at=started,
            upstream_changed=self._upstream_changed(step),
            confirmation=confirmation,
            confirm=partial(self._confirm, step),
            gate_needed=partial(self._gate_needed, step),
            units_done=units,
            unit_done=partial(self._unit_done, step),
            progress=partial(self._progress, step),
        )

    def _progress(self, step: PlanStep, unit: str) -> None:
        self.setup.emit(ev.StepProgress(step_id=step.id, host=step.host, unit=unit))

    def _unit_done(self, step: PlanStep, unit: str) -> None:
        """Journal that ``unit`` of ``step`` is done (durably, before the step goes on)."""
        self.journal.unit_done(step.id, unit)
        with self._lock:
            self._units[step.id] = self._units.get(step.id, frozenset()) | {unit}

    def _upstream_changed(self, step: PlanStep) -> bool:
        """Whether a step ``step`` depends on changed its host in this run (``rollup.engine.changes``)."""
        by_id = {s.id: s for s in self.setup.plan.steps}
        return any(
            self.outcomes.get(a) is StepOutcome.DONE and changes(by_id[a], step, self.setup.inventory)
            for a in self._up.get(step.id, ())
        )

    def _gate_needed(self, gate: PlanStep) -> tuple[bool, str]:
        """Whether some step after ``gate`` still has work to do (its guard does not hold)."""
        plan = self.setup.plan
        for step in plan.steps:
            if step.id not in self._down.get(gate.id, ()) or step.kind in RESTARTS | GATES:
                continue
            if self.outcomes.get(step.id) in _SETTLED:
                continue
            try:
                guard = executor_for(step.kind).check(self.context(step, 0))
            except RollupError as exc:
                return True, f"{step.id}: its facts could not be read ({exc})"
            if not (guard.in_effect or guard.skipped):
                return True, f"{step.id}: {guard.reason}"
        return False, "every step after it is already in effect"

    def _confirm(self, step: PlanStep, checklist: tuple[str, ...]) -> Confirmation:
        """Confirm ``step``: in advance, on the terminal, or not now (``GateWaiting``)."""
        s = self.setup
        with self.asking:
            confirmation: Confirmation | None = None
            if step.id in self.confirmed_ahead or step.step in self.confirmed_ahead:
                note = self.note or "confirmed in advance (--confirm)"
                confirmation = Confirmation(step=step.id, by=s.operator, at=datetime.now(UTC), note=note)
            elif s.ask is not None:
                confirmation = s.ask(step, checklist)
            if confirmation is None:
                self.journal.step_waiting(step.id, checklist=checklist)
                s.emit(ev.GateWaiting(step_id=step.id, host=step.host, title=step.title, checklist=checklist))
                rd = runs_dir_arg(s.runs_dir)
                then = f"`rollup apply --resume {self.run_id}{rd}`"
                raise GateWaiting(
                    f"{step.host}: {step.step} waits for an operator: "
                    f"`rollup confirm {self.run_id} {step.id}{rd}`, then {then}",
                    checklist=checklist,
                )
            self.journal.gate_confirmed(step.id, by=confirmation.by, note=confirmation.note)
            self.audit.gate_confirmed(
                step=step.id, host=step.host, by=confirmation.by, note=confirmation.note
            )
            s.emit(
                ev.GateConfirmed(step_id=step.id, host=step.host, by=confirmation.by, note=confirmation.note)
            )
            with self._lock:
                self._confirmations[step.id] = confirmation
            return confirmation

    # ---- one step --------------------------------------------------------------------------

    def run(self, step: PlanStep) -> StepReport:
        """
        Run ``step`` to its end, journaled and audited (called on a worker thread); with
        ``--on-failure pause``, a failure is decided by an operator (``rollup.engine.decisions``).
        """
        while True:
            report = self._run_once(step)
            if report.outcome is not StepOutcome.FAILED or self.on_failure != "pause":
                return report
            decided = after_failure(self, step, report)
            if decided is not None:
                return decided
            with self._lock:  # retry: what the failed attempt left is history (a manual action's logs)
                self.first_started[step.id] = datetime.now(UTC)

    def record_decision(self, step: PlanStep, decision: Decision) -> None:
        """Journal, audit and show an operator's decision about the failed ``step``."""
        self.journal.decided(step.id, decision=decision.decision, by=decision.by, note=decision.note)
        self.audit.decision_recorded(
            step=step.id, host=step.host, decision=decision.decision, by=decision.by, note=decision.note
        )
        self.setup.emit(
            ev.Decided(
                step_id=step.id,
                host=step.host,
                decision=decision.decision,
                by=decision.by,
                note=decision.note,
            )
        )

    def _run_once(self, step: PlanStep) -> StepReport:
        s = self.setup
        redact = s.registry.redact_text
        record = self.prior.steps.get(step.id)
        again = self._attempts.get(step.id)
        base = again if again is not None else (record.attempt if record is not None else 0)
        acted_before = again is not None or (
            record is not None
            and record.status in (StepStatus.RUNNING, StepStatus.FAILED, StepStatus.AWAITING_DECISION)
        )
        describe = executor_for(step.kind).describe(step)

        def on_attempt(n: int) -> None:
            with self._lock:
                self.first_started.setdefault(step.id, datetime.now(UTC))
            self.journal.step_started(step.id, attempt=base + n)
            self.audit.step_started(
                step=step.id, host=step.host, operation=step.kind, command=describe, attempt=base + n
            )
            s.emit(
                ev.StepStarted(
                    step_id=step.id, host=step.host, kind=step.kind, title=step.title, attempt=base + n
                )
            )

        def on_retry(n: int, wait: float, error: BaseException) -> None:
            reason = redact(str(error))
            self.audit.record(
                "retry_scheduled",
                step=step.id,
                host=step.host,
                attempt=base + n,
                wait_s=round(wait, 3),
                reason=reason,
            )
            s.emit(
                ev.StepRetrying(step_id=step.id, host=step.host, attempt=base + n, wait_s=wait, reason=reason)
            )

        report = run_step(
            step,
            lambda n: self.context(step, base + n),
            policy=policy_for(step, s.manifest),
            acted_before=acted_before,
            on_attempt=on_attempt,
            on_retry=on_retry,
            sleep=s.sleep,
        )
        report = dataclasses.replace(
            report,
            summary=redact(report.summary),
            hint=None if report.hint is None else redact(report.hint),
            log_tail=tuple(redact(line) for line in report.log_tail),
            notices=tuple(redact(text) for text in report.notices),
        )
        self._attempts[step.id] = base + max(report.attempts, 1)
        self._record(step, report, self._attempts[step.id])
        return report

    def _record(self, step: PlanStep, report: StepReport, attempt: int) -> None:
        s = self.setup
        texts = dict(report.evidence)
        if report.log_tail:
            texts["msi-log-tail.txt"] = "\n".join(report.log_tail) + "\n"
        evidence: dict[str, str] = {}
        for name, text in texts.items():
            try:
                kept = self.run_dir.write_evidence(f"{step.id}.{attempt}.{name}", text, registry=s.registry)
            except RollupError as exc:
                s.emit(ev.Notice(text=f"{step.id}: evidence {name} not kept: {exc}"))
                continue
            evidence[kept.name] = kept.sha256
        summary = report.summary + (f" (hint: {report.hint})" if report.hint else "")
        journaled = _JOURNALED.get(report.outcome)
        if journaled is not None:
            self.journal.step_finished(
                step.id,
                outcome=journaled,
                exit_code=report.exit_code,
                retries=len(report.retry_waits_s),
                duration_s=report.duration_s,
                summary=summary,
            )
        self.audit.step_finished(
            step=step.id,
            host=step.host,
            operation=step.kind,
            outcome=report.outcome.value,
            exit_code=report.exit_code,
            duration_s=report.duration_s,
            retry_waits_s=report.retry_waits_s,
            summary=summary,
            evidence=evidence,
            notices=report.notices,
        )
        s.emit(
            ev.StepFinished(
                step_id=step.id,
                host=step.host,
                kind=step.kind,
                title=step.title,
                outcome=report.outcome,
                summary=report.summary,
                exit_code=report.exit_code,
                retries=len(report.retry_waits_s),
                duration_s=report.duration_s,
                hint=report.hint,
                log_tail=report.log_tail,
            )
        )
        for notice in report.notices:
            s.emit(ev.Notice(text=notice))
