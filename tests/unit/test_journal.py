"""The run journal: durable, fsynced appends; torn last lines survive; parallel writers share it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from rollup.audit import durable
from rollup.audit.redact import SecretRegistry
from rollup.engine.journal import Journal, read_journal
from rollup.engine.journal_state import Outcome, RunState, StepFinished, StepStarted, StepStatus
from rollup.errors import RollupError

ROOT = Path(__file__).resolve().parents[2]
RUN_ID = "20261121T104512Z-3f9c"
T0 = datetime(2026, 11, 21, 10, 45, 12, tzinfo=UTC)


def _journal(path: Path, registry: SecretRegistry | None = None) -> Journal:
    return Journal.open(path, registry=registry, clock=lambda: T0)


def test_entries_are_written_and_read_back_typed(tmp_path: Path) -> None:
    """Each call appends one line; reading gives the same typed entries with seq and ts."""
    path = tmp_path / "journal.jsonl"
    with _journal(path) as journal:
        journal.run_started(run_id=RUN_ID, plan_fingerprint="f" * 64, operator="alice")
        journal.step_started("install@MPS01", attempt=1)
        journal.step_finished("install@MPS01", outcome=Outcome.DONE, exit_code=0, duration_s=1.23456)

    read = read_journal(path)

    assert read.torn is None
    assert [entry.seq for entry in read.entries] == [1, 2, 3]
    assert [entry.event for entry in read.entries] == ["run_started", "step_started", "step_finished"]
    assert read.entries[1] == StepStarted(seq=2, ts=T0, step="install@MPS01", attempt=1, prev=read.hashes[0])
    assert isinstance(read.entries[2], StepFinished)
    assert read.entries[2].duration_s == 1.235
    assert path.read_text().splitlines()[1] == (
        '{"attempt":1,"event":"step_started","prev":"' + read.hashes[0] + '","seq":2,'
        '"step":"install@MPS01","ts":"2026-11-21T10:45:12Z"}'
    )


def test_every_append_is_fsynced_before_it_returns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The file is fsynced once per entry, after its bytes are written; a new file's directory too."""
    synced: list[int] = []
    dirs: list[Path] = []
    real_fsync = os.fsync
    path = tmp_path / "journal.jsonl"

    def fsync(fd: int) -> None:
        synced.append(os.fstat(fd).st_size)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(durable, "fsync_dir", dirs.append)
    with _journal(path) as journal:
        sizes = []
        for attempt in (1, 2, 3):
            journal.step_started("install@MPS01", attempt=attempt)
            sizes.append(path.stat().st_size)

    assert synced == sizes
    assert dirs == [tmp_path]


def test_a_torn_last_line_is_ignored_and_reported(tmp_path: Path) -> None:
    """A half-written last line (a crash) is not an error: the complete entries replay."""
    path = tmp_path / "journal.jsonl"
    with _journal(path) as journal:
        journal.run_started(run_id=RUN_ID, plan_fingerprint="f" * 64, operator="alice")
        journal.step_started("install@MPS01", attempt=1)
    with path.open("ab") as handle:
        handle.write(b'{"event":"step_finished","outcome":"do')

    read = read_journal(path)
    state = _journal(path).state(is_live=False)

    assert len(read.entries) == 2
    assert read.torn is not None
    assert (read.torn.line, read.torn.size_bytes) == (3, 38)
    assert state.status("install@MPS01") is StepStatus.RUNNING
    assert state.run_state is RunState.INTERRUPTED


def test_reopening_cuts_the_torn_line_and_continues(tmp_path: Path) -> None:
    """A resume appends after the last complete line, with the next seq; the file reads cleanly."""
    path = tmp_path / "journal.jsonl"
    with _journal(path) as journal:
        journal.run_started(run_id=RUN_ID, plan_fingerprint="f" * 64, operator="alice")
    with path.open("ab") as handle:
        handle.write(b'{"event":"step_sta')

    with _journal(path) as journal:
        torn = journal.existing.torn
        journal.run_resumed(run_id=RUN_ID, operator="bob")
    read = read_journal(path)

    assert torn is not None
    assert read.torn is None
    assert [(e.seq, e.event) for e in read.entries] == [(1, "run_started"), (2, "run_resumed")]


def test_a_damaged_line_before_the_last_is_an_error(tmp_path: Path) -> None:
    """Only the last line can be torn by a crash; damage elsewhere names the file and line."""
    path = tmp_path / "journal.jsonl"
    with _journal(path) as journal:
        journal.step_started("a@H1", attempt=1)
        journal.step_started("b@H1", attempt=1)
    lines = path.read_text().splitlines()
    path.write_text(lines[0].replace('"attempt":1', '"attempt":0') + "\n" + lines[1] + "\n")

    with pytest.raises(RollupError, match=r"journal.jsonl: line 1: not a journal entry: .*attempt"):
        read_journal(path)


def test_summaries_and_notes_are_redacted(tmp_path: Path) -> None:
    """A secret in a summary, a checklist or a note never reaches the journal file."""
    path = tmp_path / "journal.jsonl"
    registry = SecretRegistry(["S3cret!pw"])
    with _journal(path, registry) as journal:
        entry = journal.step_finished("a@H1", outcome=Outcome.FAILED, exit_code=1, summary="bad S3cret!pw")
        journal.step_waiting("gate@H1", checklist=["type S3cret!pw"])
        journal.gate_confirmed("gate@H1", by="alice", note="S3cret!pw ok")

    assert isinstance(entry, StepFinished)
    assert entry.summary == "bad ***"
    assert "S3cret" not in path.read_text()


def test_parallel_appends_get_unique_contiguous_seqs(tmp_path: Path) -> None:
    """Host workers appending at once never interleave bytes or reuse a seq."""
    path = tmp_path / "journal.jsonl"
    with _journal(path) as journal:

        def work(worker: int) -> None:
            for n in range(50):
                journal.step_started(f"s{n}@HOST{worker}", attempt=1)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    read = read_journal(path)

    assert [entry.seq for entry in read.entries] == list(range(1, 301))
    assert read.torn is None


_WRITER = """
import sys
from pathlib import Path
from rollup.engine.journal import Journal

journal = Journal.open(Path(sys.argv[1]))
n = 0
while True:
    n += 1
    journal.step_started(f"step-{n}@HOST", attempt=1)
    print(n, flush=True)
"""


def test_sigkill_at_any_instant_leaves_every_returned_entry(tmp_path: Path) -> None:
    """A writer killed with SIGKILL mid-stream loses nothing it had returned from; the journal reads."""
    path = tmp_path / "journal.jsonl"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT
    )
    assert proc.stdout is not None
    returned = 0
    while returned < 200:
        line = proc.stdout.readline()
        assert line, "the writer exited early"
        returned = int(line)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()

    read = read_journal(path)

    assert len(read.entries) >= returned
    assert [entry.seq for entry in read.entries] == list(range(1, len(read.entries) + 1))
