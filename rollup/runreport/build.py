"""
Gather a run's report model from its run directory: ``run.json``, the journal, the audit log and
the evidence files (docs/report.md). Reads only; a damaged file becomes a ``problems`` line, as in
``rollup runs show``.

- Steps come in plan order (``run.json`` keeps the plan's step ids), then any step only the
  journal knows; a planned step the journal never mentions is ``not started``.
- Each step's status, attempts, times and gate waits come from the journal; its kind, retry
  waits (``retry_scheduled``), notices and evidence from the audit log.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from rollup.audit.chain import verify_chain
from rollup.audit.durable import read_lines
from rollup.audit.evidence import recorded_heads, verify_evidence
from rollup.engine.journal import read_journal
from rollup.engine.journal_state import (
    GateConfirmed,
    JournalEntry,
    JournalState,
    RunFinished,
    RunResumed,
    StepStarted,
    StepWaiting,
    replay,
)
from rollup.engine.locks import run_is_live
from rollup.engine.rundir import RunDir, RunFacts
from rollup.errors import RollupError
from rollup.runreport import model as m

T = TypeVar("T")
NOT_STARTED = "not started"
_RESTART_CODES = {
    3010: "a restart is pending (msiexec exited 3010)",
    1641: "msiexec started a restart (1641)",
}


@dataclass(slots=True)
class _Trace:
    """What the journal and the audit log say about one step, gathered in one pass."""

    starts: list[datetime] = field(default_factory=list)
    finished: datetime | None = None
    waits: list[m.GateWait] = field(default_factory=list)
    retries: list[m.RetryWait] = field(default_factory=list)
    kind: str | None = None
    evidence: dict[str, str] = field(default_factory=dict)
    notices: list[str] | None = None
    """``None`` when no ``step_finished`` record carries ``notices`` (a run of an older rollup)."""


_FINISHED = frozenset(
    {"done", "noop", "failed", "skipped", "skipped-by-operator", "excluded", "awaiting-decision"}
)
"""Statuses of a step whose last attempt ended (its bar ends where it did)."""


def build_report(
    run: RunDir,
    *,
    runs_dir: Path | None = None,
    verify: m.VerifyMatrix | None = None,
    now: datetime | None = None,
) -> m.RunReportModel:
    """The report model of ``run`` (its runs directory, for the lock probe, is its parent by default)."""
    problems: list[str] = []
    facts = _read(run.read_facts, problems)
    read = _read(lambda: read_journal(run.journal_path), problems)
    entries: tuple[JournalEntry, ...] = read.entries if read else ()
    if read is not None and read.torn is not None:
        problems.append(
            f"{run.journal_path}: line {read.torn.line} is torn (a write cut short) and is ignored"
        )
    live = facts is not None and run_is_live(runs_dir or run.path.parent, facts.inventory_digest, run.run_id)
    state = replay(entries, is_live=live)
    records = _audit_records(run.audit_path)
    traces = _traces(entries, records)
    hosts = _hosts(facts, state, traces, records)
    if verify is not None and facts is not None and verify.inventory != facts.inventory_source:
        problems.append(f"the verify results are of {verify.inventory}, the run of {facts.inventory_source}")
    steps = [step for host in hosts for step in host.steps]
    return m.RunReportModel(
        run_id=run.run_id,
        state=state.run_state.value,
        generated_at=now or datetime.now(UTC),
        facts=_facts(facts),
        started_at=facts.started_at if facts else (entries[0].ts if entries else None),
        ended_at=entries[-1].ts if entries else None,
        resumes=tuple(e.ts for e in entries if isinstance(e, RunResumed)),
        counts={**state.counts(), **_not_started(steps)},
        hosts=hosts,
        notices=tuple(notice for step in steps for notice in _notices(step, traces.get(step.id))),
        confirmations=state.confirmations,
        decisions=state.decisions,
        overrides=tuple(
            (str(r.get("kind")), str(r.get("reason")), str(r.get("by")))
            for r in records
            if r.get("event") == "override_recorded"
        ),
        audit=_audit(run, entries),
        evidence=_evidence(run, traces),
        verify=verify,
        problems=tuple(problems),
    )


def _read(read: Callable[[], T], problems: list[str]) -> T | None:
    try:
        return read()
    except RollupError as exc:
        problems.append(str(exc))
        return None


def _audit_records(path: Path) -> list[dict[str, Any]]:
    """The audit log's records that parse as JSON objects (its chain is judged by ``_audit``)."""
    records = []
    for raw in read_lines(path).lines:
        try:
            record = json.loads(raw)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def _traces(entries: Sequence[JournalEntry], records: Sequence[Mapping[str, Any]]) -> dict[str, _Trace]:
    traces: dict[str, _Trace] = {}
    _journal_traces(entries, traces)
    _audit_traces(records, traces)
    return traces


