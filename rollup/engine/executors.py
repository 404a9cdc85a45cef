"""
One executor per step kind, and the loop that runs a step's attempts.

Every attempt, the first, a retry, or the first after a resume, does the same thing:

1. re-read the step's guard facts (``Executor.check``, read-only);
2. if they say the effect is in place, stop: ``noop`` (``done`` when this run already acted,
   or an interrupted attempt of it may have), or ``skipped`` for a false condition;
3. otherwise act (``Executor.act``), which verifies its own effect.

So an action that may have started (a reset connection, a killed controller) is judged by the
host's state and never re-run blindly. Attempts are retried as ``rollup.engine.retry`` says.
Errors a step can meet become a ``failed`` report with a one-line reason naming the host (and
the exit code, hint and MSI log tail when there are any); a manual gate with nobody to ask
becomes ``waiting``. Anything else is a bug and propagates.

The kinds live in ``rollup.engine.steps``: ``msi``, ``files``, ``services``, ``gates``, ``restore``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from rollup.engine.events import StepOutcome
from rollup.engine.retry import RetryListener, RetryPolicy, StepFailed, run_with_retries
from rollup.engine.steps.context import Acted, Executor, GateWaiting, StepContext
from rollup.engine.steps.files import Backup, Copy, Extract, Transfer
from rollup.engine.steps.gates import Conditional, DeploymentTool, ManualGate
from rollup.engine.steps.msi import MsiInstall, MsiRunTwice, MsiUninstall
from rollup.engine.steps.restore import IisSettingLeft, Restore, SqlObjectsLeft
from rollup.engine.steps.services import ComplusRestart, IisRestart, IisSetting, SqlObjectsCheck
from rollup.errors import CommandFailed, ConfigError, LockHeld, ResultParseError, TransportError
from rollup.model.manifest import Manifest
from rollup.planner import PlanStep

_SIMPLE: dict[str, Executor] = {
    "extract": Extract(),
    "transfer": Transfer(),
    "backup": Backup(),
    "copy": Copy(),
    "msi_install": MsiInstall(),
    "msi_uninstall": MsiUninstall(),
    "msi_run_twice": MsiRunTwice(),
    "iis_setting": IisSetting(),
    "iis_restart": IisRestart(),
    "complus_restart": ComplusRestart(),
    "sql_objects_check": SqlObjectsCheck(),
    "manual_gate": ManualGate(),
    "deployment_tool": DeploymentTool(),
    "restore": Restore(),
    "sql_objects_left": SqlObjectsLeft(),
    "iis_setting_left": IisSettingLeft(),
}
EXECUTORS: Mapping[str, Executor] = {**_SIMPLE, "conditional": Conditional(_SIMPLE.__getitem__)}
"""
The executor of each step kind (``rollup.model.steps.STEP_KINDS``, and the three a rollback adds:
``restore``, ``sql_objects_left``, ``iis_setting_left``, ``rollup.engine.steps.restore``).
"""

RESTARTS = frozenset({"iis_restart", "complus_restart"})
"""Kinds that are needed only when something before them acted (see ``rollup.engine.steps.services``)."""
GATES = frozenset({"manual_gate"})


def executor_for(kind: str) -> Executor:
    """The executor of ``kind``; an unknown kind is a programming error (the manifest refuses them)."""
    return EXECUTORS[kind]


def policy_for(step: PlanStep, manifest: Manifest) -> RetryPolicy:
    """The step's retry policy; a conditional's is its wrapped step's (the one that runs msiexec)."""
    retry = step.retry
    if step.kind == "conditional":
        retry = manifest.step(str(step.params["step"]["id"])).retry
    return RetryPolicy.of(retry, deadline_s=step.timeout_s)


@dataclass(frozen=True, slots=True, kw_only=True)
class StepReport:
    """How one step went in this run."""

    step: PlanStep
    outcome: StepOutcome
    summary: str
    exit_code: int | None = None
    hint: str | None = None
    log_tail: tuple[str, ...] = ()
    checklist: tuple[str, ...] = ()
    retry_waits_s: tuple[float, ...] = ()
    duration_s: float = 0.0
    attempts: int = 0
    evidence: Mapping[str, str] = field(default_factory=dict)
    notices: tuple[str, ...] = ()


def run_step(
    step: PlanStep,
    context: Callable[[int], StepContext],
    *,
    policy: RetryPolicy,
    acted_before: bool,
    on_attempt: Callable[[int], None],
    on_retry: RetryListener,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> StepReport:
    """
    Run ``step``'s attempts and report how it ended.

    Args:
        context: builds the context of attempt n.
        acted_before: an earlier process of this run may have acted (the journal shows the step
            started without finishing): a guard that holds then means ``done``, not ``noop``.
        on_attempt: called with n before attempt n touches the host (the journal's
            ``step_started``, written before anything happens).
        on_retry: called before each wait (the audit record and the event of the retry).
    """
    executor = executor_for(step.kind)
    acted = acted_before
    waits: list[float] = []
    attempts = 0
    started = clock()

    def attempt(n: int) -> tuple[StepOutcome, Acted]:
        nonlocal acted, attempts
        attempts = n
        on_attempt(n)
        ctx = context(n)
        guard = executor.check(ctx)
        if guard.skipped:
            return StepOutcome.SKIPPED, Acted(summary=guard.reason)
        if guard.in_effect:
            if acted:
                return StepOutcome.DONE, Acted(summary=f"{guard.reason} (in effect after an earlier attempt)")
            return StepOutcome.NOOP, Acted(summary=guard.reason)
        acted = True
        return StepOutcome.DONE, executor.act(ctx, guard)

    def retried(n: int, wait: float, error: BaseException) -> None:
        waits.append(wait)
        on_retry(n, wait, error)

    def report(outcome: StepOutcome, summary: str, **extra: object) -> StepReport:
        return StepReport(
            step=step,
            outcome=outcome,
            summary=summary,
            retry_waits_s=tuple(waits),
            duration_s=clock() - started,
            attempts=attempts,
            **extra,  # type: ignore[arg-type]
        )

    try:
        outcome, acted_result = run_with_retries(attempt, policy, on_retry=retried, sleep=sleep, clock=clock)
    except GateWaiting as exc:
        return report(StepOutcome.WAITING, exc.message, checklist=exc.checklist)
    except StepFailed as exc:
        return report(
            StepOutcome.FAILED, exc.message, exit_code=exc.remote_code, hint=exc.hint, log_tail=exc.log_tail
        )
    except TransportError as exc:
        hint = exc.hint or (
            "the host did not answer; check that it is up and WinRM listens" if exc.transient else None
        )
        return report(StepOutcome.FAILED, exc.message, hint=hint)
    except (CommandFailed, ResultParseError, ConfigError, LockHeld) as exc:
        message = exc.message if exc.message.startswith(step.host) else f"{step.host}: {exc.message}"
        return report(StepOutcome.FAILED, message, hint=exc.hint)
    return report(
        outcome,
        acted_result.summary,
        exit_code=acted_result.remote_code,
        evidence=acted_result.evidence,
        notices=acted_result.notices,
    )
