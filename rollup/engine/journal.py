"""
The run journal: an append-only record of step transitions, durable line by line.

The journal is what makes a run resumable. Every transition is one JSON line, written and
``fsync``ed before the call returns (the directory too when the file is created), so after a
SIGKILL at any instant every complete line is durable. A torn last line, the only damage a crash
can do, is reported and ignored on read, and cut off when the journal is reopened for appending.
The entries and their replay are ``rollup.engine.journal_state``.

The journal is for the engine, the audit log (``rollup.audit.log``) is for auditors: the journal
is not hash-chained, but it is redacted with the same registry.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from pydantic import ValidationError

from rollup.audit.durable import DurableAppender, cut_torn_tail, read_lines
from rollup.audit.redact import SecretRegistry, redact_value
from rollup.engine.journal_state import (
    ENTRY,
    Choice,
    FinalState,
    JournalEntry,
    JournalState,
    Outcome,
    replay,
)
from rollup.errors import RollupError


@dataclass(frozen=True, slots=True)
class TornTail:
    """A last line whose write never finished: ignored, and cut off on reopening."""

    line: int
    size_bytes: int


@dataclass(frozen=True, slots=True)
class JournalRead:
    """The entries of a journal file, and its torn last line if it has one."""

    entries: tuple[JournalEntry, ...]
    torn: TornTail | None
    hashes: tuple[str, ...] = ()
    """The SHA-256 of each complete line, as written (what the next line's ``prev`` names)."""

    @property
    def last_hash(self) -> str:
        """The last complete line's SHA-256; 64 zeros for an empty journal."""
        return self.hashes[-1] if self.hashes else GENESIS


def read_journal(path: Path) -> JournalRead:
    """
    Read every complete entry of the journal at ``path`` (a missing file has none).

    Raises:
        RollupError: a complete line is not a journal entry (the file was edited or damaged;
            a crash can only tear the last line, which is not an error).
    """
    lines = read_lines(path)
    entries = []
    for number, raw in enumerate(lines.lines, 1):
        try:
            entries.append(ENTRY.validate_json(raw))
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(part) for part in error["loc"])
            raise RollupError(
                f"{path}: line {number}: not a journal entry: {where + ': ' if where else ''}{error['msg']}"
            ) from None
    torn = None if lines.torn is None else TornTail(len(lines.lines) + 1, len(lines.torn))
    hashes = tuple(hashlib.sha256(raw).hexdigest() for raw in lines.lines)
    return JournalRead(tuple(entries), torn, hashes)


GENESIS = "0" * 64
"""The ``prev`` of a journal's first line."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Journal:
    """
    An open journal; ``Journal.open`` creates one or continues it. Appends are thread-safe.

    ``existing`` holds what was in the file when it was opened (for a resume), including the
    torn last line that was cut off, if any.
    """

    def __init__(
        self,
        appender: DurableAppender,
        existing: JournalRead,
        *,
        registry: SecretRegistry | None,
        clock: Callable[[], datetime],
    ) -> None:
        self.path = appender.path
        self.existing = existing
        self._appender = appender
        self._registry = registry
        self._clock = clock
        self._lock = threading.Lock()
        self._seq = existing.entries[-1].seq if existing.entries else 0
        self._last_hash = existing.last_hash

    @property
    def head(self) -> tuple[int, str]:
        """The last line's ``seq`` and SHA-256 (0 and 64 zeros before the first)."""
        with self._lock:
            return self._seq, self._last_hash

    @classmethod
    def open(
        cls, path: Path, *, registry: SecretRegistry | None = None, clock: Callable[[], datetime] = _utc_now
    ) -> Journal:
        """
        Create the journal at ``path`` or continue the existing one (its torn last line cut off).

        Raises:
            RollupError: the existing journal has a damaged line before its last.
        """
        existing = read_journal(path)
        if existing.torn is not None:
            cut_torn_tail(path, read_lines(path))
        return cls(DurableAppender(path), existing, registry=registry, clock=clock)

    def _append(self, event: str, **fields: Any) -> JournalEntry:
        with self._lock:
            data = {
                "event": event,
                "seq": self._seq + 1,
                "ts": self._clock().astimezone(UTC),
                "prev": self._last_hash,
                **fields,
            }
            entry = ENTRY.validate_python(data)
            clean = redact_value(entry.model_dump(mode="json"), self._registry)
            line = json.dumps(clean, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
            self._appender.append(line)
            self._seq += 1
            self._last_hash = hashlib.sha256(line.encode("utf-8")).hexdigest()
            return ENTRY.validate_json(line)

    def run_started(self, *, run_id: str, plan_fingerprint: str, operator: str) -> JournalEntry:
        """The run began (this process's pid is recorded)."""
        return self._append(
            "run_started",
            run_id=run_id,
            plan_fingerprint=plan_fingerprint,
            operator=operator,
            pid=os.getpid(),
        )

    def run_resumed(self, *, run_id: str, operator: str) -> JournalEntry:
        """A resume of the run began in this process."""
        return self._append("run_resumed", run_id=run_id, operator=operator, pid=os.getpid())

    def step_started(self, step: str, *, attempt: int) -> JournalEntry:
        """A plan step is about to act on its host: from here it may have had effects."""
        return self._append("step_started", step=step, attempt=attempt)

    def step_finished(
        self,
        step: str,
        *,
        outcome: Outcome,
        exit_code: int | None = None,
        retries: int = 0,
        duration_s: float = 0.0,
        summary: str = "",
    ) -> JournalEntry:
        """A plan step ended with ``outcome``; ``summary`` is redacted before it is written."""
        return self._append(
            "step_finished",
            step=step,
            outcome=outcome,
            exit_code=exit_code,
            retries=retries,
            duration_s=round(duration_s, 3),
            summary=summary,
        )

    def step_waiting(self, step: str, *, checklist: Iterable[str]) -> JournalEntry:
        """A manual gate waits for confirmation; ``checklist`` is what the operator must check."""
        return self._append("step_waiting", step=step, checklist=tuple(checklist))

    def gate_confirmed(self, step: str, *, by: str, note: str = "") -> JournalEntry:
        """``by`` confirmed the manual gate ``step``."""
        return self._append("gate_confirmed", step=step, by=by, note=note)

    def decision_waiting(self, step: str) -> JournalEntry:
        """The failed step ``step`` waits for an operator's decision (``rollup decide``)."""
        return self._append("decision_waiting", step=step)

    def decided(self, step: str, *, decision: Choice, by: str, note: str = "") -> JournalEntry:
        """``by`` decided ``decision`` about the failed step ``step``."""
        return self._append("decision", step=step, decision=decision, by=by, note=note)

    def shell_opened(self, host: str, shell_id: str) -> JournalEntry:
        """This process opened the WinRM shell ``shell_id`` on ``host``."""
        return self._append("shell_opened", host=host, shell_id=shell_id, pid=os.getpid())

    def unit_done(self, step: str, unit: str) -> JournalEntry:
        """The unit ``unit`` of ``step`` is done (a resume skips it)."""
        return self._append("unit_done", step=step, unit=unit)

    def run_finished(self, state: FinalState, *, audit_head: str | None = None) -> JournalEntry:
        """The run stopped in ``state``; ``audit_head``: the audit log's head hash at that moment."""
        return self._append("run_finished", state=state, audit_head=audit_head)

    def state(self, *, is_live: bool = True) -> JournalState:
        """The replay of everything in the file now (see ``replay``)."""
        return replay(read_journal(self.path).entries, is_live=is_live)

    def close(self) -> None:
        self._appender.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
