"""
A rehearsal, start to end: snapshot, preflight, apply with drills, verify, revert, clean up, record.

``rehearse`` works through the stages in order and always ends with a record
(``rollup.rehearsal.record``), whatever happened:

1. ``snapshot``: each hypervisor's provider checks that every lab VM exists exactly once, then
   snapshots them all (``rollup-<REHEARSAL_ID>``). Nothing else runs if this fails.
2. ``preflight``: ``rollup.preflight.run_preflight`` over the lab; a failure skips apply and verify.
3. ``apply``: ``rollup apply`` in processes of its own, struck by the drills
   (``rollup.rehearsal.applyrun``); it passes when the run's journal says ``done``.
4. ``verify``: ``rollup.verify``'s report over the lab, after a finished apply; once it passes,
   the golden baseline (``rollup.baseline``): every file in the lab hosts' component folders, kept
   in the record for ``rollup verify --baseline``. A baseline that cannot be read is left out
   (said in the progress), it does not fail the rehearsal.
5. ``revert``: every VM back to the snapshot, so the lab is as it was before the rehearsal;
   skipped with ``keep`` (the snapshot stays for the operator to look at and revert later).
6. ``cleanup``: the rehearsal's snapshots removed (skipped with ``keep``). A failure here is
   recorded but does not fail the rehearsal: the rollup was rehearsed; a snapshot was left over.

A stage that raises a ``RollupError`` fails with its one-line message; anything else is a bug and
propagates, after the providers are closed. An interruption (Ctrl-C) stops the rehearsal where it
is: the lab keeps its snapshot for the operator to revert, and no record is written. Progress goes
to ``emit`` as one line per event.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from rollup import __version__
from rollup.audit.log import head_hash
from rollup.baseline import HostBaseline
from rollup.checks import Check
from rollup.errors import RollupError
from rollup.model.inventory import Inventory
from rollup.model.manifest import Manifest
from rollup.planner import Plan, build_plan
from rollup.rehearsal.applyrun import ApplyCommand, ApplyOutcome, ApplyRunner
from rollup.rehearsal.drills import HostOutage, plan_drills
from rollup.rehearsal.providers import SnapshotProvider, VmTarget, lab_vms
from rollup.rehearsal.record import (
    DrillName,
    PlanShape,
    RehearsalRecord,
    SnapshotRecord,
    StageName,
    StageRecord,
    VmRecord,
    logs_dir,
    new_rehearsal_id,
    rehearsal_passed,
    rehearsals_dir,
    write_record,
)

SNAPSHOT_PREFIX = "rollup-"


class CheckReport(Protocol):
    """What the flow reads of a preflight or verify report (``rollup.checks.Report``)."""

    @property
    def passed(self) -> bool: ...

    def summary(self) -> str: ...

    def failures(self) -> tuple[tuple[str, Check], ...]: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Rehearsal:
    """What a rehearsal works on and with; the CLI builds it."""

    manifest: Manifest
    inventory: Inventory
    runs_dir: Path
    providers: Mapping[str, SnapshotProvider]
    """One per hypervisor of the inventory, by name."""
    preflight: Callable[[], CheckReport]
    verify: Callable[[], CheckReport]
    apply: ApplyCommand
    baseline: Callable[[], tuple[HostBaseline, ...]] | None = None
    """Reads the lab's component folders once verify passed (``rollup.survey.read_baseline``)."""
    outage: HostOutage | None
    drills: tuple[DrillName, ...] = ()
    keep: bool = False
    seed: int = 0
    simulated: bool = False
    down_seconds: float = 3.0
    operator: str = ""
    control_host: str = ""
    emit: Callable[[str], None] = field(default=lambda _: None)


@dataclass(frozen=True, slots=True, kw_only=True)
class RehearsalResult:
    """The record, where it was written, and what the summary shows beside it."""

    record: RehearsalRecord
    path: Path
    apply: ApplyOutcome | None
    audit_log: Path | None

    @property
    def passed(self) -> bool:
        return self.record.result == "passed"


class _Stages:
    """The stage records collected so far; ``run`` times one stage and catches its failure."""

    def __init__(self, emit: Callable[[str], None]) -> None:
        self.records: list[StageRecord] = []
        self.emit = emit

    def run(self, name: StageName, action: Callable[[], str]) -> bool:
        self.emit(f"{name} ...")
        started = time.monotonic()
        try:
            detail, passed = action(), True
        except _StageFailed as exc:
            detail, passed = exc.detail, False
        except RollupError as exc:
            detail, passed = " ".join(str(exc).split()), False
        took = round(time.monotonic() - started, 3)
        self.records.append(StageRecord(name=name, result="passed" if passed else "failed", detail=detail,
                                        duration_s=took))  # fmt: skip
        self.emit(f"{name}: {'passed' if passed else 'FAILED'} ({took:.1f} s): {detail}")
        return passed

    def skip(self, name: StageName, why: str) -> None:
        self.records.append(StageRecord(name=name, result="skipped", detail=why))
        self.emit(f"{name}: skipped: {why}")


