"""
``rollup apply --json``: how the run ended, as one JSON document on stdout (docs/json.md).

The shape is ``rollup/schemas/apply.schema.json`` (``format`` 1, as verify's and pre-flight's documents): the run id and state,
the audit log's path and head, and every step this run reached, in plan order, with its outcome,
attempts, the remote exit code that decided it, duration, summary, retry waits and notices.
"""

from __future__ import annotations

import json
from typing import Any

from rollup.engine.executors import StepReport
from rollup.engine.run import RunReport

FORMAT_VERSION = 1


def _step(report: StepReport) -> dict[str, Any]:
    step = report.step
    return {
        "id": step.id,
        "step": step.step,
        "host": step.host,
        "kind": step.kind,
        "outcome": report.outcome.value,
        "attempts": report.attempts,
        "exit_code": report.exit_code,
        "duration_s": round(report.duration_s, 3),
        "summary": report.summary,
        "retry_waits_s": list(report.retry_waits_s),
        "notices": list(report.notices),
        "hint": report.hint,
    }


def to_json(report: RunReport) -> dict[str, Any]:
    """The document of ``report``."""
    return {
        "format": FORMAT_VERSION,
        "kind": "apply",
        "run_id": report.run_id,
        "state": report.state,
        "duration_s": round(report.duration_s, 3),
        "audit": {"path": str(report.audit_path), "head": report.audit_head},
        "steps": [_step(r) for r in report.reports],
        "notices": [notice for r in report.reports for notice in r.notices],
    }


def dumps(report: RunReport) -> str:
    """The document as printed: 2-space indentation, keys sorted, non-ASCII escaped."""
    return json.dumps(to_json(report), indent=2, sort_keys=True, ensure_ascii=True)
