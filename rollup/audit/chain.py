"""
The hash chain of the audit log: canonical JSON, record hashes, and verification.

Each record is one line of canonical JSON (keys sorted, no spaces, non-ASCII escaped) holding
``seq`` (1, 2, 3, ...), ``ts``, ``prev`` (the previous record's ``hash``; ``GENESIS`` for the
first) and ``hash``: the lower-case hex SHA-256 of the canonical JSON of the record without
``hash``. Verification re-derives all of it, so it notices any edited, inserted, deleted,
reordered or cut-off record and names the first bad line.

What this proves, and what it does not, is in docs/audit.md: a chain detects changes made by
someone who does not rewrite every record after the change; anyone who can write the file can
rewrite the whole tail, and only a head hash recorded elsewhere catches that.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from rollup.audit.durable import read_lines

GENESIS = "0" * 64
"""The ``prev`` of the first record."""

CHAIN_FIELDS = frozenset({"seq", "ts", "prev", "hash"})
"""Fields every record carries, set by the log itself."""

_HEX = frozenset("0123456789abcdef")


def canonical_json(value: Any) -> str:
    """The one serialisation that is hashed and written: sorted keys, no spaces, ASCII only."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def record_hash(record: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of ``record`` without its ``hash`` field."""
    body = {key: value for key, value in record.items() if key != "hash"}
    return hashlib.sha256(canonical_json(body).encode("ascii")).hexdigest()


def jsonable(value: object) -> Any:
    """
    ``value`` as plain JSON data, so that writing and re-reading a record gives the same hash.

    Mappings become objects with string keys, sequences become arrays, enums their values; a
    non-finite float, and any other object that is not a number, boolean or ``None``, becomes
    its ``str()``.
    """
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float) and math.isfinite(value):
        return float(value)
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(item) for item in value]
    return str(value)


HEAD_PREFIX_MIN = 16
"""The fewest hex digits ``--expect-head`` accepts: a head hash, or its first 16 or more digits."""


def is_head_prefix(value: object) -> bool:
    """Whether ``value`` is a head hash or a prefix of one: 16 to 64 lower-case hex digits."""
    return isinstance(value, str) and HEAD_PREFIX_MIN <= len(value) <= 64 and set(value) <= _HEX


def is_hash(value: object) -> bool:
    """Whether ``value`` looks like a record hash: 64 lower-case hex digits."""
    return isinstance(value, str) and len(value) == 64 and set(value) <= _HEX


class Problem(StrEnum):
    """What is wrong with the first bad record."""

    TORN_LINE = "torn line"
    NOT_JSON = "not JSON"
    MISSING_FIELD = "missing field"
    NOT_CANONICAL = "not canonical"
    HASH_MISMATCH = "hash mismatch"
    SEQ_GAP = "seq gap"
    PREV_MISMATCH = "prev mismatch"
    HEAD_NOT_FOUND = "expected head not found"
    EVIDENCE_MISSING = "evidence missing"
    EVIDENCE_MISMATCH = "evidence mismatch"


@dataclass(frozen=True, slots=True, kw_only=True)
class BadRecord:
    """The first record that fails verification."""

    line: int
    """1-based line number in the file (0 when the problem is the whole file)."""
    seq: int | None
    """The record's ``seq`` when it could be read (a torn line's too, if its bytes show it), else ``None``."""
    problem: Problem
    detail: str

    def describe(self) -> str:
        """``line 7 (seq 7): hash mismatch: ...``: one line for the console."""
        where = f"line {self.line}" + ("" if self.seq is None else f" (seq {self.seq})")
        return f"{where}: {self.problem.value}: {self.detail}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ChainReport:
    """The result of ``verify_chain``."""

    path: Path
    records: int
    """How many records verified, from the first, before any problem."""
    head: str
    """The ``hash`` of the last verified record (``GENESIS`` when there is none)."""
    last_seq: int
    """The ``seq`` of the last verified record (0 when there is none)."""
    bad: BadRecord | None

    @property
    def intact(self) -> bool:
        return self.bad is None


class _BadLine(Exception):
    def __init__(self, problem: Problem, detail: str, seq: int | None = None) -> None:
        super().__init__(detail)
        self.problem, self.detail, self.seq = problem, detail, seq


