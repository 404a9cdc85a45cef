"""
Guided failure through the real CLI on the simulated lab: ``rollup apply --on-failure pause``, a
failed install on COLLAB01 (msiexec 1603, injected by the lab's fault rules, first call only), and
each decision: with no terminal (exit 5, ``rollup decide``, ``--resume``) and on a terminal (a pty).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import select
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from rollup.engine.journal import read_journal
from rollup.engine.journal_state import StepStatus, replay
from rollup.engine.rundir import RunDir, list_runs, operator_name
from rollup.lab.store import FileStateStore
from rollup.schemas import schema
from rollup.testing.labproc import ROOT, LabProcess

GATE = "confirm-prerequisites"
FAILED = "install-wss-web-service@COLLAB01"
AFTER = ("collab-iis-restart@COLLAB01", "shared-oab-utility@MPS01", "restart-provisioning-engine@MPS01")
_ranges = itertools.count()


@pytest.fixture(name="lab")
def _lab(tmp_path: Path) -> Iterator[LabProcess]:
    faults = [{"kind": "exit_code", "hosts": ["COLLAB01"], "op": "msi.install", "nth": 1, "code": 1603}]
    address = f"127.0.151.{1 + 10 * next(_ranges)}"
    lab = LabProcess.start(tmp_path, collab=2, first_address=address, scenario={"faults": faults})
    yield lab
    lab.stop()


def _paused(lab: LabProcess) -> tuple[subprocess.CompletedProcess[str], RunDir]:
    """A run with --on-failure pause and no terminal: it stops at COLLAB01's failed install."""
    waiting = lab.apply("--confirm", GATE, "--on-failure", "pause")
    (run,) = list_runs(lab.runs_dir)
    return waiting, run


def _decide(
    lab: LabProcess, run: RunDir, decision: str, step: str = FAILED
) -> subprocess.CompletedProcess[str]:
    return lab.rollup(
        "decide", run.run_id, step, decision, "--note", "CHG-42", "--runs-dir", str(lab.runs_dir)
    )


def _audit(run: RunDir, event: str) -> list[dict[str, Any]]:
    records = [json.loads(line) for line in run.audit_path.read_text().splitlines()]
    return [r for r in records if r["event"] == event]


def _outcomes(document: str) -> dict[str, tuple[str, str]]:
    data = json.loads(document)
    jsonschema.validate(data, schema("apply"))
    return {s["id"]: (s["outcome"], s["summary"]) for s in data["steps"]}


def test_without_a_terminal_a_failure_waits_and_skip_ends_done_with_exceptions(
    lab: LabProcess, tmp_path: Path
) -> None:
    """Exit 5 naming both commands; `decide skip` is audited with the operator; the resume exits 6."""
    waiting, run = _paused(lab)
    state = replay(read_journal(run.journal_path).entries, is_live=False)
    decided = _decide(lab, run, "skip")
    junit = tmp_path / "apply.xml"
    resumed = lab.apply("--resume", run.run_id, "--json", "--junit", str(junit))
    after = replay(read_journal(run.journal_path).entries, is_live=False)
    outcomes = _outcomes(resumed.stdout)
    shown = lab.rollup("runs", "show", run.run_id, "--runs-dir", str(lab.runs_dir))
    listed = lab.rollup("runs", "list", "--runs-dir", str(lab.runs_dir), "--json")
    page = tmp_path / "report.html"
    reported = lab.rollup("report", run.run_id, "--runs-dir", str(lab.runs_dir), "--out", str(page))
    root = ET.parse(junit).getroot()  # noqa: S314 - rollup's own output, parsed to check it
    skipped = {case.get("name"): case.find("skipped") for case in root.iter("testcase")}
    output = waiting.stdout + waiting.stderr
    rd = f"--runs-dir {lab.runs_dir}"

    assert waiting.returncode == 5, output
    assert "install-wss-web-service@COLLAB01: failed (exit 1603)" in waiting.stdout
    assert "MainEngineThread is returning 1603" in waiting.stdout
    assert (
        f"rollup decide {run.run_id} {FAILED} retry|skip|exclude|abort [--note TEXT] {rd}" in waiting.stderr
    )
    assert f"rollup apply --resume {run.run_id} {rd}" in waiting.stderr
    assert state.status(FAILED) is StepStatus.AWAITING_DECISION
    assert state.status("collab-iis-restart@COLLAB02").value == "done"
    assert decided.returncode == 0, decided.stderr
    assert f"decided skip for {FAILED} of run {run.run_id} as {operator_name()}" in decided.stdout
    assert resumed.returncode == 6, resumed.stderr
    assert f"run {run.run_id} done with exceptions: skipped by an operator: {FAILED}" in resumed.stderr
    assert json.loads(resumed.stdout)["state"] == "done-with-exceptions"
    jsonschema.validate(json.loads(resumed.stdout), schema("apply"))
    assert outcomes[FAILED] == ("skipped-by-operator", f"skipped by an operator, {operator_name()} (CHG-42)")
    for step in AFTER:
        assert outcomes[step] == ("blocked", f"not started: {FAILED} was skipped by an operator"), step
        assert after.status(step) is StepStatus.PENDING, step
    assert "skipped by an operator" in resumed.stderr  # the summary table
    assert after.run_state.value == "done-with-exceptions"
    assert [(r["step"], r["decision"], r["by"], r["note"]) for r in _audit(run, "decision_recorded")] == [
        (FAILED, "skip", operator_name(), "CHG-42")
    ]
    assert lab.rollup("audit", "verify", str(run.audit_path)).returncode == 0
    assert f"run {run.run_id}: done-with-exceptions" in shown.stdout
    assert f"{FAILED}: skip by {operator_name()}" in shown.stdout
    assert json.loads(listed.stdout)["runs"][0]["state"] == "done-with-exceptions"
    assert skipped[FAILED] is not None
    assert "skipped by an operator" in skipped[FAILED].get("message", "")
    assert reported.returncode == 0, reported.stderr
    html = page.read_text(encoding="utf-8")
    decision = f'<tr data-decision="{FAILED}"><td><code>{FAILED}</code></td><td>skip</td>'
    assert f"{decision}<td>{operator_name()}</td>" in html
    assert 'id="run-state">done-with-exceptions</span>' in html
    assert ">skipped-by-operator</span>" in html
    assert lab.state("COLLAB01")["products"] == []
    assert "iis.reset" not in lab.host_state("COLLAB01").operations


