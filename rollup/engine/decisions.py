"""
Guided failure (``rollup apply --on-failure pause``): an operator decides what becomes of a failed step.

The four decisions (docs/apply.md, "Guided failure"):

- ``retry``: the step runs again, as a new attempt, from its guard;
- ``skip``: the step is ``skipped-by-operator``; the steps after it, on its host and elsewhere, do
  not start in this run (``blocked``, saying why);
- ``exclude``: the step's host is out of the rest of the run: the failed step and every step of
  that host not yet ended are ``excluded``, and the steps after them do not start;
- ``abort``: the run ends ``failed`` (steps already running finish).

On a terminal the operator is asked at once (``after_failure``, on the failed step's worker
thread, so the host's branch waits and other hosts go on). With nobody to ask, the step is
journaled ``decision_waiting``, its dependants are held, and the run ends ``waiting`` (exit 5);
``rollup decide`` (``decide_step``) journals and audits the decision, and the resume applies it
(``resumed_exceptions``; a pending ``abort`` ends the resume ``failed`` before any step).

A run with a skipped step or an excluded host and nothing failed or waiting ends
``done-with-exceptions`` (``final_state``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from rollup.audit.log import AuditLog
from rollup.audit.redact import PROCESS_SECRETS, SecretRegistry
from rollup.engine import events as ev
from rollup.engine import offline, rundir
from rollup.engine.events import StepOutcome
from rollup.engine.executors import StepReport
from rollup.engine.journal_state import Choice, Decision, JournalState, StepStatus
from rollup.planner import Plan, PlanStep

if TYPE_CHECKING:
    from rollup.engine.steprun import StepDriver

DECIDABLE = (StepStatus.FAILED, StepStatus.AWAITING_DECISION)
"""The statuses ``rollup decide`` accepts."""


def _by(decision: Decision) -> str:
    return f"{decision.by}" + (f" ({decision.note})" if decision.note else "")


def skipped_summary(decision: Decision) -> str:
    """The summary of a step an operator skipped."""
    return f"skipped by an operator, {_by(decision)}"


def excluded_reason(decision: Decision) -> str:
    """Why the steps of an excluded host do not run."""
    return f"{decision.host} was excluded by an operator, {_by(decision)}"


def after_failure(driver: StepDriver, step: PlanStep, report: StepReport) -> StepReport | None:
    """
    ``--on-failure pause``: what becomes of the failed ``step``. ``None``: run it again (retry);
    else its report: ``waiting`` (nobody to ask), ``skipped-by-operator``, ``excluded``, or the
    failure itself (``abort``, or another step's abort already ends the run).
    """
    s = driver.setup
    with driver.asking:
        if driver.aborted.is_set():
            return report
        if s.decide is None:
            driver.journal.decision_waiting(step.id)
            rd = rundir.runs_dir_arg(s.runs_dir)
            decide = f"rollup decide {driver.run_id} {step.id} retry|skip|exclude|abort{rd}"
            resume = f"rollup apply --resume {driver.run_id}{rd}"
            s.emit(ev.DecisionWaiting(step_id=step.id, host=step.host, decide=decide, resume=resume))
            driver.deciding.append(step.id)
            waits = f"{report.summary}; waits for an operator's decision: `{decide}`, then `{resume}`"
            return dataclasses.replace(report, outcome=StepOutcome.WAITING, summary=waits)
        decision = s.decide(step)
        driver.record_decision(step, decision)
        if decision.decision == "abort":
            driver.aborted.set()
    match decision.decision:
        case "retry":
            return None
        case "skip":
            summary = f"{skipped_summary(decision)}; it failed: {report.summary}"
            return dataclasses.replace(report, outcome=StepOutcome.SKIPPED_BY_OPERATOR, summary=summary)
        case "exclude":
            why = excluded_reason(decision)
            driver.exclude(step.host, why)
            summary = f"{why}; it failed: {report.summary}"
            return dataclasses.replace(report, outcome=StepOutcome.EXCLUDED, summary=summary)
    s.emit(ev.Notice(text=f"run {driver.run_id} aborted by {_by(decision)}: no more steps start"))
    driver.abort()
    return report


@dataclasses.dataclass(frozen=True, slots=True)
class Exceptions:
    """What a resume keeps of the decisions made so far."""

    outcomes: Mapping[str, StepOutcome]
    """Steps an operator skipped: the scheduler's prior outcomes."""
    excluded: Mapping[str, str]
    """Hosts an operator excluded, and why."""
    reports: Mapping[str, StepReport]
    """A report for each skipped step (the run's summary, ``--json`` and ``--junit`` show it)."""


def resumed_exceptions(plan: Plan, state: JournalState, emit: ev.EventSink) -> Exceptions:
    """
    The skipped steps and excluded hosts the journal's decisions leave for a resume of ``plan``;
    each skipped step is shown (``emit``) as it is kept.
    """
    by_id = {s.id: s for s in plan.steps}
    outcomes: dict[str, StepOutcome] = {}
    reports: dict[str, StepReport] = {}
    for step_id in state.steps_in(StepStatus.SKIPPED_BY_OPERATOR):
        decision = state.decision(step_id)
        if step_id not in by_id or decision is None:
            continue
        outcomes[step_id] = StepOutcome.SKIPPED_BY_OPERATOR
        step = by_id[step_id]
        summary = skipped_summary(decision)
        reports[step_id] = StepReport(step=step, outcome=StepOutcome.SKIPPED_BY_OPERATOR, summary=summary)
        emit(
            ev.StepFinished(
                step_id=step.id,
                host=step.host,
                kind=step.kind,
                title=step.title,
                outcome=StepOutcome.SKIPPED_BY_OPERATOR,
                summary=summary,
            )
        )
    excluded = {host: excluded_reason(decision) for host, decision in state.excluded.items()}
    return Exceptions(outcomes, excluded, reports)


def aborted_reports(plan: Plan, state: JournalState) -> dict[str, StepReport]:
    """A resume that applies an ``abort``: a ``failed`` report for each step an operator aborted on."""
    by_id = {s.id: s for s in plan.steps}
    found: dict[str, StepReport] = {}
    for decision in state.decisions:
        if decision.decision == "abort" and decision.step in by_id:
            summary = f"the run was aborted here by an operator, {_by(decision)}"
            found[decision.step] = StepReport(
                step=by_id[decision.step], outcome=StepOutcome.FAILED, summary=summary
            )
    return found


def final_state(reports: Mapping[str, StepReport], excepted: Collection[str] = ()) -> str:
    """
    ``failed`` if a step failed or could not start because of a failure; else ``waiting`` if a
    gate or a decision waits; else ``done-with-exceptions`` if an operator skipped a step or
    excluded a host (``excepted``: blocked steps that did not start because of that); else ``done``.
    """
    outcomes = {r.outcome for r in reports.values()}
    if StepOutcome.FAILED in outcomes:
        return "failed"
    if StepOutcome.WAITING in outcomes:
        return "waiting"
    blocked = {s for s, r in reports.items() if r.outcome is StepOutcome.BLOCKED}
    if blocked - set(excepted):
        return "failed"
    if blocked or outcomes & {StepOutcome.SKIPPED_BY_OPERATOR, StepOutcome.EXCLUDED}:
        return "done-with-exceptions"
    return "done"


def decide_step(
    runs_dir: Path,
    ref: str,
    step: str,
    decision: Choice,
    *,
    operator: str,
    control_host: str,
    note: str = "",
    registry: SecretRegistry = PROCESS_SECRETS,
) -> tuple[rundir.RunDir, str]:
    """
    ``rollup decide``: record ``operator``'s decision about the failed step ``step`` of run ``ref``
    (journaled and audited; the next ``rollup apply --resume`` applies it).

    ``step`` is a plan step id (``install-wss-web-service@COLLAB01``) or a manifest step id when
    exactly one failed step has it. The run's local lock is held while writing.

    Raises:
        UsageError: no such run, or the step is not failed nor waiting for a decision.
        LockHeld: the run (or another of its inventory) is running now.
    """
    with offline.stopped_run(
        runs_dir, ref, operator=operator, control_host=control_host, registry=registry
    ) as (run_dir, journal):
        open_steps = journal.state(is_live=False).steps_in(*DECIDABLE)
        needed = "is not failed nor waiting for a decision"
        target = offline.one_step(run_dir.run_id, step, open_steps, state="failed", needed=needed)
        journal.decided(target, decision=decision, by=operator, note=note)
        with AuditLog.open(run_dir.audit_path, run_id=run_dir.run_id, registry=registry) as audit:
            audit.bind_journal(lambda: journal.head)
            audit.decision_recorded(
                step=target, host=target.rsplit("@", 1)[-1], decision=decision, by=operator, note=note
            )
    return run_dir, target
