"""
Rehearsal records (written once, read back, the pass rule) and the drills (seeded strike points,
progress from a journal, the verdicts of kill-resume and host-down).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from rollup.audit.log import AuditLog
from rollup.engine.journal import Journal
from rollup.engine.journal_state import Outcome
from rollup.rehearsal.drills import DrillPlan, judge_host_down, judge_kill_resume, plan_drills, read_progress
from rollup.rehearsal.record import (
    DrillRecord,
    PlanShape,
    RehearsalRecord,
    StageRecord,
    read_records,
    rehearsal_passed,
    rehearsals_dir,
    write_record,
)

NOW = datetime(2011, 3, 21, 9, 30, tzinfo=UTC)
STEPS = {"a@MPS01": "MPS01", "b@MPS01": "MPS01", "c@DNS01": "DNS01", "d@COLLAB01": "COLLAB01"}


def stages(**results: str) -> list[StageRecord]:
    names = ("snapshot", "preflight", "apply", "verify", "revert", "cleanup")
    return [StageRecord(name=n, result=results.get(n, "passed")) for n in names]  # type: ignore[arg-type]


def drill(result: str) -> DrillRecord:
    return DrillRecord(name="kill-resume", result=result, detail="", after_steps=3)  # type: ignore[arg-type]


def test_the_pass_rule_wants_every_stage_every_drill_and_a_revert_or_keep() -> None:
    """Preflight, apply, verify and drills must pass; the revert must pass, or be skipped with keep."""
    assert rehearsal_passed(stages(), [drill("passed")], keep=False)
    assert rehearsal_passed(stages(revert="skipped", cleanup="skipped"), [], keep=True)
    assert rehearsal_passed(stages(cleanup="failed"), [], keep=False)
    assert not rehearsal_passed(stages(revert="skipped"), [], keep=False)
    assert not rehearsal_passed(stages(revert="failed"), [], keep=True)
    assert not rehearsal_passed(stages(verify="failed"), [], keep=False)
    assert not rehearsal_passed(stages(preflight="skipped"), [], keep=False)
    assert not rehearsal_passed(stages(), [drill("failed")], keep=False)


def record(rehearsal_id: str) -> RehearsalRecord:
    return RehearsalRecord(
        rehearsal_id=rehearsal_id, result="passed", started_at=NOW, finished_at=NOW, tool_version="0.1.0",
        operator="op", control_host="ctl", simulated=True, seed=7, inventory_source="lab.yml",
        inventory_digest="c" * 64, manifest_id="m", manifest_digest="a" * 64,
        plan=PlanShape(fingerprint="f" * 64, roles={"dns": 1}, hosts=1, steps=4), stages=tuple(stages()),
        drills=(drill("passed"),), snapshot=None, run_id=None, audit_head=None,
    )  # fmt: skip


def test_records_are_written_once_beside_the_runs_directory_and_read_back_in_order(tmp_path: Path) -> None:
    """``rehearsals/`` sits beside ``runs/``; a record is never replaced; stray files are reported."""
    folder = rehearsals_dir(tmp_path / ".rollup" / "runs")
    second = write_record(folder, record("20110321T093001Z-0002"))
    write_record(folder, record("20110321T093000Z-0001"))
    (folder / "notes.json").write_text("{}", encoding="utf-8")

    found, unreadable = read_records(folder)

    assert folder == tmp_path / ".rollup" / "rehearsals"
    assert second.name == "20110321T093001Z-0002.json"
    assert [r.rehearsal_id for _, r in found] == ["20110321T093000Z-0001", "20110321T093001Z-0002"]
    assert found[1][1] == record("20110321T093001Z-0002")
    assert [u.path.name for u in unreadable] == ["notes.json"]
    with pytest.raises(FileExistsError):
        write_record(folder, record("20110321T093000Z-0001"))


def test_drills_strike_at_seeded_points_and_hosts() -> None:
    """The same seed gives the same points and host; the points fall in their parts of the plan."""
    first = plan_drills(("kill-resume", "host-down"), seed=11, steps=100)
    again = plan_drills(("host-down", "kill-resume"), seed=11, steps=100)
    only_kill = plan_drills(("kill-resume",), seed=11, steps=100)

    assert first == again
    assert 20 <= (first.kill_after or 0) <= 60
    assert 25 <= (first.down_after or 0) <= 50
    assert only_kill.names() == ("kill-resume",)
    assert first.choose_host({"DNS01", "MPS01", "COL1"}) == again.choose_host({"COL1", "MPS01", "DNS01"})
    assert first.choose_host({"DNS01", "MPS01"}, running={"COL1"}) == "COL1"
    assert first.choose_host(set()) is None


def write_run(path: Path, events: list[tuple[str, str | None, Outcome | None]]) -> None:
    with Journal.open(path) as journal:
        for event, step, outcome in events:
            if event == "start":
                journal.run_started(run_id="r1", plan_fingerprint="f", operator="op")
            elif event == "resume":
                journal.run_resumed(run_id="r1", operator="op")
            elif event == "step" and step is not None:
                journal.step_started(step, attempt=1)
                if outcome is not None:
                    journal.step_finished(step, outcome=outcome, retries=1 if step.startswith("c") else 0)
            elif event == "end":
                journal.run_finished("done")


def test_progress_counts_finished_steps_and_the_hosts_still_to_come(tmp_path: Path) -> None:
    """Finished steps, the ones a resume keeps, retries, and hosts with steps left."""
    path = tmp_path / "journal.jsonl"
    write_run(path, [
        ("start", None, None), ("step", "a@MPS01", Outcome.DONE), ("step", "c@DNS01", Outcome.NOOP),
        ("step", "b@MPS01", None),
    ])  # fmt: skip

    progress = read_progress(path, STEPS)

    assert progress.finished == 2
    assert progress.kept == {"a@MPS01", "c@DNS01"}
    assert progress.pending_hosts == {"MPS01", "COLLAB01"}
    assert progress.running_hosts == {"MPS01"}
    assert progress.retries == 1


def audit(path: Path) -> Path:
    with AuditLog.open(path, run_id="r1") as log:
        log.record("run_started", operator="op")
    return path


def test_kill_resume_passes_when_nothing_kept_runs_again(tmp_path: Path) -> None:
    """A step running at the kill may start again; the run ends done; the audit log verifies."""
    path = tmp_path / "journal.jsonl"
    write_run(path, [
        ("start", None, None), ("step", "a@MPS01", Outcome.DONE), ("step", "b@MPS01", None),
        ("resume", None, None), ("step", "b@MPS01", Outcome.NOOP), ("step", "c@DNS01", Outcome.DONE),
        ("step", "d@COLLAB01", Outcome.DONE), ("end", None, None),
    ])  # fmt: skip

    verdict = judge_kill_resume(journal=path, audit_log=audit(tmp_path / "audit.jsonl"), killed_after=1,
                                kept_at_kill=frozenset({"a@MPS01"}), state="done", total=4)  # fmt: skip

    assert verdict.result == "passed"
    assert verdict.detail == (
        "killed (SIGKILL) after 1 of 4 steps had finished; resumed to done; none of the 1 steps finished "
        "before the kill ran again; the audit log verifies (1 records)"
    )


def test_kill_resume_fails_when_a_finished_step_runs_again(tmp_path: Path) -> None:
    """A step done before the kill and started again after the resume is named."""
    path = tmp_path / "journal.jsonl"
    write_run(path, [("start", None, None), ("step", "a@MPS01", Outcome.DONE), ("resume", None, None),
                     ("step", "a@MPS01", Outcome.DONE), ("end", None, None)])  # fmt: skip

    verdict = judge_kill_resume(journal=path, audit_log=audit(tmp_path / "audit.jsonl"), killed_after=1,
                                kept_at_kill=frozenset({"a@MPS01"}), state="done", total=4)  # fmt: skip
    missed = judge_kill_resume(journal=path, audit_log=tmp_path / "audit.jsonl", killed_after=None,
                               kept_at_kill=frozenset(), state="done", total=4)  # fmt: skip

    assert verdict.result == "failed"
    assert verdict.detail == "1 step(s) finished before the kill ran again: a@MPS01"
    assert (missed.result, missed.detail) == ("failed", "the run ended before the drill could kill it")


def down(*, back: bool = True, state: str = "done", resumed: bool = False, retries: int = 0,
         host: str | None = "DNS01") -> DrillRecord:  # fmt: skip
    after = 5 if host is not None else None
    return judge_host_down(host=host, after=after, seconds=3.0, back=back, state=state, resumed=resumed,
                           retries=retries)  # fmt: skip


def test_host_down_passes_only_when_the_host_came_back_and_the_run_finished() -> None:
    """Done after the outage passes (with retries or a resume); a run that did not finish fails."""
    rode, resumed = down(retries=2), down(resumed=True)
    failed, gone, missed = down(state="failed", resumed=True), down(back=False), down(host=None)

    assert (rode.result, rode.host, rode.after_steps) == ("passed", "DNS01", 5)
    assert rode.detail == (
        "DNS01 went down for 3 s after 5 steps; the run finished done, riding it out with 2 retries"
    )
    assert resumed.detail.endswith("after one resume once it was back")
    assert (failed.result, gone.result, missed.result) == ("failed", "failed", "failed")
    assert missed.detail == "the run ended before the drill could take a host down"


def test_a_drill_plan_without_drills_strikes_nowhere() -> None:
    """No drill asked: no points."""
    plan = plan_drills((), seed=1, steps=40)

    assert plan == DrillPlan(seed=1)
    assert plan.names() == ()
