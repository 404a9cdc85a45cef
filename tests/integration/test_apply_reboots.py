"""
Restarts msiexec asks for (3010) or starts (1641), against the simulated lab through the CLI:
the run goes on after a 1641 once the host answers again, and the code is kept in the journal
and the audit log whatever the step kind, including a run-twice step whose second run exits 0.
"""

from __future__ import annotations

import json
from pathlib import Path

from rollup.engine.journal import read_journal
from rollup.engine.journal_state import StepFinished, UnitDone
from rollup.engine.rundir import list_runs
from rollup.testing.labproc import LabProcess

GATE = "confirm-prerequisites"


def test_1641_and_3010_are_kept_in_the_journal_and_the_audit_log(tmp_path: Path) -> None:
    """
    DNS01's first DNSClient run exits 1641 (the lab restarts the host, as Windows Installer
    would), COLLAB01's install 3010: the run waits for DNS01's new boot and is done, and verify
    then reports COLLAB01's pending restart as its only drift (exit 3).
    """
    faults = [
        {"kind": "exit_code", "hosts": ["DNS01"], "op": "msi.install", "nth": 1, "code": 1641},
        {"kind": "exit_code", "hosts": ["COLLAB01"], "op": "msi.install", "nth": 1, "code": 3010},
    ]
    lab = LabProcess.start(tmp_path, collab=1, first_address="127.0.89.1", scenario={"faults": faults})
    try:
        result = lab.apply("--confirm", GATE, "--skip-preflight", "--reason", "restarts on purpose")
        verified = lab.rollup("verify", "--inventory", str(lab.inventory), "--json")
        booted = {name: lab.host_state(name).booted_at for name in ("MPS01", "DNS01")}
    finally:
        lab.stop()
    report = json.loads(verified.stdout)
    not_ok = {(h["host"], c["name"]): c for h in report["hosts"] for c in h["checks"] if c["status"] != "ok"}
    (run,) = list_runs(lab.runs_dir)
    entries = read_journal(run.journal_path).entries
    codes = {e.step: e.exit_code for e in entries if isinstance(e, StepFinished)}
    units = {e.step: e.unit for e in entries if isinstance(e, UnitDone) and "msiexec exited" in e.unit}
    audit = [json.loads(line) for line in run.audit_path.read_text(encoding="utf-8").splitlines()]
    audited = {r["step"]: r["exit_code"] for r in audit if r["event"] == "step_finished"}

    assert result.returncode == 0, result.stdout + result.stderr
    assert booted["DNS01"] > booted["MPS01"]
    assert codes["dnsclient-run-twice@DNS01"] == 1641
    assert audited["dnsclient-run-twice@DNS01"] == 1641
    assert codes["install-wss-web-service@COLLAB01"] == 3010
    assert audited["install-wss-web-service@COLLAB01"] == 3010
    assert units["dnsclient-run-twice@DNS01"].startswith("msiexec exited 1641")
    assert units["install-wss-web-service@COLLAB01"].startswith("msiexec exited 3010")
    assert verified.returncode == 3, verified.stdout + verified.stderr
    assert list(not_ok) == [("COLLAB01", "pending restart")], not_ok
    assert (
        not_ok["COLLAB01", "pending restart"]["status"],
        not_ok["COLLAB01", "pending restart"]["actual"],
    ) == (
        "drift",
        "PendingFileRenameOperations",
    )


def test_a_pending_restart_stops_the_next_msi_step_unless_the_policy_ignores_it(tmp_path: Path) -> None:
    """COLLAB01's uninstall exits 3010: its install stops (the default policy) until policy ignore."""
    faults = [{"kind": "exit_code", "hosts": ["COLLAB01"], "op": "msi.uninstall", "nth": 1, "code": 3010}]
    lab = LabProcess.start(tmp_path, collab=1, first_address="127.0.89.21", scenario={"faults": faults})
    try:
        stopped = lab.apply("--confirm", GATE)
        text = lab.inventory.read_text(encoding="utf-8")
        lab.inventory.write_text(
            text.replace(
                "    rollup_production: false\n",
                "    rollup_production: false\n    rollup_reboot_policy: ignore\n",
            ),
            encoding="utf-8",
        )
        resumed = lab.apply("--resume", "last")
        products = {p.display_name: p.display_version for p in lab.host_state("COLLAB01").products.values()}
    finally:
        lab.stop()

    assert stopped.returncode == 1, stopped.stdout + stopped.stderr
    assert "COLLAB01: a restart is pending (PendingFileRenameOperations)" in stopped.stdout
    assert "rollup_reboot_policy" in stopped.stdout
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert products["Windows SharePoint Services Web Service"] == "4.0.2491.0"


def test_the_reboot_policy_restarts_the_host_through_winrm_and_goes_on(tmp_path: Path) -> None:
    """
    COLLAB01's uninstall exits 3010; with ``rollup_reboot_policy: reboot`` its install restarts
    it through WinRM (shutdown.exe), waits for the new boot and installs: the run is done with
    a notice, and verify finds no restart pending.
    """
    faults = [{"kind": "exit_code", "hosts": ["COLLAB01"], "op": "msi.uninstall", "nth": 1, "code": 3010}]
    lab = LabProcess.start(tmp_path, collab=1, first_address="127.0.89.41", scenario={"faults": faults})
    try:
        text = lab.inventory.read_text(encoding="utf-8")
        lab.inventory.write_text(
            text.replace(
                "    rollup_production: false\n",
                "    rollup_production: false\n    rollup_reboot_policy: reboot\n",
            ),
            encoding="utf-8",
        )
        booted_before = lab.host_state("COLLAB01").booted_at
        result = lab.apply("--confirm", GATE)
        collab = lab.host_state("COLLAB01")
        verified = lab.rollup("verify", "--inventory", str(lab.inventory))
    finally:
        lab.stop()
    (run,) = list_runs(lab.runs_dir)
    units = [e.unit for e in read_journal(run.journal_path).entries if isinstance(e, UnitDone)]

    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        "COLLAB01: restarted by rollup: a restart was pending (PendingFileRenameOperations)" in result.stdout
    )
    assert "host.restart" in collab.operations
    assert collab.booted_at > booted_before
    assert collab.pending_reboot == []
    products = {p.display_name: p.display_version for p in collab.products.values()}
    assert products["Windows SharePoint Services Web Service"] == "4.0.2491.0"
    assert any(u.startswith("restart of COLLAB01 scheduled") for u in units)
    assert verified.returncode == 0, verified.stdout + verified.stderr
