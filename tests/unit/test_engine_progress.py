"""How the engine's events reach the operator: plain lines when piped, and the final summary."""

from __future__ import annotations

import io
import threading
from pathlib import Path

from rich.console import Console

from rollup.cli.progress import HEARTBEAT_S, ProgressRenderer, preview_table, summary_table
from rollup.engine import events as ev
from rollup.engine.executors import StepReport
from rollup.engine.run import RunReport
from rollup.model.steps import Retry
from rollup.planner import PlanStep


def _console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=False, width=200, highlight=False), out


def _step(step: str, host: str) -> PlanStep:
    return PlanStep(
        id=f"{step}@{host}",
        step=step,
        host=host,
        kind="msi_install",
        title=step,
        after=(),
        params={},
        wave=None,
        timeout_s=60,
        retry=Retry(),
    )


def test_piped_output_is_one_plain_line_per_event() -> None:
    """Started, retried and finished steps each print one line naming host and step, without colour codes."""
    console, out = _console()
    renderer = ProgressRenderer(console, live=False)

    renderer(
        ev.RunStarted(
            run_id="R1",
            resumed=False,
            dry_run=False,
            hosts=("DNS01",),
            steps=4,
            audit_path="a",
            fingerprint="f",
        )
    )
    renderer(ev.StepStarted(step_id="transfer@DNS01", host="DNS01", kind="transfer", title="t", attempt=1))
    renderer(
        ev.StepRetrying(step_id="transfer@DNS01", host="DNS01", attempt=1, wait_s=2.0, reason="DNS01: reset")
    )
    renderer(
        ev.StepFinished(
            step_id="transfer@DNS01",
            host="DNS01",
            kind="transfer",
            title="t",
            outcome=ev.StepOutcome.DONE,
            summary="sent 1 file(s)",
        )
    )
    text = out.getvalue()

    assert "Run R1: 4 steps on 1 hosts" in text
    assert "DNS01 transfer@DNS01 started" in text
    assert "retry in 2 s after attempt 1: DNS01: reset" in text
    assert "DNS01 transfer@DNS01: done sent 1 file(s)" in text
    assert "\x1b[" not in text


def test_a_failed_step_shows_exit_code_hint_and_log_tail() -> None:
    """Everything the operator needs to act on a failure is printed under it."""
    console, out = _console()
    renderer = ProgressRenderer(console, live=False)

    renderer(
        ev.StepFinished(
            step_id="install@COLLAB01",
            host="COLLAB01",
            kind="msi_install",
            title="t",
            outcome=ev.StepOutcome.FAILED,
            summary="COLLAB01: installing X.msi: msiexec exited 1603",
            exit_code=1603,
            hint="read the whole log",
            log_tail=(
                "Action ended 10:00:00: InstallFinalize. Return value 3.",
                "MainEngineThread is returning 1603",
            ),
        )
    )
    text = out.getvalue()

    assert "install@COLLAB01: failed (exit 1603) COLLAB01: installing X.msi" in text
    assert "hint: read the whole log" in text
    assert "MainEngineThread is returning 1603" in text


def test_a_waiting_gate_prints_its_checklist() -> None:
    """The operator sees what to do before confirming."""
    console, out = _console()
    renderer = ProgressRenderer(console, live=False)

    renderer(ev.GateWaiting(step_id="gate@MPS01", host="MPS01", title="Confirm", checklist=("one", "two")))

    assert "MPS01 gate@MPS01 waits for an operator: Confirm" in out.getvalue()
    assert "    - two" in out.getvalue()


