"""
``rollup apply`` and ``rollup confirm`` as an operator runs them: the real CLI, the simulated lab
over HTTP with the real pywinrm client, no transport doubles.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rollup.engine.journal import read_journal
from rollup.engine.journal_state import StepFinished
from rollup.engine.rundir import list_runs
from rollup.testing.labproc import LabProcess

NEW = "4.0.2491.0"
GATE = "confirm-prerequisites"


_ranges = itertools.count()


@pytest.fixture(name="lab")
def _lab(tmp_path: Path) -> Iterator[LabProcess]:
    address = f"127.0.81.{1 + 10 * next(_ranges)}"
    lab = LabProcess.start(tmp_path, collab=3, first_address=address)
    yield lab
    lab.stop()


def _versions(dump: dict[str, Any]) -> dict[str, str]:
    return {p["name"]: p["version"] for p in dump["products"]}


def test_a_full_apply_then_a_second_one_that_changes_nothing(lab: LabProcess) -> None:
    """MPS01, DNS01, MPSSQL and three COLLAB hosts reach the rollup state; run again, nothing changes."""
    first = lab.apply("--confirm", GATE)
    after_first = {host: lab.state(host) for host in lab.hosts()}
    second = lab.apply()
    after_second = {host: lab.state(host) for host in lab.hosts()}

    runs = list_runs(lab.runs_dir)
    entries = read_journal(runs[1].journal_path).entries
    outcomes = {e.outcome.value for e in entries if isinstance(e, StepFinished)}
    mps, dns = after_first["MPS01"], after_first["DNS01"]
    share = {f["path"].lower(): f for f in mps["files"] if f["path"].lower().startswith("c:\\msishare\\")}

    assert first.returncode == 0, first.stderr + first.stdout
    assert f"run id: {runs[0].run_id}" in first.stdout
    assert f"audit log: {runs[0].audit_path}" in first.stdout
    assert sum(v == NEW for v in _versions(mps).values()) == 17
    assert _versions(dns)["DNS Client"] == NEW
    assert _versions(after_first["MPSSQL"])["Resource Manage Database"] == NEW
    for n in (1, 2, 3):
        assert _versions(after_first[f"COLLAB0{n}"])["Windows SharePoint Services Web Service"] == NEW
    assert dns["iis"][0]["default_logon_domain"] == "\\"
    assert sum(path.endswith(".msi") and share[path]["product_version"] == NEW for path in share) == 21
    assert sum(path.endswith(".bak") for path in share) == 21
    assert second.returncode == 0, second.stderr + second.stdout
    assert outcomes <= {"noop", "skipped"}
    for host in lab.hosts():
        changed = after_second[host]["mutations"] - after_first[host]["mutations"]
        assert changed == (3 if host == "MPS01" else 0), host  # the marker taken and removed, the head kept


def test_a_dry_run_changes_no_host(lab: LabProcess) -> None:
    """--dry-run prints what would run, exits 0, and no host's mutation counter moves."""
    before = {host: lab.state(host)["mutations"] for host in lab.hosts()}

    shown = lab.apply("--dry-run")

    after = {host: lab.state(host)["mutations"] for host in lab.hosts()}

    assert shown.returncode == 0, shown.stderr + shown.stdout
    assert "Dry run: nothing was changed" in shown.stdout
    assert "install-wss-web-service" in shown.stdout
    assert after == before
    assert list_runs(lab.runs_dir) == ()


def test_verify_passes_after_a_clean_apply_with_the_shipped_manifest(lab: LabProcess) -> None:
    """Unpinned manifest: verify takes the expected versions from the inventory's package or --package-dir."""
    applied = lab.apply("--confirm", GATE)
    package = lab.state_dir / "package"

    verified = lab.rollup("verify", "--inventory", str(lab.inventory), "--json")
    explicit = lab.rollup("verify", "--inventory", str(lab.inventory), "--package-dir", str(package))
    document = json.loads(verified.stdout)

    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert document["summary"].get("unknown", 0) == 0
    assert {h["status"] for h in document["hosts"]} == {"ok"}
    assert explicit.returncode == 0, explicit.stdout + explicit.stderr
    installed = [(h["host"], c) for h in document["hosts"] for c in h["checks"] if c["group"] == "installed"]
    assert len(installed) == 2 * 17 + 1 + 2 + 2 + 3 * 2  # MPS01 (and its shared DLL), DNS01, MPSSQL, COLLAB0x
    assert {c["status"] for _, c in installed} == {"ok"}
    assert {c["actual"] for _, c in installed if c["name"].endswith(".dll")} == {f"version {NEW}"}
