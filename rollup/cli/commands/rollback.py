"""
``rollup rollback RUN``: undo an applied run, from the backups it kept, as a run of its own.

The rollback is planned from the applied run's record (``rollup.rollback``) and run by the same
engine as an apply (``rollup.engine.run.apply_plan``): guarded, journaled, audited, resumable
(``--resume``), with ``--dry-run``. Exit codes: 0 done; 1 refused by its pre-flight (a backup
missing or changed on the host, the applied run's audit log does not verify, a host not ready as
``rollup apply``'s pre-flight checks it), or a step failed;
2 the run named cannot be rolled back (unknown, not ended, itself a rollback); 5 waiting at a
Deployment Tool step an operator does; 130 interrupted. docs/rollback.md is the reference.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import click
from rich.console import Console

from rollup.cli.commands.apply import runs_dir_option
from rollup.cli.console import console
from rollup.cli.options import quiet
from rollup.errors import RunFailed, RunWaiting, UsageError

if TYPE_CHECKING:
    from rollup.engine.run import RunReport


@click.command("rollback")
@click.argument("run_ref", metavar="RUN", required=False)
@click.option("--resume", metavar="RUN_ID|last", help="Finish an interrupted or failed rollback.")
@click.option("--dry-run", is_flag=True, help="Check the backups and show what would run; change nothing.")
@click.option(
    "-i", "--inventory", "inventory_ref", metavar="NAME|PATH", help="The inventory (default: the run's)."
)
@click.option(
    "--forks", type=click.IntRange(min=1, max=256), default=8, help="Hosts worked on at once (default 8)."
)
@click.option(
    "--confirm", "confirm", multiple=True, metavar="STEP", help="Confirm a Deployment Tool step in advance."
)
@click.option("--note", default="", help="A note recorded with confirmations given by --confirm.")
@click.option(
    "--skip-preflight", is_flag=True, help="Start without the hosts' pre-flight (needs --reason; audited)."
)
@click.option("--reason", metavar="TEXT", help="Why --skip-preflight; recorded in the audit log.")
@click.option(
    "--json", "as_json", is_flag=True, help="Print how the rollback ended as one JSON document on stdout."
)
@runs_dir_option
def command(  # noqa: PLR0917 - click passes every option by keyword position
    run_ref: str | None,
    resume: str | None,
    dry_run: bool,
    inventory_ref: str | None,
    forks: int,
    confirm: tuple[str, ...],
    note: str,
    skip_preflight: bool,
    reason: str | None,
    as_json: bool,
    runs_dir: str | None,
) -> None:
    """Roll back the applied run RUN (an id, a unique prefix, or last) from the backups it kept."""
    from rollup.cli.apply_preflight import delete_stale_shells, preflight_gate, skip_override
    from rollup.cli.progress import ProgressRenderer, preview_table
    from rollup.credentials import CredentialCache
    from rollup.engine.dryrun import preview_plan
    from rollup.engine.options import RunOptions
    from rollup.engine.run import apply_plan
    from rollup.engine.rundir import control_host_name, operator_name, resolve_runs_dir, runs_dir_arg
    from rollup.rollback.check import RollbackRefused
    from rollup.rollback.flow import prepare, resolve_rollback
    from rollup.transport.base import default_registry

    if (run_ref is None) == (resume is None):
        raise UsageError("name the applied run to roll back (RUN), or give --resume RUN_ID|last, not both")
    if dry_run and resume:
        raise UsageError("--dry-run and --resume cannot be combined")
    skipped = skip_override(skip_preflight, reason)
    runs = resolve_runs_dir(runs_dir)
    rd = runs_dir_arg(runs)
    out = console(soft_wrap=True, stderr=as_json, quiet=quiet())
    earlier = resolve_rollback(runs, resume) if resume else None
    applied_ref = str(earlier.read_facts().options.get("rolls_back")) if earlier else str(run_ref)
    renderer = ProgressRenderer(out, live=out.is_terminal, quiet=out.quiet)
    try:
        try:
            prepared = prepare(
                runs,
                applied_ref,
                inventory_ref=inventory_ref,
                transports=default_registry(),
                credentials=CredentialCache(prompt=None),
                operator=operator_name(),
                control_host=control_host_name(),
                emit=renderer,
                dry_run=dry_run,
            )
        except RollbackRefused as exc:
            renderer.stop()
            for line in exc.problems:
                print(line, file=sys.stderr)
            raise
        setup = prepared.setup
        renderer.stop()
        if earlier is not None:
            delete_stale_shells(setup, earlier, out)
        if not skipped:
            preflight_gate(setup, None, out, forks=forks, run=earlier, dry_run=dry_run, reinstalls=True)
        if dry_run:
            out.print(preview_table(preview_plan(setup, forks=forks)))
            return
        options = RunOptions(
            forks=forks, resume=earlier.run_id if earlier else None, confirm=confirm, note=note,
            overrides=skipped, recorded=prepared.recorded,
        )  # fmt: skip
        report = apply_plan(setup, options)
    except KeyboardInterrupt:
        renderer.stop()
        if renderer.run_id is not None:
            again = f"rollup rollback --resume {renderer.run_id}{rd}"
            stopped = f"interrupted: run {renderer.run_id} stopped; resume it with: {again}"
            (click.echo if out.quiet else out.print)(stopped)
        raise
    finally:
        renderer.stop()
    _conclude(out, report, prepared.applied.run_id, rd, as_json=as_json)


def _conclude(out: Console, report: RunReport, applied: str, rd: str, *, as_json: bool) -> None:
    """The JSON document or summary, what was left in place, and the exit code's error."""
    from rollup.cli.apply_report import to_json
    from rollup.cli.progress import summary_table
    from rollup.rollback.plan import LEFT_IN_PLACE

    left = [r for r in report.reports if r.step.kind in LEFT_IN_PLACE]
    if as_json:
        document = to_json(report)
        document.update(
            kind="rollback",
            rolls_back=applied,
            left_in_place=[{"host": r.step.host, "step": r.step.id, "what": r.summary} for r in left],
        )
        click.echo(json.dumps(document, indent=2, sort_keys=True, ensure_ascii=True))
    out.print(summary_table(report))
    out.print(f"run id: {report.run_id} (rolls back {applied})")
    out.print(f"audit log: {report.audit_path} (head {report.audit_head})")
    for r in left:
        out.print(f"{r.step.host}: {r.summary}", markup=False, highlight=False)
    if out.quiet:
        click.echo(
            f"run {report.run_id}: {report.state} (rollback of {applied}); audit head {report.audit_head}"
        )
    again = f"`rollup rollback --resume {report.run_id}{rd}`"
    if report.state == "failed":
        failed = [r for r in report.reports if r.outcome.value == "failed"]
        first = failed[0].summary if failed else "steps could not start"
        raise RunFailed(
            f"rollback {report.run_id} failed: {len(failed)} step(s) failed; first: {first}",
            hint=f"fix the cause, then {again}",
        )
    if report.state == "waiting":
        raise RunWaiting(
            f"rollback {report.run_id} waits for an operator",
            hint=f"do the checklist, `rollup confirm {report.run_id} STEP{rd}`, then {again}",
        )
