"""
``rollup apply`` runs the pre-flight checks first (docs/verify.md, docs/apply.md): the real CLI
against the simulated lab over HTTP. A failed check refuses the run with every failure listed
and nothing changed; ``--dry-run`` shows the result; ``--skip-preflight --reason`` is audited;
a resume checks the hosts that still have work again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rollup.engine.rundir import list_runs
from rollup.lab.store import FileStateStore
from rollup.testing.labproc import LabProcess


@pytest.fixture(name="lab")
def _lab(tmp_path: Path) -> Iterator[LabProcess]:
    lab = LabProcess.start(tmp_path, collab=2, first_address="127.0.86.1")
    yield lab
    lab.stop()


def _store(lab: LabProcess) -> FileStateStore:
    return FileStateStore(lab.state_dir / "hosts", lab.hosts())


def _mutations(lab: LabProcess) -> dict[str, int]:
    return {host: lab.host_state(host).mutations for host in lab.hosts()}


def test_apply_refuses_when_preflight_fails_and_changes_nothing(lab: LabProcess) -> None:
    """A pending reboot, a busy installer and a missing component: exit 1, each named, no host touched."""
    store = _store(lab)
    with store.update("DNS01") as dns:
        dns.pending_reboot = ["PendingFileRenameOperations"]
    with store.update("MPSSQL") as sql:
        sql.installer_busy_until = time.time() + 3600
    with store.update("COLLAB02") as collab:
        collab.products = {}
    before = _mutations(lab)

    refused = lab.apply("--confirm", "confirm-prerequisites")
    dry = lab.apply("--dry-run")

    output = refused.stdout + refused.stderr
    assert refused.returncode == 1, output
    assert "pre-flight failed: 3 check(s)" in output
    assert "DNS01: pending reboot: PendingFileRenameOperations" in refused.stdout
    assert "MPSSQL: Windows Installer:" in refused.stdout
    assert "COLLAB02: HMC 4.0: 0 of" in refused.stdout
    assert "nothing was changed" in refused.stderr
    assert "--skip-preflight" in refused.stderr
    assert list_runs(lab.runs_dir) == ()
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "pre-flight failed: 3 check(s)" in dry.stdout
    assert "Dry run: nothing was changed" in dry.stdout
    assert _mutations(lab) == before


def test_skip_preflight_needs_a_reason_is_audited_and_a_resume_checks_again(lab: LabProcess) -> None:
    """--skip-preflight alone is exit 2; with a reason it is audited; the resume is checked again."""
    with _store(lab).update("DNS01") as dns:
        dns.pending_reboot = ["PendingFileRenameOperations"]

    alone = lab.apply("--skip-preflight")
    skipped = lab.apply("--skip-preflight", "--reason", "CAB-7: reboot after the window")
    (run,) = list_runs(lab.runs_dir)
    records = [json.loads(line) for line in run.audit_path.read_text(encoding="utf-8").splitlines()]
    overrides = [r for r in records if r["event"] == "override_recorded"]
    resumed = lab.apply("--resume", run.run_id, "--confirm", "confirm-prerequisites")

    assert alone.returncode == 2, alone.stderr
    assert "--skip-preflight needs --reason TEXT" in alone.stderr
    assert skipped.returncode == 5, skipped.stdout + skipped.stderr
    assert [(o["kind"], o["reason"]) for o in overrides] == [
        ("preflight_skipped", "CAB-7: reboot after the window")
    ]
    assert resumed.returncode == 1, resumed.stdout + resumed.stderr
    assert "DNS01: pending reboot" in resumed.stdout
    assert "pre-flight failed: 1 check(s)" in resumed.stderr
