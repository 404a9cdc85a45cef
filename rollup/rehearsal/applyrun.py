"""
Running ``rollup apply`` for a rehearsal: in a process of its own, followed, and struck by drills.

The rehearsal runs the real command (``python -m rollup apply``), so the kill-resume drill kills a
real process with SIGKILL, as a crash would, and the resume is the operator's own
``rollup apply --resume RUN_ID``. Each process writes its output to ``apply-<n>.log`` in the
rehearsal's folder. The runner finds the run the first process created (the new directory in the
runs directory) and follows it through its journal, polling; the drills strike when the number of
finished steps reaches their points (``rollup.rehearsal.drills``).

After a kill, the run is resumed. When the host-down drill has struck and a process ends with
the run failed, the runner waits for the host to be back and resumes once more: a host that was
away longer than the retries wait is exactly what a resume is for. Any other failure ends the
apply stage. How the run ended is read from its journal, never guessed from exit codes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rollup.engine.journal import read_journal
from rollup.engine.journal_state import replay
from rollup.engine.rundir import RunDir, list_runs
from rollup.rehearsal.drills import DrillPlan, HostOutage, judge_host_down, judge_kill_resume, read_progress
from rollup.rehearsal.record import DrillRecord

POLL_S = 0.02
BACK_TIMEOUT_S = 900.0
"""How long the host-down drill waits for its host to answer WinRM again."""


RESUME_REASON = "rehearsal drill: the resume goes on while a host may still be down"


@dataclass(frozen=True, slots=True, kw_only=True)
class ApplyCommand:
    """How to start ``rollup apply`` for the rehearsal's lab."""

    inventory: Path
    manifest: Path
    runs_dir: Path
    package_dir: Path | None
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    confirm: tuple[str, ...] = ()
    """Manual gates confirmed in advance (``--confirm``), given to every process of the run."""
    note: str = ""
    timeout_s: float = 4 * 3600.0
    """Longest a single process may run before it is stopped and the stage fails."""

    def arguments(self, resume: str | None) -> list[str]:
        """The command line of the first process, or of a resume of ``resume``."""
        if resume is not None:
            # A drill resumes the run while a host it took down may still be coming back: the
            # run's own retries are what the drill exercises, and the rehearsal's pre-flight
            # is a stage of its own, so the resumes skip apply's pre-flight (audited).
            found = ["apply", "--resume", resume, "--skip-preflight", "--reason", RESUME_REASON]
        else:
            found = ["apply", "--inventory", str(self.inventory), "--manifest", str(self.manifest)]
            if self.package_dir is not None:
                found += ["--package-dir", str(self.package_dir)]
        for step in self.confirm:
            found += ["--confirm", step]
        if self.confirm and self.note:
            found += ["--note", self.note]
        return [*found, "--runs-dir", str(self.runs_dir)]


@dataclass(frozen=True, slots=True, kw_only=True)
class ApplyOutcome:
    """How the apply stage ended."""

    state: str
    """The run's state in its journal (``done``, ``failed``, ``waiting``, ``interrupted``), or
    ``not started`` when no run was created."""
    run: RunDir | None
    processes: int
    retries: int
    step_counts: Mapping[str, int]
    drills: tuple[DrillRecord, ...]
    detail: str


