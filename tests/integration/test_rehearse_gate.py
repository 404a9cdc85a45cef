"""
The rehearsal gate in ``rollup apply`` (the real CLI, in this process): a production inventory is
refused before any host is contacted, names what is missing, and an override with a reason is
kept in the run's facts and audit log.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from rollup.audit.chain import verify_chain
from rollup.cli.main import main
from rollup.engine.rundir import list_runs, resolve_runs_dir
from rollup.lab.prerollup import rollup_package
from rollup.model.manifest import load_manifest
from rollup.rehearsal.record import PlanShape, RehearsalRecord, StageRecord, rehearsals_dir, write_record

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "manifests" / "hmc40-rollup-2011-01.yml"
PROD = """\
all:
  vars:
    rollup_production: true
    rollup_user: HOSTING\\svc-rollup
    rollup_password: {env: ROLLUP_GATE_TEST_PASSWORD}
    scheme: https
    port: 1
    read_timeout_s: 3
    operation_timeout_s: 1
  children:
    deployment_tool: {hosts: {MPS01: {address: 127.0.0.1}}}
    mps_engine: {hosts: {MPS01: }}
    web_services: {hosts: {MPS01: }}
    dns: {hosts: {DNS01: {address: 127.0.0.1}}}
    collab: {hosts: {COLLAB01: {address: 127.0.0.1}}}
    mpssql: {hosts: {MPSSQL: {address: 127.0.0.1}}}
"""


@pytest.fixture(name="prod")
def _prod(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A production inventory whose hosts listen nowhere (port 1), and the package beside it."""
    monkeypatch.setenv("ROLLUP_GATE_TEST_PASSWORD", "not-used-by-the-gate")
    monkeypatch.delenv("ROLLUP_RUNS_DIR", raising=False)
    files = rollup_package(load_manifest(MANIFEST), tmp_path_factory.getbasetemp() / "rollup-cache")
    package = tmp_path / "package"
    package.mkdir()
    for name, path in files.items():
        (package / name).write_bytes(path.read_bytes())
    inventory = tmp_path / "prod.yml"
    inventory.write_text(PROD, encoding="utf-8")
    manifest = tmp_path / "manifest.yml"
    manifest.write_bytes(MANIFEST.read_bytes())
    assert main(["manifest", "pin", "--manifest", str(manifest), "--package-dir", str(package)]) == 0
    return inventory


def apply(prod: Path, *more: str) -> int:
    runs = prod.parent / ".rollup" / "runs"
    return main(["apply", "--inventory", str(prod), "--manifest", str(prod.parent / "manifest.yml"),
                 "--package-dir", str(prod.parent / "package"), "--runs-dir", str(runs), *more])  # fmt: skip


def test_production_needs_a_pinned_manifest(prod: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An unpinned manifest is refused for production with exit 2, naming the pin command."""
    runs = prod.parent / ".rollup" / "runs"
    package = str(prod.parent / "package")
    code = main(["apply", "--inventory", str(prod), "--manifest", str(MANIFEST), "--package-dir", package,
                 "--runs-dir", str(runs), "--skip-rehearsal", "--reason", "x"])  # fmt: skip
    err = capsys.readouterr().err

    assert code == 2
    assert "a production run needs a pinned manifest" in err
    assert "rollup manifest pin" in err
    assert not runs.exists() or not list_runs(runs)


def test_production_without_a_rehearsal_is_refused_before_any_run_starts(
    prod: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 2, one line naming the inventory, the manifest's digest and the override; no run exists."""
    digest = load_manifest(prod.parent / "manifest.yml").digest()

    code = apply(prod)
    err = capsys.readouterr().err

    assert code == 2
    assert err.splitlines()[0] == (
        f"rollup: {prod}: production needs a passing rehearsal: no rehearsal of manifest {digest} has been "
        f"recorded (in {prod.parent / '.rollup' / 'rehearsals'})"
    )
    assert "--skip-rehearsal" in err
    assert list_runs(prod.parent / ".rollup" / "runs") == ()


def test_an_override_without_a_reason_is_refused(prod: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--skip-rehearsal`` alone is a usage error."""
    code = apply(prod, "--skip-rehearsal")

    assert code == 2
    assert "--skip-rehearsal needs --reason TEXT" in capsys.readouterr().err


def test_an_override_with_a_reason_starts_the_run_and_is_recorded(
    prod: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The run starts (and fails on the unreachable hosts); its facts and audit log hold the override."""
    code = apply(
        prod, "--skip-rehearsal", "--skip-preflight", "--reason", "CAB-42: security fix before the window"
    )
    capsys.readouterr()
    (run,) = list_runs(prod.parent / ".rollup" / "runs")
    facts = json.loads(run.facts_path.read_text(encoding="utf-8"))
    records = [json.loads(line) for line in run.audit_path.read_text(encoding="utf-8").splitlines()]

    assert code != 2
    assert facts["options"]["rehearsal_gate"] == {
        "verdict": "skipped",
        "rehearsal_id": None,
        "reason": "CAB-42: security fix before the window",
    }
    assert records[0]["event"] == "run_started"
    assert records[0]["options"]["rehearsal_gate"]["verdict"] == "skipped"
    assert verify_chain(run.audit_path).bad is None


def test_a_rehearsal_recorded_from_another_directory_lets_production_through(
    prod: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """
    Without --runs-dir, rehearsal records and runs live in the state directory (ROLLUP_HOME), not
    under the working directory: a rehearsal recorded from one directory is the one a production
    apply started from another directory finds, and the run is kept there too.
    """
    home = Path(os.environ["ROLLUP_HOME"])
    digest = load_manifest(prod.parent / "manifest.yml").digest()
    (tmp_path / "rehearsed-here").mkdir()
    (tmp_path / "applied-here").mkdir()
    monkeypatch.chdir(tmp_path / "rehearsed-here")
    write_record(rehearsals_dir(resolve_runs_dir(None)), _passed(digest))
    monkeypatch.chdir(tmp_path / "applied-here")

    package = str(prod.parent / "package")
    code = main(["apply", "--inventory", str(prod), "--manifest", str(prod.parent / "manifest.yml"),
                 "--package-dir", package, "--skip-preflight", "--reason", "no hosts"])  # fmt: skip
    capsys.readouterr()
    (run,) = list_runs(home / "runs")

    assert code != 2
    assert json.loads(run.facts_path.read_text(encoding="utf-8"))["options"]["rehearsal_gate"] == {
        "verdict": "passed",
        "rehearsal_id": "20110320T000001Z-0001",
        "reason": None,
    }
    assert list((tmp_path / "rehearsed-here").iterdir()) == []
    assert list((tmp_path / "applied-here").iterdir()) == []


def _passed(digest: str) -> RehearsalRecord:
    """A passing rehearsal of the manifest with ``digest``, finished an hour ago."""
    finished = datetime.now(UTC) - timedelta(hours=1)
    return RehearsalRecord(
        rehearsal_id="20110320T000001Z-0001",
        result="passed",
        started_at=finished - timedelta(minutes=40),
        finished_at=finished,
        tool_version="0.1.0",
        operator="op",
        control_host="ctl",
        simulated=False,
        seed=1,
        inventory_source="inventory/lab.yml",
        inventory_digest="c" * 64,
        manifest_id="hmc40-rollup-2011-01",
        manifest_digest=digest,
        plan=PlanShape(fingerprint="f" * 64, roles={"collab": 1}, hosts=6, steps=31),
        stages=(StageRecord(name="apply", result="passed"),),
        drills=(),
        snapshot=None,
        run_id="20110320T000000Z-0000",
        audit_head="d" * 64,
    )
