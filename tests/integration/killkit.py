"""
What the SIGKILL tests share: a lab of two COLLAB hosts, the reference end state of an
uninterrupted run, and killing ``rollup apply`` once its journal has a number of lines.
The seeded kill points are split over two test modules so that two test workers run them.
"""

from __future__ import annotations

import itertools
import os
import random
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rollup.engine.rundir import list_runs
from rollup.testing.fleet import normalized
from rollup.testing.labproc import LabProcess

GATE = "confirm-prerequisites"
SEED = 20110310
KILL_AFTER_LINES = sorted(random.Random(SEED).sample(range(3, 55), 10))[::2]
"""Journal lines written before the kill (4, 21, 30, 42, 53: early, middle and late in the run,
each point a whole run and its resume); a run of this lab writes about 57."""

_ranges = itertools.count()


def new_lab(folder: Path) -> LabProcess:
    address = f"127.0.83.{1 + 10 * next(_ranges)}"
    return LabProcess.start(folder, collab=2, first_address=address, time_factor=0.001)


@pytest.fixture(scope="module", name="reference")
def reference_fixture(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    lab = new_lab(tmp_path_factory.mktemp("reference"))
    try:
        result = lab.apply("--confirm", GATE)
        assert result.returncode == 0, result.stdout + result.stderr
        return {host: normalized(lab.host_state(host)) for host in lab.hosts()}
    finally:
        lab.stop()


@pytest.fixture(name="lab")
def lab_fixture(tmp_path: Path) -> Iterator[LabProcess]:
    lab = new_lab(tmp_path)
    yield lab
    lab.stop()


def journal_lines(lab: LabProcess) -> int:
    runs = list_runs(lab.runs_dir)
    if not runs or not runs[0].journal_path.exists():
        return 0
    return runs[0].journal_path.read_bytes().count(b"\n")


def kill_after(lab: LabProcess, lines: int) -> int:
    """Start a run, SIGKILL it once its journal has ``lines`` lines; the lines it had then."""
    process = lab.apply_process("--confirm", GATE)
    deadline = time.monotonic() + 120
    while journal_lines(lab) < lines and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    if process.poll() is None:  # a run that already ended has nothing left to kill
        os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    return journal_lines(lab)


def resumes_to_the_reference(lab: LabProcess, reference: dict[str, Any], lines: int) -> None:
    """Killed after ``lines`` journal lines, the resume finishes and every host matches the reference."""
    files = lab.host_state("MPS01").files
    originals = [(key, f.sha256) for key, f in files.items() if key.startswith("c:\\msishare\\")]

    written = kill_after(lab, lines)
    resumed = lab.apply("--resume", "last", "--confirm", GATE)

    after = {host: normalized(lab.host_state(host)) for host in lab.hosts()}
    backups = after["MPS01"]["backups"]

    assert lines <= written < 57
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert after == reference
    assert len(originals) == 21
    assert all(backups.get(original) == 1 for original in originals)
