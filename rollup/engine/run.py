"""
A run of a plan: its directory, locks, journal and audit log, its steps, and how it ends.

``apply_plan`` is what ``rollup apply`` calls. In order:

1. a new run directory (or, with ``resume``, the run named; refused if its plan changed, unless
   ``replan``), the local lock of the inventory (one run at a time on this control host), and
   the facts of the run (``run.json``);
2. the journal and the audit log, each durable before anything happens on a host: a run that
   dies at any instant leaves a record a resume continues from;
3. the run lock marker on the Deployment Tool host (``lock.acquire``), so two operators on two
   control hosts cannot run against one deployment;
4. the steps, by ``rollup.engine.scheduler`` and ``rollup.engine.executors``, each transition
   journaled before and after it happens, audited, and emitted as an event;
5. the end: ``done``, ``failed`` (some step failed), ``waiting`` (a manual gate awaits
   ``rollup confirm``, or a failed step ``rollup decide``) or ``done-with-exceptions`` (an
   operator skipped a step or excluded a host, ``rollup.engine.decisions``); the marker is
   released unless the run is waiting.

A resume replays the journal: ``done``, ``noop`` and ``skipped`` steps are kept; every other step
runs again from its guard, so a step that was running when the controller died is judged by the
host's state, never re-run blindly. See docs/apply.md.
"""

from __future__ import annotations

import dataclasses
import errno
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pydantic import JsonValue

from rollup import __version__
from rollup.audit.log import AuditEvent, AuditLog
from rollup.audit.redact import PROCESS_SECRETS, SecretRegistry
from rollup.engine import decisions, locks, offline, rundir
from rollup.engine.events import Notice, RunFinished, RunStarted, StepOutcome, redacting
from rollup.engine.executors import StepReport
from rollup.engine.identity import Identity, IdentityBook
from rollup.engine.journal import Journal
from rollup.engine.journal_bind import check_bound
from rollup.engine.journal_state import Outcome, RunState, StepFinished, StepStarted, StepStatus
from rollup.engine.options import RunOptions, RunSetup
from rollup.engine.plans import plan_differences, plan_material
from rollup.engine.recheck import still_in_effect
from rollup.engine.remote_lock import RemoteLock
from rollup.engine.scheduler import Scheduler
from rollup.engine.steprun import StepDriver
from rollup.engine.steps.context import Hosts
from rollup.errors import LockHeld, PlanError, RollupError
from rollup.model.inventory import Host
from rollup.planner import PlanStep


@dataclass(frozen=True, slots=True, kw_only=True)
class RunReport:
    """How a run ended: its state and every step's report, in plan order."""

    run_id: str
    state: str
    """``done``, ``done-with-exceptions``, ``failed``, ``waiting``."""
    reports: tuple[StepReport, ...]
    audit_path: Path
    audit_head: str
    duration_s: float
    excepted: frozenset[str] = frozenset()
    """Blocked steps that did not start because of an operator's decision (not a failure)."""
    deciding: tuple[str, ...] = ()
    """Failed steps waiting for an operator's decision (``rollup decide``)."""

    def in_state(self, *outcomes: StepOutcome) -> tuple[StepReport, ...]:
        """The reports whose outcome is one of ``outcomes``."""
        return tuple(r for r in self.reports if r.outcome in outcomes)


def _now() -> datetime:
    return datetime.now(UTC)


