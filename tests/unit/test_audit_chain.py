"""The audit log's hash chain: intact logs verify, and any change names the first bad record."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from rollup.audit.chain import GENESIS, Problem, canonical_json, record_hash, verify_chain
from rollup.audit.log import AuditLog, head_hash
from rollup.errors import RollupError

RUN_ID = "20261121T104512Z-3f9c"


def _write_log(path: Path, records: int = 3) -> None:
    with AuditLog.open(path, run_id=RUN_ID) as log:
        for n in range(records):
            log.record("step_finished", step=f"install-{n}@COLLAB01", exit_code=0, note="réussi")


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


@pytest.fixture(name="log_path")
def _log_path(tmp_path: Path) -> Path:
    path = tmp_path / "audit.jsonl"
    _write_log(path)
    return path


def test_an_intact_log_verifies(log_path: Path) -> None:
    """Every record verifies; the report gives the count, the head hash and the last seq."""
    report = verify_chain(log_path)
    last = json.loads(_lines(log_path)[-1])

    assert report.intact
    assert report.records == 3
    assert report.last_seq == 3
    assert report.head == last["hash"] == head_hash(log_path)


def test_records_carry_seq_ts_prev_and_hash(log_path: Path) -> None:
    """seq counts from 1, prev links to the previous hash (GENESIS first), hash covers the rest."""
    records = [json.loads(line) for line in _lines(log_path)]

    assert [r["seq"] for r in records] == [1, 2, 3]
    assert records[0]["prev"] == GENESIS
    assert [r["prev"] for r in records[1:]] == [r["hash"] for r in records[:-1]]
    assert all(r["hash"] == record_hash(r) for r in records)
    assert all(r["ts"].endswith("Z") and r["run_id"] == RUN_ID for r in records)
    assert [canonical_json(r) + "\n" for r in records] == [line.decode() for line in _lines(log_path)]


def test_editing_any_byte_of_any_record_names_that_record(log_path: Path) -> None:
    """Flipping any bit pattern of any single byte makes verification fail at that byte's line."""
    original = log_path.read_bytes()
    failures = []
    for position in range(len(original)):
        line = original.count(b"\n", 0, position) + 1
        for mask in (0x01, 0x20):
            edited = bytearray(original)
            edited[position] ^= mask
            log_path.write_bytes(bytes(edited))
            report = verify_chain(log_path)
            if report.bad is None or report.bad.line != line:
                failures.append((position, mask, report.bad))

    assert failures == []


def test_an_edited_value_is_a_hash_mismatch(log_path: Path) -> None:
    """Changing a value keeps the line valid JSON; the record's hash no longer matches."""
    lines = _lines(log_path)
    lines[1] = lines[1].replace(b'"exit_code":0', b'"exit_code":1')
    log_path.write_bytes(b"".join(lines))

    bad = verify_chain(log_path).bad

    assert bad is not None
    assert (bad.line, bad.seq, bad.problem) == (2, 2, Problem.HASH_MISMATCH)
    assert bad.describe() == "line 2 (seq 2): hash mismatch: the record's content does not match its hash"


def test_reformatted_json_is_not_canonical(log_path: Path) -> None:
    """The same record with a space added still parses, but is not the line that was hashed."""
    lines = _lines(log_path)
    lines[2] = lines[2].replace(b'"seq":3', b'"seq": 3')
    log_path.write_bytes(b"".join(lines))

    bad = verify_chain(log_path).bad

    assert bad is not None
    assert (bad.line, bad.problem) == (3, Problem.NOT_CANONICAL)


def test_a_deleted_record_is_a_seq_gap(log_path: Path) -> None:
    """Removing record 2 makes record 3, now on line 2, the first bad one."""
    lines = _lines(log_path)
    log_path.write_bytes(lines[0] + lines[2])

    bad = verify_chain(log_path).bad

    assert bad is not None
    assert (bad.line, bad.seq, bad.problem) == (2, 3, Problem.SEQ_GAP)


def test_reordered_records_fail(log_path: Path) -> None:
    """Swapping records 2 and 3 fails at line 2."""
    lines = _lines(log_path)
    log_path.write_bytes(lines[0] + lines[2] + lines[1])

    bad = verify_chain(log_path).bad

    assert bad is not None
    assert (bad.line, bad.problem) == (2, Problem.SEQ_GAP)