def _check_line(raw: bytes, expected_seq: int, prev: str) -> dict[str, Any]:
    """
    Parse and check one complete line and return its record.

    Raises:
        _BadLine: what is wrong with it, in the order: JSON, fields, canonical form, hash, seq, prev.
    """
    try:
        text = raw.decode("utf-8")
        record = json.loads(text)
    except (UnicodeDecodeError, ValueError):
        raise _BadLine(Problem.NOT_JSON, "the line is not valid JSON") from None
    if not isinstance(record, dict):
        raise _BadLine(Problem.NOT_JSON, "the line is not a JSON object")
    seq = record.get("seq")
    seq = seq if isinstance(seq, int) and not isinstance(seq, bool) else None
    missing = sorted(key for key in CHAIN_FIELDS if key not in record)
    if missing:
        raise _BadLine(Problem.MISSING_FIELD, f"no {', '.join(missing)}", seq)
    if seq is None or not is_hash(record["prev"]) or not is_hash(record["hash"]):
        raise _BadLine(Problem.MISSING_FIELD, "seq must be an integer, prev and hash 64 hex digits", seq)
    try:
        canonical = canonical_json(record)
    except ValueError:
        canonical = ""
    if canonical != text:
        raise _BadLine(Problem.NOT_CANONICAL, "the line is not the canonical JSON of its record", seq)
    if record_hash(record) != record["hash"]:
        raise _BadLine(Problem.HASH_MISMATCH, "the record's content does not match its hash", seq)
    if seq != expected_seq:
        raise _BadLine(Problem.SEQ_GAP, f"seq {seq} where {expected_seq} was expected", seq)
    if record["prev"] != prev:
        raise _BadLine(Problem.PREV_MISMATCH, "prev is not the hash of the record before it", seq)
    return record


_TORN_SEQ = re.compile(rb'"seq":([0-9]{1,18})[,}]')


def _torn_seq(torn: bytes) -> int | None:
    """The ``seq`` a torn last line still shows (its top-level key, after ``prev``), else ``None``."""
    start = torn.find(b'"prev":')
    found = _TORN_SEQ.search(torn, start) if start >= 0 else None
    return int(found.group(1)) if found else None


def verify_chain(
    path: Path, *, expect_head: str | None = None, recorded: Mapping[str, str] | None = None
) -> ChainReport:
    """
    Verify an audit log and name its first bad record.

    Args:
        path: the audit log (JSON Lines).
        expect_head: a head hash recorded elsewhere earlier (a rehearsal record, a console
            line), or its first 16 or more hex digits; the chain must contain a record with
            this hash, which catches records removed from the end or a tail rewritten from
            some record on.
        recorded: more head hashes the chain must contain, each with where it was kept
            (``{hash: "journal.jsonl seq 41"}``): the run's own copies of its heads.

    Returns:
        A ``ChainReport``; ``bad`` is ``None`` when every record verifies.

    Raises:
        FileNotFoundError: there is no file at ``path``.
    """
    if not path.is_file():
        raise FileNotFoundError(path)
    lines = read_lines(path)
    prev, seq, count = GENESIS, 0, 0
    seen_expected = expect_head is None
    unseen = dict(recorded or {})
    for number, raw in enumerate(lines.lines, 1):
        try:
            record = _check_line(raw, seq + 1, prev)
        except _BadLine as exc:
            bad = BadRecord(line=number, seq=exc.seq, problem=exc.problem, detail=exc.detail)
            return ChainReport(path=path, records=count, head=prev, last_seq=seq, bad=bad)
        prev, seq, count = record["hash"], record["seq"], count + 1
        seen_expected = seen_expected or prev.startswith(expect_head or "-")
        unseen.pop(prev, None)
    if lines.torn is not None:
        bad = BadRecord(
            line=len(lines.lines) + 1,
            seq=_torn_seq(lines.torn),
            problem=Problem.TORN_LINE,
            detail=f"the last {len(lines.torn)} bytes have no end of line (a write cut short)",
        )
        return ChainReport(path=path, records=count, head=prev, last_seq=seq, bad=bad)
    if unseen:
        head, where = next(iter(unseen.items()))
        bad = BadRecord(
            line=0,
            seq=None,
            problem=Problem.HEAD_NOT_FOUND,
            detail=f"no record has hash {head}, the head kept in {where}: records were removed or rewritten",
        )
        return ChainReport(path=path, records=count, head=prev, last_seq=seq, bad=bad)
    if not seen_expected:
        bad = BadRecord(
            line=0,
            seq=None,
            problem=Problem.HEAD_NOT_FOUND,
            detail=f"no record has hash {expect_head}: records were removed or rewritten",
        )
        return ChainReport(path=path, records=count, head=prev, last_seq=seq, bad=bad)
    return ChainReport(path=path, records=count, head=prev, last_seq=seq, bad=None)
