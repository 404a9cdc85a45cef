"""Faults during a run: a busy installer, a failed install, broken links, refused credentials."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rollup.engine.events import Event, StepOutcome, StepRetrying
from rollup.engine.options import RunOptions
from rollup.engine.run import RunReport, apply_plan
from rollup.engine.rundir import list_runs
from rollup.errors import AuthError, ConnectError
from rollup.lab.state import HostState
from rollup.testing.fleet import MemoryFleet, lab_manifest, memory_fleet
from rollup.testing.transport import InjectedFault

GO = RunOptions(confirm=("confirm-prerequisites",))


@pytest.fixture(scope="module", name="base")
def _base(tmp_path_factory: pytest.TempPathFactory) -> MemoryFleet:
    return memory_fleet(lab_manifest(), cache_dir=tmp_path_factory.getbasetemp() / "msi-cache", collab=3)


def _forced(host: str, op_id: str, codes: list[int]):  # type: ignore[no-untyped-def]
    """A runner hook queueing exit codes for ``op_id`` on ``host`` when it first arrives there."""

    def before(name: str, op: str, n: int, state: HostState, now: float) -> float | None:
        if name == host and op == op_id and n == 1:
            state.forced_exit_codes[op_id] = list(codes)
        return None

    return before


def _run(fleet: MemoryFleet, runs: Path, events: list[Event] | None = None) -> RunReport:
    sleeps: list[float] = []
    setup = fleet.setup(
        runs, emit=(events.append if events is not None else lambda e: None), sleep=sleeps.append
    )
    return apply_plan(setup, GO)


def _report(report: RunReport, step_id: str):  # type: ignore[no-untyped-def]
    return next(r for r in report.reports if r.step.id == step_id)


def _ops(fleet: MemoryFleet, host: str, op_id: str) -> int:
    return fleet.state(host).operations.count(op_id)


def test_a_busy_installer_is_waited_for_and_retried(base: MemoryFleet, tmp_path: Path) -> None:
    """msiexec 1618 twice on COLLAB01: the install retries after 30 s and 60 s (injected) and succeeds."""
    fleet = base.fresh(before=_forced("COLLAB01", "msi.install", [1618, 1618]))
    events: list[Event] = []

    report = _run(fleet, tmp_path, events)

    install = _report(report, "install-wss-web-service@COLLAB01")
    retries = [e for e in events if isinstance(e, StepRetrying)]
    (run,) = list_runs(tmp_path)
    audited = [json.loads(line) for line in run.audit_path.read_text().splitlines()]
    scheduled = [r for r in audited if r["event"] == "retry_scheduled"]

    assert report.state == "done"
    assert install.outcome is StepOutcome.DONE
    assert install.retry_waits_s == (30.0, 60.0)
    assert [(e.step_id, e.wait_s) for e in retries] == [
        ("install-wss-web-service@COLLAB01", 30.0),
        ("install-wss-web-service@COLLAB01", 60.0),
    ]
    assert [r["wait_s"] for r in scheduled] == [30.0, 60.0]
    assert "1618" in scheduled[0]["reason"]
    assert _ops(fleet, "COLLAB01", "msi.install") == 3


def test_a_failed_install_stops_its_host_and_the_later_waves_cleanly(
    base: MemoryFleet, tmp_path: Path
) -> None:
    """1603 on COLLAB01: the step fails with the exit code, hint and log tail; independent branches finish."""
    fleet = base.fresh(before=_forced("COLLAB01", "msi.install", [1603]))

    report = _run(fleet, tmp_path)

    install = _report(report, "install-wss-web-service@COLLAB01")
    (run,) = list_runs(tmp_path)
    evidence = [e.name for e in run.evidence()]

    assert report.state == "failed"
    assert install.outcome is StepOutcome.FAILED
    assert install.exit_code == 1603
    assert "COLLAB01: installing WindowsSharePointServicesWebService.msi" in install.summary
    assert "msiexec exited 1603" in install.summary
    assert "Return value 3" in (install.hint or "")
    assert any("MainEngineThread is returning 1603" in line for line in install.log_tail)
    assert "install-wss-web-service@COLLAB01.1.msi-log-tail.txt" in evidence
    assert _report(report, "collab-iis-restart@COLLAB01").outcome is StepOutcome.BLOCKED
    assert _report(report, "transfer-wss-web-service@COLLAB03").outcome is StepOutcome.BLOCKED
    assert _report(report, "dns-iis-restart@DNS01").outcome is StepOutcome.DONE
    assert _report(report, "check-resource-manager-objects@MPSSQL").outcome is StepOutcome.NOOP
    assert _report(report, "collab-iis-restart@COLLAB02").outcome is StepOutcome.DONE
    assert _report(report, "shared-oab-utility@MPS01").outcome is StepOutcome.BLOCKED


def _fault(host: str, op_id: str, error: BaseException, *, processed: bool, times: int = 1):  # type: ignore[no-untyped-def]
    def plan(name: str, op: str, n: int) -> InjectedFault | None:
        return (
            InjectedFault(error, processed=processed) if (name, op) == (host, op_id) and n <= times else None
        )

    return plan


def test_a_reset_after_the_install_ran_is_judged_by_the_guard(base: MemoryFleet, tmp_path: Path) -> None:
    """The link breaks after msiexec ran: the retry finds the product installed and never reruns msiexec."""
    reset = ConnectError("connection reset", host="COLLAB02")
    fleet = base.fresh(faults=_fault("COLLAB02", "msi.install", reset, processed=True))

    report = _run(fleet, tmp_path)

    install = _report(report, "install-wss-web-service@COLLAB02")

    assert report.state == "done"
    assert install.outcome is StepOutcome.DONE
    assert "after an earlier attempt" in install.summary
    assert len(install.retry_waits_s) == 1
    assert _ops(fleet, "COLLAB02", "msi.install") == 1


def test_a_reset_before_the_command_ran_is_retried(base: MemoryFleet, tmp_path: Path) -> None:
    """The first two attempts never reach the host; the third installs."""
    reset = ConnectError("connection refused", host="DNS01")
    fleet = base.fresh(faults=_fault("DNS01", "products.list", reset, processed=False, times=2))

    report = _run(fleet, tmp_path)

    step = _report(report, "dnsclient-run-twice@DNS01")

    assert report.state == "done"
    assert step.outcome is StepOutcome.DONE
    assert step.retry_waits_s == (30.0, 60.0)


def test_a_host_that_stays_down_fails_its_steps_only(base: MemoryFleet, tmp_path: Path) -> None:
    """MPSSQL unreachable on every attempt: its step fails after three tries; DNS and COLLAB finish."""
    down = ConnectError("no route to host", host="MPSSQL")
    fleet = base.fresh(faults=_fault("MPSSQL", "files.stat", down, processed=False, times=99))

    report = _run(fleet, tmp_path)

    transfer = _report(report, "transfer-resource-manage-database@MPSSQL")

    assert report.state == "failed"
    assert transfer.outcome is StepOutcome.FAILED
    assert transfer.summary.startswith("MPSSQL: no route to host")
    assert "WinRM" in (transfer.hint or "")
    assert transfer.attempts == 3
    assert _report(report, "collab-iis-restart@COLLAB03").outcome is StepOutcome.DONE


def test_refused_credentials_are_never_retried(base: MemoryFleet, tmp_path: Path) -> None:
    """An authentication failure fails the step at once: retrying would lock the account out."""
    refused = AuthError("the credentials were refused", host="DNS01")
    fleet = base.fresh(faults=_fault("DNS01", "files.stat", refused, processed=False, times=99))

    report = _run(fleet, tmp_path)

    transfer = _report(report, "transfer-dnsclient@DNS01")

    assert transfer.outcome is StepOutcome.FAILED
    assert transfer.attempts == 1
    assert transfer.retry_waits_s == ()
