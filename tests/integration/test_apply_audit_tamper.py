"""
The audit log of a real run, tampered with: ``rollup audit verify`` catches each change and names
the first bad record by line and seq.

One real ``rollup apply`` against the simulated lab writes the log; each test then changes the
run's ``audit.jsonl`` in place (restoring it afterwards) and runs ``rollup audit verify RUN_ID``
through the CLI, as an auditor would.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from rollup.engine.rundir import RunDir, list_runs
from rollup.testing.labproc import LabProcess

GATE = "confirm-prerequisites"


@dataclass(frozen=True, slots=True)
class Run:
    lab: LabProcess
    run: RunDir
    original: bytes
    target: int
    """The 1-based line of the record the tampering aims at (an install's ``step_finished``)."""
    printed: str
    """What ``rollup apply`` printed."""

    def verify(self) -> tuple[int, str]:
        shown = self.lab.rollup("audit", "verify", self.run.run_id, "--runs-dir", str(self.lab.runs_dir))
        return shown.returncode, shown.stdout + shown.stderr


@pytest.fixture(name="applied", scope="module")
def _applied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    lab = LabProcess.start(tmp_path_factory.mktemp("tamper"), collab=1, first_address="127.0.91.1")
    try:
        result = lab.apply("--confirm", GATE)
        assert result.returncode == 0, result.stdout + result.stderr
        (run,) = list_runs(lab.runs_dir)
        original = run.audit_path.read_bytes()
        records = [json.loads(line) for line in original.splitlines()]
        target = next(
            n
            for n, r in enumerate(records, 1)
            if r["event"] == "step_finished" and r["step"] == "install-wss-web-service@COLLAB01"
        )
        yield Run(lab, run, original, target, result.stdout)
    finally:
        lab.stop()


def _lines(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True)


def _edit_one_byte(data: bytes, line: int) -> bytes:
    """One byte of the record's summary changes case: still canonical JSON, another content."""
    lines = _lines(data)
    at = lines[line - 1].index(b'"summary":"') + len(b'"summary":"')
    record = bytearray(lines[line - 1])
    record[at] ^= 0x20
    lines[line - 1] = bytes(record)
    return b"".join(lines)


def _delete(data: bytes, line: int) -> bytes:
    lines = _lines(data)
    del lines[line - 1]
    return b"".join(lines)


def _insert_copy(data: bytes, line: int) -> bytes:
    """The record two lines above, written again before ``line``."""
    lines = _lines(data)
    lines.insert(line - 1, lines[line - 3])
    return b"".join(lines)


def _canonical(record: dict[str, Any]) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def _insert_forged(data: bytes, line: int) -> bytes:
    """
    A record forged by someone who knows the format: the right seq and prev, and its own hash
    recomputed. It verifies by itself; the record after it no longer fits the chain.
    """
    lines = _lines(data)
    before = json.loads(lines[line - 2])
    forged: dict[str, Any] = {
        "event": "gate_confirmed",
        "run_id": before["run_id"],
        "step": f"{GATE}@MPS01",
        "host": "MPS01",
        "by": "mallory",
        "note": "all checked",
        "seq": before["seq"] + 1,
        "ts": before["ts"],
        "prev": before["hash"],
    }
    forged["hash"] = hashlib.sha256(_canonical(forged)).hexdigest()
    lines.insert(line - 1, _canonical(forged) + b"\n")
    return b"".join(lines)


def _swap(data: bytes, line: int) -> bytes:
    lines = _lines(data)
    lines[line - 1], lines[line] = lines[line], lines[line - 1]
    return b"".join(lines)


def _truncate_last(data: bytes, line: int) -> bytes:
    """The last line loses its last 12 bytes and its end of line (a write cut short)."""
    return data[:-13]


Tamper = Callable[[bytes, int], bytes]


def _expected(tamper: str, target: int, last: int) -> str:
    """The line and seq ``rollup audit verify`` must name, and the problem."""
    after, before = target + 1, target - 2
    return {
        "edit one byte": f"line {target} (seq {target}): hash mismatch",
        "delete a record": f"line {target} (seq {after}): seq gap: seq {after} where {target} was expected",
        "insert a copy of a record": f"line {target} (seq {before}): seq gap",
        "insert a forged record": f"line {after} (seq {target}): seq gap: seq {target} where {after}",
        "swap two records": f"line {target} (seq {target + 1}): seq gap",
        "truncate the last line": f"line {last} (seq {last}): torn line",
    }[tamper]


TAMPERS: dict[str, Tamper] = {
    "edit one byte": _edit_one_byte,
    "delete a record": _delete,
    "insert a copy of a record": _insert_copy,
    "insert a forged record": _insert_forged,
    "swap two records": _swap,
    "truncate the last line": _truncate_last,
}


def test_the_untouched_log_of_a_real_run_verifies(applied: Run) -> None:
    """`rollup audit verify RUN` exits 0 and counts every record of the run."""
    code, output = applied.verify()

    assert code == 0, output
    assert f"intact: {len(_lines(applied.original))} records" in output


@pytest.mark.parametrize("tamper", list(TAMPERS))
def test_each_tampering_is_caught_at_the_first_bad_record(applied: Run, tamper: str) -> None:
    """Exit 1, `BROKEN at line N (seq S): <problem>` for the first record that fails."""
    path = applied.run.audit_path
    changed = TAMPERS[tamper](applied.original, applied.target)
    path.write_bytes(changed)
    try:
        code, output = applied.verify()
    finally:
        path.write_bytes(applied.original)

    assert changed != applied.original
    assert code == 1, output
    assert f"BROKEN at {_expected(tamper, applied.target, len(_lines(applied.original)))}" in output


def test_the_head_apply_prints_is_accepted_by_expect_head(applied: Run) -> None:
    """The head on apply's last line is a full hash that `audit verify --expect-head` accepts."""
    (head,) = re.findall(r"\(head ([0-9a-f]+)\)", applied.printed)
    shown = applied.lab.rollup(
        "audit", "verify", applied.run.run_id, "--runs-dir", str(applied.lab.runs_dir), "--expect-head", head
    )

    assert len(head) == 64
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert f"head {head}" in shown.stdout


def test_dropping_the_last_records_is_caught_by_the_head_the_journal_keeps(applied: Run) -> None:
    """Cutting whole records off the end leaves a valid chain; the journal's copy of the head is missing."""
    path = applied.run.audit_path
    path.write_bytes(b"".join(_lines(applied.original)[:-2]))
    try:
        code, output = applied.verify()
    finally:
        path.write_bytes(applied.original)

    assert code == 1, output
    assert "expected head not found" in output
    assert "journal.jsonl" in output


def test_a_replaced_evidence_file_is_caught(applied: Run) -> None:
    """An evidence file whose bytes differ from the SHA-256 its record holds breaks verification."""
    records = [json.loads(line) for line in applied.original.splitlines()]
    line, name = next((n, sorted(r["evidence"])[0]) for n, r in enumerate(records, 1) if r.get("evidence"))
    evidence = applied.run.evidence_dir / name
    kept = evidence.read_bytes()
    evidence.write_bytes(kept + b"one more line\n")
    try:
        code, output = applied.verify()
    finally:
        evidence.write_bytes(kept)

    assert code == 1, output
    assert f"BROKEN at line {line} (seq {line}): evidence mismatch: evidence/{name}" in output


def test_cutting_the_log_and_the_journal_s_copies_is_caught_by_the_head_kept_on_mps01(applied: Run) -> None:
    """
    Whoever cuts the last records off the log and the journal's ``run_finished`` lines with them
    passes the local check; ``--remote`` reads MPS01's copy of the head and names it.
    """
    intact = applied.lab.rollup(
        "audit", "verify", applied.run.run_id, "--runs-dir", str(applied.lab.runs_dir), "--remote"
    )
    log, journal = applied.run.audit_path, applied.run.journal_path
    kept_journal = journal.read_bytes()
    log.write_bytes(b"".join(_lines(applied.original)[:-2]))
    journal.write_bytes(b"".join(line for line in _lines(kept_journal) if b'"run_finished"' not in line))
    try:
        local = applied.verify()
        remote = applied.lab.rollup(
            "audit", "verify", applied.run.run_id, "--runs-dir", str(applied.lab.runs_dir), "--remote"
        )
    finally:
        log.write_bytes(applied.original)
        journal.write_bytes(kept_journal)

    assert intact.returncode == 0, intact.stdout + intact.stderr
    assert f"MPS01 keeps 1 head(s) of run {applied.run.run_id}" in intact.stdout
    assert local[0] == 0, local[1]
    assert remote.returncode == 1, remote.stdout + remote.stderr
    assert "expected head not found" in remote.stdout
    assert "MPS01 C:\\ConfigShare\\rollup-heads.log (done" in remote.stdout
