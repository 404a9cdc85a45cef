"""The journal's chain and its binding to the audit log (``rollup.engine.journal_bind``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rollup.audit.log import AuditLog
from rollup.engine.journal import Journal
from rollup.engine.journal_bind import JournalNotBound, check_bound
from rollup.engine.journal_state import Outcome

RUN_ID = "20261121T104512Z-3f9c"


def _run(folder: Path, *, finished: bool = True, unbound_tail: bool = False) -> tuple[Path, Path]:
    """A journal and audit log as a run writes them: each journal line, then its audit record."""
    folder.mkdir()
    journal_path, audit_path = folder / "journal.jsonl", folder / "audit.jsonl"
    with (
        Journal.open(journal_path) as journal,
        AuditLog.open(audit_path, run_id=RUN_ID) as audit,
    ):
        audit.bind_journal(lambda: journal.head)
        journal.run_started(run_id=RUN_ID, plan_fingerprint="f" * 64, operator="alice")
        audit.record("run_started")
        journal.step_started("install@MPS01", attempt=1)
        audit.record("step_started", step="install@MPS01")
        journal.step_finished("install@MPS01", outcome=Outcome.FAILED, exit_code=1603)
        audit.record("step_finished", step="install@MPS01", outcome="failed")
        if finished:
            journal.run_finished("failed")
            audit.run_finished(state="failed")
        if unbound_tail:
            journal.step_started("copy@MPS01", attempt=1)  # killed before its audit record
    return journal_path, audit_path


def test_an_untouched_journal_is_bound(tmp_path: Path) -> None:
    """What a run wrote passes, finished or cut short between a journal line and its audit record."""
    check_bound(*_run(tmp_path / "a", finished=True))
    check_bound(*_run(tmp_path / "b", finished=False, unbound_tail=True))


def test_an_edited_last_line_does_not_match_what_the_audit_log_pinned(tmp_path: Path) -> None:
    """The last line (nothing after it to break the chain) edited: the audit record's hash says so."""
    journal_path, audit_path = _run(tmp_path / "a", finished=False)
    lines = journal_path.read_text().splitlines()
    lines[-1] = lines[-1].replace('"outcome":"failed"', '"outcome":"done"')
    journal_path.write_text("\n".join(lines) + "\n")

    with pytest.raises(JournalNotBound, match=r"journal.jsonl: line 3: not the line audit record 3 recorded"):
        check_bound(journal_path, audit_path)


def test_a_journal_from_before_chaining_is_not_checked(tmp_path: Path) -> None:
    """Lines without ``prev`` (written by an earlier version) are read as they are."""
    journal_path = tmp_path / "journal.jsonl"
    journal_path.write_text(
        '{"event":"run_started","operator":"alice","pid":1,"plan_fingerprint":"f","run_id":"' + RUN_ID + '",'
        '"seq":1,"ts":"2026-11-21T10:45:12Z"}\n'
    )

    check_bound(journal_path, tmp_path / "audit.jsonl")