def apply_plan(setup: RunSetup, options: RunOptions) -> RunReport:
    """
    Run ``setup.plan`` (or resume a run of it) and report how it ended.

    Raises:
        LockHeld: another run holds the inventory's local lock or the Deployment Tool host's marker.
        PlanError: the run to resume was started with another plan, and ``replan`` is not set.
        UsageError: the run to resume does not exist.
    """
    started = time.monotonic()
    setup = dataclasses.replace(setup, emit=redacting(setup.emit, setup.registry.redact_text))
    run_dir, resumed = _run_dir(setup, options)
    holder = locks.LockHolder.of_this_process(
        run_dir.run_id, operator=setup.operator, host=setup.control_host, inventory=setup.inventory.source
    )
    try:
        local = locks.acquire_lock(setup.runs_dir, setup.inventory_digest, holder)
    except (LockHeld, OSError):
        if not resumed:
            _discard(run_dir)
        raise
    with local:
        if local.stale is not None and local.stale.run_id != run_dir.run_id:
            setup.emit(
                Notice(
                    text=f"took over the lock left by {local.stale.describe()}, which ended "
                    f"without releasing it; `rollup apply --resume {local.stale.run_id}"
                    f"{rundir.runs_dir_arg(setup.runs_dir)}` finishes it"
                )
            )
        replanned = ""
        if not resumed:
            _write_facts_or_discard(setup, options, run_dir)
        else:
            replanned = _check_plan(setup, options, run_dir)
            check_bound(run_dir.journal_path, run_dir.audit_path)
        run: _Run | None = None
        try:
            with (
                Journal.open(run_dir.journal_path, registry=setup.registry) as journal,
                AuditLog.open(run_dir.audit_path, run_id=run_dir.run_id, registry=setup.registry) as audit,
            ):
                audit.bind_journal(lambda: journal.head)
                run = _Run(setup, options, run_dir, journal, audit, resumed=resumed, started=started)
                return run.execute(replanned=replanned)
        except OSError as exc:
            if not resumed and (run is None or not run.recorded):
                _discard(run_dir)  # nothing durable yet: no empty run to become `last`
            inside = str(exc.filename or "").startswith(str(run_dir.path))
            if run is not None and inside and exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                run.watch.check()  # removed or replaced: it says so
                raise run.watch.unwritable(f"{exc.filename}: {exc.strerror or exc}") from None
            raise


def _run_dir(setup: RunSetup, options: RunOptions) -> tuple[rundir.RunDir, bool]:
    if options.resume is None:
        return rundir.create_run(setup.runs_dir), False
    return rundir.resolve_run(setup.runs_dir, options.resume), True


def _write_facts_or_discard(setup: RunSetup, options: RunOptions, run_dir: rundir.RunDir) -> None:
    """``run.json``; a new run that cannot even write it (a full disk) leaves no directory behind."""
    try:
        _write_facts(setup, options, run_dir)
    except OSError:
        _discard(run_dir)
        raise


def _discard(run_dir: rundir.RunDir) -> None:
    import shutil

    shutil.rmtree(run_dir.path, ignore_errors=True)


def _write_facts(setup: RunSetup, options: RunOptions, run_dir: rundir.RunDir) -> None:
    recorded: dict[str, JsonValue] = dict(options.recorded)
    recorded["plan"] = plan_material(setup.plan, setup.inventory)
    recorded["forks"] = options.forks
    recorded["max_fail_percent"] = options.max_fail_percent
    run_dir.write_facts(
        rundir.RunFacts(
            run_id=run_dir.run_id,
            started_at=_now(),
            operator=setup.operator,
            control_host=setup.control_host,
            tool_version=__version__,
            inventory_source=setup.inventory.source,
            inventory_digest=setup.inventory_digest,
            manifest_id=setup.manifest.metadata.id,
            manifest_digest=setup.manifest.digest(),
            plan_fingerprint=setup.plan.fingerprint,
            hosts=setup.plan.hosts(),
            options=recorded,
        )
    )


def _check_plan(setup: RunSetup, options: RunOptions, run_dir: rundir.RunDir) -> str:
    """What changed in the plan since the run started ("" if nothing); raises unless ``replan``."""
    facts = run_dir.read_facts()
    if facts.plan_fingerprint == setup.plan.fingerprint:
        return ""
    before = facts.options.get("plan")
    differences = plan_differences(
        before if isinstance(before, Mapping) else {}, plan_material(setup.plan, setup.inventory)
    )
    what = "; ".join(differences) or "its fingerprint differs"
    if not options.replan:
        raise PlanError(
            f"run {run_dir.run_id}: the plan changed since the run started: {what}",
            hint="resume with the same manifest, inventory, --limit and --wave-size, "
            "or add --replan to continue with the new plan",
        )
    setup.emit(Notice(text=f"continuing run {run_dir.run_id} with a new plan (--replan): {what}"))
    return what


