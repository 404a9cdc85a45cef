"""
A resume does not let later steps rely on a journal line the host contradicts: the real CLI
against the simulated lab.

A run fails on COLLAB01 (msiexec 1603) after DNS01's DNS Client was installed. DNS01 then loses
the DNS Client (restored from an older snapshot, or removed by hand). The journal still says the
step is done; the resume reads its guard on DNS01, says it no longer holds, and installs the DNS
Client again before finishing.
"""

from __future__ import annotations

from pathlib import Path

from rollup.engine.journal import read_journal
from rollup.engine.journal_state import StepFinished
from rollup.engine.rundir import list_runs
from rollup.lab.store import FileStateStore
from rollup.testing.labproc import LabProcess

GATE = "confirm-prerequisites"
STEP = "dnsclient-run-twice@DNS01"
SCENARIO = {
    "faults": [{"kind": "exit_code", "hosts": ["COLLAB01"], "op": "msi.uninstall", "nth": 1, "code": 1603}]
}


def _dns_client(lab: LabProcess) -> list[str]:
    return [p["version"] for p in lab.state("DNS01")["products"] if p["name"] == "DNS Client"]


def test_a_step_journaled_done_but_undone_on_the_host_runs_again_on_resume(tmp_path: Path) -> None:
    lab = LabProcess.start(tmp_path, collab=1, first_address="127.0.91.1", scenario=SCENARIO)
    try:
        failed = lab.apply("--confirm", GATE)
        (run,) = list_runs(lab.runs_dir)
        done_before = [
            e.step for e in read_journal(run.journal_path).entries
            if isinstance(e, StepFinished) and e.outcome.value == "done"
        ]  # fmt: skip
        installed = _dns_client(lab)
        store = FileStateStore(lab.state_dir / "hosts", lab.hosts())
        with store.update("DNS01") as state:
            for code in [c for c, p in state.products.items() if p.display_name == "DNS Client"]:
                del state.products[code]
        resumed = lab.apply("--resume", run.run_id)
        after = _dns_client(lab)
    finally:
        lab.stop()

    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert STEP in done_before
    assert installed == ["4.0.2491.0"]
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"{STEP}: journaled done, but not in effect on the host now" in resumed.stdout
    assert after == ["4.0.2491.0"]
