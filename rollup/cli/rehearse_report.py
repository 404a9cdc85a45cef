"""
``rollup rehearse --junit FILE``: the rehearsal as JUnit XML, for the CI job that runs it.

One ``testsuite`` named ``rehearsal`` holds a ``testcase`` per stage (snapshot, preflight, apply,
verify, revert...) and per drill; then one ``testsuite`` per lab host holds a ``testcase`` per
plan step of the rehearsal's run, from its journal (a step that finished ``done`` or ``noop``
passes, ``failed`` is a ``failure``, anything else is ``skipped`` with its state). The file
follows the Jenkins JUnit schema (no ``skipped`` counter on ``testsuites``).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rollup.engine.journal_state import StepRecord, StepStatus
from rollup.errors import UsageError
from rollup.rehearsal.record import RehearsalRecord

_COUNTERS = ("tests", "failures", "errors", "skipped")
_PASSED = frozenset({StepStatus.DONE, StepStatus.NOOP, StepStatus.CONFIRMED})


@dataclass(slots=True)
class _Suite:
    element: ET.Element
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_COUNTERS, 0))
    time_s: float = 0.0

    def case(self, classname: str, name: str, time_s: float) -> ET.Element:
        case = ET.SubElement(self.element, "testcase", classname=classname, name=name, time=f"{time_s:.3f}")
        self.counts["tests"] += 1
        self.time_s += time_s
        return case

    def fail(self, case: ET.Element, message: str, text: str) -> None:
        ET.SubElement(case, "failure", type="failed", message=message).text = text
        self.counts["failures"] += 1

    def skip(self, case: ET.Element, message: str) -> None:
        ET.SubElement(case, "skipped", message=message)
        self.counts["skipped"] += 1

    def judged(self, case: ET.Element, what: str, result: str, detail: str) -> None:
        """A stage's or drill's ``result``: ``passed``, ``failed`` (a failure) or ``skipped``."""
        if result == "failed":
            self.fail(case, f"{what} failed", detail)
        elif result != "passed":
            self.skip(case, f"{result}: {detail}")

    def close(self) -> None:
        for key, number in self.counts.items():
            self.element.set(key, str(number))
        self.element.set("time", f"{self.time_s:.3f}")


def to_junit(record: RehearsalRecord, steps: Sequence[StepRecord]) -> str:
    """The rehearsal ``record`` and its run's ``steps`` (journal order) as JUnit XML."""
    root = ET.Element("testsuites", name=f"rollup rehearse {record.rehearsal_id}")
    started = record.started_at.isoformat()
    rehearsal = _Suite(ET.SubElement(root, "testsuite", name="rehearsal", timestamp=started))
    for stage in record.stages:
        case = rehearsal.case("rehearsal.stage", stage.name, stage.duration_s)
        rehearsal.judged(case, stage.name, stage.result, stage.detail)
    for drill in record.drills:
        case = rehearsal.case("rehearsal.drill", drill.name, 0.0)
        rehearsal.judged(case, f"drill {drill.name}", drill.result, drill.detail)
    suites = [rehearsal]
    by_host: dict[str, _Suite] = {}
    for step in steps:
        name, _, host = step.step.partition("@")
        if host not in by_host:
            by_host[host] = _Suite(ET.SubElement(root, "testsuite", name=host, hostname=host))
            suites.append(by_host[host])
        suite = by_host[host]
        case = suite.case(f"{host}.step", name, step.duration_s or 0.0)
        if step.status is StepStatus.FAILED:
            code = "" if step.exit_code is None else f" (exit {step.exit_code})"
            suite.fail(case, f"failed: {step.summary}", f"{step.summary}{code}")
        elif step.status not in _PASSED:
            suite.skip(case, f"{step.status.value}: {step.summary}".rstrip(": "))
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for suite in suites:
        suite.close()
        for key in totals:
            totals[key] += suite.counts[key]
    for key, number in totals.items():
        root.set(key, str(number))
    took = (record.finished_at - record.started_at).total_seconds()
    root.set("time", f"{max(took, 0.0):.3f}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(text: str, path: Path) -> None:
    """
    Write ``text`` to ``path``.

    Raises:
        UsageError: the file cannot be written.
    """
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--junit {path}: cannot be written: {exc.strerror}") from None
