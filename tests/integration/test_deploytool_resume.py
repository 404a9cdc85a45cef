"""
The Deployment Tool's log check after a resume: the real CLI against the simulated lab, whose site
command writes the tool's MSI logs in ``C:\\ConfigShare\\Log``.

A site command that fails (msiexec 1603 on the first component) leaves a failed log and fails the
run. The first ``--resume`` runs the action again and must judge only the logs written since that
attempt: the old failed log no longer counts, and the run ends done.
"""

from __future__ import annotations

from pathlib import Path

from rollup.engine.journal import read_journal
from rollup.engine.journal_state import StepFinished
from rollup.engine.rundir import list_runs
from rollup.testing.labproc import LabProcess

GATE = "confirm-prerequisites"
SCENARIO = {
    "faults": [{"kind": "exit_code", "hosts": ["MPS01"], "op": "deploytool.command", "nth": 1, "code": 1603}]
}


def test_the_first_resume_after_a_failed_deployment_tool_action_passes(tmp_path: Path) -> None:
    """1603 on the first site command: exit 1; the first --resume ends done (the old log is history)."""
    lab = LabProcess.start(tmp_path, collab=1, first_address="127.0.87.1", scenario=SCENARIO)
    try:
        failed = lab.apply("--confirm", GATE)
        (run,) = list_runs(lab.runs_dir)
        resumed = lab.apply("--resume", run.run_id)
        logs = [
            f["path"]
            for f in lab.state("MPS01")["files"]
            if f["path"].lower().startswith("c:\\configshare\\log\\")
        ]
    finally:
        lab.stop()
    finished = [e for e in read_journal(run.journal_path).entries if isinstance(e, StepFinished)]
    failures = [e.step for e in finished if e.outcome.value == "failed"]

    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert failures[0] == "uninstall-components@MPS01", failures
    assert len(logs) > 1
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
