"""
A run's HTML report, from a real lab run through the CLI: a gate that waits (``--report`` on the
waiting run), an operator's confirmation with a note that is markup, a resume with ``--report``
in which COLLAB01's installer is busy once (a retry) and COLLAB02's install asks for a restart
(3010), then ``rollup verify --json`` and ``rollup report --verify``. The model is checked against
the journal and the audit log; the page is opened in headless Chromium (tests/integration/browser.py).
"""

from __future__ import annotations

import json
import shutil
import signal
import struct
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from rollup.audit.chain import verify_chain
from rollup.cli.main import main
from rollup.engine.journal import read_journal
from rollup.engine.journal_state import RunFinished, replay
from rollup.engine.rundir import RunDir, list_runs
from rollup.runreport.build import build_report
from rollup.runreport.model import RunReportModel
from rollup.runreport.verifydoc import read_verify
from rollup.testing.labproc import LabProcess, quick_manifest
from tests.integration.browser import chromium_missing, open_page

GATE = "confirm-prerequisites@MPS01"
NOTE = "<script>alert('note')</script> checked & done"
FAULTS = [
    {"kind": "installer_busy", "hosts": ["COLLAB01"], "op": "msi.install", "nth": 1, "seconds": 1},
    {"kind": "exit_code", "hosts": ["COLLAB02"], "op": "msi.install", "nth": 1, "code": 3010},
]


@dataclass(frozen=True)
class LabRun:
    run: RunDir
    hosts: list[str]
    waiting: Path
    """``--report`` of the first invocation, which stopped at the gate."""
    report: Path
    """``--report`` of the resume, which ended done."""
    verify: Path
    with_verify: Path
    outputs: dict[str, str]


@pytest.fixture(scope="module", name="ran")
def _ran(tmp_path_factory: pytest.TempPathFactory) -> LabRun:
    folder = tmp_path_factory.mktemp("report")
    lab = LabProcess.start(folder, collab=2, first_address="127.0.105.1", scenario={"faults": FAULTS})
    try:
        manifest = str(quick_manifest(folder / "manifest.yml"))
        waiting = lab.apply("--manifest", manifest, "--report", str(folder / "waiting.html"))
        (run,) = list_runs(lab.runs_dir)
        runs = ("--runs-dir", str(lab.runs_dir))
        confirmed = lab.rollup("confirm", run.run_id, GATE, "--note", NOTE, *runs)
        resumed = lab.apply("--resume", run.run_id, "--report", str(folder / "report.html"))
        verified = lab.rollup("verify", "--inventory", str(lab.inventory), "--json")
        hosts = lab.hosts()
    finally:
        lab.stop()
    (folder / "verify.json").write_text(verified.stdout, encoding="utf-8")
    with_verify = folder / "with-verify.html"
    reported = lab.rollup(
        "report", run.run_id, *runs, "--verify", str(folder / "verify.json"), "--out", str(with_verify)
    )
    assert waiting.returncode == 5, waiting.stdout + waiting.stderr
    assert confirmed.returncode == 0, confirmed.stdout + confirmed.stderr
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert verified.returncode == 3, verified.stdout + verified.stderr  # COLLAB02 waits for its restart
    assert reported.returncode == 0, reported.stdout + reported.stderr
    outputs = {"waiting": waiting.stdout, "resumed": resumed.stdout, "reported": reported.stdout}
    return LabRun(run, hosts, folder / "waiting.html", folder / "report.html", folder / "verify.json",
                 with_verify, outputs)  # fmt: skip


@pytest.fixture(name="model")
def _model(ran: LabRun) -> RunReportModel:
    return build_report(ran.run)


def test_the_model_has_every_planned_step_in_plan_order_with_its_journaled_status(
    ran: LabRun, model: RunReportModel
) -> None:
    """Hosts as run.json lists them, each with its steps in the plan's order and the journal's status."""
    facts = ran.run.read_facts()
    plan = facts.options["plan"]
    assert isinstance(plan, dict)
    state = replay(read_journal(ran.run.journal_path).entries)

    assert [host.name for host in model.hosts] == list(facts.hosts)
    for host in model.hosts:
        assert [step.id for step in host.steps] == [s for s in plan["steps"] if s.endswith(f"@{host.name}")]
    assert sorted(step.id for step in model.steps) == sorted(plan["steps"])
    assert {step.id: step.status for step in model.steps} == {
        s: r.status.value for s, r in state.steps.items()
    }
    assert (model.state, model.counts.get("not started")) == ("done", None)
    assert all(step.kind for step in model.steps)
    assert all(
        step.started_at and step.finished_at and step.started_at <= step.finished_at for step in model.steps
    )
    assert model.hosts[0].roles == ("deployment_tool", "mps_engine", "web_services")
    assert sorted(host.computer or "" for host in model.hosts) == sorted(ran.hosts)


