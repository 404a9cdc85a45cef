"""
``rollup runs``: the runs kept under the runs directory, their state and their lock.

``list`` gives one line per run, ``show`` one run's facts, steps, confirmations, operator
decisions (and the hosts they excluded), audit status and evidence; both read the run's files
and probe its lock, and change nothing. ``unlock`` clears what a dead run left in an inventory's
lock (docs/runs.md). ``--json`` output is described in docs/runs.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from rollup.audit.chain import ChainReport, verify_chain
from rollup.cli import jsondoc
from rollup.cli.options import inventory_option, runs_dir_option
from rollup.engine.journal import TornTail, read_journal
from rollup.engine.journal_state import JournalState, replay
from rollup.engine.locks import LockState, run_is_live, unlock
from rollup.engine.rundir import RunDir, RunFacts, list_runs, resolve_run, resolve_runs_dir
from rollup.errors import RollupError, UsageError


@dataclass(frozen=True, slots=True)
class RunView:
    """What the files of one run say, read without failing on a damaged file."""

    run: RunDir
    facts: RunFacts | None
    state: JournalState
    torn: TornTail | None
    problems: tuple[str, ...]
    """One line per file that could not be read (missing ``run.json``, a damaged journal)."""


def view_run(runs_dir: Path, run: RunDir) -> RunView:
    """Read a run's facts and journal, and whether a live process holds its lock."""
    problems = []
    facts = None
    try:
        facts = run.read_facts()
    except RollupError as exc:
        problems.append(str(exc))
    entries: tuple[Any, ...] = ()
    torn = None
    try:
        read = read_journal(run.journal_path)
        entries, torn = read.entries, read.torn
    except RollupError as exc:
        problems.append(str(exc))
    live = facts is not None and run_is_live(runs_dir, facts.inventory_digest, run.run_id)
    return RunView(run, facts, replay(entries, is_live=live), torn, tuple(problems))


@click.group(name="runs")
def command() -> None:
    """Runs kept in the runs directory: their state, steps, audit status and locks."""


@command.command(name="list")
@runs_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON (docs/runs.md) instead of a table.")
def list_command(runs_dir: str | None, as_json: bool) -> None:
    """List the runs, oldest first, with their state and step counts."""
    root = resolve_runs_dir(runs_dir)
    views = [view_run(root, run) for run in list_runs(root)]
    if as_json:
        data = {"runs_dir": str(root), "runs": [_summary_json(view) for view in views]}
        click.echo(jsondoc.dumps("runs", data, sort_keys=True))
        return
    if not views:
        click.echo(f"{root}: no runs yet")
        return
    rows = [("RUN", "KIND", "STARTED", "STATE", "OPERATOR", "INVENTORY", "STEPS")]
    for view in views:
        facts = view.facts
        rows.append(
            (
                view.run.run_id,
                _kind(facts) or "-",
                _time(facts.started_at) if facts else "-",
                view.state.run_state.value,
                facts.operator if facts else "-",
                facts.inventory_source if facts else "-",
                _counts(view.state) or "-",
            )
        )
    click.echo("\n".join(_table(rows)))


@command.command(name="show")
@click.argument("run_ref", metavar="RUN")
@runs_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON (docs/runs.md) instead of text.")
def show_command(run_ref: str, runs_dir: str | None, as_json: bool) -> None:
    """Show one run (RUN: its id, a unique prefix, or `last`)."""
    root = resolve_runs_dir(runs_dir)
    view = view_run(root, resolve_run(root, run_ref))
    audit = verify_chain(view.run.audit_path) if view.run.audit_path.is_file() else None
    if as_json:
        click.echo(jsondoc.dumps("run", _show_json(view, audit), sort_keys=True))
        return
    click.echo("\n".join(_show_lines(view, audit)))


@command.command(name="unlock")
@inventory_option
@runs_dir_option
def unlock_command(inventory_ref: str | None, runs_dir: str | None) -> None:
    """Clear an inventory's lock left by a run whose process is gone."""
    from rollup.model.inventory import load_inventory

    if not inventory_ref:
        raise UsageError("--inventory NAME|PATH is required")
    inventory = load_inventory(inventory_ref)
    root = resolve_runs_dir(runs_dir)
    status = unlock(root, inventory.digest(), inventory=inventory.source)
    holder = status.holder
    if status.state is LockState.FREE or holder is None:
        click.echo(f"{inventory.source}: not locked")
    elif status.state is LockState.STALE:
        click.echo(f"{inventory.source}: cleared the lock details of {holder.describe()}, which is gone")
    else:
        click.echo(f"{inventory.source}: broke the lock of {holder.describe()}: pid {holder.pid} is gone")