def test_a_copied_record_inserted_fails(log_path: Path) -> None:
    """A record repeated after itself is a seq gap on the copy."""
    lines = _lines(log_path)
    log_path.write_bytes(lines[0] + lines[1] + lines[1] + lines[2])

    bad = verify_chain(log_path).bad

    assert bad is not None
    assert (bad.line, bad.seq, bad.problem) == (3, 2, Problem.SEQ_GAP)


def test_a_forged_record_inserted_fails_at_the_next_real_one(log_path: Path) -> None:
    """A well-formed forgery linked to record 1 passes itself, but breaks the record after it."""
    lines = _lines(log_path)
    first = json.loads(lines[0])
    forged = {"event": "gate_confirmed", "seq": 2, "ts": first["ts"], "prev": first["hash"], "by": "mallory"}
    forged["hash"] = record_hash(forged)
    log_path.write_bytes(lines[0] + canonical_json(forged).encode() + b"\n" + lines[1] + lines[2])

    bad = verify_chain(log_path).bad

    assert bad is not None
    assert (bad.line, bad.seq, bad.problem) == (3, 2, Problem.SEQ_GAP)


def test_a_relinked_record_is_a_prev_mismatch(log_path: Path) -> None:
    """A record rehashed with the right seq but another prev fails on prev."""
    lines = _lines(log_path)
    record = json.loads(lines[1])
    record["prev"] = "1" * 64
    record["hash"] = record_hash(record)
    log_path.write_bytes(lines[0] + canonical_json(record).encode() + b"\n" + lines[2])

    bad = verify_chain(log_path).bad

    assert bad is not None
    assert (bad.line, bad.seq, bad.problem) == (2, 2, Problem.PREV_MISMATCH)


def test_truncation_inside_a_record_is_a_torn_line(log_path: Path) -> None:
    """Cutting the file anywhere but at a line end leaves a torn line, named by its number."""
    original = log_path.read_bytes()
    ends = {i + 1 for i, byte in enumerate(original) if byte == ord("\n")}
    results = []
    for size in range(1, len(original)):
        if size in ends:
            continue
        log_path.write_bytes(original[:size])
        bad = verify_chain(log_path).bad
        results.append(
            bad is not None
            and bad.problem is Problem.TORN_LINE
            and bad.line == original.count(b"\n", 0, size) + 1
        )

    assert all(results)
    assert len(results) == len(original) - 3


def test_dropped_tail_records_are_caught_by_an_expected_head(log_path: Path) -> None:
    """Removing whole records from the end leaves a valid chain; a head hash recorded earlier catches it."""
    head = head_hash(log_path)
    lines = _lines(log_path)
    log_path.write_bytes(lines[0] + lines[1])

    plain = verify_chain(log_path)
    with_head = verify_chain(log_path, expect_head=head)

    assert plain.intact
    assert with_head.bad is not None
    assert with_head.bad.problem is Problem.HEAD_NOT_FOUND


def test_an_expected_head_may_be_followed_by_later_records(log_path: Path) -> None:
    """A head quoted before more records were appended is still found."""
    head = head_hash(log_path)
    with AuditLog.open(log_path, run_id=RUN_ID) as log:
        log.record("run_finished", state="done")

    assert verify_chain(log_path, expect_head=head).intact


def test_resuming_continues_the_chain(log_path: Path) -> None:
    """Reopening an intact log appends seq 4 linked to the old head."""
    old_head = head_hash(log_path)
    with AuditLog.open(log_path, run_id=RUN_ID) as log:
        record = log.record("run_resumed", operator="alice")

    last = json.loads(_lines(log_path)[-1])
    report = verify_chain(log_path)

    assert (record.seq, last["prev"]) == (4, old_head)
    assert report.intact
    assert report.records == 4


def test_resuming_a_broken_chain_is_refused(log_path: Path) -> None:
    """An edited log cannot be continued: the error names the file and the first bad record."""
    lines = _lines(log_path)
    lines[1] = lines[1].replace(b"install-1", b"install-9")
    log_path.write_bytes(b"".join(lines))
    before = log_path.read_bytes()

    with pytest.raises(RollupError, match=r"audit.jsonl: cannot continue .* line 2 \(seq 2\): hash mismatch"):
        AuditLog.open(log_path, run_id=RUN_ID)
    assert log_path.read_bytes() == before