def test_the_gate_wait_the_resume_and_the_retry_are_in_the_model(model: RunReportModel) -> None:
    """The gate waited from its step_waiting to the confirmation; the busy installer cost one retry."""
    steps = {step.id: step for step in model.steps}
    gate = steps[GATE]
    busy = steps["install-wss-web-service@COLLAB01"]
    (confirmation,) = model.confirmations

    assert (confirmation.step, confirmation.note) == (GATE, NOTE)
    assert len(gate.gate_waits) == 1
    assert gate.gate_waits[0].end == confirmation.at
    assert len(model.resumes) == 1
    assert model.resumes[0] > gate.gate_waits[0].start
    assert (busy.attempts, busy.retries, len(busy.attempt_starts)) == (2, 1, 2)
    assert "1618" in busy.retry_waits[0].reason
    assert busy.retry_waits[0].wait_s > 0
    assert busy.attempt_starts[0] < busy.retry_waits[0].start < busy.attempt_starts[1]


def test_notices_hold_the_pending_restart_and_the_skipped_step_with_why(
    ran: LabRun, model: RunReportModel
) -> None:
    """The restart notice is the one the operator saw (kept in the audit log); a skip says why."""
    notices = {(n.kind, n.step): n.text for n in model.notices}

    restart = notices["restart", "install-wss-web-service@COLLAB02"]
    assert restart.startswith("COLLAB02: msiexec exited 3010")
    assert restart in ran.outputs["resumed"]
    assert "offline address books" in notices["skipped", "shared-oab-utility@MPS01"]
    assert {kind for kind, _ in notices} == {"restart", "skipped"}


def test_the_audit_view_is_the_chain_the_journal_head_and_the_evidence(
    ran: LabRun, model: RunReportModel
) -> None:
    """The head is the chain's, and the journal's last run_finished kept the same one."""
    chain = verify_chain(ran.run.audit_path)
    finished = [e for e in read_journal(ran.run.journal_path).entries if isinstance(e, RunFinished)]
    on_disk = {e.name: e.sha256 for e in ran.run.evidence()}

    assert (model.audit.intact, model.audit.records, model.audit.head) == (True, chain.records, chain.head)
    assert model.audit.journal_head == finished[-1].audit_head == chain.head
    assert f"head {chain.head}" in ran.outputs["resumed"]
    assert {e.name: e.sha256 for e in model.evidence} == on_disk
    assert on_disk
    assert all(e.matches_record and e.step for e in model.evidence)


def test_a_replaced_evidence_file_is_shown_and_the_log_does_not_verify(ran: LabRun, tmp_path: Path) -> None:
    """A copy of the run whose evidence file was changed: its row says so, and the audit log is broken."""
    copy = RunDir(tmp_path / ran.run.run_id)
    shutil.copytree(ran.run.path, copy.path)
    changed = sorted(copy.evidence_dir.iterdir())[0]
    changed.write_text("nothing to see\n", encoding="utf-8")

    model = build_report(copy)

    row = next(e for e in model.evidence if e.name == changed.name)
    assert row.matches_record is False
    assert not model.audit.intact
    assert model.audit.problem is not None
    assert "evidence mismatch" in model.audit.problem


def test_the_verify_matrix_is_host_by_check_with_the_pending_restart_as_drift(ran: LabRun) -> None:
    """Every check of verify's document is one cell; COLLAB02's pending restart is its drift."""
    document = json.loads(ran.verify.read_text(encoding="utf-8"))

    matrix = read_verify(ran.verify)

    cells = {(row.group, row.name, host): cell for row in matrix.rows for host, cell in row.cells.items()}
    assert matrix.hosts == tuple(h["host"] for h in document["hosts"])
    assert len(cells) == sum(len(h["checks"]) for h in document["hosts"])
    drift = {key for key, cell in cells.items() if cell.status != "ok"}
    assert {host for _, _, host in drift} == {"COLLAB02"}
    assert cells["reboot", "pending restart", "COLLAB02"].status == "drift"