def _journal_traces(entries: Sequence[JournalEntry], traces: dict[str, _Trace]) -> None:
    for entry in entries:
        step = getattr(entry, "step", None)
        if not isinstance(step, str):
            continue
        trace = traces.setdefault(step, _Trace())
        if isinstance(entry, StepStarted):
            trace.starts.append(entry.ts)
        elif isinstance(entry, StepWaiting):
            if not trace.waits or trace.waits[-1].end is not None:
                trace.waits.append(m.GateWait(start=entry.ts, end=None))
        elif isinstance(entry, GateConfirmed):
            if trace.waits and trace.waits[-1].end is None:
                trace.waits[-1] = m.GateWait(start=trace.waits[-1].start, end=entry.ts)
        elif entry.event == "step_finished":
            trace.finished = entry.ts


def _audit_traces(records: Sequence[Mapping[str, Any]], traces: dict[str, _Trace]) -> None:
    for record in records:
        step = record.get("step")
        if not isinstance(step, str):
            continue
        trace = traces.setdefault(step, _Trace())
        event = record.get("event")
        if event in ("step_started", "step_finished") and isinstance(record.get("operation"), str):
            trace.kind = record["operation"]
        if event == "retry_scheduled":
            trace.retries.append(
                m.RetryWait(
                    attempt=int(record.get("attempt") or 0),
                    start=_time(record.get("ts")),
                    wait_s=float(record.get("wait_s") or 0.0),
                    reason=str(record.get("reason") or ""),
                )
            )
        elif event == "step_finished":
            if isinstance(record.get("evidence"), dict):
                trace.evidence.update({str(k): str(v) for k, v in record["evidence"].items()})
            if isinstance(record.get("notices"), list):
                trace.notices = [*(trace.notices or []), *map(str, record["notices"])]


def _time(value: object) -> datetime:
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)


def _hosts(
    facts: RunFacts | None,
    state: JournalState,
    traces: Mapping[str, _Trace],
    records: Sequence[Mapping[str, Any]],
) -> tuple[m.HostView, ...]:
    plan: Mapping[str, Any] = {}
    if facts is not None and isinstance(facts.options.get("plan"), dict):
        plan = facts.options["plan"]  # type: ignore[assignment]
    planned = [s for s in plan.get("steps") or () if isinstance(s, str)]
    order = list(dict.fromkeys([*planned, *state.steps]))
    names = list(dict.fromkeys([*(facts.hosts if facts else ()), *(s.rpartition("@")[2] for s in order)]))
    roles: Mapping[str, Any] = plan["hosts"] if isinstance(plan.get("hosts"), dict) else {}
    identified = {str(r.get("host")): r for r in records if r.get("event") == "host_identified"}
    hosts = []
    for name in names:
        seen = identified.get(name, {})
        hosts.append(
            m.HostView(
                name=name,
                roles=tuple(map(str, roles.get(name) or ())),
                computer=seen.get("computer"),
                endpoint=seen.get("endpoint"),
                steps=tuple(_step(s, state, traces.get(s)) for s in order if s.rpartition("@")[2] == name),
            )
        )
    return tuple(hosts)


