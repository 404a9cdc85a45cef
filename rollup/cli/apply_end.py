"""
How ``rollup apply`` ends on the console: the summary table, the run id and audit head (one line
with ``-q``), and the error that carries the documented exit code: 1 failed, 5 waiting (at a
manual gate, or for a decision about a failed step), 6 done with exceptions.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console

from rollup.cli.progress import summary_table
from rollup.engine.events import StepOutcome
from rollup.errors import RunDoneWithExceptions, RunFailed, RunWaiting

if TYPE_CHECKING:
    from rollup.engine.run import RunReport
    from rollup.planner import PlanStep


def conclude(console: Console, report: RunReport, runs: Path) -> None:
    """The summary, the run id and audit log, and the exit code's error for failed or waiting."""
    from rollup.engine.rundir import runs_dir_arg

    rd = runs_dir_arg(runs)
    resume = f"`rollup apply --resume {report.run_id}{rd}`"
    console.print(summary_table(report))
    console.print(f"run id: {report.run_id}")
    console.print(f"audit log: {report.audit_path} (head {report.audit_head})")
    if console.quiet:
        counts = ", ".join(f"{n} {state}" for state, n in sorted(_counts(report).items()))
        click.echo(f"run {report.run_id}: {report.state} ({counts}); audit head {report.audit_head}")
    failed = report.in_state(StepOutcome.FAILED)
    if report.state == "failed":
        first = failed[0].summary if failed else "steps could not start"
        hint = f"fix the cause, then {resume}"
        if failed and _asks_an_operator(failed[0].step):
            step = failed[0].step.id
            hint = f"do the work again, then `rollup confirm {report.run_id} {step}{rd}` and {resume}"
        message = f"run {report.run_id} failed: {len(failed)} step(s) failed; first: {first}"
        raise RunFailed(message, hint=hint)
    if report.state == "waiting" and report.deciding:
        first = report.deciding[0]
        raise RunWaiting(
            f"run {report.run_id} waits for an operator's decision at {', '.join(report.deciding)}: "
            f"`rollup decide {report.run_id} {first} retry|skip|exclude|abort [--note TEXT]{rd}`, "
            f"then {resume}",
            hint="retry: run it again; skip: skip it (the steps after it do not start); "
            "exclude: nothing more on its host; abort: end the run failed",
        )
    if report.state == "done-with-exceptions":
        raise RunDoneWithExceptions(f"run {report.run_id} done with exceptions: {_exceptions(report)}")
    if report.state == "waiting":
        waiting = [r.step.id for r in report.in_state(StepOutcome.WAITING)]
        first_gate = waiting[0] if waiting else "STEP"
        raise RunWaiting(
            f"run {report.run_id} waits for an operator at {', '.join(waiting)}",
            hint=f"do the checklist, `rollup confirm {report.run_id} {first_gate}{rd}`, then {resume}",
        )


def _exceptions(report: RunReport) -> str:
    """What an operator left out of the run: skipped steps, excluded hosts, steps not started."""
    skipped = [r.step.id for r in report.in_state(StepOutcome.SKIPPED_BY_OPERATOR)]
    hosts = sorted({r.step.host for r in report.in_state(StepOutcome.EXCLUDED)})
    parts = []
    if skipped:
        parts.append(f"skipped by an operator: {', '.join(skipped)}")
    if hosts:
        parts.append(f"excluded: {', '.join(hosts)}")
    if report.excepted:
        parts.append(f"{len(report.excepted)} step(s) after them not started")
    return "; ".join(parts) or "see the summary"


def _asks_an_operator(step: PlanStep) -> bool:
    """A manual gate, or a Deployment Tool step an operator does (its checks need a new confirmation)."""
    return step.kind == "manual_gate" or (
        step.kind == "deployment_tool" and step.params.get("strategy") == "manual"
    )


def _counts(report: RunReport) -> dict[str, int]:
    """How many steps of the run ended in each outcome."""
    found: dict[str, int] = {}
    for step in report.reports:
        found[step.outcome.value] = found.get(step.outcome.value, 0) + 1
    return found
