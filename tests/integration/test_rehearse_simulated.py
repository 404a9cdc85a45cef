"""
``rollup rehearse --simulated`` end to end, through the real CLI in this process: the simulated lab
with its Hyper-V host, the snapshot over WinRM, preflight, ``rollup apply`` processes struck by
both drills, verify, the revert, the summary and the record; and the lab as it was before.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

import pytest

from rollup.audit.log import head_hash
from rollup.cli.commands.rehearse import SIMULATED_COLLAB, SIMULATED_TIME_FACTOR
from rollup.cli.main import main
from rollup.lab.labdir import HTTP_PORT, LabPaths, read_config
from rollup.lab.rehearsal_lab import serving_rehearsal_lab
from rollup.model.manifest import load_manifest

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "manifests" / "hmc40-rollup-2011-01.yml"
GUESTS = ("MPS01", "DNS01", "MPSSQL", "COLLAB01", "COLLAB02", "COLLAB03")


@pytest.fixture(name="env")
def _env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The shared MSI cache, and no lab account variables (the lab's password file is used)."""
    monkeypatch.setenv("ROLLUP_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "rollup-cache"))
    monkeypatch.delenv("ROLLUP_LAB_USER", raising=False)
    monkeypatch.delenv("ROLLUP_LAB_PASSWORD", raising=False)
    monkeypatch.delenv("ROLLUP_RUNS_DIR", raising=False)
    return dict(os.environ)


def lab_state(lab: Path, host: str, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """``rollup lab state HOST --json``, as an operator would read it."""
    assert main(["lab", "state", host, "--state-dir", str(lab), "--json"]) == 0
    report: dict[str, Any] = json.loads(capsys.readouterr().out)
    return report


def without_counters(report: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in report.items() if key not in ("mutations", "operations")}


@pytest.mark.slow
def test_a_simulated_rehearsal_passes_records_itself_and_puts_the_lab_back(
    tmp_path: Path, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """
    Both drills pass, verify passes, the summary names hosts, steps, retries, drills, verify, the
    audit log and the record; the record ties the run's audit head to the pinned manifest; and
    every lab host's state after the rehearsal equals its state before, the lab's counters aside.
    """
    lab, runs = tmp_path / "lab", tmp_path / ".rollup" / "runs"
    with serving_rehearsal_lab(
        lab, manifest=MANIFEST, collab=SIMULATED_COLLAB, time_factor=SIMULATED_TIME_FACTOR, seed=0, env=env
    ):
        pass
    before = {host: lab_state(lab, host, capsys) for host in GUESTS}

    code = main([
        "rehearse", "--simulated", "--manifest", str(MANIFEST), "--state-dir", str(lab),
        "--runs-dir", str(runs), "--seed", "5", "--drill", "kill-resume", "--drill", "host-down",
    ])  # fmt: skip
    out = capsys.readouterr().out
    after = {host: lab_state(lab, host, capsys) for host in GUESTS}
    (record_path,) = (tmp_path / ".rollup" / "rehearsals").glob("*.json")
    record = json.loads(record_path.read_text(encoding="utf-8"))
    audit = runs / record["run_id"] / "audit.jsonl"
    lines = {line.split()[0]: line.strip() for line in out.splitlines() if line.startswith("  ")}

    assert code == 0, out
    assert f"Rehearsal {record['rehearsal_id']}: PASSED" in out
    assert lines["lab"].endswith(
        "6 hosts (MPS01, DNS01, COLLAB01, COLLAB02, COLLAB03, MPSSQL) as VMs on HV01 (hyperv)"
    )
    assert "steps      31 of 31" in out
    assert "retries " in lines["steps"]
    assert "drill      kill-resume: passed: killed (SIGKILL) after" in out
    assert "drill      host-down: passed: " in out
    assert lines["verify"].startswith("verify     passed  verify: 6 hosts, ")
    assert f"audit log  {audit}" in out
    assert f"record     {record_path}" in out
    assert record["result"] == "passed"
    assert record["simulated"] is True
    stages = ["snapshot", "preflight", "apply", "verify", "revert", "cleanup"]
    assert [s["name"] for s in record["stages"]] == stages
    assert {s["result"] for s in record["stages"]} == {"passed"}
    drills = [(d["name"], d["result"]) for d in record["drills"]]
    assert drills == [("kill-resume", "passed"), ("host-down", "passed")]
    assert record["audit_head"] == head_hash(audit)
    assert record["manifest_digest"] == load_manifest(lab / "manifest" / MANIFEST.name).digest()
    roles = {"collab": 3, "deployment_tool": 1, "dns": 1, "mps_engine": 1, "mpssql": 1, "web_services": 1}
    assert record["plan"]["roles"] == roles
    assert (record["snapshot"]["reverted"], record["snapshot"]["removed"]) == (True, True)
    baseline = {b["host"]: b for b in record["baseline"]}
    assert set(baseline) == set(GUESTS)
    assert {b["error"] for b in baseline.values()} == {None}
    dlls = [f for b in baseline.values() for f in b["files"] if f["path"].endswith(".dll")]
    assert len(dlls) == 17 + 1 + 1 + 1 + 3  # MPS01's own and the shared one, DNS01, MPSSQL, 3 COLLAB hosts
    assert {f["version"] for f in dlls} == {"4.0.2491.0"}
    assert "baseline: " in out
    for host in GUESTS:
        assert without_counters(after[host]) == without_counters(before[host]), host
    assert after["MPS01"]["mutations"] > before["MPS01"]["mutations"]


def test_a_rehearsal_lab_whose_address_another_program_took_moves_to_free_addresses(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """
    Another program listening on MPS01's WinRM address (another lab that bound it between this
    lab's probe and its bind, or since the last rehearsal) moves the rehearsal lab to the next free
    block: the same hosts in the same order, the config and both inventories naming the new
    addresses, and the moved hosts answering there.
    """
    lab = tmp_path / "lab"
    options: dict[str, Any] = {
        "manifest": MANIFEST, "collab": 1, "time_factor": SIMULATED_TIME_FACTOR, "seed": 0, "env": env,
    }  # fmt: skip
    with serving_rehearsal_lab(lab, **options) as served:
        before = served.config.hosts
    squatter = socket.create_server((before[0].address, HTTP_PORT))
    with squatter, serving_rehearsal_lab(lab, **options) as served:
        after = served.config.hosts
        with socket.create_connection((after[0].address, HTTP_PORT), timeout=5):
            pass
        inventories = served.inventory.read_text(encoding="utf-8") + served.paths.inventory.read_text(
            encoding="utf-8"
        )

    assert [(h.name, h.roles) for h in after] == [(h.name, h.roles) for h in before]
    assert {h.address for h in after}.isdisjoint({h.address for h in before})
    assert read_config(LabPaths(lab)).hosts == after
    for host in after:
        assert host.address in inventories, host.name
    for host in before:
        assert host.address not in inventories, host.name
