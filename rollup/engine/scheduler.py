"""
The DAG scheduler: which plan step runs next, where, and when a run must stop starting steps.

Rules (docs/apply.md, "Order and concurrency"):

- A step starts when every step it depends on is ``done``, ``noop`` or ``skipped``, its host is
  not running another step (a host's transport is one WinRM shell, and Windows Installer
  serialises installs anyway), and fewer than ``forks`` steps are running. Among ready steps,
  plan order (the KB's order) decides.
- Steps of different hosts run concurrently: DNS01, the COLLAB hosts and MPSSQL are independent
  branches, and all COLLAB hosts of a wave run at once.
- A step whose dependency failed never starts (``blocked``); a step behind a manual gate that
  waits for an operator is left pending (``held``) for the resume. Independent steps still
  start, and steps already running finish: nothing is left half-done by the scheduler.
- Waves: the first COLLAB step of a host in wave k+1 depends on the last COLLAB steps of wave
  k (the planner adds these edges). Such a wave edge is satisfied once every earlier wave has
  settled and, in each of them, the share of its hosts that failed is at most
  ``max_fail_percent``. A host counts as failed when any of its steps failed or could not start
  because of a failure, whatever the cause (an unreachable host is a failed host). With the
  default 0, one failure in a wave stops every later wave; with 50, a wave of two hosts may lose
  one. A wave over the threshold stops all later waves, not just the next.
- Operator decisions (``--on-failure pause``): a step an operator skipped (``skipped-by-operator``)
  or a step of a host an operator excluded (``excluded``) does not let the steps after it start;
  they are ``blocked`` *by an exception* (``excepted``), which is not a failure: it does not count
  against a wave, and a run whose only problems are exceptions ends ``done-with-exceptions``.
  Every step of an excluded host that has not ended yet is ``excluded`` and never starts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from rollup.engine.events import EventSink, Notice, StepFinished, StepOutcome, WaveStopped
from rollup.engine.executors import StepReport
from rollup.planner import Plan, PlanStep

SETTLED_OK = frozenset({StepOutcome.DONE, StepOutcome.NOOP, StepOutcome.SKIPPED})
"""Outcomes that let the steps after a step start."""

HELD = "behind a manual gate that waits"

EXCEPTIONS = frozenset({StepOutcome.SKIPPED_BY_OPERATOR, StepOutcome.EXCLUDED})
"""Outcomes an operator decided: the steps after them do not start, and nothing failed."""

StepRunner = Callable[[PlanStep], StepReport]
"""Runs one step to its end (called on a worker thread)."""


@dataclass(slots=True)
class _Waves:
    """Per COLLAB wave: its hosts, and whether it has been stopped already (reported once)."""

    hosts: dict[int, set[str]] = field(default_factory=dict)
    steps: dict[int, list[str]] = field(default_factory=dict)
    stopped: set[int] = field(default_factory=set)


class Scheduler:
    """
    Runs a plan's pending steps by the rules of the module docstring.

    ``prior`` holds the outcomes a resumed run keeps from the journal (``done``, ``noop``,
    ``skipped``, and the exceptions an operator decided); every other step of the plan is
    pending. ``excluded`` names the hosts an operator excluded from the rest of the run, and why.
    """

    def __init__(
        self,
        plan: Plan,
        run: StepRunner,
        *,
        prior: Mapping[str, StepOutcome],
        forks: int,
        max_fail_percent: float,
        emit: EventSink,
        excluded: Mapping[str, str] | None = None,
    ) -> None:
        if forks < 1:
            raise ValueError("forks must be at least 1")
        self.plan = plan
        self._run = run
        self._forks = forks
        self._threshold = max_fail_percent
        self._emit = emit
        self._steps = {s.id: s for s in plan.steps}
        self.outcomes: dict[str, StepOutcome] = {k: v for k, v in prior.items() if k in self._steps}
        self.reports: dict[str, StepReport] = {}
        self._waves = _Waves()
        for step in plan.steps:
            if step.wave is not None:
                self._waves.hosts.setdefault(step.wave, set()).add(step.host)
                self._waves.steps.setdefault(step.wave, []).append(step.id)
        self.excluded: dict[str, str] = dict(excluded or {})
        """Hosts an operator excluded from the rest of the run, and why (a line for the report)."""
        self.excepted: dict[str, str] = {}
        """Blocked steps that did not start because of an operator's decision (not a failure), and why."""
        self.held: set[str] = set()
        """Steps that wait behind a manual gate: not started, not failed; a resume runs them."""
        self.stop = threading.Event()
        """Set it to start no more steps (running ones finish)."""

    # ---- readiness -------------------------------------------------------------------------

    def _is_wave_edge(self, step: PlanStep, dep: PlanStep) -> bool:
        return (
            step.wave is not None
            and dep.wave is not None
            and dep.wave == step.wave - 1
            and dep.host != step.host
        )

    def _failed_hosts(self, wave: int) -> set[str]:
        bad = {StepOutcome.FAILED, StepOutcome.BLOCKED}
        return {
            self._steps[s].host
            for s in self._waves.steps[wave]
            if self.outcomes.get(s) in bad and s not in self.excepted
        }

    def _wave_gate(self, wave: int) -> bool | None:
        """Whether steps of ``wave`` may follow earlier waves: True, False (stopped), None (not settled)."""
        for k in sorted(w for w in self._waves.steps if w < wave):
            if any(self.outcomes.get(s) is None for s in self._waves.steps[k]):
                return None
            failed = self._failed_hosts(k)
            share = 100.0 * len(failed) / len(self._waves.hosts[k])
            if share > self._threshold:
                if k not in self._waves.stopped:
                    self._waves.stopped.add(k)
                    self._emit(
                        WaveStopped(
                            wave=k,
                            failed_hosts=tuple(sorted(failed)),
                            hosts=len(self._waves.hosts[k]),
                            percent=share,
                            threshold=self._threshold,
                        )
                    )
                return False
        return True

    def _readiness(self, step: PlanStep) -> tuple[bool, str | None]:
        """
        ``(True, None)``: it may start; ``(False, None)``: not yet; ``(False, reason)``: it
        cannot start in this run (``reason`` says why; ``HELD`` when behind a waiting gate).
        """
        ready = True
        excepted: str | None = None
        for dep_id in step.after:
            dep = self._steps.get(dep_id)
            if dep is None:
                continue
            outcome = self.outcomes.get(dep_id)
            if dep_id in self.held or outcome is StepOutcome.WAITING:
                return False, HELD
            if self._is_wave_edge(step, dep):
                if outcome is None:
                    ready = False
                    continue
                gate = self._wave_gate(step.wave or 0)
                if gate is False:
                    return False, f"wave {dep.wave} failed past --max-fail-percent {self._threshold:g}"
                ready = ready and gate is True
            elif outcome in SETTLED_OK:
                continue
            elif outcome is None:
                ready = False
            elif outcome in EXCEPTIONS or dep_id in self.excepted:
                excepted = excepted or self._why_excepted(dep, outcome)
            else:
                return False, f"{dep_id} {'failed' if outcome is StepOutcome.FAILED else 'did not run'}"
        if excepted is not None:
            self.excepted[step.id] = excepted
            return False, excepted
        return ready, None

    def _why_excepted(self, dep: PlanStep, outcome: StepOutcome) -> str:
        if outcome is StepOutcome.SKIPPED_BY_OPERATOR:
            return f"{dep.id} was skipped by an operator"
        if outcome is StepOutcome.EXCLUDED:
            return f"{dep.host} was excluded by an operator"
        return self.excepted.get(dep.id, f"{dep.id} did not run (an operator's decision)")

    # ---- the loop --------------------------------------------------------------------------

    def run(self) -> dict[str, StepReport]:
        """
        Start steps until none is left that can start; returns this run's reports by step id.

        Steps that never started (blocked) get a ``blocked`` report; steps left pending behind
        a waiting gate get none.
        """
        running: dict[Future[StepReport], PlanStep] = {}
        busy: set[str] = set()
        with ThreadPoolExecutor(max_workers=self._forks, thread_name_prefix="rollup-host") as pool:
            try:
                while True:
                    self._start_ready(pool, running, busy)
                    if not running:
                        break
                    finished, _ = wait(tuple(running), return_when=FIRST_COMPLETED)
                    for future in finished:
                        step = running.pop(future)
                        busy.discard(step.host)
                        report = future.result()
                        self.reports[step.id] = report
                        self.outcomes[step.id] = report.outcome
                        if report.outcome is StepOutcome.EXCLUDED:
                            self.excluded.setdefault(step.host, report.summary)
            except BaseException:
                self.stop.set()
                if running:
                    steps = ", ".join(s.id for s in running.values())
                    self._emit(Notice(text=f"stopping: waiting for the running steps to finish ({steps})"))
                raise
        return self.reports

    def _start_ready(
        self, pool: ThreadPoolExecutor, running: dict[Future[StepReport], PlanStep], busy: set[str]
    ) -> None:
        active = {s.id for s in running.values()}
        progress = True
        while progress:
            progress = False
            for step in self.plan.steps:
                if step.id in self.outcomes or step.id in active:
                    continue
                if step.host in self.excluded:
                    self.held.discard(step.id)
                    self._exclude(step)
                    progress = True
                    continue
                if step.id in self.held:
                    continue
                ready, blocked = self._readiness(step)
                if blocked == HELD:
                    self.held.add(step.id)
                    progress = True
                elif blocked is not None:
                    self._block(step, blocked)
                    progress = True
                elif (
                    ready and not self.stop.is_set() and step.host not in busy and len(running) < self._forks
                ):
                    busy.add(step.host)
                    active.add(step.id)
                    running[pool.submit(self._run, step)] = step
                    progress = True

    def _exclude(self, step: PlanStep) -> None:
        self._settle(step, StepOutcome.EXCLUDED, f"not started: {self.excluded[step.host]}")

    def _block(self, step: PlanStep, reason: str) -> None:
        self._settle(step, StepOutcome.BLOCKED, f"not started: {reason}")

    def _settle(self, step: PlanStep, outcome: StepOutcome, summary: str) -> None:
        """``step`` will not start in this run: its report and event."""
        report = StepReport(step=step, outcome=outcome, summary=summary)
        self.reports[step.id] = report
        self.outcomes[step.id] = outcome
        self._emit(
            StepFinished(
                step_id=step.id,
                host=step.host,
                kind=step.kind,
                title=step.title,
                outcome=outcome,
                summary=report.summary,
            )
        )