def test_the_html_escapes_what_hosts_and_operators_wrote_and_fetches_nothing(ran: LabRun) -> None:
    """The note's <script> is text; no src, href or CSS url() points anywhere (nor is there any script)."""
    html = ran.report.read_text(encoding="utf-8")

    assert "&lt;script&gt;alert(&#39;note&#39;)&lt;/script&gt; checked &amp; done" in html
    assert "<script" not in html.lower()
    for attribute in ("src=", "href=", "url(", "@import"):
        assert attribute not in html.lower(), attribute
    assert f"report: {ran.report}" in ran.outputs["resumed"]


def test_the_waiting_run_got_its_report_too(ran: LabRun) -> None:
    """--report on an invocation that stops at a gate (exit 5) still writes the file, waiting then."""
    html = ran.waiting.read_text(encoding="utf-8")

    assert f"report: {ran.waiting}" in ran.outputs["waiting"]
    assert 'id="run-state">waiting<' in html
    assert "not started" in html


@pytest.mark.skipif(bool(chromium_missing()), reason=chromium_missing() or "")
def test_the_report_renders_in_chromium_with_every_host_and_step(ran: LabRun, tmp_path: Path) -> None:
    """No console error, a real screenshot, and the DOM lists every host and every journaled step."""
    journaled = list(replay(read_journal(ran.run.journal_path).entries).steps)
    shot = tmp_path / "report.png"

    page = open_page(ran.with_verify, shot)

    assert page.severe == [], page.severe
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height > 2000) == (1400, True)
    assert len(png) > 30_000
    assert page.lanes == page.host_rows == list(ran.run.read_facts().hosts)
    assert sorted(page.verify_hosts) == sorted(ran.hosts)
    assert page.step_rows == [step.id for step in build_report(ran.run).steps]
    assert sorted(page.step_rows) == sorted(journaled)
    assert sorted(page.bars) == sorted(journaled)
    assert page.audit_head == verify_chain(ran.run.audit_path).head


def test_report_of_an_unknown_run_is_one_line_and_exit_2(
    ran: LabRun, capsys: pytest.CaptureFixture[str]
) -> None:
    """As `rollup runs show`: the runs folder and the id, then the hint to list the runs."""
    runs = str(ran.run.path.parent)

    code = main(["report", "19990101T000000Z-0000", "--runs-dir", runs])
    refused = main(["report", ran.run.run_id, "--runs-dir", runs, "--verify", str(ran.run.facts_path)])

    err = capsys.readouterr().err.splitlines()
    assert (code, refused) == (2, 2)
    assert err[0] == f"rollup: {runs}: no run '19990101T000000Z-0000'"
    assert err[1].startswith("hint: ")
    assert err[2].startswith(f"rollup: --verify {ran.run.facts_path}: not a `rollup verify --json` document")
    assert ran.outputs["reported"].strip() == f"report of run {ran.run.run_id}: {ran.with_verify}"


def test_an_interrupted_apply_still_writes_its_report(tmp_path: Path) -> None:
    """Ctrl-C mid-run (exit 130): --report is written, the run `interrupted`, its unfinished steps shown."""
    lab = LabProcess.start(tmp_path, collab=2, first_address="127.0.106.1")
    try:
        out = tmp_path / "interrupted.html"
        process = lab.apply_process("--confirm", "confirm-prerequisites", "--report", str(out), output=True)
        deadline = time.monotonic() + 120
        while _finished_steps(lab) < 3 and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        lab.stop()
    (run,) = list_runs(lab.runs_dir)
    model = build_report(run)

    assert process.returncode == 130, stdout + stderr
    assert f"report: {out}" in stdout
    html = out.read_text(encoding="utf-8")
    assert 'id="run-state">interrupted<' in html
    assert model.state == "interrupted"
    assert model.counts.get("not started", 0) > 0
    assert all(f'data-step="{step.id}"' in html for step in model.steps)


def _finished_steps(lab: LabProcess) -> int:
    runs = list_runs(lab.runs_dir)
    if not runs or not runs[0].journal_path.exists():
        return 0
    return runs[0].journal_path.read_text(encoding="utf-8").count('"event":"step_finished"')