def test_exclude_leaves_the_host_out_and_the_run_ends_done_with_exceptions(lab: LabProcess) -> None:
    """
    `decide exclude`: every step of COLLAB01 not done is excluded, steps after them do not start,
    and the resume's pre-flight leaves COLLAB01 out (a restart pending there refuses nothing).
    Once COLLAB01 is mended, a new run brings it in (docs/apply.md): its pre-flight refuses it, the
    component the failed install removed being absent, so it starts with --skip-preflight and a
    reason; COLLAB01's install and IIS restart run, and the Provisioning Engine restart the
    exclusion had kept from starting runs as a no-op (nothing changed on MPS01).
    """
    waiting, run = _paused(lab)
    decided = _decide(lab, run, "exclude")
    with FileStateStore(lab.state_dir / "hosts", lab.hosts()).update("COLLAB01") as collab:
        collab.pending_reboot.append("PendingFileRenameOperations")
    resumed = lab.apply("--resume", run.run_id, "--json")
    outcomes = _outcomes(resumed.stdout)
    shown = lab.rollup("runs", "show", run.run_id, "--runs-dir", str(lab.runs_dir), "--json")

    assert waiting.returncode == 5, waiting.stderr
    assert decided.returncode == 0, decided.stderr
    assert resumed.returncode == 6, resumed.stderr
    assert "excluded: COLLAB01" in resumed.stderr
    assert outcomes[FAILED][0] == "excluded"
    assert outcomes["collab-iis-restart@COLLAB01"] == (
        "excluded",
        f"not started: COLLAB01 was excluded by an operator, {operator_name()} (CHG-42)",
    )
    assert outcomes["restart-provisioning-engine@MPS01"] == (
        "blocked",
        "not started: COLLAB01 was excluded by an operator",
    )
    assert json.loads(shown.stdout)["excluded_hosts"] == ["COLLAB01"]
    assert [(r["decision"], r["by"]) for r in _audit(run, "decision_recorded")] == [
        ("exclude", operator_name())
    ]
    assert "iis.reset" not in lab.host_state("COLLAB01").operations

    with FileStateStore(lab.state_dir / "hosts", lab.hosts()).update("COLLAB01") as collab:
        collab.pending_reboot.clear()
    refused = lab.apply("--confirm", GATE)
    reason = "COLLAB01 rejoins after CHG-42"
    rejoined = lab.apply("--confirm", GATE, "--json", "--skip-preflight", "--reason", reason)
    assert refused.returncode == 1, refused.stderr
    assert (
        "COLLAB01: HMC 4.0: 0 of 1 installed [fail] (not installed: SharePoint 2007 Provider Web Services)"
        in (refused.stdout)
    )
    assert rejoined.returncode == 0, rejoined.stderr
    again = _outcomes(rejoined.stdout)

    assert again[FAILED][0] == "done"
    assert again["collab-iis-restart@COLLAB01"][0] == "done"
    assert again["restart-provisioning-engine@MPS01"][0] == "noop"  # nothing changed on MPS01
    assert again["install-wss-web-service@COLLAB02"][0] == "noop"
    assert "iis.reset" in lab.host_state("COLLAB01").operations


def test_retry_after_the_fault_cleared_ends_done(lab: LabProcess) -> None:
    """The lab's fault fires once: `decide retry` then `--resume` installs, as attempt 2, and exits 0."""
    _paused(lab)
    (run,) = list_runs(lab.runs_dir)
    decided = _decide(lab, run, "retry")
    resumed = lab.apply("--resume", run.run_id)
    state = replay(read_journal(run.journal_path).entries, is_live=False)

    assert decided.returncode == 0, decided.stderr
    assert resumed.returncode == 0, resumed.stderr + resumed.stdout
    assert state.run_state.value == "done"
    assert state.steps[FAILED].status is StepStatus.DONE
    assert state.steps[FAILED].attempt == 2
    assert [r["decision"] for r in _audit(run, "decision_recorded")] == ["retry"]


