"""
``rollup audit verify``: recompute an audit log's hash chain and name its first bad record.

Exit 0 when every record verifies (the record count and the head hash are printed), 1 when
one does not (the line, its seq and what is wrong are printed). docs/audit.md says what a
chain proves and what it does not.
"""

from __future__ import annotations

from pathlib import Path

import click

from rollup.audit.chain import is_head_prefix, verify_chain
from rollup.audit.evidence import recorded_heads, verify_evidence
from rollup.cli.options import runs_dir_option
from rollup.cli.report import terminal_credentials
from rollup.engine.remote_heads import remote_heads
from rollup.engine.rundir import RunDir, resolve_run, resolve_runs_dir
from rollup.errors import ExitCode, UsageError
from rollup.transport.base import default_registry


@click.group(name="audit")
def command() -> None:
    """Check the audit logs that runs write."""


def audit_log_path(ref: str, runs_dir: str | None) -> Path:
    """
    The audit log ``ref`` names: a file, a run directory, or a run (id, unique prefix, ``last``).

    Raises:
        UsageError: ``ref`` is none of these, or the run has no audit log.
    """
    path = Path(ref)
    if path.is_file():
        return path
    if path.is_dir():
        path = path / "audit.jsonl"
    elif "/" in ref or ref.endswith(".jsonl"):
        raise UsageError(f"{ref}: no such file")
    else:
        path = resolve_run(resolve_runs_dir(runs_dir), ref).audit_path
    if not path.is_file():
        raise UsageError(f"{path}: no such file; the run has no audit log")
    return path


@command.command(name="verify")
@click.argument("ref", metavar="PATH|RUN")
@runs_dir_option
@click.option(
    "--expect-head",
    metavar="HASH",
    help="A head hash recorded earlier (rehearsal record, console line): it must be in the chain.",
)
@click.option(
    "--remote",
    is_flag=True,
    help="Also check the heads kept on the Deployment Tool host of the run's inventory.",
)
@click.option(
    "--inventory",
    "inventory_ref",
    metavar="X",
    help="With --remote: the inventory to reach that host by (default: the run's own).",
)
def verify(
    ref: str, runs_dir: str | None, expect_head: str | None, remote: bool, inventory_ref: str | None
) -> int:
    """Verify the hash chain of an audit log (PATH, or RUN: a run id, a prefix, or `last`)."""
    if expect_head is not None and not is_head_prefix(expect_head):
        raise UsageError(
            f"--expect-head {expect_head!r}: a head hash is 64 lower-case hex digits "
            "(its first 16 or more will do)"
        )
    if inventory_ref is not None and not remote:
        raise UsageError("--inventory is only for --remote")
    path = audit_log_path(ref, runs_dir)
    recorded = recorded_heads(path.parent)
    if remote:
        run = RunDir(path.parent)
        if not run.facts_path.is_file():
            raise UsageError(f"{ref}: --remote needs a run (its run directory), not a lone log file")
        host, kept = remote_heads(
            run,
            inventory_ref=inventory_ref,
            transports=default_registry(),
            credentials=terminal_credentials(),
        )
        if not kept:
            click.echo(f"{path}: {host} keeps no audit head of run {run.run_id}: nothing to compare with")
            return ExitCode.RUN_FAILED
        recorded = {**recorded, **kept}
        click.echo(f"{host} keeps {len(kept)} head(s) of run {run.run_id}")
    report = verify_chain(path, expect_head=expect_head, recorded=recorded)
    if report.bad is None:
        report = verify_evidence(path, report)
    count = f"{report.records} record" + ("" if report.records == 1 else "s")
    if report.bad is None:
        click.echo(f"{path}: intact: {count}, head {report.head}")
        return ExitCode.OK
    click.echo(f"{path}: BROKEN at {report.bad.describe()}")
    click.echo(f"before it: {count} verified, head {report.head}")
    return ExitCode.RUN_FAILED
