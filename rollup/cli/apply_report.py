"""
``rollup apply --json`` and ``--junit FILE``: how the run ended, for scripts and CI.

``--json`` prints one JSON document on stdout (docs/json.md), shaped as
``rollup/schemas/apply.schema.json`` (``format`` 1, like verify's and pre-flight's documents):
the run id and state, the audit log's path and head, and every step this run reached, in plan
order, with its outcome, attempts, the remote exit code that decided it, duration, summary,
retry waits and notices. ``--junit`` writes the same steps as JUnit XML (``to_junit``).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from rollup.engine.events import StepOutcome
from rollup.engine.executors import StepReport
from rollup.engine.run import RunReport
from rollup.errors import UsageError

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


_JUNIT_OUTCOMES: dict[StepOutcome, tuple[str, str] | None] = {
    StepOutcome.DONE: None,
    StepOutcome.NOOP: None,
    StepOutcome.SKIPPED: ("skipped", "skipped"),
    StepOutcome.WAITING: ("skipped", "skipped"),
    StepOutcome.BLOCKED: ("skipped", "skipped"),
    StepOutcome.FAILED: ("failure", "failures"),
    StepOutcome.SKIPPED_BY_OPERATOR: ("skipped", "skipped"),
    StepOutcome.EXCLUDED: ("skipped", "skipped"),
}
"""The JUnit element and counter of each outcome (a step that was not run is skipped, with why)."""


def to_junit(report: RunReport) -> str:
    """
    The run as JUnit XML: a ``testsuite`` per host (in plan order), a ``testcase`` per step with its
    time; a failed step is a ``failure`` (its summary and hint), a skipped, blocked or waiting one
    ``skipped``, and so is a step an operator skipped or excluded (the message says who, and why).
    The counters sit on each ``testsuite``, and ``tests``, ``failures`` and ``errors`` on
    ``testsuites`` (the Jenkins JUnit schema has no ``skipped`` there).
    """
    root = ET.Element("testsuites", name=f"rollup apply {report.run_id}")
    suites: dict[str, ET.Element] = {}
    counts: dict[str, dict[str, int]] = {}
    times: dict[str, float] = {}
    for r in report.reports:
        host = r.step.host
        if host not in suites:
            suites[host] = ET.SubElement(root, "testsuite", name=host, hostname=host)
            counts[host] = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
            times[host] = 0.0
        case = ET.SubElement(suites[host], "testcase", classname=f"{host}.{r.step.kind}", name=r.step.id)
        case.set("time", f"{r.duration_s:.3f}")
        counts[host]["tests"] += 1
        times[host] += r.duration_s
        outcome = _JUNIT_OUTCOMES[r.outcome]
        if outcome is not None:
            tag, key = outcome
            counts[host][key] += 1
            element = ET.SubElement(case, tag, message=f"{r.outcome.value}: {r.summary}")
            if tag == "failure":
                element.set("type", "failed")
                exit_code = "" if r.exit_code is None else f" (exit {r.exit_code})"
                element.text = f"{r.summary}{exit_code}" + (f"\nhint: {r.hint}" if r.hint else "")
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for host, suite in suites.items():
        for key, number in counts[host].items():
            suite.set(key, str(number))
            if key in totals:
                totals[key] += number
        suite.set("time", f"{times[host]:.3f}")
    for key, number in totals.items():
        root.set(key, str(number))
    root.set("time", f"{report.duration_s:.3f}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(report: RunReport, path: Path) -> None:
    """
    Write the run's JUnit XML to ``path``.

    Raises:
        UsageError: the file cannot be written.
    """
    try:
        path.write_text(to_junit(report), encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--junit {path}: cannot be written: {exc.strerror}") from None
