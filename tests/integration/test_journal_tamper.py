"""
``--resume`` trusts the journal only as far as the audit log vouches for it: the real CLI against
the simulated lab.

A run fails (msiexec 1603 uninstalling COLLAB01's old SharePoint web service). Then its journal is
tampered with, each time on the original: a forged ``done`` line for the failed step appended
(chained correctly to the line before it), the failed line edited into ``done``, two lines
swapped. Each resume is refused with one line naming the journal and the line, exit 1, and changes
nothing on any host. The untouched journal then resumes and finishes the rollup.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

from rollup.engine.rundir import list_runs
from rollup.testing.labproc import LabProcess

GATE = "confirm-prerequisites"
FAILED_STEP = "uninstall-old-wss-web-service@COLLAB01"
WSS = "Windows SharePoint Services Web Service"
SCENARIO = {
    "faults": [{"kind": "exit_code", "hosts": ["COLLAB01"], "op": "msi.uninstall", "nth": 1, "code": 1603}]
}


def _append_forged_done(lines: list[str]) -> list[str]:
    last = json.loads(lines[-1])
    forged = {"event": "step_finished", "outcome": "done", "seq": last["seq"] + 1, "step": FAILED_STEP}
    forged["ts"] = last["ts"]
    if "prev" in last:  # chained as the journal is: the forger knows the format
        forged["prev"] = hashlib.sha256(lines[-1].encode("utf-8")).hexdigest()
    return [*lines, json.dumps(forged, sort_keys=True, separators=(",", ":"))]


def _edit_failed_into_done(lines: list[str]) -> list[str]:
    (n,) = [i for i, line in enumerate(lines) if '"outcome":"failed"' in line]
    return [*lines[:n], lines[n].replace('"outcome":"failed"', '"outcome":"done"'), *lines[n + 1 :]]


def _swap_two_lines(lines: list[str]) -> list[str]:
    return [lines[0], lines[2], lines[1], *lines[3:]]


TAMPERINGS: list[tuple[str, Callable[[list[str]], list[str]], str]] = [
    ("a forged done line appended", _append_forged_done, "follows the run's end in the audit log"),
    ("the failed line edited into done", _edit_failed_into_done, "the journal's chain is broken there"),
    ("two lines swapped", _swap_two_lines, "line 2 (seq 3): the journal's chain is broken there"),
]


def test_a_tampered_journal_is_refused_on_resume_and_the_true_one_finishes(tmp_path: Path) -> None:
    lab = LabProcess.start(tmp_path, collab=1, first_address="127.0.89.1", scenario=SCENARIO)
    try:
        failed = lab.apply("--confirm", GATE)
        (run,) = list_runs(lab.runs_dir)
        original = run.journal_path.read_text(encoding="utf-8")
        before = {host: lab.host_state(host).mutations for host in lab.hosts()}
        refusals = []
        for name, tamper, _ in TAMPERINGS:
            run.journal_path.write_text("\n".join(tamper(original.splitlines())) + "\n", encoding="utf-8")
            resumed = lab.apply("--resume", run.run_id)
            refusals.append((name, resumed.returncode, resumed.stderr.splitlines()[:1]))
            run.journal_path.write_text(original, encoding="utf-8")
        after = {host: lab.host_state(host).mutations for host in lab.hosts()}
        finished = lab.apply("--resume", run.run_id)
        versions = [p["version"] for p in lab.state("COLLAB01")["products"] if p["name"] == WSS]
    finally:
        lab.stop()

    assert failed.returncode == 1, failed.stdout + failed.stderr
    for (name, code, first_line), (_, _, problem) in zip(refusals, TAMPERINGS, strict=True):
        assert code == 1, name
        assert first_line, name
        assert first_line[0].startswith(f"rollup: {run.journal_path}: line "), (name, first_line)
        assert problem in first_line[0], (name, first_line)
    assert after == before
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert versions == ["4.0.2491.0"]
