"""
The controller SIGKILLed at seeded points of a run, then ``rollup apply --resume``: every host ends
as an uninterrupted run leaves it, and no original MSI of C:\\MSIShare is lost.
"""

from __future__ import annotations

import itertools
import os
import random
import re
import shlex
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rollup.engine.journal import read_journal
from rollup.engine.journal_state import RunResumed, RunStarted, ShellOpened, StepFinished, UnitDone
from rollup.engine.rundir import list_runs
from rollup.testing.fleet import normalized
from rollup.testing.labproc import LabProcess

GATE = "confirm-prerequisites"
SEED = 20110310
KILL_AFTER_LINES = sorted(random.Random(SEED).sample(range(3, 55), 10))
"""Journal lines written before the kill: a run of this lab writes about 57."""

_ranges = itertools.count()


def _lab(folder: Path) -> LabProcess:
    address = f"127.0.83.{1 + 10 * next(_ranges)}"
    return LabProcess.start(folder, collab=2, first_address=address, time_factor=0.001)


@pytest.fixture(scope="module", name="reference")
def _reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    lab = _lab(tmp_path_factory.mktemp("reference"))
    try:
        result = lab.apply("--confirm", GATE)
        assert result.returncode == 0, result.stdout + result.stderr
        return {host: normalized(lab.host_state(host)) for host in lab.hosts()}
    finally:
        lab.stop()


@pytest.fixture(name="lab")
def _fresh(tmp_path: Path) -> Iterator[LabProcess]:
    lab = _lab(tmp_path)
    yield lab
    lab.stop()


def _journal_lines(lab: LabProcess) -> int:
    runs = list_runs(lab.runs_dir)
    if not runs or not runs[0].journal_path.exists():
        return 0
    return runs[0].journal_path.read_bytes().count(b"\n")


def _kill_after(lab: LabProcess, lines: int) -> int:
    """Start a run, SIGKILL it once its journal has ``lines`` lines; the lines it had then."""
    process = lab.apply_process("--confirm", GATE)
    deadline = time.monotonic() + 120
    while _journal_lines(lab) < lines and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    if process.poll() is None:  # a run that already ended has nothing left to kill
        os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    return _journal_lines(lab)


@pytest.mark.parametrize("lines", KILL_AFTER_LINES)
def test_a_sigkilled_run_resumes_to_the_same_end_state(
    lab: LabProcess, reference: dict[str, Any], lines: int
) -> None:
    """Killed after ``lines`` journal lines, the resume finishes and every host matches the reference."""
    files = lab.host_state("MPS01").files
    originals = [(key, f.sha256) for key, f in files.items() if key.startswith("c:\\msishare\\")]

    written = _kill_after(lab, lines)
    resumed = lab.apply("--resume", "last", "--confirm", GATE)

    after = {host: normalized(lab.host_state(host)) for host in lab.hosts()}
    backups = after["MPS01"]["backups"]

    assert lines <= written < 57
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert after == reference
    assert len(originals) == 21
    assert all(backups.get(original) == 1 for original in originals)


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
    while _journal_lines(lab) < 20 and process.poll() is None and time.monotonic() < deadline:
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
