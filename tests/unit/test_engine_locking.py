"""One run at a time per inventory: the local lock, the marker on the Deployment Tool host, secrets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rollup.audit.redact import SecretRegistry
from rollup.engine.events import Event
from rollup.engine.locks import LockHolder, acquire_lock
from rollup.engine.options import RunOptions
from rollup.engine.run import apply_plan
from rollup.engine.rundir import list_runs
from rollup.errors import ConnectError, LockHeld
from rollup.lab.state import HostState
from rollup.lab.windows.hostfiles import put_text
from rollup.testing.fleet import PASSWORD, MemoryFleet, lab_manifest, memory_fleet
from rollup.testing.transport import InjectedFault

GO = RunOptions(confirm=("confirm-prerequisites",))
MARKER = "C:\\ConfigShare\\rollup.lock"
OTHER = (
    '{"acquired_at":"2011-03-10T10:00:00Z","control_host":"ops02","inventory":"inventory/prod.yml",'
    '"operator":"HOSTING\\\\carol","run_id":"20110310T100000Z-beef","version":1}'
)


@pytest.fixture(scope="module", name="base")
def _base(tmp_path_factory: pytest.TempPathFactory) -> MemoryFleet:
    return memory_fleet(lab_manifest(), cache_dir=tmp_path_factory.getbasetemp() / "msi-cache", collab=1)


def _marked(base: MemoryFleet) -> MemoryFleet:
    fleet = base.fresh()
    with fleet.store.update("MPS01") as state:
        put_text(state, MARKER, OTHER, 1299751200.0)
    return fleet


def test_a_second_run_on_this_control_host_is_refused_naming_the_holder(
    base: MemoryFleet, tmp_path: Path
) -> None:
    """While another run holds the inventory's local lock, apply fails at once and names it."""
    fleet = base.fresh()
    holder = LockHolder(
        run_id="20261121T000000Z-aaaa",
        operator="dave",
        pid=1,
        host="ops01",
        started_at="2026-11-21T00:00:00+00:00",
        inventory="inventory/memory.yml",
    )

    with acquire_lock(tmp_path, fleet.inventory.digest(), holder), pytest.raises(LockHeld) as refused:
        apply_plan(fleet.setup(tmp_path), GO)

    assert "run 20261121T000000Z-aaaa (operator dave, host ops01" in str(refused.value)
    assert list_runs(tmp_path) == ()
    assert fleet.mutations()["MPS01"] == 0


def test_another_runs_marker_on_the_deployment_tool_host_stops_the_run(
    base: MemoryFleet, tmp_path: Path
) -> None:
    """A marker of another run: no step starts, the message names run, operator and control host."""
    fleet = _marked(base)

    with pytest.raises(LockHeld) as refused:
        apply_plan(fleet.setup(tmp_path), GO)

    (run,) = list_runs(tmp_path)
    audit = run.audit_path.read_text()

    assert "run 20110310T100000Z-beef of HOSTING\\carol on ops02" in str(refused.value)
    assert "--break-remote-lock" in (refused.value.hint or "")
    assert '"state":"refused"' in audit
    assert '"event":"step_started"' not in audit
    assert fleet.mutations()["MPS01"] == 0


def test_breaking_a_stale_marker_is_audited_and_the_run_proceeds(base: MemoryFleet, tmp_path: Path) -> None:
    """--break-remote-lock removes the other run's marker, records who it named, and the run is done."""
    fleet = _marked(base)

    report = apply_plan(fleet.setup(tmp_path), RunOptions(confirm=GO.confirm, break_remote_lock=True))

    (run,) = list_runs(tmp_path)
    records = [json.loads(line) for line in run.audit_path.read_text().splitlines()]
    override = [r for r in records if r["event"] == "override_recorded"]

    assert report.state == "done"
    assert len(override) == 1
    assert override[0]["kind"] == "remote_lock_broken"
    assert "20110310T100000Z-beef" in override[0]["reason"]
    assert "c:\\configshare\\rollup.lock" not in fleet.state("MPS01").files


def test_a_waiting_run_keeps_its_marker_and_its_resume_takes_it_back(
    base: MemoryFleet, tmp_path: Path
) -> None:
    """The marker stays while the run waits at a gate; the resume of that run is let in, and removes it."""
    fleet = base.fresh()
    waiting = apply_plan(fleet.setup(tmp_path), RunOptions())
    kept: HostState = fleet.state("MPS01")

    done = apply_plan(fleet.setup(tmp_path), RunOptions(resume="last", confirm=GO.confirm))

    assert waiting.state == "waiting"
    assert waiting.run_id in (kept.files["c:\\configshare\\rollup.lock"].text or "")
    assert done.state == "done"
    assert "c:\\configshare\\rollup.lock" not in fleet.state("MPS01").files


def test_a_password_in_an_error_never_reaches_the_journal_audit_or_evidence(
    base: MemoryFleet, tmp_path: Path
) -> None:
    """The credentials resolved for the run are registered: every record, event and report shows ***."""
    leak = ConnectError(f"proxy refused user rollup-lab with password {PASSWORD}", host="DNS01")

    def faults(host: str, op: str, n: int) -> InjectedFault | None:
        return InjectedFault(leak) if (host, op) == ("DNS01", "files.stat") else None

    fleet = base.fresh(faults=faults)
    events: list[Event] = []
    report = apply_plan(fleet.setup(tmp_path, registry=SecretRegistry(), emit=events.append), GO)

    (run,) = list_runs(tmp_path)
    written = "".join(p.read_text() for p in run.path.rglob("*") if p.is_file())
    shown = " ".join(repr(e) for e in events) + " ".join(r.summary for r in report.reports)

    assert report.state == "failed"
    assert PASSWORD not in written
    assert "password ***" in written
    assert PASSWORD not in shown
    assert "password ***" in shown
