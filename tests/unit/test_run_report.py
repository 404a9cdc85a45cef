"""
The run report's model and HTML from hand-made run directories: steps the run never started, a
failed step with what a host wrote, a damaged ``run.json``; the timeline's scale and labels.
(tests/integration/test_run_report.py checks both against a real lab run and a browser.)
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path

import pytest

from rollup.audit.log import AuditLog
from rollup.cli.main import main
from rollup.engine.journal import Journal
from rollup.engine.journal_state import Outcome
from rollup.engine.rundir import RunDir, RunFacts, create_run
from rollup.runreport.build import NOT_STARTED, build_report
from rollup.runreport.render import render_html, seconds, timeline

T0 = datetime(2026, 11, 21, 10, 45, 12, tzinfo=UTC)
HOSTILE = '<img src=x onerror="alert(1)"> & </td>'
PLAN = ["stop-services@MPS01", "install-msi@MPS01", "restart-iis@MPS01", "install-dns@DNS01"]


def _clock() -> Callable[[], datetime]:
    ticks = count()
    return lambda: T0 + timedelta(seconds=next(ticks))


def _failed_run(runs_dir: Path) -> RunDir:
    """MPS01's install fails after a retry (the host's message is markup); the rest never starts."""
    run = create_run(runs_dir, now=T0)
    run.write_facts(
        RunFacts(
            run_id=run.run_id,
            started_at=T0,
            operator="alice",
            control_host="ctl01",
            tool_version="0.1.0",
            inventory_source="inventory/lab.yml",
            inventory_digest="e" * 64,
            manifest_id="hmc40-rollup-2011-01",
            manifest_digest="d" * 64,
            plan_fingerprint="f" * 64,
            hosts=("MPS01", "DNS01"),
            options={"plan": {"steps": PLAN, "hosts": {"MPS01": ["deployment_tool"], "DNS01": ["dns"]}}},
        )
    )
    with (
        Journal.open(run.journal_path, clock=_clock()) as journal,
        AuditLog.open(run.audit_path, run_id=run.run_id) as audit,
    ):
        journal.run_started(run_id=run.run_id, plan_fingerprint="f" * 64, operator="alice")
        journal.step_started("stop-services@MPS01", attempt=1)
        audit.step_started(
            step="stop-services@MPS01", host="MPS01", operation="service", command="", attempt=1
        )
        journal.step_finished("stop-services@MPS01", outcome=Outcome.DONE, duration_s=1.0, summary="stopped")
        audit.step_finished(
            step="stop-services@MPS01", host="MPS01", operation="service", outcome="done", exit_code=None,
            duration_s=1.0,
        )  # fmt: skip
        journal.step_started("install-msi@MPS01", attempt=1)
        audit.record(
            "retry_scheduled", step="install-msi@MPS01", host="MPS01", attempt=1, wait_s=2.0, reason="1618"
        )
        journal.step_started("install-msi@MPS01", attempt=2)
        journal.step_finished(
            "install-msi@MPS01", outcome=Outcome.FAILED, exit_code=1603, retries=1, summary=HOSTILE
        )
        audit.step_finished(
            step="install-msi@MPS01", host="MPS01", operation="msi_install", outcome="failed", exit_code=1603,
            duration_s=3.0, retry_waits_s=[2.0], summary=HOSTILE,
        )  # fmt: skip
        journal.run_finished("failed", audit_head=audit.head)
    return run


def test_a_failed_run_lists_every_planned_step_and_what_never_started(tmp_path: Path) -> None:
    """Steps after the failure are `not started`, with a notice each; the failure is a notice too."""
    model = build_report(_failed_run(tmp_path))

    statuses = {step.id: step.status for step in model.steps}
    notices = [(n.kind, n.step) for n in model.notices]
    install = model.hosts[0].steps[1]

    assert [host.name for host in model.hosts] == ["MPS01", "DNS01"]
    assert statuses == {
        "stop-services@MPS01": "done",
        "install-msi@MPS01": "failed",
        "restart-iis@MPS01": NOT_STARTED,
        "install-dns@DNS01": NOT_STARTED,
    }
    assert model.counts == {"done": 1, "failed": 1, NOT_STARTED: 2}
    assert notices == [
        ("failed", "install-msi@MPS01"),
        (NOT_STARTED, "restart-iis@MPS01"),
        (NOT_STARTED, "install-dns@DNS01"),
    ]
    assert (install.kind, install.attempts, install.exit_code) == ("msi_install", 2, 1603)
    assert [(w.attempt, w.wait_s, w.reason) for w in install.retry_waits] == [(1, 2.0, "1618")]
    assert model.audit.intact
    assert model.audit.journal_head == model.audit.head


def test_the_html_of_a_failed_run_escapes_the_hosts_text(tmp_path: Path) -> None:
    """A summary that is markup stays text; no element comes from it."""
    html = render_html(build_report(_failed_run(tmp_path)))

    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt; &amp; &lt;/td&gt;" in html
    assert "<img" not in html
    assert 'data-step="install-dns@DNS01"' in html
    assert 'data-bar="install-dns@DNS01"' not in html  # never started: no bar


def test_a_damaged_run_json_is_a_problem_line_and_the_report_still_renders(tmp_path: Path) -> None:
    """As `rollup runs show`: the file that cannot be read is named, the rest is shown."""
    run = _failed_run(tmp_path)
    run.facts_path.write_text("{not json", encoding="utf-8")

    model = build_report(run)
    html = render_html(model)

    assert len(model.problems) == 1
    assert str(run.facts_path) in model.problems[0]
    assert [step.status for step in model.steps] == ["done", "failed"]
    assert "Problems reading the run" in html


def test_the_timeline_places_steps_on_the_runs_span(tmp_path: Path) -> None:
    """The journal's clock ticks a second per entry: the span is the run's, bars sit in order."""
    model = build_report(_failed_run(tmp_path))

    shown = timeline(model)

    assert shown is not None
    mps = shown.lanes[0]
    assert shown.span_s == (model.ended_at - T0).total_seconds()
    assert mps.bars[0].left < mps.bars[1].left
    assert all(bar.left >= 0 and bar.left + bar.width <= 100.5 for bar in mps.bars)
    assert [segment.css for segment in mps.bars[1].overlays] == ["retry", "attempt"]
    assert shown.ticks[0] == (0.0, "+0 s")


def test_durations_read_as_an_operator_says_them() -> None:
    assert [seconds(v) for v in (None, 0.04, 0.4, 2.0, 2.5, 9.96, 12.4, 185, 7260)] == [
        "-", "0 s", "0.4 s", "2 s", "2.5 s", "10 s", "12 s", "3 min 5 s", "2 h 1 min",
    ]  # fmt: skip


def test_rollup_report_writes_report_html_in_the_run_directory_by_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`rollup report last`: the file goes beside the run's journal, and its path is printed."""
    run = _failed_run(tmp_path)

    code = main(["report", "last", "--runs-dir", str(tmp_path)])

    assert code == 0
    assert capsys.readouterr().out == f"report of run {run.run_id}: {run.path / 'report.html'}\n"
    assert 'id="run-state">failed<' in (run.path / "report.html").read_text(encoding="utf-8")
