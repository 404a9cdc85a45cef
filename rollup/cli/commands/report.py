"""
``rollup report RUN``: the run as one self-contained HTML file (docs/report.md).

The file shows the run's summary, a timeline per host, the steps and their outcomes, the
notices, the gate confirmations, whether the audit log verifies (and its head), the evidence
files with their hashes and, given ``--verify`` (a ``rollup verify --json`` document), the
verify matrix. It reads the run's files and changes nothing but the file it writes.
"""

from __future__ import annotations

from pathlib import Path

import click

from rollup.cli.options import runs_dir_option


@click.command("report")
@click.argument("run_ref", metavar="RUN")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the HTML file (default: report.html in the run directory).",
)
@click.option(
    "--verify",
    "verify_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A `rollup verify --json` document to show as the verify matrix.",
)
@runs_dir_option
def command(run_ref: str, out: Path | None, verify_path: Path | None, runs_dir: str | None) -> None:
    """Write the HTML report of a run (RUN: its id, a unique prefix, or `last`)."""
    from rollup.engine.rundir import resolve_run, resolve_runs_dir
    from rollup.runreport.verifydoc import read_verify
    from rollup.runreport.write import write_report

    root = resolve_runs_dir(runs_dir)
    run = resolve_run(root, run_ref)
    verify = read_verify(verify_path) if verify_path is not None else None
    written = write_report(run, out, runs_dir=root, verify=verify)
    click.echo(f"report of run {run.run_id}: {written}")