class _Run:
    """One invocation of a run (a start or a resume), from its first record to its last."""

    def __init__(
        self,
        setup: RunSetup,
        options: RunOptions,
        run_dir: rundir.RunDir,
        journal: Journal,
        audit: AuditLog,
        *,
        resumed: bool,
        started: float,
    ) -> None:
        self.setup = setup
        self.options = options
        self.run_dir = run_dir
        self.journal = journal
        self.audit = audit
        self.resumed = resumed
        self.started = started
        self.prior = journal.state(is_live=True)
        self.recorded = False
        """Whether this invocation's first journal record is on disk."""
        self._excepted: dict[str, str] = {}
        self._deciding: list[str] = []
        self.watch = rundir.RunDirWatch(run_dir)
        identity = IdentityBook(run_dir.path / "identity", on_first=self._identified)
        self.hosts = Hosts(
            setup.inventory, setup.transports, setup.credentials, setup.registry, identity=identity
        )
        self.hosts.on_shell = journal.shell_opened

    def _identified(self, host: Host, identity: Identity) -> None:
        """The audit record of the machine that answered at ``host``'s address at first contact."""
        self.audit.record(
            AuditEvent.HOST_IDENTIFIED,
            host=host.name,
            endpoint=host.endpoint,
            computer=identity.computer,
            machine_id=identity.machine_id,
        )

    def execute(self, *, replanned: str = "") -> RunReport:
        setup, plan = self.setup, self.setup.plan
        if self.resumed and self.prior.run_state in (RunState.DONE, RunState.DONE_WITH_EXCEPTIONS):
            ended = self.prior.run_state.value
            setup.emit(Notice(text=f"run {self.run_dir.run_id} is already {ended}; nothing to resume"))
            return self._report({}, ended)
        self._record_start()
        for kind, reason in self.options.overrides:
            self.audit.override_recorded(kind=kind, reason=reason, by=setup.operator)
        if replanned:
            reason = f"the plan changed: {replanned}"
            self.audit.override_recorded(kind="replan", reason=reason, by=setup.operator)
        setup.emit(
            RunStarted(
                run_id=self.run_dir.run_id,
                resumed=self.resumed,
                dry_run=False,
                hosts=plan.hosts(),
                steps=len(plan.steps),
                audit_path=str(self.run_dir.audit_path),
                fingerprint=plan.fingerprint,
            )
        )
        marker = RemoteLock(
            self.hosts,
            run_id=self.run_dir.run_id,
            operator=setup.operator,
            control_host=setup.control_host,
            emit=setup.emit,
            sleep=setup.sleep,
        )
        try:
            try:
                marker.acquire(break_lock=self.options.break_remote_lock, audit=self.audit)
            except RollupError:
                self._finish("refused", {})
                raise
            if self.resumed and self.prior.abort_pending:
                marker.release()
                return self._finish("failed", decisions.aborted_reports(plan, self.prior), marker)
            reports = self._steps()
            state = decisions.final_state(reports, self._excepted)
            if state != "waiting":
                marker.release()
            return self._finish(state, reports, marker)
        except KeyboardInterrupt:
            self.audit.run_finished(state="interrupted")
            raise
        finally:
            self.hosts.close()

    def _record_start(self) -> None:
        setup = self.setup
        if self.resumed:
            self.journal.run_resumed(run_id=self.run_dir.run_id, operator=setup.operator)
            self.recorded = True
            self.audit.run_resumed(
                operator=setup.operator, control_host=setup.control_host, tool_version=__version__
            )
            return
        self.journal.run_started(
            run_id=self.run_dir.run_id, plan_fingerprint=setup.plan.fingerprint, operator=setup.operator
        )
        self.recorded = True
        self.audit.run_started(
            operator=setup.operator,
            control_host=setup.control_host,
            tool_version=__version__,
            manifest_id=setup.manifest.metadata.id,
            manifest_digest=setup.manifest.digest(),
            plan_fingerprint=setup.plan.fingerprint,
            inventory_source=setup.inventory.source,
            inventory_digest=setup.inventory_digest,
            hosts=setup.plan.hosts(),
            options={
                "forks": self.options.forks,
                "max_fail_percent": self.options.max_fail_percent,
                **dict(self.options.recorded),
            },
        )

    def _steps(self) -> dict[str, StepReport]:
        kept = {
            step: StepOutcome(record.status.value)
            for step, record in self.prior.steps.items()
            if record.status.value in ("done", "noop", "skipped")
        }
        first_started: dict[str, datetime] = {}
        for entry in self.journal.existing.entries:
            if isinstance(entry, StepStarted):
                first_started.setdefault(entry.step, entry.ts)
            elif isinstance(entry, StepFinished) and entry.outcome is Outcome.FAILED:
                first_started[entry.step] = entry.ts  # what a failed attempt left is history
        driver = StepDriver(
            setup=self.setup,
            hosts=self.hosts,
            run_id=self.run_dir.run_id,
            run_dir=self.run_dir,
            journal=self.journal,
            audit=self.audit,
            prior=self.prior,
            first_started=first_started,
            confirmed_ahead=self.options.confirm,
            note=self.options.note,
        )

        if self.resumed:
            kept = still_in_effect(self.setup.plan, kept, driver, self.setup.emit)
        exceptions = decisions.resumed_exceptions(self.setup.plan, self.prior, self.setup.emit)

        def run_step(step: PlanStep) -> StepReport:
            self.watch.check()  # a run whose directory is gone stops; running steps finish
            return driver.run(step)

        scheduler = Scheduler(
            self.setup.plan,
            run_step,
            prior={**kept, **exceptions.outcomes},
            forks=self.options.forks,
            max_fail_percent=self.options.max_fail_percent,
            emit=self.setup.emit,
            excluded=exceptions.excluded,
        )
        driver.outcomes = scheduler.outcomes
        driver.on_failure = self.options.on_failure
        driver.exclude = scheduler.excluded.setdefault
        driver.abort = scheduler.stop.set
        self._excepted = scheduler.excepted
        self._deciding = driver.deciding
        return {**exceptions.reports, **scheduler.run()}

    def _finish(
        self, state: str, reports: Mapping[str, StepReport], marker: RemoteLock | None = None
    ) -> RunReport:
        """
        Record the end (audit log, journal) and report it. With ``marker`` (the run reached its
        steps), the audit head is also kept on the Deployment Tool host (``heads.record``).
        """
        counts: dict[str, int] = {}
        for report in reports.values():
            counts[report.outcome.value] = counts.get(report.outcome.value, 0) + 1
        self.watch.check()  # never report a run whose record is gone
        self.audit.run_finished(state=state, counts=counts)
        if marker is not None:
            marker.keep_head(state, self.audit.head)
        self.journal.run_finished(state, audit_head=self.audit.head)  # type: ignore[arg-type]
        result = self._report(reports, state)
        self.setup.emit(
            RunFinished(
                run_id=self.run_dir.run_id,
                state=state,
                counts=counts,
                duration_s=result.duration_s,
                audit_path=str(self.run_dir.audit_path),
                audit_head=result.audit_head,
            )
        )
        return result

    def _report(self, reports: Mapping[str, StepReport], state: str) -> RunReport:
        ordered = tuple(reports[s.id] for s in self.setup.plan.steps if s.id in reports)
        return RunReport(
            run_id=self.run_dir.run_id,
            state=state,
            reports=ordered,
            audit_path=self.run_dir.audit_path,
            audit_head=self.audit.head,
            duration_s=time.monotonic() - self.started,
            excepted=frozenset(self._excepted),
            deciding=tuple(self._deciding),
        )


