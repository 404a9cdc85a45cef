"""
``rollup decide RUN_ID STEP retry|skip|exclude|abort``: an operator's decision about a failed step.

A run with ``--on-failure pause`` and no terminal to ask on stops at a failed step in ``waiting``
(exit 5). The operator decides here; the decision is written to the run's journal and its audit
log with who decided and the note, and ``rollup apply --resume RUN_ID`` applies it: ``retry``
runs the step again, ``skip`` leaves it and the steps after it out, ``exclude`` leaves out its
host, ``abort`` ends the run ``failed`` (docs/apply.md, "Guided failure").
"""

from __future__ import annotations

import click

from rollup.cli.commands.apply import runs_dir_option
from rollup.engine.journal_state import CHOICES

_DONE = {
    "retry": "it runs again",
    "skip": "it and the steps after it are left out",
    "exclude": "its host is left out of the rest of the run",
    "abort": "the run ends failed",
}


@click.command("decide")
@click.argument("run_ref", metavar="RUN_ID")
@click.argument("step", metavar="STEP")
@click.argument("decision", type=click.Choice(CHOICES))
@click.option("--note", default="", help="Recorded with the decision (why, a ticket).")
@runs_dir_option
def command(run_ref: str, step: str, decision: str, note: str, runs_dir: str | None) -> None:
    """Decide what becomes of the failed STEP of run RUN_ID (an id, a unique prefix, or last)."""
    from rollup.engine.decisions import decide_step
    from rollup.engine.rundir import control_host_name, operator_name, resolve_runs_dir, runs_dir_arg

    operator = operator_name()
    runs = resolve_runs_dir(runs_dir)
    chosen = next(c for c in CHOICES if c == decision)
    run, target = decide_step(
        runs, run_ref, step, chosen, operator=operator, control_host=control_host_name(), note=note
    )
    click.echo(f"decided {decision} for {target} of run {run.run_id} as {operator}: {_DONE[decision]}")
    click.echo(f"apply it with: `rollup apply --resume {run.run_id}{runs_dir_arg(runs)}`")