class _StageFailed(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def _utc_now() -> datetime:
    return datetime.now(UTC)


def rehearse(rehearsal: Rehearsal, *, now: Callable[[], datetime] = _utc_now) -> RehearsalResult:
    """
    Run the rehearsal (see the module docstring) and write its record.

    Raises:
        InventoryError: a host of the inventory has no ``vm`` (before anything is touched).
    """
    started_at = now()
    rehearsal_id = new_rehearsal_id(started_at)
    folder = rehearsals_dir(rehearsal.runs_dir)
    vms = lab_vms(rehearsal.inventory)
    plan = build_plan(rehearsal.manifest, rehearsal.inventory)
    name = SNAPSHOT_PREFIX + rehearsal_id
    stages = _Stages(rehearsal.emit)
    outcome: ApplyOutcome | None = None
    baseline: tuple[HostBaseline, ...] | None = None
    try:
        snapshotted = stages.run("snapshot", lambda: _snapshot(rehearsal.providers, vms, name))
        if snapshotted:
            ready = stages.run("preflight", lambda: _checked(rehearsal.preflight()))
        else:
            ready = False
            stages.skip("preflight", "no snapshot was taken")
        if not ready:
            stages.skip("apply", "an earlier stage failed")
        else:
            outcome = _apply_stage(rehearsal, plan, stages, logs_dir(folder, rehearsal_id))
        if outcome is not None and outcome.state == "done":
            if stages.run("verify", lambda: _checked(rehearsal.verify())):
                baseline = _baseline(rehearsal)
        else:
            stages.skip("verify", "the apply did not finish")
        _finish(rehearsal, stages, vms, name, snapshotted=snapshotted)
    except KeyboardInterrupt:
        rehearsal.emit(f"interrupted: the lab is left as it is, with snapshot {name}; no record written")
        raise
    finally:
        for provider in rehearsal.providers.values():
            provider.close()
    return _record(
        rehearsal,
        rehearsal_id=rehearsal_id,
        times=(started_at, now()),
        plan=plan,
        stages=stages.records,
        vms=vms,
        name=name,
        outcome=outcome,
        folder=folder,
        baseline=baseline,
    )


def _baseline(rehearsal: Rehearsal) -> tuple[HostBaseline, ...] | None:
    """The lab's golden baseline, or ``None`` (said in the progress) when it cannot be read."""
    if rehearsal.baseline is None:
        return None
    try:
        found = rehearsal.baseline()
    except RollupError as exc:
        rehearsal.emit(f"baseline: not recorded: {' '.join(str(exc).split())}")
        return None
    files = sum(len(b.files) for b in found)
    unread = [b.host for b in found if b.error is not None]
    rehearsal.emit(f"baseline: {files} files on {len(found) - len(unread)} hosts" +
                   (f"; not read on {', '.join(unread)}" if unread else ""))  # fmt: skip
    return found


Vms = Mapping[str, Sequence[VmTarget]]
"""The lab's VMs by hypervisor name."""


def _snapshot(providers: Mapping[str, SnapshotProvider], vms: Vms, name: str) -> str:
    for hypervisor, targets in vms.items():
        providers[hypervisor].check(targets)
    for hypervisor, targets in vms.items():
        providers[hypervisor].snapshot(targets, name)
    count = sum(len(t) for t in vms.values())
    return f"{name} of {count} VMs on {', '.join(vms)}"


def _checked(report: CheckReport) -> str:
    """The report's summary line; when it did not pass, with its first checks that are not ok."""
    line = report.summary()
    if not report.passed:
        failures = report.failures()
        named = "; ".join(f"{host}: {c.name}: {c.actual} [{c.status.value}]" for host, c in failures[:3])
        more = f"; and {len(failures) - 3} more" if len(failures) > 3 else ""
        raise _StageFailed(f"{line} ({named}{more})" if named else line)
    return line


def _apply_stage(rehearsal: Rehearsal, plan: Plan, stages: _Stages, logs: Path) -> ApplyOutcome | None:
    """The apply stage: its record, and the run's outcome (``None`` if it could not be followed)."""
    started = time.monotonic()
    outcome: ApplyOutcome | None = None
    try:
        outcome = _apply(rehearsal, plan, logs)
        passed, detail = outcome.state == "done", outcome.detail
    except RollupError as exc:  # e.g. a journal that cannot be read: the lab is still put back
        passed, detail = False, " ".join(str(exc).split())
    took = round(time.monotonic() - started, 3)
    stages.records.append(StageRecord(name="apply", result="passed" if passed else "failed", detail=detail,
                                      duration_s=took))  # fmt: skip
    rehearsal.emit(f"apply: {'passed' if passed else 'FAILED'} ({took:.1f} s): {detail}")
    return outcome


def _apply(rehearsal: Rehearsal, plan: Plan, logs: Path) -> ApplyOutcome:
    drills = plan_drills(rehearsal.drills, seed=rehearsal.seed, steps=len(plan.steps),
                         down_seconds=rehearsal.down_seconds)  # fmt: skip
    rehearsal.emit(f"apply: {len(plan.steps)} steps on {len(plan.hosts())} hosts; drills: "
                   + (", ".join(drills.names()) or "none"))  # fmt: skip
    runner = ApplyRunner(
        rehearsal.apply,
        logs=logs,
        step_hosts={s.id: s.host for s in plan.steps},
        drills=drills,
        outage=rehearsal.outage,
    )
    outcome = runner.run()
    for drill in outcome.drills:
        rehearsal.emit(f"drill {drill.name}: {drill.result}: {drill.detail}")
    return outcome


def _finish(rehearsal: Rehearsal, stages: _Stages, vms: Vms, name: str, *, snapshotted: bool) -> None:
    """Revert and remove the snapshots, or keep them."""
    if rehearsal.keep:
        stages.skip("revert", f"kept: the lab stays as the rollup left it; snapshot {name} remains")
        stages.skip("cleanup", f"kept: snapshot {name} remains")
        return
    if not snapshotted:
        stages.skip("revert", "no snapshot was taken")
    else:
        stages.run("revert", lambda: _each(rehearsal.providers, vms, name, "revert"))
    stages.run("cleanup", lambda: _each(rehearsal.providers, vms, name, "remove"))


def _each(providers: Mapping[str, SnapshotProvider], vms: Vms, name: str, action: str) -> str:
    """Revert or remove on every hypervisor, all of them even when one fails; one error at the end."""
    problems = []
    for hypervisor, targets in vms.items():
        provider = providers[hypervisor]
        try:
            (provider.revert if action == "revert" else provider.remove)(targets, name)
        except RollupError as exc:
            problems.append(" ".join(str(exc).split()))
    if problems:
        raise _StageFailed("; ".join(problems))
    verb = "reverted to" if action == "revert" else "removed"
    return f"{sum(len(t) for t in vms.values())} VMs {verb} {name}"


def _record(
    rehearsal: Rehearsal,
    *,
    rehearsal_id: str,
    times: tuple[datetime, datetime],
    plan: Plan,
    stages: Sequence[StageRecord],
    vms: Vms,
    name: str,
    outcome: ApplyOutcome | None,
    folder: Path,
    baseline: tuple[HostBaseline, ...] | None = None,
) -> RehearsalResult:
    """Write the record of the rehearsal; see ``rollup.rehearsal.record`` for its fields."""
    inventory = rehearsal.inventory
    started_at, finished_at = times
    drills = outcome.drills if outcome is not None else ()
    by_stage = {s.name: s.result for s in stages}
    run = outcome.run if outcome is not None else None
    head: str | None = None
    if run is not None and run.audit_path.exists():
        try:
            head = head_hash(run.audit_path)
        except RollupError:
            head = None
    roles = Counter(role.value for host in inventory.hosts for role in host.roles)
    shape = PlanShape(
        fingerprint=plan.fingerprint,
        roles=dict(sorted(roles.items())),
        hosts=len(plan.hosts()),
        steps=len(plan.steps),
    )
    snapshot = SnapshotRecord(
        name=name,
        vms=tuple(
            VmRecord(host=vm.host, vm=vm.vm, hypervisor=hv, provider=str(inventory.hypervisor(hv).provider))
            for hv, targets in vms.items()
            for vm in targets
        ),
        reverted=by_stage.get("revert") == "passed",
        removed=by_stage.get("cleanup") == "passed",
        kept=rehearsal.keep,
    )
    record = RehearsalRecord(
        rehearsal_id=rehearsal_id,
        result="passed" if rehearsal_passed(stages, drills, keep=rehearsal.keep) else "failed",
        started_at=started_at,
        finished_at=finished_at,
        tool_version=__version__,
        operator=rehearsal.operator,
        control_host=rehearsal.control_host,
        simulated=rehearsal.simulated,
        seed=rehearsal.seed,
        inventory_source=inventory.source,
        inventory_digest=inventory.digest(),
        manifest_id=rehearsal.manifest.metadata.id,
        manifest_digest=rehearsal.manifest.digest(),
        plan=shape,
        stages=tuple(stages),
        drills=tuple(drills),
        snapshot=snapshot,
        run_id=run.run_id if run is not None else None,
        audit_head=head,
        baseline=baseline,
    )
    path = write_record(folder, record)
    audit_log = run.audit_path if run is not None else None
    return RehearsalResult(record=record, path=path, apply=outcome, audit_log=audit_log)
