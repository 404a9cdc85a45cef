"""
``rollup apply --dry-run``: per plan step, what would run, or why it would not, from live facts.

Every step's guard is read on its host, exactly as a run reads it before acting, and nothing
else is sent: the sessions are opened read-only (``Hosts(read_only=True)``), which refuses any
operation that may change a host, so a dry run cannot change anything even through a bug in an
executor. Nothing is written locally either: no run directory, journal or lock.

A guard describes the host as it is now, so a step after one that would run is predicted from
today's state ("not installed": it would run). Two kinds depend on other steps rather than on
their own host:

- a restart (``iis_restart``, ``complus_restart``) would run when a step it depends on would
  run; otherwise its own guard decides;
- a manual gate would ask an operator when a step after it would run; otherwise it is a no-op.

A host that cannot be reached gives ``unknown`` for its steps, with the reason.
"""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from rollup.engine.changes import changes
from rollup.engine.events import RunFinished, RunStarted, StepPreview, Verdict, redacting
from rollup.engine.executors import GATES, RESTARTS, executor_for
from rollup.engine.journal_state import Confirmation
from rollup.engine.options import RunSetup
from rollup.engine.steprun import relatives
from rollup.engine.steps.context import GateWaiting, Hosts, StepContext
from rollup.errors import RollupError
from rollup.planner import PlanStep

_CHANGES = frozenset({Verdict.RUN, Verdict.ASK, Verdict.UNKNOWN})


def _never_asked(checklist: tuple[str, ...]) -> Confirmation:
    raise GateWaiting("a dry run asks nobody", checklist=checklist)


def _look(setup: RunSetup, hosts: Hosts, step: PlanStep) -> tuple[Verdict, str]:
    """The step's own verdict from its guard, as if nothing before it changed."""
    executor = executor_for(step.kind)
    ctx = StepContext(
        step=step,
        plan=setup.plan,
        manifest=setup.manifest,
        package=setup.package,
        hosts=hosts,
        run_id="dry-run",
        attempt=0,
        started_at=datetime.now(UTC),
        upstream_changed=False,
        confirmation=None,
        confirm=_never_asked,
        gate_needed=lambda: (True, "a dry run decides gates last"),
    )
    try:
        guard = executor.check(ctx)
    except RollupError as exc:
        return Verdict.UNKNOWN, str(exc)
    if guard.skipped:
        return Verdict.SKIP, guard.reason
    if guard.in_effect:
        return Verdict.NOOP, guard.reason
    if step.kind == "deployment_tool" and step.params.get("strategy") != "command":
        return Verdict.ASK, f"an operator would {executor.describe(step).split(' by ')[0]}: {guard.reason}"
    return Verdict.RUN, f"{executor.describe(step)}: {guard.reason}"


def preview_plan(setup: RunSetup, *, forks: int = 8) -> tuple[StepPreview, ...]:
    """Predict every step of ``setup.plan`` from live, read-only facts; emits each ``StepPreview``."""
    setup = dataclasses.replace(setup, emit=redacting(setup.emit, setup.registry.redact_text))
    plan = setup.plan
    setup.emit(
        RunStarted(
            run_id="",
            resumed=False,
            dry_run=True,
            hosts=plan.hosts(),
            steps=len(plan.steps),
            audit_path="",
            fingerprint=plan.fingerprint,
        )
    )
    hosts = Hosts(setup.inventory, setup.transports, setup.credentials, setup.registry, read_only=True)
    verdicts: dict[str, tuple[Verdict, str]] = {}

    def look_at(host: str) -> dict[str, tuple[Verdict, str]]:
        return {s.id: _look(setup, hosts, s) for s in plan.steps if s.host == host and s.kind not in GATES}

    try:
        with ThreadPoolExecutor(max_workers=max(1, forks), thread_name_prefix="rollup-dry-run") as pool:
            for found in pool.map(look_at, plan.hosts()):
                verdicts.update(found)
    finally:
        hosts.close()
    up, down = relatives(plan)
    for step in plan.steps:
        if step.kind in RESTARTS:
            earlier = [s for s in plan.steps if s.id in up[step.id] and changes(s, step, setup.inventory)]
            acting = [a.id for a in earlier if verdicts.get(a.id, (Verdict.NOOP, ""))[0] in _CHANGES]
            cause = acting[-1] if acting else None
            if cause is not None:
                verdicts[step.id] = (Verdict.RUN, f"{executor_for(step.kind).describe(step)}: after {cause}")
    for step in plan.steps:
        if step.kind in GATES:
            later = next(
                (
                    d
                    for d in plan.steps
                    if d.id in down[step.id] and d.kind not in GATES and verdicts[d.id][0] in _CHANGES
                ),
                None,
            )
            verdicts[step.id] = (
                (Verdict.ASK, f"an operator would confirm it: {later.id} has work to do")
                if later
                else (Verdict.NOOP, "every step after it is already in effect")
            )
    previews = []
    for step in plan.steps:
        verdict, reason = verdicts[step.id]
        preview = StepPreview(
            step_id=step.id, host=step.host, kind=step.kind, title=step.title, verdict=verdict, reason=reason
        )
        setup.emit(preview)
        previews.append(preview)
    counts: dict[str, int] = {}
    for preview in previews:
        counts[preview.verdict.value] = counts.get(preview.verdict.value, 0) + 1
    setup.emit(RunFinished(run_id="", state="dry-run", counts=counts))
    return tuple(previews)