def confirm_step(
    runs_dir: Path,
    ref: str,
    step: str,
    *,
    operator: str,
    control_host: str,
    note: str = "",
    registry: SecretRegistry = PROCESS_SECRETS,
) -> tuple[rundir.RunDir, str]:
    """
    ``rollup confirm``: record that ``operator`` confirmed the waiting gate ``step`` of run ``ref``,
    or confirmed again a gate whose checks failed after an earlier confirmation.

    ``step`` is a plan step id (``uninstall-components@MPS01``) or a manifest step id when exactly
    one waiting step has it. The run's local lock is held while writing, so a confirmation never
    interleaves with a running resume.

    Returns:
        The run and the plan step id confirmed.

    Raises:
        UsageError: no such run, or the step is not waiting for a confirmation.
        LockHeld: the run (or another of its inventory) is running now.
    """
    with offline.stopped_run(
        runs_dir, ref, operator=operator, control_host=control_host, registry=registry
    ) as (run_dir, journal):
        state = journal.state(is_live=False)
        confirmed_before = {c.step for c in state.confirmations}
        failed_gates = [s for s in state.steps_in(StepStatus.FAILED) if s in confirmed_before]
        waiting = state.steps_in(StepStatus.WAITING) + tuple(failed_gates)
        needed = "is not waiting for a confirmation"
        target = offline.one_step(run_dir.run_id, step, waiting, state="waiting", needed=needed)
        journal.gate_confirmed(target, by=operator, note=note)
        with AuditLog.open(run_dir.audit_path, run_id=run_dir.run_id, registry=registry) as audit:
            audit.bind_journal(lambda: journal.head)
            audit.gate_confirmed(step=target, host=target.split("@", 1)[-1], by=operator, note=note)
    return run_dir, target