def _time(moment: datetime) -> str:
    """UTC to the second: ``2026-11-21T10:45:12Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _kind(facts: RunFacts | None) -> str | None:
    """``apply`` or ``rollback`` (``run.json``'s ``options.kind``); ``None`` when it cannot be read."""
    if facts is None:
        return None
    return str(facts.options.get("kind") or "apply")


def _rolls_back(facts: RunFacts | None) -> str | None:
    """The applied run a rollback undoes."""
    found = None if facts is None else facts.options.get("rolls_back")
    return found if isinstance(found, str) else None


def _counts(state: JournalState) -> str:
    return ", ".join(f"{count} {status}" for status, count in state.counts().items())


def _table(rows: Sequence[Sequence[str]]) -> list[str]:
    """Rows as lines, columns aligned on the widest cell."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    ]


def _summary_json(view: RunView) -> dict[str, Any]:
    facts = view.facts
    return {
        "run_id": view.run.run_id,
        "run_kind": _kind(facts),
        "rolls_back": _rolls_back(facts),
        "state": view.state.run_state.value,
        "started_at": _time(facts.started_at) if facts else None,
        "operator": facts.operator if facts else None,
        "control_host": facts.control_host if facts else None,
        "inventory": facts.inventory_source if facts else None,
        "manifest_id": facts.manifest_id if facts else None,
        "plan_fingerprint": facts.plan_fingerprint if facts else None,
        "step_counts": view.state.counts(),
        "problems": list(view.problems),
    }


def _audit_json(audit: ChainReport | None) -> dict[str, Any] | None:
    if audit is None:
        return None
    return {
        "intact": audit.intact,
        "records": audit.records,
        "head": audit.head,
        "problem": audit.bad.describe() if audit.bad else None,
    }


def _show_json(view: RunView, audit: ChainReport | None) -> dict[str, Any]:
    return {
        **_summary_json(view),
        "facts": view.facts.model_dump(mode="json") if view.facts else None,
        "steps": [
            {
                "step": record.step,
                "status": record.status.value,
                "attempt": record.attempt,
                "exit_code": record.exit_code,
                "retries": record.retries,
                "duration_s": record.duration_s,
                "summary": record.summary,
            }
            for record in view.state.steps.values()
        ],
        "confirmations": [
            {"step": c.step, "by": c.by, "at": _time(c.at), "note": c.note} for c in view.state.confirmations
        ],
        "decisions": [
            {"step": d.step, "decision": d.decision, "by": d.by, "at": _time(d.at), "note": d.note}
            for d in view.state.decisions
        ],
        "excluded_hosts": sorted(view.state.excluded),
        "journal_torn_line": None if view.torn is None else view.torn.line,
        "audit": _audit_json(audit),
        "evidence": [
            {"name": e.name, "sha256": e.sha256, "size_bytes": e.size_bytes} for e in view.run.evidence()
        ],
    }


def _show_lines(view: RunView, audit: ChainReport | None) -> list[str]:
    lines = [f"run {view.run.run_id}: {view.state.run_state.value}"]
    facts = view.facts
    if facts is not None:
        rolls_back = _rolls_back(facts)
        lines += [
            f"  kind       {_kind(facts)}" + (f" of run {rolls_back}" if rolls_back else ""),
            f"  started    {_time(facts.started_at)} by {facts.operator} on {facts.control_host}"
            f" (rollup {facts.tool_version})",
            f"  inventory  {facts.inventory_source} (digest {facts.inventory_digest[:12]})",
            f"  manifest   {facts.manifest_id} (digest {facts.manifest_digest[:12]})",
            f"  plan       {facts.plan_fingerprint}",
        ]
    if audit is None:
        lines.append("  audit      no audit log")
    elif audit.bad is None:
        lines.append(f"  audit      intact, {_plural(audit.records, 'record')}, head {audit.head}")
    else:
        lines.append(f"  audit      BROKEN at {audit.bad.describe()}")
    if view.torn is not None:
        lines.append(f"  journal    line {view.torn.line} is torn (a write cut short) and is ignored")
    lines += [f"  problem    {problem}" for problem in view.problems]
    if view.state.steps:
        rows = [("STEP", "STATUS", "ATTEMPT", "EXIT", "RETRIES", "DURATION", "SUMMARY")]
        for record in view.state.steps.values():
            rows.append(
                (
                    record.step,
                    record.status.value,
                    str(record.attempt),
                    "-" if record.exit_code is None else str(record.exit_code),
                    str(record.retries),
                    "-" if record.duration_s is None else f"{record.duration_s:.1f}s",
                    record.summary,
                )
            )
        lines += ["", *_table(rows)]
    if view.state.confirmations:
        lines += ["", "confirmations:"]
        lines += [
            f"  {c.step} by {c.by} at {_time(c.at)}" + (f": {c.note}" if c.note else "")
            for c in view.state.confirmations
        ]
    if view.state.decisions:
        lines += ["", "decisions:"]
        lines += [
            f"  {d.step}: {d.decision} by {d.by} at {_time(d.at)}" + (f": {d.note}" if d.note else "")
            for d in view.state.decisions
        ]
    if view.state.excluded:
        lines += [f"  excluded from the rest of the run: {', '.join(sorted(view.state.excluded))}"]
    evidence = view.run.evidence()
    if evidence:
        lines += ["", "evidence:"]
        lines += [f"  {e.name}  sha256 {e.sha256}  {e.size_bytes} bytes" for e in evidence]
    return lines


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")
