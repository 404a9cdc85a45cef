"""The DAG scheduler: order, concurrency limits, failures, waves, and gates that wait."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from rollup.engine.events import Event, StepOutcome, WaveStopped
from rollup.engine.executors import StepReport
from rollup.engine.scheduler import Scheduler
from rollup.model.inventory import InventorySettings
from rollup.model.manifest import DEFAULT_MANIFEST, load_manifest
from rollup.model.steps import Retry
from rollup.planner import Plan, PlanStep, build_plan
from rollup.testing.fleet import fleet_inventory, fleet_roles


def _step(step_id: str, host: str, after: tuple[str, ...] = ()) -> PlanStep:
    return PlanStep(
        id=f"{step_id}@{host}",
        step=step_id,
        host=host,
        kind="manual_gate",
        title=step_id,
        after=after,
        params={},
        wave=None,
        timeout_s=60,
        retry=Retry(),
    )


def _plan(*steps: PlanStep) -> Plan:
    return Plan(
        manifest_id="m",
        manifest_digest="d",
        inventory_source="i",
        tool_version="t",
        fingerprint="f",
        steps=steps,
    )


def _runner(
    outcome: Callable[[PlanStep], StepOutcome], log: list[str] | None = None
) -> Callable[[PlanStep], StepReport]:
    def run(step: PlanStep) -> StepReport:
        if log is not None:
            log.append(step.id)
        return StepReport(step=step, outcome=outcome(step), summary="")

    return run


def _kb_plan(collab: int = 4, wave_size: int = 2) -> Plan:
    inventory = fleet_inventory(fleet_roles(collab), InventorySettings(collab_wave_size=wave_size))
    return build_plan(load_manifest(DEFAULT_MANIFEST), inventory)


def test_independent_hosts_run_concurrently_within_forks() -> None:
    """Two hosts' steps run at the same time (a barrier of two passes), never more than forks at once."""
    plan = _plan(*(_step(f"s{n}", f"H{n}") for n in range(6)))
    barrier = threading.Barrier(2, timeout=10)
    lock = threading.Lock()
    active = [0, 0]

    def run(step: PlanStep) -> StepReport:
        with lock:
            active[0] += 1
            active[1] = max(active[1], active[0])
        barrier.wait()
        with lock:
            active[0] -= 1
        return StepReport(step=step, outcome=StepOutcome.DONE, summary="")

    reports = Scheduler(plan, run, prior={}, forks=2, max_fail_percent=0, emit=lambda e: None).run()

    assert len(reports) == 6
    assert active[1] == 2


def test_one_step_at_a_time_per_host_in_plan_order() -> None:
    """Steps of one host never overlap, and independent steps of a host run in plan order."""
    plan = _plan(_step("a", "H1"), _step("b", "H1"), _step("c", "H1"), _step("x", "H2"))
    lock = threading.Lock()
    running: set[str] = set()
    overlaps: list[str] = []
    order: list[str] = []

    def run(step: PlanStep) -> StepReport:
        with lock:
            if step.host in running:
                overlaps.append(step.id)
            running.add(step.host)
            order.append(step.id)
        threading.Event().wait(0.01)
        with lock:
            running.discard(step.host)
        return StepReport(step=step, outcome=StepOutcome.DONE, summary="")

    Scheduler(plan, run, prior={}, forks=8, max_fail_percent=0, emit=lambda e: None).run()

    assert overlaps == []
    assert [s for s in order if s.endswith("@H1")] == ["a@H1", "b@H1", "c@H1"]


def test_a_failed_step_blocks_its_dependents_only() -> None:
    """After a failure, steps depending on it never start; an independent branch still runs."""
    plan = _plan(
        _step("a", "H1"),
        _step("b", "H1", ("a@H1",)),
        _step("c", "H2", ("b@H1",)),
        _step("x", "H3"),
        _step("y", "H3", ("x@H3",)),
    )
    ran: list[str] = []
    run = _runner(lambda s: StepOutcome.FAILED if s.id == "a@H1" else StepOutcome.DONE, ran)

    reports = Scheduler(plan, run, prior={}, forks=4, max_fail_percent=0, emit=lambda e: None).run()

    assert sorted(ran) == ["a@H1", "x@H3", "y@H3"]
    assert reports["b@H1"].outcome is StepOutcome.BLOCKED
    assert reports["c@H2"].outcome is StepOutcome.BLOCKED
    assert "a@H1 failed" in reports["b@H1"].summary
    assert reports["y@H3"].outcome is StepOutcome.DONE


