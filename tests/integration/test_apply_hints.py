"""
Every command a hint of ``rollup apply`` or ``rollup confirm`` names works at the moment it is
printed: the test runs each, as printed, against the simulated lab (the real CLI over HTTP).
"""

from __future__ import annotations

import re
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from rollup.engine.rundir import list_runs
from rollup.lab.store import FileStateStore
from rollup.testing.labproc import LabProcess

GATE = "confirm-prerequisites"
COMMAND = re.compile(r"`(rollup [^`]+)`")


@pytest.fixture(name="lab")
def _lab(tmp_path: Path) -> Iterator[LabProcess]:
    lab = LabProcess.start(tmp_path, collab=1, first_address="127.0.87.1")
    yield lab
    lab.stop()


def _hinted(result: subprocess.CompletedProcess[str]) -> list[list[str]]:
    """The commands in backquotes of a command's output, as argument lists without ``rollup``."""
    return [shlex.split(found)[1:] for found in COMMAND.findall(result.stdout + result.stderr)]


def test_each_hint_of_a_manual_deployment_tool_step_works(lab: LabProcess) -> None:
    """Waiting, confirmed, checks failed, confirmed again: every printed command is accepted."""
    manual = lab.state_dir / "manual.yml"
    text = lab.inventory.read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if "rollup_deployment_tool_command" not in line]
    manual.write_text("\n".join(lines).replace("strategy: command", "strategy: manual") + "\n")
    args = ("apply", "--inventory", str(manual), "--runs-dir", str(lab.runs_dir))

    waiting = lab.rollup(*args, "--confirm", GATE)
    (run,) = list_runs(lab.runs_dir)
    first = _hinted(waiting)[-2:]
    confirmed = lab.rollup(*first[0])
    resumed = lab.rollup(*first[1])
    again = _hinted(resumed)[-2:]
    confirmed_again = lab.rollup(*again[0])
    continued = lab.rollup(*_hinted(confirmed_again)[0])

    assert waiting.returncode == 5, waiting.stdout + waiting.stderr
    assert first == [
        ["confirm", run.run_id, "uninstall-components@MPS01", "--runs-dir", str(lab.runs_dir)],
        ["apply", "--resume", run.run_id, "--runs-dir", str(lab.runs_dir)],
    ]
    assert confirmed.returncode == 0, confirmed.stderr
    assert resumed.returncode == 1, resumed.stdout + resumed.stderr
    assert "no Deployment Tool log" in resumed.stdout
    assert again[0][:3] == ["confirm", run.run_id, "uninstall-components@MPS01"]
    assert confirmed_again.returncode == 0, confirmed_again.stderr
    assert continued.returncode == 1, continued.stdout + continued.stderr
    assert "no Deployment Tool log" in continued.stdout


def test_the_hints_of_a_refused_preflight_a_waiting_run_and_an_unknown_run_work(lab: LabProcess) -> None:
    """``rollup preflight`` as a refusal names it, the waiting run's commands, ``rollup runs list``."""
    with FileStateStore(lab.state_dir / "hosts", lab.hosts()).update("DNS01") as dns:
        dns.pending_reboot = ["PendingFileRenameOperations"]

    refused = lab.apply("--confirm", GATE)
    (preflight,) = _hinted(refused)
    shown = lab.rollup(*preflight)
    waiting = lab.apply("--skip-preflight", "--reason", "reboot after the window")
    confirm, resume = _hinted(waiting)[-2:]
    confirmed = lab.rollup(*confirm)
    resumed = lab.rollup(*resume)
    (again,) = _hinted(resumed)
    shown_again = lab.rollup(*again)
    unknown = lab.apply("--resume", "no-such-run")
    (listing,) = _hinted(unknown)
    listed = lab.rollup(*listing)

    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert preflight[0] == "preflight"
    assert shown.returncode == 1, shown.stdout + shown.stderr
    assert "PendingFileRenameOperations" in shown.stdout
    assert waiting.returncode == 5, waiting.stdout + waiting.stderr
    assert confirmed.returncode == 0, confirmed.stdout + confirmed.stderr
    assert resumed.returncode == 1, resumed.stdout + resumed.stderr
    assert shown_again.returncode == 1, shown_again.stdout + shown_again.stderr
    assert unknown.returncode == 2, unknown.stderr
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert unknown.stderr.count("no run 'no-such-run'") == 1
