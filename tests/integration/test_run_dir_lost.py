"""
A run whose directory disappears or becomes unwritable while it runs: the real CLI against the
simulated lab. The run notices before its next step, lets the running steps finish, stops with
exit 1 and one line saying what happened, and never reports ``done`` with an audit log path that
no longer exists.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rollup.engine.rundir import list_runs
from rollup.testing.labproc import ROOT, LabProcess

GATE = "confirm-prerequisites"


def _start(lab: LabProcess) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "rollup", "apply", "--inventory", str(lab.inventory),
         "--runs-dir", str(lab.runs_dir), "--confirm", GATE],
        cwd=ROOT, env=lab.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def _after_some_steps(lab: LabProcess, steps: int) -> Path:
    """The run's directory, once its journal records ``steps`` finished steps."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        runs = list_runs(lab.runs_dir)
        if runs and runs[0].journal_path.exists():
            text = runs[0].journal_path.read_text(encoding="utf-8")
            if text.count('"event":"step_finished"') >= steps:
                return runs[0].path
        time.sleep(0.05)
    raise AssertionError("the run did not get going")


@pytest.fixture(name="lab")
def _lab(tmp_path: Path) -> Iterator[LabProcess]:
    lab = LabProcess.start(tmp_path, collab=2, first_address="127.0.88.1", time_factor=0.02)
    yield lab
    lab.stop()


def test_a_run_directory_removed_mid_run_stops_the_run_and_says_so(lab: LabProcess) -> None:
    """rm -rf of the run directory after 3 steps: exit 1, one line naming it; no `done`, no audit path."""
    process = _start(lab)
    run_dir = _after_some_steps(lab, 3)
    shutil.rmtree(run_dir)
    out, err = process.communicate(timeout=300)

    assert process.returncode == 1, out + err
    assert f"rollup: run {run_dir.name}: its directory was removed during the run ({run_dir})" in err
    assert "the run stopped, steps already running finished" in err
    assert "audit log:" not in out
    assert not run_dir.exists()


def _chattr(flag: str, path: Path) -> bool:
    return subprocess.run(["chattr", flag, str(path)], capture_output=True, check=False).returncode == 0


def test_a_run_directory_made_unwritable_mid_run_stops_the_run(lab: LabProcess) -> None:
    """The run directory made immutable after 3 steps (nothing can be created in it): exit 1, one line."""
    process = _start(lab)
    run_dir = _after_some_steps(lab, 3)
    if not _chattr("+i", run_dir):
        process.kill()
        process.communicate()
        pytest.skip("chattr +i is not available here")
    try:
        out, err = process.communicate(timeout=300)
    finally:
        _chattr("-i", run_dir)
    resumed = lab.apply("--resume", run_dir.name)

    assert process.returncode == 1, out + err
    assert f"rollup: run {run_dir.name}: its directory can no longer be written ({run_dir}" in err
    assert "audit log:" not in out
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
