"""
The audit log of a run: hash-chained JSON Lines that an auditor can verify.

One record per event that matters to an auditor: the run's start (who, from where, with which
tool, manifest, plan and inventory), each step's start and end on each host (operation, the
redacted command, exit code, duration, each retry's wait), manual confirmations, overrides, and
the run's end. Records are built by a structlog processor chain that is separate from the
diagnostic log's (``rollup.audit.logconfig``), so that logging can change without touching these
guarantees::

    TimeStamper(ts, iso, utc) -> RedactSecrets -> chain (seq, prev, hash) -> canonical JSON
      -> durable append (fsync)

Every string is redacted before it is hashed, so the hash covers exactly what is on disk.
Records are appended under a lock (host workers run in parallel) and each is on disk before the
call returns. Reopening an existing log (a resumed run) verifies the whole chain first and
continues it; a broken chain is refused. The one break a crash can cause, a torn last line, is
moved aside to ``<log>.torn-<n>`` and recorded as the ``audit_tail_repaired`` record that
continues the chain (docs/audit.md).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Any

import structlog
from structlog.typing import EventDict, WrappedLogger

from rollup.audit.chain import (
    CHAIN_FIELDS,
    GENESIS,
    ChainReport,
    Problem,
    canonical_json,
    jsonable,
    record_hash,
    verify_chain,
)
from rollup.audit.durable import DurableAppender, cut_torn_tail, read_lines, write_once
from rollup.audit.redact import RedactSecrets, SecretRegistry
from rollup.errors import AuditError

__all__ = ["GENESIS", "AuditEvent", "AuditLog", "AuditRecord", "ChainReport", "head_hash", "verify_chain"]


class AuditEvent(StrEnum):
    """The event names of audit records; stable, since auditors query them."""

    RUN_STARTED = "run_started"
    RUN_RESUMED = "run_resumed"
    STEP_STARTED = "step_started"
    STEP_FINISHED = "step_finished"
    GATE_CONFIRMED = "gate_confirmed"
    DECISION_RECORDED = "decision_recorded"
    OVERRIDE_RECORDED = "override_recorded"
    RUN_FINISHED = "run_finished"
    AUDIT_TAIL_REPAIRED = "audit_tail_repaired"
    HOST_IDENTIFIED = "host_identified"


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """Where a record sits in the chain."""

    seq: int
    hash: str


def head_hash(path: Path) -> str:
    """
    The hash of the last record of an intact audit log (``GENESIS`` for an empty one).

    Raises:
        RollupError: the log is missing or its chain is broken (quoting the head of a broken
            chain would vouch for it).
    """
    return _verified(path).head


def _verified(path: Path) -> ChainReport:
    try:
        report = verify_chain(path)
    except FileNotFoundError:
        raise AuditError(f"{path}: no audit log there") from None
    if report.bad is not None:
        raise AuditError(
            f"{path}: the audit chain is broken at {report.bad.describe()}",
            hint=f"`rollup audit verify {path}` shows the first bad record",
        )
    return report


class _Sink:
    """The structlog 'logger' at the end of the chain: one rendered line in, durably appended."""

    def __init__(self, appender: DurableAppender) -> None:
        self.appender = appender

    def msg(self, line: str) -> None:
        self.appender.append(line)


class _Chain:
    """structlog processor: adds ``seq``, ``prev`` and ``hash`` and renders canonical JSON."""

    def __init__(self, last_seq: int, head: str) -> None:
        self.last_seq = last_seq
        self.head = head
        self.pending: AuditRecord | None = None

    def __call__(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> str:
        record = jsonable(event_dict)
        record["seq"] = self.last_seq + 1
        record["prev"] = self.head
        record["hash"] = record_hash(record)
        self.pending = AuditRecord(record["seq"], record["hash"])
        return canonical_json(record)


class _Recorder(structlog.BoundLoggerBase):
    """A bound logger with a single typed method, so callers need no ``Any``."""

    def write(self, event: str, **fields: Any) -> None:
        self._proxy_to_logger("msg", event, **fields)


class AuditLog:
    """
    An open audit log; create or continue one with ``AuditLog.open``. Thread-safe.

    Field names ``seq``, ``ts``, ``prev`` and ``hash`` are the chain's own; ``event`` is the
    record's name and ``run_id`` is set on every record.
    """

    def __init__(
        self,
        appender: DurableAppender,
        *,
        run_id: str,
        report: ChainReport,
        registry: SecretRegistry | None,
    ) -> None:
        self.path = appender.path
        self.run_id = run_id
        self._lock = threading.Lock()
        self._appender = appender
        self._chain = _Chain(report.last_seq, report.head)
        self._journal_head: Callable[[], tuple[int, str]] | None = None
        self._log = _Recorder(
            _Sink(appender),
            [
                structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
                RedactSecrets(registry),
                self._chain,
            ],
            {"run_id": run_id},
        )

    @classmethod
    def open(cls, path: Path, *, run_id: str, registry: SecretRegistry | None = None) -> AuditLog:
        """
        Create the audit log at ``path``, or continue an existing one.

        Raises:
            RollupError: the existing log's chain is broken anywhere but a torn last line.
        """
        torn: tuple[int, str, str] | None = None
        report = ChainReport(path=path, records=0, head=GENESIS, last_seq=0, bad=None)
        if path.exists():
            report = verify_chain(path)
            if report.bad is not None and report.bad.problem is Problem.TORN_LINE:
                torn = _move_torn_tail(path)
            elif report.bad is not None:
                raise AuditError(
                    f"{path}: cannot continue the audit log, its chain is broken at {report.bad.describe()}",
                    hint="keep this file as evidence; `rollup audit verify` shows the first bad record",
                )
        log = cls(DurableAppender(path), run_id=run_id, report=report, registry=registry)
        if torn is not None:
            size, digest, saved_as = torn
            log.record(AuditEvent.AUDIT_TAIL_REPAIRED, torn_bytes=size, torn_sha256=digest, saved_as=saved_as)
        return log

    def bind_journal(self, head: Callable[[], tuple[int, str]]) -> None:
        """
        From now on, every record carries ``journal``: the ``seq`` and SHA-256 of the run
        journal's last line when the record is written (``head``), so the journal, chained line
        by line, is bound to this log up to there (``rollup.engine.journal_bind``).
        """
        self._journal_head = head

    @property
    def head(self) -> str:
        """The hash of the last record (``GENESIS`` before the first)."""
        with self._lock:
            return self._chain.head

    def record(self, event: str, **fields: object) -> AuditRecord:
        """
        Append one record, on disk when this returns; every string in ``fields`` is redacted.

        Raises:
            ValueError: a field is one of the chain's own (``seq``, ``ts``, ``prev``, ``hash``)
                or ``run_id``.
        """
        reserved = sorted((CHAIN_FIELDS | {"run_id", "event", "journal"}) & fields.keys())
        if reserved:
            raise ValueError(f"audit record fields {reserved} are set by the log itself")
        with self._lock:
            if self._journal_head is not None:
                seq, digest = self._journal_head()
                if seq:
                    fields = {**fields, "journal": {"seq": seq, "sha256": digest}}
            self._log.write(event, **fields)
            pending = self._chain.pending
            if pending is None:
                raise RuntimeError("the audit chain processor did not run")
            self._chain.last_seq, self._chain.head = pending.seq, pending.hash
            self._chain.pending = None
            return pending

    def run_started(
        self,
        *,
        operator: str,
        control_host: str,
        tool_version: str,
        manifest_id: str,
        manifest_digest: str,
        plan_fingerprint: str,
        inventory_source: str,
        inventory_digest: str,
        hosts: Sequence[str],
        options: Mapping[str, object] | None = None,
    ) -> AuditRecord:
        """The first record of a run: who runs what, from where, on which plan and fleet."""
        return self.record(
            AuditEvent.RUN_STARTED,
            operator=operator,
            control_host=control_host,
            tool_version=tool_version,
            manifest_id=manifest_id,
            manifest_digest=manifest_digest,
            plan_fingerprint=plan_fingerprint,
            inventory=inventory_source,
            inventory_digest=inventory_digest,
            hosts=list(hosts),
            options=dict(options or {}),
        )

    def run_resumed(self, *, operator: str, control_host: str, tool_version: str) -> AuditRecord:
        """A resume of this run started (the chain continues in the same file)."""
        return self.record(
            AuditEvent.RUN_RESUMED, operator=operator, control_host=control_host, tool_version=tool_version
        )

    def step_started(
        self, *, step: str, host: str, operation: str, command: str, attempt: int
    ) -> AuditRecord:
        """A plan step started on a host; ``command`` is its redacted summary."""
        return self.record(
            AuditEvent.STEP_STARTED,
            step=step,
            host=host,
            operation=operation,
            command=command,
            attempt=attempt,
        )

    def step_finished(
        self,
        *,
        step: str,
        host: str,
        operation: str,
        outcome: str,
        exit_code: int | None,
        duration_s: float,
        retry_waits_s: Sequence[float] = (),
        summary: str = "",
        evidence: Mapping[str, str] | None = None,
        notices: Sequence[str] = (),
    ) -> AuditRecord:
        """
        A plan step ended: its outcome, exit code, duration and every retry's wait.

        ``evidence`` maps evidence file names (in the run directory) to their SHA-256, so a log
        tail quoted by the record cannot be swapped unnoticed. ``notices``: what the operator
        was told (a restart pending or started, a host restarted by rollup).
        """
        return self.record(
            AuditEvent.STEP_FINISHED,
            step=step,
            host=host,
            operation=operation,
            outcome=outcome,
            exit_code=exit_code,
            duration_s=round(duration_s, 3),
            retries=len(retry_waits_s),
            retry_waits_s=[round(wait, 3) for wait in retry_waits_s],
            summary=summary,
            evidence=dict(evidence or {}),
            notices=list(notices),
        )

    def gate_confirmed(self, *, step: str, host: str, by: str, note: str = "") -> AuditRecord:
        """An operator confirmed a manual gate (``by`` is who; the record's ``ts`` is when)."""
        return self.record(AuditEvent.GATE_CONFIRMED, step=step, host=host, by=by, note=note)

    def decision_recorded(
        self, *, step: str, host: str, decision: str, by: str, note: str = ""
    ) -> AuditRecord:
        """An operator decided what becomes of a failed step (``retry``, ``skip``, ``exclude``, ``abort``)."""
        return self.record(
            AuditEvent.DECISION_RECORDED, step=step, host=host, decision=decision, by=by, note=note
        )

    def override_recorded(self, *, kind: str, reason: str, by: str) -> AuditRecord:
        """A safety check was overridden on purpose (e.g. ``rehearsal_gate_skipped``), and why."""
        return self.record(AuditEvent.OVERRIDE_RECORDED, kind=kind, reason=reason, by=by)

    def run_finished(self, *, state: str, counts: Mapping[str, int] | None = None) -> AuditRecord:
        """The run ended in ``state`` (``done``, ``failed``, ``waiting``); ``counts`` per outcome."""
        return self.record(AuditEvent.RUN_FINISHED, state=state, counts=dict(counts or {}))

    def close(self) -> None:
        self._appender.close()

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _move_torn_tail(path: Path) -> tuple[int, str, str]:
    """Save the torn last line beside the log, cut it off, and say what was moved where."""
    lines = read_lines(path)
    torn = lines.torn or b""
    number = 1
    while (saved := path.with_name(f"{path.name}.torn-{number}")).exists():
        number += 1
    write_once(saved, torn)
    cut_torn_tail(path, lines)
    return len(torn), hashlib.sha256(torn).hexdigest(), saved.name