def test_a_torn_last_line_is_moved_aside_and_recorded(log_path: Path) -> None:
    """Reopening after a crash mid-write keeps the torn bytes in a side file and records them."""
    torn = b'{"event":"step_started","seq":4,"ts":"2026'
    with log_path.open("ab") as handle:
        handle.write(torn)

    with AuditLog.open(log_path, run_id=RUN_ID) as log:
        log.record("run_resumed", operator="alice")
    records = [json.loads(line) for line in _lines(log_path)]
    saved = log_path.with_name("audit.jsonl.torn-1")

    assert verify_chain(log_path).intact
    assert saved.read_bytes() == torn
    assert records[3]["event"] == "audit_tail_repaired"
    assert records[3]["torn_bytes"] == len(torn)
    assert records[3]["saved_as"] == "audit.jsonl.torn-1"
    assert [r["seq"] for r in records] == [1, 2, 3, 4, 5]


def test_parallel_appends_keep_one_chain(tmp_path: Path) -> None:
    """Records appended from many threads form one contiguous, intact chain."""
    path = tmp_path / "audit.jsonl"
    with AuditLog.open(path, run_id=RUN_ID) as log:

        def work(worker: int) -> None:
            for n in range(40):
                log.record("step_started", step=f"s{n}@HOST{worker}", attempt=1)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    report = verify_chain(path)

    assert report.intact
    assert report.records == 240


def test_chain_fields_cannot_be_passed_in(tmp_path: Path) -> None:
    """seq, ts, prev, hash, run_id and event are the log's own."""
    with AuditLog.open(tmp_path / "audit.jsonl", run_id=RUN_ID) as log:
        with pytest.raises(ValueError, match="seq"):
            log.record("step_started", seq=7)
        with pytest.raises(ValueError, match="run_id"):
            log.record("step_started", run_id="other")


def test_head_of_empty_and_broken_logs(tmp_path: Path) -> None:
    """An empty log's head is GENESIS; a broken log has no head to quote."""
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    broken = tmp_path / "broken.jsonl"
    broken.write_bytes(b"not json\n")

    assert head_hash(empty) == GENESIS
    with pytest.raises(RollupError, match=r"broken.jsonl: the audit chain is broken at line 1: not JSON"):
        head_hash(broken)
    with pytest.raises(RollupError, match="no audit log there"):
        head_hash(tmp_path / "missing.jsonl")


def test_typed_records_carry_what_auditors_need(tmp_path: Path) -> None:
    """Run start, step end with retry waits and evidence, confirmation, override and run end."""
    path = tmp_path / "audit.jsonl"
    with AuditLog.open(path, run_id=RUN_ID) as log:
        log.run_started(
            operator="alice",
            control_host="ctl01",
            tool_version="0.1.0",
            manifest_id="hmc40-rollup-2011-01",
            manifest_digest="d" * 64,
            plan_fingerprint="f" * 64,
            inventory_source="inventory/lab.yml",
            inventory_digest="e" * 64,
            hosts=["MPS01"],
            options={"limit": "MPS01"},
        )
        log.step_finished(
            step="install@MPS01",
            host="MPS01",
            operation="msi.install",
            outcome="done",
            exit_code=3010,
            duration_s=12.34567,
            retry_waits_s=[1.0, 2.0],
            summary="reboot required",
            evidence={"install@MPS01-1.log": "a" * 64},
            notices=["MPS01: msiexec exited 3010: a restart of the host is pending"],
        )
        log.gate_confirmed(step="gate@MPS01", host="MPS01", by="alice", note="checked")
        log.override_recorded(kind="rehearsal_gate_skipped", reason="emergency change 42", by="alice")
        log.run_finished(state="done", counts={"done": 2})
    records = [json.loads(line) for line in _lines(path)]

    assert [r["event"] for r in records] == [
        "run_started",
        "step_finished",
        "gate_confirmed",
        "override_recorded",
        "run_finished",
    ]
    assert records[0]["plan_fingerprint"] == "f" * 64
    assert records[0]["inventory"] == "inventory/lab.yml"
    assert records[1]["retries"] == 2
    assert records[1]["retry_waits_s"] == [1.0, 2.0]
    assert records[1]["duration_s"] == 12.346
    assert records[1]["evidence"] == {"install@MPS01-1.log": "a" * 64}
    assert records[1]["notices"] == ["MPS01: msiexec exited 3010: a restart of the host is pending"]
    assert records[3]["reason"] == "emergency change 42"
    assert verify_chain(path).intact