def test_abort_ends_the_run_failed_and_decide_refuses_a_step_that_did_not_fail(lab: LabProcess) -> None:
    """`decide` on a step that did not fail is one line, exit 2; `abort` then `--resume` ends failed."""
    _, run = _paused(lab)
    refused = _decide(lab, run, "skip", step="install-wss-web-service@COLLAB02")
    decided = _decide(lab, run, "abort")
    resumed = lab.apply("--resume", run.run_id)
    listed = lab.rollup("runs", "list", "--runs-dir", str(lab.runs_dir), "--json")

    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert refused.stderr.splitlines()[0] == (
        f"rollup: run {run.run_id}: install-wss-web-service@COLLAB02 is not failed nor waiting for a "
        f"decision (failed: {FAILED})"
    )
    assert decided.returncode == 0, decided.stderr
    assert resumed.returncode == 1, resumed.stderr
    assert f"the run was aborted here by an operator, {operator_name()} (CHG-42)" in resumed.stderr
    assert json.loads(listed.stdout)["runs"][0]["state"] == "failed"
    assert "install-wss-web-service" not in " ".join(lab.host_state("COLLAB01").operations[-1:])
    assert "c:\\configshare\\rollup.lock" not in lab.host_state("MPS01").files


def _ansi_free(data: bytes) -> str:
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", data.decode("utf-8", "replace"))


def _on_a_terminal(lab: LabProcess, answers: list[tuple[str, str]], *args: str) -> tuple[int, str]:
    """
    ``rollup apply ARGS`` with a pty as its terminal (stdin, stdout and stderr): each time the
    output shows a prompt of ``answers``, the answer is typed. Returns the exit code and the output.
    """
    leader, follower = os.openpty()
    command = [sys.executable, "-m", "rollup", "apply", "--inventory", str(lab.inventory),
               "--runs-dir", str(lab.runs_dir), *args]  # fmt: skip
    process = subprocess.Popen(
        command, cwd=ROOT, env=lab.env, stdin=follower, stdout=follower, stderr=follower, close_fds=True
    )
    os.close(follower)
    seen, pending, deadline = b"", list(answers), time.monotonic() + 240
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(leader, 65536)
                except OSError:  # the process closed the terminal
                    break
                if not chunk:
                    break
                seen += chunk
            if pending and pending[0][0] in _ansi_free(seen).rsplit("\n", 1)[-1]:
                os.write(leader, (pending.pop(0)[1] + "\n").encode())
                seen += b"\n"
            if process.poll() is not None and not ready:
                break
        return process.wait(timeout=60), _ansi_free(seen)
    finally:
        if process.poll() is None:
            process.kill()
        os.close(leader)


def test_on_a_terminal_the_operator_decides_at_once_and_retry_is_a_new_attempt(lab: LabProcess) -> None:
    """The failure's details, then the question; `retry` runs attempt 2 at once, the run ends done."""
    code, output = _on_a_terminal(
        lab, [("Decision", "retry"), ("Note for the audit log", "tried again")],
        "--confirm", GATE, "--on-failure", "pause",
    )  # fmt: skip
    (run,) = list_runs(lab.runs_dir)
    state = replay(read_journal(run.journal_path).entries, is_live=False)
    decisions = _audit(run, "decision_recorded")

    assert code == 0, output
    assert "install-wss-web-service@COLLAB01: failed (exit 1603)" in output
    assert "MainEngineThread is returning 1603" in output
    assert "Decision (retry, skip, exclude, abort)" in output
    assert state.steps[FAILED].status is StepStatus.DONE
    assert state.steps[FAILED].attempt == 2
    assert [(d["decision"], d["by"], d["note"]) for d in decisions] == [
        ("retry", operator_name(), "tried again")
    ]


def test_on_a_terminal_skip_leaves_the_steps_after_it_out(lab: LabProcess) -> None:
    """`skip` on the terminal: no exit 5, no `rollup decide`; the run ends done-with-exceptions, exit 6."""
    code, output = _on_a_terminal(
        lab,
        [("Decision", "skip"), ("Note for the audit log", "")],
        "--confirm",
        GATE,
        "--on-failure",
        "pause",
    )
    (run,) = list_runs(lab.runs_dir)
    state = replay(read_journal(run.journal_path).entries, is_live=False)

    assert code == 6, output
    assert "done with exceptions" in output
    assert state.status(FAILED) is StepStatus.SKIPPED_BY_OPERATOR
    assert state.run_state.value == "done-with-exceptions"
    for step in AFTER:
        assert state.status(step) is StepStatus.PENDING, step
    assert [d["decision"] for d in _audit(run, "decision_recorded")] == ["skip"]
