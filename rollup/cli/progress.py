"""
The console side of a run: the engine's events as live progress, plain lines, and a summary.

On a terminal a live table shows each host's current step, the unit of work in progress (a
component, an Initialize node, an msiexec run) and how long the step has run, while finished
steps scroll above it; when the output is piped (a CI log, ``tee``) every event is one plain line
instead, with no control characters, and a step that runs on says so every ``HEARTBEAT_S``
seconds (elapsed time and unit). Either way a failed step is shown with everything the operator
needs to act: host, step, exit code, hint and the MSI log's last lines. ``quiet`` (``rollup -q``)
shows none of it: the command prints its result alone.

The engine calls the renderer from several threads at once; one lock serialises output. A
question to the operator (a manual gate, a password) pauses the live table while it is asked.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from rollup.engine import events as ev

if TYPE_CHECKING:
    from rollup.engine.executors import StepReport
    from rollup.engine.run import RunReport

_STYLE = {
    ev.StepOutcome.DONE: "green",
    ev.StepOutcome.NOOP: "dim",
    ev.StepOutcome.SKIPPED: "dim",
    ev.StepOutcome.FAILED: "bold red",
    ev.StepOutcome.WAITING: "yellow",
    ev.StepOutcome.BLOCKED: "red",
    ev.StepOutcome.SKIPPED_BY_OPERATOR: "bold yellow",
    ev.StepOutcome.EXCLUDED: "bold yellow",
    ev.Verdict.RUN: "green",
    ev.Verdict.ASK: "yellow",
    ev.Verdict.UNKNOWN: "red",
}
TAIL_SHOWN = 12
HEARTBEAT_S = 5.0
"""Piped output: a step still running says so (elapsed time, unit of work) this often."""
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """
    ``text`` as one line for the console: each control character (a line break, a tab, an escape
    sequence's ESC) shown as its Python escape (``\\n``, ``\\x1b``). Hosts report free text
    (product versions, MSI logs, error messages); a line break in it must not start a line of its
    own that looks like rollup's.
    """
    return _CONTROL.sub(lambda found: repr(found.group())[1:-1], text)


def _text(text: str) -> str:
    """Free text inside a console line: one line, and no Rich markup."""
    return escape(printable(text))


@dataclass(slots=True)
class _Host:
    step: str = ""
    unit: str = ""
    since: float = 0.0
    """When the running step started (the renderer's clock)."""
    spoke: float = 0.0
    """When a line last said what this host does (piped output)."""
    state: str = "waiting"
    done: int = 0
    noop: int = 0
    retries: int = 0
    duration_s: float = 0.0
    failed: bool = False
    result: str = ""


@dataclass(slots=True)
class ProgressRenderer:
    """An ``EventSink`` for the CLI: live on a terminal, plain lines otherwise."""

    console: Console
    live: bool
    quiet: bool = False
    clock: Callable[[], float] = time.monotonic
    hosts: dict[str, _Host] = field(default_factory=dict)
    run_id: str | None = None
    """The run being shown (from ``RunStarted``), so an interruption can name it."""
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _display: Live | None = None
    _beating: threading.Event | None = None

    def start(self, hosts: Sequence[str]) -> None:
        """Show the host table (on a terminal), or start the heartbeat of piped output."""
        for name in hosts:
            self.hosts.setdefault(name, _Host())
        if self.quiet:
            return
        if self.live and self._display is None:
            self._display = Live(
                get_renderable=self._table,
                console=self.console,
                refresh_per_second=4,
                transient=True,
            )
            self._display.start()
        elif not self.live and self._beating is None:
            beating = self._beating = threading.Event()
            threading.Thread(target=self._beat, args=(beating,), name="progress", daemon=True).start()

    def stop(self) -> None:
        """Remove the live table (the lines printed above it stay) and stop the heartbeat."""
        with self._lock:
            if self._display is not None:
                self._display.stop()
                self._display = None
            if self._beating is not None:
                self._beating.set()
                self._beating = None

    def _beat(self, stopped: threading.Event) -> None:
        while not stopped.wait(HEARTBEAT_S):
            self.tick()

    def tick(self) -> None:
        """Piped output: one line for each step that has run ``HEARTBEAT_S`` since its last line."""
        with self._lock:
            now = self.clock()
            for name, host in self.hosts.items():
                if host.state != "running" or now - host.spoke < HEARTBEAT_S:
                    continue
                unit = f": {_text(host.unit)}" if host.unit else ""
                self._line(f"{name} {_text(host.step)} running {now - host.since:.0f} s{unit}")
                host.spoke = now

    @contextlib.contextmanager
    def paused(self) -> Iterator[Console]:
        """Stop the live table while the operator is asked something; resume it afterwards."""
        with self._lock:
            display = self._display
            if display is not None:
                display.stop()
            try:
                yield self.console
            finally:
                if display is not None:
                    display.start()

    def __call__(self, event: ev.Event) -> None:
        with self._lock:
            try:
                self._handle(event)
            except Exception as exc:
                self.console.print(f"(progress display error: {escape(repr(exc))})", markup=True)
            if self._display is not None:
                self._display.refresh()

    # ---- events ----------------------------------------------------------------------------

    def _line(self, text: str) -> None:
        if self.quiet:
            return
        if self.live:
            self.console.print(text, highlight=False)
        else:
            stamp = datetime.now().strftime("%H:%M:%S")
            self.console.print(f"{stamp} {text}", highlight=False, markup=True, soft_wrap=True)

    def _handle(self, event: ev.Event) -> None:
        match event:
            case ev.RunStarted():
                what = "Dry run" if event.dry_run else ("Resuming run" if event.resumed else "Run")
                ident = f" {event.run_id}" if event.run_id else ""
                self.run_id = event.run_id or self.run_id
                self._line(f"[bold]{what}{ident}[/]: {event.steps} steps on {len(event.hosts)} hosts")
                self.start(event.hosts)
            case ev.Notice():
                self._line(f"[yellow]note:[/] {_text(event.text)}")
            case ev.StepStarted():
                self._started(event)
            case ev.StepProgress():
                self._progress(event)
            case ev.StepRetrying():
                self.hosts.setdefault(event.host, _Host()).retries += 1
                self._line(
                    f"[yellow]{event.host} {_text(event.step_id)}: retry in {event.wait_s:g} s[/] "
                    f"after attempt {event.attempt}: {_text(event.reason)}"
                )
            case ev.StepFinished():
                self._finished(event)
            case ev.GateWaiting() | ev.GateConfirmed() | ev.DecisionWaiting() | ev.Decided():
                self._operator(event)
            case ev.StepPreview():
                pass  # a dry run's predictions are shown together, as a table, at its end
            case ev.WaveStopped():
                self._line(
                    f"[bold red]wave {event.wave} stopped the later waves:[/] "
                    f"{len(event.failed_hosts)} of {event.hosts} hosts failed ({event.percent:.0f}%; "
                    f"--max-fail-percent {event.threshold:g}): "
                    f"{', '.join(event.failed_hosts)}"
                )
            case ev.RunFinished():
                self.stop()

    def _operator(self, event: ev.GateWaiting | ev.GateConfirmed | ev.DecisionWaiting | ev.Decided) -> None:
        """What waits for an operator, and what an operator confirmed or decided."""
        if isinstance(event, ev.GateWaiting):
            self._line(
                f"[yellow]{event.host} {_text(event.step_id)} waits for an operator:[/] {_text(event.title)}"
            )
            for item in event.checklist:
                self._line(f"    - {_text(item)}")
        elif isinstance(event, ev.GateConfirmed):
            note = f": {_text(event.note)}" if event.note else ""
            self._line(f"{event.host} {_text(event.step_id)} confirmed by {_text(event.by)}{note}")
        elif isinstance(event, ev.DecisionWaiting):
            self._line(
                f"[yellow]{event.host} {_text(event.step_id)} waits for an operator's decision:[/] "
                f"`{_text(event.decide)}`, then `{_text(event.resume)}`"
            )
        else:
            note = f": {_text(event.note)}" if event.note else ""
            self._line(
                f"[bold yellow]{event.host} {_text(event.step_id)}: {_text(event.decision)}[/], "
                f"decided by {_text(event.by)}{note}"
            )

    def _started(self, event: ev.StepStarted) -> None:
        host = self.hosts.setdefault(event.host, _Host())
        host.step, host.state, host.unit = event.step_id.split("@")[0], "running", ""
        host.since = host.spoke = self.clock()
        if not self.live:
            again = f" (attempt {event.attempt})" if event.attempt > 1 else ""
            self._line(f"{event.host} {_text(event.step_id)} started{again}")

    def _progress(self, event: ev.StepProgress) -> None:
        host = self.hosts.setdefault(event.host, _Host())
        host.unit, host.spoke = event.unit, self.clock()
        if not self.live:
            self._line(f"{event.host} {_text(event.step_id)}: {_text(event.unit)}")

    def _finished(self, event: ev.StepFinished) -> None:
        host = self.hosts.setdefault(event.host, _Host())
        host.state, host.unit = event.outcome.value, ""
        host.duration_s += event.duration_s
        if event.outcome is ev.StepOutcome.DONE:
            host.done += 1
        elif event.outcome in (ev.StepOutcome.NOOP, ev.StepOutcome.SKIPPED):
            host.noop += 1
        elif event.outcome in (ev.StepOutcome.FAILED, ev.StepOutcome.BLOCKED):
            host.failed = True
        style = _STYLE.get(event.outcome, "")
        code = f" (exit {event.exit_code})" if event.exit_code not in (None, 0) else ""
        self._line(
            f"{event.host} {_text(event.step_id)}: [{style}]{event.outcome.value}[/]{code} "
            f"{_text(event.summary)}"
            if style
            else f"{event.host} {_text(event.step_id)}: {event.outcome.value}{code} {_text(event.summary)}"
        )
        if event.outcome is ev.StepOutcome.FAILED:
            if event.hint:
                self._line(f"    hint: {_text(event.hint)}")
            if event.log_tail:
                self._line("    MSI log, last lines:")
                for line in event.log_tail[-TAIL_SHOWN:]:
                    self._line(f"      {_text(line)}")

    def _table(self) -> Table:
        table = Table(box=None, header_style="bold", pad_edge=False)
        for name in ("host", "step", "state", "for", "now", "done", "no-op", "retries"):
            table.add_column(name, no_wrap=name != "now", overflow="ellipsis")
        now = self.clock()
        for name, host in list(self.hosts.items()):
            state = host.state
            style = "red" if host.failed else ("green" if state == "running" else "")
            running = state == "running"
            table.add_row(
                name,
                host.step,
                f"[{style}]{state}[/]" if style else state,
                f"{now - host.since:.0f} s" if running else "",
                _text(host.unit) if running else "",
                str(host.done),
                str(host.noop),
                str(host.retries),
            )
        return table


def _result(steps: Sequence[StepReport], excepted: frozenset[str]) -> str:
    """A host's result in the summary: what failed, waits, or an operator left out, plainly."""
    outcomes = [s.outcome for s in steps]
    skipped = sum(o is ev.StepOutcome.SKIPPED_BY_OPERATOR for o in outcomes)
    excluded = sum(o is ev.StepOutcome.EXCLUDED for o in outcomes)
    blocked = [s for s in steps if s.outcome is ev.StepOutcome.BLOCKED]
    left = sum(s.step.id in excepted for s in blocked)
    if ev.StepOutcome.FAILED in outcomes:
        return "[bold red]failed[/]"
    if len(blocked) > left:
        return "[red]not finished[/]"
    if ev.StepOutcome.WAITING in outcomes:
        return "[yellow]waiting[/]"
    parts = []
    if excluded:
        parts.append(f"excluded by an operator ({excluded} step(s) not done)")
    if skipped:
        parts.append(f"{skipped} step(s) skipped by an operator")
    if left:
        parts.append(f"{left} not started after a skip or exclusion")
    return f"[bold yellow]{'; '.join(parts)}[/]" if parts else "[green]ok[/]"


def summary_table(report: RunReport) -> Table:
    """Per host: steps done, no-ops, retries, time spent in steps, and the result."""
    rows: dict[str, list[StepReport]] = {}
    for step in report.reports:
        rows.setdefault(step.step.host, []).append(step)
    table = Table(title=f"Run {report.run_id}: {report.state}", header_style="bold")
    for name in ("host", "done", "no-ops", "retries", "duration", "result"):
        table.add_column(
            name, justify="right" if name in ("done", "no-ops", "retries", "duration") else "left"
        )
    for host, steps in rows.items():
        outcomes = [s.outcome for s in steps]
        done = sum(o is ev.StepOutcome.DONE for o in outcomes)
        noop = sum(o in (ev.StepOutcome.NOOP, ev.StepOutcome.SKIPPED) for o in outcomes)
        retries = sum(len(s.retry_waits_s) for s in steps)
        duration = sum(s.duration_s for s in steps)
        result = _result(steps, report.excepted)
        table.add_row(host, str(done), str(noop), str(retries), f"{duration:.1f} s", result)
    return table


def preview_table(previews: Sequence[ev.StepPreview]) -> Table:
    """A dry run's predictions, one row per step."""
    table = Table(title="Dry run: nothing was changed", header_style="bold")
    for name in ("#", "step", "host", "would", "why"):
        table.add_column(name, overflow="fold")
    for n, preview in enumerate(previews, 1):
        style = _STYLE.get(preview.verdict, "")
        verdict = f"[{style}]{preview.verdict.value}[/]" if style else preview.verdict.value
        table.add_row(str(n), preview.step_id.split("@")[0], preview.host, verdict, _text(preview.reason))
    return table
