"""
What a resume keeps: the journal's ``done`` and ``noop`` steps whose guard still holds on the host.

A resume replays the journal, and a step it keeps as done sends nothing again; later steps rely
on it. But the host may contradict the journal: restored from a snapshot, a change undone by hand.
So before anything runs, ``still_in_effect`` reads the guard of every kept step whose guard is a
fact of the host (files, products, IIS settings, SQL objects: read-only operations) and lets a
step whose guard does not hold run again from its guard. A guard that cannot be read now (the
host is down) keeps the step as journaled: the host's next step meets the same error. Steps whose guard is
not such a fact (gates, restarts, conditions, Deployment Tool actions) are kept as journaled.
"""

from __future__ import annotations

from collections.abc import Mapping

from rollup.engine.events import EventSink, Notice, StepOutcome
from rollup.engine.executors import executor_for
from rollup.engine.steprun import StepDriver
from rollup.errors import RollupError
from rollup.planner import Plan

RECHECKED = frozenset(
    {
        "extract",
        "transfer",
        "backup",
        "copy",
        "msi_install",
        "msi_uninstall",
        "msi_run_twice",
        "iis_setting",
        "sql_objects_check",
        "restore",
    }
)
"""Step kinds whose guard is a fact of the host."""


def still_in_effect(
    plan: Plan, kept: Mapping[str, StepOutcome], driver: StepDriver, emit: EventSink
) -> dict[str, StepOutcome]:
    """``kept`` without the steps whose guard no longer holds (each said in a notice)."""
    steps = {s.id: s for s in plan.steps}
    confirmed = dict(kept)
    for step_id, outcome in kept.items():
        step = steps.get(step_id)
        if step is None or outcome is StepOutcome.SKIPPED or step.kind not in RECHECKED:
            continue
        try:
            guard = executor_for(step.kind).check(driver.context(step, 0))
        except RollupError:
            continue  # unreadable now (a host down): the host's next step meets the same error
        holds, why = guard.in_effect, guard.reason
        if not holds:
            del confirmed[step_id]
            said = f"journaled {outcome.value}, but not in effect on the host now ({why})"
            emit(Notice(text=f"{step_id}: {said}; it runs again"))
    return confirmed
