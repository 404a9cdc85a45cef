"""
``rollup apply`` under real conditions: a busy installer, broken connections, HTTP 500, a host
that drops and comes back, a failed install. The real CLI against the simulated lab over HTTP.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rollup.engine.journal import read_journal
from rollup.engine.journal_state import replay
from rollup.engine.rundir import list_runs
from rollup.testing.labproc import LabProcess, quick_manifest

GATE = "confirm-prerequisites"


def _start(tmp_path: Path, address: str, faults: list[dict[str, Any]]) -> LabProcess:
    return LabProcess.start(tmp_path, collab=2, first_address=address, scenario={"faults": faults})


@pytest.fixture(name="flaky")
def _flaky(tmp_path: Path) -> Iterator[LabProcess]:
    lab = _start(tmp_path, "127.0.82.1", [
        {"kind": "installer_busy", "hosts": ["COLLAB01"], "op": "msi.install", "nth": 1, "seconds": 2},
        {"kind": "reset", "hosts": ["DNS01"], "op": "msi.install", "nth": 1, "processed": True},
        {"kind": "http_500", "hosts": ["MPSSQL"], "op": "msi.install", "nth": 1, "fault": "shell_quota"},
        {"kind": "host_down", "hosts": ["COLLAB02"], "op": "files.stat", "nth": 2, "seconds": 3},
        {"kind": "http_500", "hosts": ["COLLAB02"], "op": "msi.install", "nth": 1, "fault": "internal_error"},
    ])  # fmt: skip
    yield lab
    lab.stop()


def test_a_busy_installer_resets_http_500_and_a_host_that_drops_are_all_recovered(
    flaky: LabProcess, tmp_path: Path
) -> None:
    """Each fault costs retries, every retry is audited with its wait, and the run still ends done."""
    manifest = quick_manifest(tmp_path / "manifest.yml")

    result = flaky.apply("--manifest", str(manifest), "--confirm", GATE)

    (run,) = list_runs(flaky.runs_dir)
    retried = [json.loads(line) for line in run.audit_path.read_text().splitlines()]
    retried = [r for r in retried if r["event"] == "retry_scheduled"]
    by_step = {r["step"] for r in retried}
    state = replay(read_journal(run.journal_path).entries)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "install-wss-web-service@COLLAB01" in by_step
    assert any("1618" in r["reason"] for r in retried)
    assert "dnsclient-run-twice@DNS01" in by_step
    assert any(r["host"] == "COLLAB02" for r in retried)
    assert any(
        "2150858755" in r["reason"] for r in retried if r["step"] == "install-wss-web-service@COLLAB02"
    )
    assert all(r["wait_s"] > 0 for r in retried)
    assert "retry in" in result.stdout
    assert state.status("dnsclient-run-twice@DNS01").value == "done"
    assert flaky.state("DNS01")["operations"].count("msi.install") <= 3


@pytest.fixture(name="broken")
def _broken(tmp_path: Path) -> Iterator[LabProcess]:
    lab = _start(
        tmp_path,
        "127.0.82.21",
        [{"kind": "exit_code", "hosts": ["COLLAB01"], "op": "msi.install", "nth": 1, "code": 1603}],
    )
    yield lab
    lab.stop()


def test_a_failed_install_stops_cleanly_with_the_msi_log_tail(broken: LabProcess) -> None:
    """1603 on COLLAB01: exit 1, the step named with its exit code, hint and log tail; other hosts finish."""
    result = broken.apply("--confirm", GATE)

    (run,) = list_runs(broken.runs_dir)
    state = replay(read_journal(run.journal_path).entries)
    output = result.stdout + result.stderr
    evidence = [e.name for e in run.evidence()]

    assert result.returncode == 1, output
    assert "install-wss-web-service@COLLAB01: failed (exit 1603)" in result.stdout
    assert "failed action: InstallFinalize;" in result.stdout
    assert "hint:" in result.stdout
    assert "MainEngineThread is returning 1603" in result.stdout
    assert "rollup apply --resume" in result.stderr
    assert state.status("install-wss-web-service@COLLAB01").value == "failed"
    assert state.status("collab-iis-restart@COLLAB01").value == "pending"
    assert state.status("dns-iis-restart@DNS01").value == "done"
    assert state.status("collab-iis-restart@COLLAB02").value == "done"
    assert "install-wss-web-service@COLLAB01.1.msi-log-tail.txt" in evidence
    assert broken.state("COLLAB01")["products"] == []
