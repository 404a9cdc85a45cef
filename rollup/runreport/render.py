"""
The report model as one self-contained HTML file: the Jinja2 template ``templates/report.html.j2``
(package data), autoescaping on, inline CSS, no script and no external URL.

The timeline is laid out here, not in the template: one lane per host, each step a bar placed by
percentages of the run's time span, with the retry waits, the gate waits and each attempt's start
drawn over it, and a mark at each resume.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jinja2

from rollup import __version__
from rollup.runreport.model import HostView, RunReportModel, StepView

MIN_WIDTH = 0.35
"""The narrowest bar, in percent of the lane, so a step of milliseconds stays visible."""
_TICKS = (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 86400)
_STATUS_CLASS = {
    "done": "done",
    "noop": "noop",
    "skipped": "skipped",
    "failed": "failed",
    "waiting": "waiting",
    "confirmed": "confirmed",
    "running": "running",
    "interrupted": "waiting",
    "refused": "failed",
    "done-with-exceptions": "waiting",
    "skipped-by-operator": "skipped",
    "excluded": "skipped",
    "awaiting-decision": "waiting",
    "pending": "pending",
    "not started": "pending",
    "ok": "done",
    "drift": "failed",
    "fail": "failed",
    "error": "failed",
    "unknown": "skipped",
}


@dataclass(frozen=True, slots=True)
class Segment:
    """Something drawn on a lane: ``left`` and ``width`` in percent of the lane."""

    left: float
    width: float
    css: str
    title: str


@dataclass(frozen=True, slots=True)
class Bar:
    step: StepView
    left: float
    width: float
    overlays: tuple[Segment, ...]


@dataclass(frozen=True, slots=True)
class Lane:
    host: HostView
    bars: tuple[Bar, ...]


@dataclass(frozen=True, slots=True)
class Timeline:
    lanes: tuple[Lane, ...]
    ticks: tuple[tuple[float, str], ...]
    resumes: tuple[float, ...]
    span_s: float


class _Scale:
    def __init__(self, start: datetime, end: datetime) -> None:
        self.start = start
        self.span_s = max((end - start).total_seconds(), 0.001)

    def x(self, moment: datetime) -> float:
        return min(max((moment - self.start).total_seconds() / self.span_s * 100, 0.0), 100.0)

    def width(self, start: datetime, end: datetime) -> float:
        return max(self.x(end) - self.x(start), MIN_WIDTH)


def timeline(model: RunReportModel) -> Timeline | None:
    """The lanes and the axis of ``model``'s steps; ``None`` when no step ever started."""
    started = [s.started_at for s in model.steps if s.started_at is not None]
    if not started or model.ended_at is None:
        return None
    scale = _Scale(model.started_at or min(started), model.ended_at)
    lanes = tuple(
        Lane(host, tuple(_bar(s, scale, model.ended_at) for s in host.steps)) for host in model.hosts
    )
    return Timeline(
        lanes=lanes,
        ticks=_ticks(scale.span_s),
        resumes=tuple(scale.x(moment) for moment in model.resumes),
        span_s=scale.span_s,
    )


def _bar(step: StepView, scale: _Scale, run_end: datetime) -> Bar:
    if step.started_at is None:
        return Bar(step, 0.0, 0.0, ())
    end = step.finished_at or run_end
    overlays = [
        Segment(
            scale.x(wait.start),
            scale.width(wait.start, wait.start + timedelta(seconds=wait.wait_s)),
            "retry",
            f"retry after attempt {wait.attempt}: waited {seconds(wait.wait_s)} ({wait.reason})",
        )
        for wait in step.retry_waits
    ]
    for gate in step.gate_waits:
        until = gate.end or run_end
        what = f"confirmed at {clock(gate.end)}" if gate.end else "not confirmed"
        overlays.append(
            Segment(
                scale.x(gate.start), scale.width(gate.start, until), "gate", f"waited for an operator; {what}"
            )
        )
    for number, moment in enumerate(step.attempt_starts[1:], 2):
        overlays.append(Segment(scale.x(moment), 0.0, "attempt", f"attempt {number} started {clock(moment)}"))
    return Bar(step, scale.x(step.started_at), scale.width(step.started_at, end), tuple(overlays))


def _ticks(span_s: float) -> tuple[tuple[float, str], ...]:
    every = next((t for t in _TICKS if span_s / t <= 8), _TICKS[-1])
    count = int(span_s // every)
    return tuple((n * every / span_s * 100, "+" + seconds(n * every)) for n in range(count + 1))


def seconds(value: float | None) -> str:
    """``0.4 s``, ``12 s``, ``3 min 5 s``, ``2 h 1 min``."""
    if value is None:
        return "-"
    if value < 10:
        return f"{value:.1f} s".replace(".0 s", " s")
    whole = round(value)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min" + (f" {whole % 60} s" if whole % 60 else "")
    return f"{whole // 3600} h" + (f" {whole % 3600 // 60} min" if whole % 3600 // 60 else "")


def clock(moment: datetime | None) -> str:
    """UTC to the millisecond: ``2026-11-21 10:45:12.123Z``."""
    if moment is None:
        return "-"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"


def status_class(status: str) -> str:
    """The CSS class of a status; an unknown status (a verify document's) gets a neutral one."""
    return "st-" + _STATUS_CLASS.get(status, "other")


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("rollup.runreport", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(seconds=seconds, clock=clock, status_class=status_class)
    return env


def render_html(model: RunReportModel) -> str:
    """The report as one HTML document."""
    template = _environment().get_template("report.html.j2")
    return template.render(run=model, timeline=timeline(model), version=__version__)
