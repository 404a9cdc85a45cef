"""
``rollup confirm RUN_ID STEP``: record that an operator did a manual gate's checklist.

A run with no terminal to ask on stops at a manual gate in ``waiting`` (exit 5). The operator
does the work (in the Deployment Tool, say), then confirms here; the confirmation is written to
the run's journal and its audit log with who confirmed it and the note, and ``rollup apply
--resume RUN_ID`` continues: the gate's automated checks run before anything after it.
"""

from __future__ import annotations

import click

from rollup.cli.commands.apply import runs_dir_option


@click.command("confirm")
@click.argument("run_ref", metavar="RUN_ID")
@click.argument("step", metavar="STEP")
@click.option("--note", default="", help="Recorded with the confirmation (what was done, a ticket).")
@runs_dir_option
def command(run_ref: str, step: str, note: str, runs_dir: str | None) -> None:
    """Confirm the waiting manual gate STEP of run RUN_ID (an id, a unique prefix, or last)."""
    from rollup.engine.run import confirm_step
    from rollup.engine.rundir import control_host_name, operator_name, resolve_runs_dir, runs_dir_arg

    operator = operator_name()
    runs = resolve_runs_dir(runs_dir)
    run, target = confirm_step(
        runs,
        run_ref,
        step,
        operator=operator,
        control_host=control_host_name(),
        note=note,
    )
    click.echo(f"confirmed {target} of run {run.run_id} as {operator}")
    click.echo(f"continue with: `rollup apply --resume {run.run_id}{runs_dir_arg(runs)}`")
