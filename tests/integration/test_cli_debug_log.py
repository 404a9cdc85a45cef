"""
``rollup -v`` and ``rollup --log-file``: a debug log of every WinRM request (host, action,
milliseconds, outcome), redacted, through the CLI against the simulated lab.
"""

from __future__ import annotations

import json
from pathlib import Path

from rollup.testing.labproc import LabProcess


def test_the_log_file_has_a_json_line_per_request_and_no_password(tmp_path: Path) -> None:
    lab = LabProcess.start(tmp_path, collab=1, first_address="127.0.97.1")
    try:
        log = tmp_path / "debug.jsonl"
        verified = lab.rollup("--log-file", str(log), "verify", "--inventory", str(lab.inventory))
        verbose = lab.rollup("-v", "verify", "--inventory", str(lab.inventory), "--limit", "DNS01")
        quiet = lab.rollup("verify", "--inventory", str(lab.inventory), "--limit", "DNS01")
        password = (lab.state_dir / "lab-password").read_text(encoding="utf-8").strip()
    finally:
        lab.stop()
    records = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    requests = [r for r in records if r["event"] == "wsman request"]

    assert verified.returncode == 3, verified.stderr  # a pre-rollup lab drifts
    assert {r["host"] for r in requests} == {"MPS01", "DNS01", "MPSSQL", "COLLAB01"}
    assert {r["action"].rpartition(": ")[2] for r in requests} >= {"Create", "Command", "Receive", "Delete"}
    assert {(r["level"], r["outcome"]) for r in requests} == {("debug", "ok")}
    assert min(r["duration_ms"] for r in requests) >= 0
    assert password
    assert password not in log.read_text(encoding="utf-8")
    assert "wsman request" in verbose.stderr
    assert "DNS01" in verbose.stderr
    assert "wsman request" not in quiet.stderr