def test_steps_kept_from_the_journal_are_not_run_again() -> None:
    """A resumed run's done, noop and skipped steps count as settled and are not run."""
    plan = _plan(_step("a", "H1"), _step("b", "H1", ("a@H1",)), _step("c", "H1", ("b@H1",)))
    ran: list[str] = []
    prior = {"a@H1": StepOutcome.DONE, "b@H1": StepOutcome.NOOP}

    Scheduler(
        plan,
        _runner(lambda s: StepOutcome.DONE, ran),
        prior=prior,
        forks=2,
        max_fail_percent=0,
        emit=lambda e: None,
    ).run()

    assert ran == ["c@H1"]


def test_a_gate_that_waits_holds_everything_behind_it() -> None:
    """Steps behind a waiting gate are neither run nor reported failed: they wait for the resume."""
    plan = _plan(_step("gate", "H1"), _step("b", "H1", ("gate@H1",)), _step("c", "H2", ("b@H1",)))
    ran: list[str] = []
    scheduler = Scheduler(
        plan,
        _runner(lambda s: StepOutcome.WAITING, ran),
        prior={},
        forks=2,
        max_fail_percent=0,
        emit=lambda e: None,
    )

    reports = scheduler.run()

    assert ran == ["gate@H1"]
    assert set(reports) == {"gate@H1"}
    assert scheduler.held == {"b@H1", "c@H2"}


def _collab_failure(host: str) -> Callable[[PlanStep], StepOutcome]:
    def outcome(step: PlanStep) -> StepOutcome:
        failing = step.host == host and step.step == "uninstall-old-wss-web-service"
        return StepOutcome.FAILED if failing else StepOutcome.DONE

    return outcome


def test_by_default_one_failure_in_a_wave_stops_the_later_waves() -> None:
    """--max-fail-percent 0: COLLAB01 failing in wave 1 stops wave 2 (COLLAB03, COLLAB04) before it starts."""
    plan = _kb_plan()
    ran: list[str] = []
    events: list[Event] = []

    reports = Scheduler(
        plan,
        _runner(_collab_failure("COLLAB01"), ran),
        prior={},
        forks=8,
        max_fail_percent=0,
        emit=events.append,
    ).run()

    assert not [s for s in ran if s.endswith(("@COLLAB03", "@COLLAB04"))]
    assert reports["transfer-wss-web-service@COLLAB03"].outcome is StepOutcome.BLOCKED
    assert "wave 1 failed past --max-fail-percent 0" in reports["transfer-wss-web-service@COLLAB03"].summary
    assert reports["collab-iis-restart@COLLAB02"].outcome is StepOutcome.DONE
    stopped = [e for e in events if isinstance(e, WaveStopped)]
    assert len(stopped) == 1
    assert (stopped[0].wave, stopped[0].failed_hosts, stopped[0].percent) == (1, ("COLLAB01",), 50.0)


@pytest.mark.parametrize(("threshold", "wave_two_runs"), [(49.0, False), (50.0, True)])
def test_the_threshold_is_a_share_of_the_waves_hosts(threshold: float, wave_two_runs: bool) -> None:
    """One of two hosts failed is 50 %: wave 2 starts at --max-fail-percent 50, not at 49."""
    plan = _kb_plan()
    ran: list[str] = []

    reports = Scheduler(
        plan,
        _runner(_collab_failure("COLLAB02"), ran),
        prior={},
        forks=8,
        max_fail_percent=threshold,
        emit=lambda e: None,
    ).run()

    assert ("install-wss-web-service@COLLAB04" in ran) is wave_two_runs
    assert reports["shared-oab-utility@MPS01"].outcome is StepOutcome.BLOCKED


def test_a_wave_over_the_threshold_stops_every_later_wave() -> None:
    """Wave 1 within 50 % lets wave 2 start; wave 2 over it stops wave 3 as well."""
    plan = _kb_plan(collab=6, wave_size=2)
    ran: list[str] = []

    def outcome(step: PlanStep) -> StepOutcome:
        bad = step.host in ("COLLAB01", "COLLAB03", "COLLAB04") and step.step == "transfer-wss-web-service"
        return StepOutcome.FAILED if bad else StepOutcome.DONE

    Scheduler(plan, _runner(outcome, ran), prior={}, forks=8, max_fail_percent=50, emit=lambda e: None).run()

    assert "transfer-wss-web-service@COLLAB03" in ran
    assert not [s for s in ran if s.endswith(("@COLLAB05", "@COLLAB06"))]