class ApplyRunner:
    """Runs and follows one rehearsal's apply (see the module docstring)."""

    def __init__(
        self,
        command: ApplyCommand,
        *,
        logs: Path,
        step_hosts: Mapping[str, str],
        drills: DrillPlan,
        outage: HostOutage | None,
        poll_s: float = POLL_S,
    ) -> None:
        self.command = command
        self.logs = logs
        self.step_hosts = dict(step_hosts)
        self.plan = drills
        self.outage = outage
        self.poll_s = poll_s
        self.processes = 0
        self.killed_after: int | None = None
        self.kept_at_kill: frozenset[str] = frozenset()
        self.down_host: str | None = None
        self.down_after: int | None = None

    def run(self) -> ApplyOutcome:
        before = {run.run_id for run in list_runs(self.command.runs_dir)}
        process = self._start(None)
        run = self._find_run(process, before)
        if run is None:
            process.wait()
            last = " | ".join(tail(self._log(1), 2)) or f"exit code {process.returncode}"
            return self._outcome(None, "not started", f"rollup apply created no run: {last}")
        resumed_for_outage = False
        while True:
            killed = self._follow(process, run)
            state = _state(run)
            if killed:
                process = self._start(run.run_id)
                continue
            if state == "failed" and self.down_host is not None and not resumed_for_outage:
                resumed_for_outage = True
                if self.outage is None or self.outage.wait_up(self.down_host, BACK_TIMEOUT_S):
                    process = self._start(run.run_id)
                    continue
            break
        detail = f"run {run.run_id} ended {state} after {self.processes} process(es)"
        if state != "done":
            detail += ": " + " | ".join(tail(self._log(self.processes), 2))
        return self._outcome(run, state, detail, resumed_for_outage=resumed_for_outage)

    def _start(self, resume: str | None) -> subprocess.Popen[bytes]:
        self.processes += 1
        with self._log(self.processes).open("ab") as output:
            return subprocess.Popen(
                [sys.executable, "-m", "rollup", *self.command.arguments(resume)],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                env=dict(self.command.env),
                close_fds=True,
            )

    def _log(self, n: int) -> Path:
        return self.logs / f"apply-{n}.log"

    def _find_run(self, process: subprocess.Popen[bytes], before: set[str]) -> RunDir | None:
        """The run directory the first process creates (``None`` if it ends without one)."""
        while True:
            new = [run for run in list_runs(self.command.runs_dir) if run.run_id not in before]
            if new:
                return new[-1]
            if process.poll() is not None:
                return None
            time.sleep(self.poll_s)

    def _follow(self, process: subprocess.Popen[bytes], run: RunDir) -> bool:
        """Follow ``run`` until ``process`` ends; strike the drills on the way. Whether it was killed."""
        deadline = time.monotonic() + self.command.timeout_s
        while process.poll() is None:
            progress = read_progress(run.journal_path, self.step_hosts)
            kill_at, down_at = self.plan.kill_after, self.plan.down_after
            if kill_at is not None and self.killed_after is None and progress.finished >= kill_at:
                self.killed_after, self.kept_at_kill = progress.finished, progress.kept
                process.send_signal(signal.SIGKILL)
                process.wait()
                return True
            if down_at is not None and self.down_after is None and progress.finished >= down_at:
                self.down_after = progress.finished
                self.down_host = self.plan.choose_host(progress.pending_hosts, progress.running_hosts)
                if self.down_host is not None and self.outage is not None:
                    self.outage.take_down(self.down_host, self.plan.down_seconds)
            if time.monotonic() > deadline:
                process.kill()
                process.wait()
                return False
            time.sleep(self.poll_s)
        return False

    def _outcome(
        self, run: RunDir | None, state: str, detail: str, *, resumed_for_outage: bool = False
    ) -> ApplyOutcome:
        progress = read_progress(run.journal_path, self.step_hosts) if run is not None else None
        retries = progress.retries if progress is not None else 0
        drills: list[DrillRecord] = []
        if run is not None and self.plan.kill_after is not None:
            drills.append(judge_kill_resume(
                journal=run.journal_path, audit_log=run.audit_path, killed_after=self.killed_after,
                kept_at_kill=self.kept_at_kill, state=state, total=len(self.step_hosts),
            ))  # fmt: skip
        if self.plan.down_after is not None:
            host, outage = self.down_host, self.outage
            back = host is None or outage is None or outage.wait_up(host, BACK_TIMEOUT_S)
            drills.append(judge_host_down(
                host=self.down_host, after=self.down_after, seconds=self.plan.down_seconds, back=back,
                state=state, resumed=resumed_for_outage, retries=retries,
            ))  # fmt: skip
        return ApplyOutcome(
            state=state,
            run=run,
            processes=self.processes,
            retries=retries,
            step_counts=_counts(run),
            drills=tuple(drills),
            detail=detail,
        )


def _state(run: RunDir) -> str:
    return replay(read_journal(run.journal_path).entries, is_live=False).run_state.value


def _counts(run: RunDir | None) -> dict[str, int]:
    if run is None:
        return {}
    return replay(read_journal(run.journal_path).entries, is_live=False).counts()


def tail(path: Path, lines: int = 5) -> Sequence[str]:
    """The last lines of a process log, for a failure's detail."""
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-lines:]
    except OSError:
        return ()