def test_events_from_many_threads_never_interleave_within_a_line() -> None:
    """The renderer serialises its output: every line is whole."""
    console, out = _console()
    renderer = ProgressRenderer(console, live=False)

    def emit(n: int) -> None:
        for i in range(50):
            renderer(ev.Notice(text=f"thread {n} line {i} " + "x" * 40))

    threads = [threading.Thread(target=emit, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = out.getvalue().splitlines()

    assert len(lines) == 200
    assert all(line.endswith("x" * 40) for line in lines)


def test_the_summary_has_a_row_per_host_with_counts_and_result() -> None:
    """Host, steps done, no-ops, retries, duration and result."""
    reports = (
        StepReport(
            step=_step("a", "DNS01"),
            outcome=ev.StepOutcome.DONE,
            summary="",
            retry_waits_s=(30.0,),
            duration_s=2.0,
        ),
        StepReport(step=_step("b", "DNS01"), outcome=ev.StepOutcome.NOOP, summary="", duration_s=0.5),
        StepReport(step=_step("a", "COLLAB01"), outcome=ev.StepOutcome.FAILED, summary="", duration_s=1.0),
    )
    report = RunReport(
        run_id="R1", state="failed", reports=reports, audit_path=Path("a"), audit_head="h", duration_s=3.0
    )
    console, out = _console()

    console.print(summary_table(report))
    rows = [line.replace("│", " ").split() for line in out.getvalue().splitlines() if "0" in line]

    assert ["DNS01", "1", "1", "1", "2.5", "s", "ok"] in rows
    assert ["COLLAB01", "0", "0", "0", "1.0", "s", "failed"] in rows


def test_a_dry_run_table_lists_each_step_with_its_verdict() -> None:
    """Step, host, what would happen and why."""
    previews = [
        ev.StepPreview(
            step_id="extract@MPS01",
            host="MPS01",
            kind="extract",
            title="t",
            verdict=ev.Verdict.RUN,
            reason="3 of 22 missing",
        )
    ]
    console, out = _console()

    console.print(preview_table(previews))

    assert "extract" in out.getvalue()
    assert "3 of 22 missing" in out.getvalue()
    assert "run" in out.getvalue()


def test_events_reach_the_renderer_redacted_with_their_outcomes_intact() -> None:
    """Text fields and texts in tuples are redacted; an outcome stays an outcome, so it still renders."""
    got: list[ev.Event] = []
    sink = ev.redacting(got.append, lambda text: text.replace("s3cret", "***"))

    sink(
        ev.StepFinished(
            step_id="a@H",
            host="H",
            kind="k",
            title="t",
            outcome=ev.StepOutcome.FAILED,
            summary="login s3cret refused",
            log_tail=("user s3cret",),
        )
    )
    (event,) = got

    assert isinstance(event, ev.StepFinished)
    assert event.outcome is ev.StepOutcome.FAILED
    assert event.summary == "login *** refused"
    assert event.log_tail == ("user ***",)


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _started(renderer: ProgressRenderer) -> None:
    renderer(ev.RunStarted(run_id="R2", resumed=False, dry_run=False, hosts=("MPS01", "DNS01"), steps=2,
                           audit_path="a", fingerprint="f"))  # fmt: skip
    renderer(ev.StepStarted(step_id="uninstall-components@MPS01", host="MPS01", kind="deployment_tool",
                            title="t", attempt=1))  # fmt: skip


def test_a_long_step_says_every_few_seconds_how_long_it_has_run_and_what_it_does() -> None:
    """Piped: each unit is a line as it begins; a step still running after HEARTBEAT_S says so again."""
    console, out = _console()
    clock = _Clock()
    renderer = ProgressRenderer(console, live=False, clock=clock)
    _started(renderer)
    renderer(ev.StepProgress(step_id="uninstall-components@MPS01", host="MPS01",
                             unit="uninstall Hosted SharePoint 2007 Namespace (3 of 17)"))  # fmt: skip
    clock.now += HEARTBEAT_S - 1
    renderer.tick()
    quiet_so_far = out.getvalue()
    clock.now += 1
    renderer.tick()
    renderer.tick()  # at once again: nothing new to say yet
    clock.now += HEARTBEAT_S
    renderer.tick()
    renderer.stop()

    lines = out.getvalue().splitlines()
    assert (
        "MPS01 uninstall-components@MPS01: uninstall Hosted SharePoint 2007 Namespace (3 of 17)" in lines[-3]
    )
    assert "running" not in quiet_so_far
    assert lines[-2].endswith("MPS01 uninstall-components running 5 s: uninstall Hosted SharePoint 2007 "
                              "Namespace (3 of 17)")  # fmt: skip
    assert lines[-1].endswith("MPS01 uninstall-components running 10 s: uninstall Hosted SharePoint 2007 "
                              "Namespace (3 of 17)")  # fmt: skip


def test_a_finished_step_is_not_said_to_run_on() -> None:
    console, out = _console()
    clock = _Clock()
    renderer = ProgressRenderer(console, live=False, clock=clock)
    _started(renderer)
    renderer(ev.StepFinished(step_id="uninstall-components@MPS01", host="MPS01", kind="deployment_tool",
                             title="t", outcome=ev.StepOutcome.DONE, summary="ok"))  # fmt: skip
    clock.now += 3 * HEARTBEAT_S
    renderer.tick()
    renderer.stop()

    assert "running" not in out.getvalue()


def test_the_live_table_shows_the_unit_and_the_time_the_step_has_run() -> None:
    console = Console(file=io.StringIO(), force_terminal=True, width=200)
    clock = _Clock()
    renderer = ProgressRenderer(console, live=False, clock=clock)
    _started(renderer)
    renderer(
        ev.StepProgress(
            step_id="uninstall-components@MPS01", host="MPS01", unit="initialize Exchange (2 of 8)"
        )
    )
    clock.now += 42
    shown = io.StringIO()
    Console(file=shown, width=200).print(renderer._table())
    renderer.stop()

    row = next(line for line in shown.getvalue().splitlines() if line.startswith("MPS01"))
    assert row.split() == ["MPS01", "uninstall-components", "running", "42", "s", "initialize", "Exchange",
                           "(2", "of", "8)", "0", "0", "0"]  # fmt: skip


def test_quiet_shows_no_progress_at_all() -> None:
    console, out = _console()
    clock = _Clock()
    renderer = ProgressRenderer(console, live=False, quiet=True, clock=clock)
    _started(renderer)
    clock.now += 3 * HEARTBEAT_S
    renderer.tick()
    renderer(ev.Notice(text="a note"))
    renderer.stop()

    assert out.getvalue() == ""