def _step(step_id: str, state: JournalState, trace: _Trace | None) -> m.StepView:
    record = state.steps.get(step_id)
    trace = trace or _Trace()
    step, _, host = step_id.rpartition("@")
    if record is None:
        return m.StepView(id=step_id, step=step, host=host, kind=trace.kind, status=NOT_STARTED)
    return m.StepView(
        id=step_id,
        step=step,
        host=host,
        kind=trace.kind,
        status=record.status.value,
        attempts=record.attempt,
        exit_code=record.exit_code,
        retries=record.retries,
        duration_s=record.duration_s,
        summary=record.summary,
        started_at=trace.starts[0] if trace.starts else None,
        finished_at=trace.finished if record.status.value in _FINISHED else None,
        attempt_starts=tuple(trace.starts),
        retry_waits=tuple(trace.retries),
        gate_waits=tuple(trace.waits),
        evidence=tuple(sorted(trace.evidence)),
        notices=tuple(trace.notices or ()),
    )


def _not_started(steps: Sequence[m.StepView]) -> dict[str, int]:
    count = sum(step.status == NOT_STARTED for step in steps)
    return {NOT_STARTED: count} if count else {}


def _notices(step: m.StepView, trace: _Trace | None) -> list[m.Notice]:
    def notice(kind: str, text: str) -> m.Notice:
        return m.Notice(kind=kind, step=step.id, host=step.host, text=text)

    found = [notice("restart" if "restart" in text.lower() else "notice", text) for text in step.notices]
    if (trace is None or trace.notices is None) and step.exit_code in _RESTART_CODES:
        found.append(notice("restart", _RESTART_CODES[step.exit_code]))
    if step.status in ("skipped", "failed", "skipped-by-operator", "excluded", "awaiting-decision"):
        found.append(notice(step.status, step.summary))
    elif step.status == NOT_STARTED:
        found.append(notice(NOT_STARTED, "the run never started it (a step it depends on did not finish)"))
    return found


def _facts(facts: RunFacts | None) -> dict[str, str]:
    if facts is None:
        return {}
    options = facts.options
    shown = {
        "operator": facts.operator,
        "control host": facts.control_host,
        "rollup": facts.tool_version,
        "inventory": f"{facts.inventory_source} (digest {facts.inventory_digest[:12]})",
        "manifest": f"{facts.manifest_id} (digest {facts.manifest_digest[:12]})",
        "plan fingerprint": facts.plan_fingerprint,
        "package": str(options.get("package_dir") or "-"),
    }
    for key in ("limit", "wave_size", "forks", "max_fail_percent"):
        if options.get(key) is not None:
            shown[key.replace("_", " ")] = str(options[key])
    return shown


def _audit(run: RunDir, entries: Sequence[JournalEntry]) -> m.AuditView:
    path = run.audit_path
    heads = [e.audit_head for e in entries if isinstance(e, RunFinished) and e.audit_head]
    if not path.is_file():
        return m.AuditView(path=str(path), present=False, journal_head=heads[-1] if heads else None)
    report = verify_chain(path, recorded=recorded_heads(run.path))
    if report.bad is None:
        report = verify_evidence(path, report)
    return m.AuditView(
        path=str(path),
        present=True,
        intact=report.intact,
        records=report.records,
        head=report.head,
        problem=report.bad.describe() if report.bad else None,
        journal_head=heads[-1] if heads else None,
    )


def _evidence(run: RunDir, traces: Mapping[str, _Trace]) -> tuple[m.EvidenceView, ...]:
    named = {name: (step, sha) for step, trace in traces.items() for name, sha in trace.evidence.items()}
    shown = []
    for found in run.evidence():
        step, recorded = named.get(found.name, (None, None))
        shown.append(
            m.EvidenceView(
                name=found.name,
                sha256=found.sha256,
                size_bytes=found.size_bytes,
                step=step,
                matches_record=None if recorded is None else recorded == found.sha256,
            )
        )
    return tuple(shown)
