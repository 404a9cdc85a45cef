"""
``rollup apply`` as a well-behaved tool when the control host's disk fills up, and when a run is
refused before its first step: the real CLI against the simulated lab.

- A full disk under the runs directory is exit 1, one line ``no space left on the device
  (<path>)`` and a hint, not an internal error. Full at start, it leaves no run directory (an
  empty one would become ``last`` and break ``--resume last``); full in the middle of a run,
  the run stops, and once there is space ``--resume`` finishes it with the audit chain intact.
  The disk is a real tmpfs of a few pages mounted over the runs directory (needs root; skipped
  where mounting is not allowed).
- A run refused by another run's marker on the Deployment Tool host is not ``last``: ``runs show
  last`` and ``--resume last`` still name the run that holds the marker.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from rollup.engine.rundir import list_runs
from rollup.testing.labproc import LabProcess

GATE = "confirm-prerequisites"
NEW = "4.0.2491.0"
_ranges = itertools.count()


@pytest.fixture(name="lab")
def _lab(tmp_path: Path) -> Iterator[LabProcess]:
    lab = LabProcess.start(tmp_path, collab=1, first_address=f"127.0.84.{1 + 10 * next(_ranges)}")
    yield lab
    lab.stop()


@contextlib.contextmanager
def _tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


def _fill(folder: Path) -> None:
    """Write a file in ``folder`` until the file system is full."""
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        with contextlib.suppress(OSError):
            while True:
                os.write(fd, b"\0" * 512)
    finally:
        os.close(fd)


def _grow(path: Path, size: str) -> None:
    subprocess.run(["mount", "-o", f"remount,size={size}", str(path)], check=True)


def _versions(lab: LabProcess, host: str) -> dict[str, str]:
    return {p["name"]: p["version"] for p in lab.state(host)["products"]}


def test_a_full_disk_at_start_is_exit_1_and_leaves_no_run(lab: LabProcess) -> None:
    """The runs directory's file system is full: one line naming a path under it, exit 1, no run."""
    before = {host: lab.state(host)["mutations"] for host in lab.hosts()}
    with _tmpfs(lab.runs_dir, "64k") as runs:
        (runs / ".locks").mkdir()
        _fill(runs)

        done = lab.apply("--confirm", GATE)
        left = sorted(p.name for p in runs.iterdir())
        last = lab.rollup("apply", "--resume", "last", "--runs-dir", str(runs))

    lines = done.stderr.splitlines()
    assert done.returncode == 1, done.stderr + done.stdout
    assert lines[0].startswith(f"rollup: no space left on the device ({runs}/"), lines
    assert lines[1].startswith("hint: free space there"), lines
    assert "internal error" not in done.stderr
    assert left == [".locks", "filler"]
    assert (last.returncode, last.stderr) == (2, f"rollup: {runs}: no runs yet\n")
    assert {host: lab.state(host)["mutations"] for host in lab.hosts()} == before


def test_a_disk_that_fills_during_a_run_stops_it_and_resume_finishes(lab: LabProcess) -> None:
    """Space runs out part-way: exit 1 with the one line; with space again, --resume ends done."""
    with _tmpfs(lab.runs_dir, "40k") as runs:
        stopped = lab.apply("--confirm", GATE)
        (run,) = list_runs(runs)
        finished_before = run.journal_path.read_text(encoding="utf-8").count('"event":"step_finished"')
        _grow(runs, "8m")
        resumed = lab.apply("--resume", "last")
        verified = lab.rollup("audit", "verify", run.run_id, "--runs-dir", str(runs))
        shown = json.loads(lab.rollup("runs", "show", "last", "--json", "--runs-dir", str(runs)).stdout)

    assert stopped.returncode == 1, stopped.stderr + stopped.stdout
    assert f"rollup: no space left on the device ({run.path}/" in stopped.stderr
    assert "internal error" not in stopped.stderr
    assert finished_before > 3, stopped.stdout
    assert resumed.returncode == 0, resumed.stderr + resumed.stdout
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert (shown["run_id"], shown["state"]) == (run.run_id, "done")
    assert _versions(lab, "COLLAB01")["Windows SharePoint Services Web Service"] == NEW


def test_a_run_refused_by_the_marker_is_not_last(lab: LabProcess) -> None:
    """A run waits at a gate (its marker stays); a second run is refused by it and is not `last`."""
    waiting = lab.apply()
    (held,) = list_runs(lab.runs_dir)
    refused = lab.apply()
    shown = json.loads(lab.rollup("runs", "show", "last", "--json", "--runs-dir", str(lab.runs_dir)).stdout)
    resumed = lab.apply("--resume", "last", "--confirm", GATE)

    assert waiting.returncode == 5, waiting.stderr + waiting.stdout
    assert refused.returncode == 1, refused.stderr + refused.stdout
    assert f"held by run {held.run_id}" in refused.stderr
    assert len(list_runs(lab.runs_dir)) == 2
    assert shown["run_id"] == held.run_id
    assert resumed.returncode == 0, resumed.stderr + resumed.stdout
    assert f"run id: {held.run_id}" in resumed.stdout


def test_a_resume_refused_by_the_marker_leaves_the_run_as_it_was(lab: LabProcess, tmp_path: Path) -> None:
    """
    A run waits at a gate; an operator on another control host breaks its marker and starts a
    run of their own, which waits too. Resuming the first run is refused by the second's marker:
    the first is still listed ``waiting`` (no step of it failed).
    """
    waiting = lab.apply()
    (first,) = list_runs(lab.runs_dir)
    other = ("apply", "--inventory", str(lab.inventory), "--runs-dir", str(tmp_path / "elsewhere"))
    took = lab.rollup(*other, "--break-remote-lock")
    refused = lab.apply("--resume", first.run_id, "--confirm", GATE)
    shown = json.loads(
        lab.rollup("runs", "show", first.run_id, "--json", "--runs-dir", str(lab.runs_dir)).stdout
    )
    listed = lab.rollup("runs", "--runs-dir", str(lab.runs_dir)).stdout

    assert waiting.returncode == 5, waiting.stderr + waiting.stdout
    assert took.returncode == 5, took.stderr + took.stdout
    assert refused.returncode == 1, refused.stderr + refused.stdout
    assert "held by run" in refused.stderr
    assert shown["state"] == "waiting"
    assert "failed" not in shown["step_counts"]
    assert "failed" not in listed, listed
