"""
The controller killed at moments that matter, then ``rollup apply --resume``: a Deployment Tool
command is not run twice, five kills in a row leave no shells in the resume's way, and Ctrl-C
names the resume command. (The seeded kill points are ``test_apply_kill_early`` and ``_late``.)
"""

from __future__ import annotations

import re
import shlex
import signal
import time
from pathlib import Path

from rollup.engine.journal import read_journal
from rollup.engine.journal_state import RunResumed, RunStarted, ShellOpened, StepFinished, UnitDone
from rollup.engine.rundir import list_runs
from rollup.testing.labproc import LabProcess
from tests.integration.killkit import GATE, journal_lines, lab_fixture

__all__ = ["lab_fixture"]  # the fixture this module's tests use


def test_a_resume_does_not_run_a_deployment_tool_command_twice(tmp_path: Path) -> None:
    """The site command fails on the second Initialize node; the resume runs only what is left."""
    fault = {"kind": "exit_code", "hosts": ["MPS01"], "op": "deploytool.command", "nth": 36, "code": 1}
    lab = LabProcess.start(tmp_path, collab=1, first_address="127.0.88.1", scenario={"faults": [fault]})
    try:
        failed = lab.apply("--confirm", GATE)
        # Start Deployment's check reads the logs written since it began, 5 s of clock difference
        # allowed: the failed Initialize's log must be older than that, as it is on a real site
        time.sleep(6)
        resumed = lab.apply("--resume", "last")
        sent = lab.host_state("MPS01").operations
    finally:
        lab.stop()
    (run,) = list_runs(lab.runs_dir)
    units = [(e.step, e.unit) for e in read_journal(run.journal_path).entries if isinstance(e, UnitDone)]
    commands = [unit for unit in units if unit[1] != "restart"]

    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "initialize-exchange@MPS01" in failed.stdout
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert sent.count("deploytool.command") == 43 + 1
    assert len(commands) == len(set(commands)) == 43
    assert ("restart-provisioning-engine@MPS01", "restart") in units


def _killed_after_a_step(lab: LabProcess, *args: str) -> None:
    """Start ``rollup apply ARGS``, wait until this process finished a step, SIGKILL it."""
    proc = lab.apply_process(*args)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            runs = list_runs(lab.runs_dir)
            entries = read_journal(runs[-1].journal_path).entries if runs else ()
            mine = [
                n
                for n, e in enumerate(entries)
                if isinstance(e, RunStarted | RunResumed) and e.pid == proc.pid
            ]
            if mine and any(isinstance(e, StepFinished) for e in entries[mine[-1] :]):
                break
            time.sleep(0.05)
    finally:
        proc.kill()
        proc.wait()


def test_five_kills_in_a_row_leave_no_shells_in_the_way_of_the_resume(tmp_path: Path) -> None:
    """WinRM 2.0 allows five shells per user: the resume deletes those the killed controllers left."""
    lab = LabProcess.start(tmp_path, collab=1, first_address="127.0.88.41")
    try:
        _killed_after_a_step(lab, "--confirm", GATE)
        for _ in range(4):
            _killed_after_a_step(lab, "--resume", "last")
        resumed = lab.apply("--resume", "last")
    finally:
        lab.stop()
    (run,) = list_runs(lab.runs_dir)
    shells = [e for e in read_journal(run.journal_path).entries if isinstance(e, ShellOpened)]

    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "MPS01: deleted" in resumed.stdout
    assert len({e.pid for e in shells}) == 6
    assert "concurrent shells" not in resumed.stdout + resumed.stderr


def test_ctrl_c_names_the_run_and_the_resume_command_that_finishes_it(lab: LabProcess) -> None:
    """SIGINT mid-run: exit 130, the run id and the exact resume command, which then finishes the run."""
    process = lab.apply_process("--confirm", GATE, output=True)
    deadline = time.monotonic() + 120
    while journal_lines(lab) < 20 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    (run,) = list_runs(lab.runs_dir)
    printed = re.search(r"resume it with: (rollup apply --resume \S+ --runs-dir \S+)", out)
    assert printed is not None, out + err
    resumed = lab.rollup(*shlex.split(printed.group(1))[1:])

    assert process.returncode == 130, out + err
    assert f"interrupted: run {run.run_id} stopped" in out
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
