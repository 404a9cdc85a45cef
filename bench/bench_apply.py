"""
Benchmark of ``rollup apply`` against the simulated lab, with operations that take their time.

For each of two runs, ``--forks N`` (default 8) and ``--forks 1``, a new lab is started in a
process of its own (``rollup lab up --detach --time-factor F``: every operation takes its kind's
duration in docs/lab.md times F, msiexec 15 s x F), and the whole rollup is applied to it from
this process (``rollup.engine.run.apply_plan``, the engine ``rollup apply`` calls), with the
prerequisites gate confirmed in advance. The transport is the real WinRM transport, subclassed
to note, for every remote operation (those of file uploads included), the step running on that
worker thread, the HTTP requests it took (the transport's request counter) and whether its
shell was reused as it was (no shell opened, recycled or reopened, no new authentication).

It prints, measured in that one run:

- HTTP requests per remote operation on a reused shell, for scripts on the command line and on
  stdin (the aim is at most 3 for the former), per file upload, and over every operation of the
  run, the sessions' authentication and shell recycling included;
- the wall time of the run against its critical path: the longest chain of the plan's DAG
  (``PlanStep.after``) with each step weighted by the simulated duration of the operations it
  ran (the lab's durations times F), plus the run-level operations around the steps (the
  remote lock on the Deployment Tool host), which no parallelism can overlap. The ratio
  ``wall / critical path`` is what the run costs beyond what the lab's simulated time forces
  (the bytes of the uploads, the requests, the engine); for comparison, the same wall time
  against the busiest host's simulated time (a host runs one step at a time) and against all
  the run's simulated time, one operation after another. The ``--forks 1`` run shows what
  parallelism buys.

Run on demand (not part of the test suite): ``.venv/bin/python bench/bench_apply.py``. Every
request goes to loopback. Figures only: nothing is asserted about time.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rollup.credentials import CredentialCache, Credentials
from rollup.engine import events as ev
from rollup.engine.options import RunOptions, RunSetup
from rollup.engine.package import load_package
from rollup.engine.run import apply_plan
from rollup.engine.rundir import control_host_name, operator_name
from rollup.lab.runner import DEFAULT_DURATION_S, DEFAULT_DURATIONS
from rollup.model.inventory import AuthTransport, Host, load_inventory
from rollup.model.manifest import load_manifest
from rollup.ops.base import CommandResult
from rollup.ops.registry import operation
from rollup.planner import Plan, build_plan
from rollup.ps.command import RemoteCommand
from rollup.ps.delivery import fits_command_line
from rollup.transport.base import PutResult, Transport, TransportRegistry
from rollup.transport.winrm import WinRMTransport

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "manifests" / "hmc40-rollup-2011-01.yml"
GATE = "confirm-prerequisites"
RUN_LEVEL = "(run)"
"""Where operations outside any step go: the remote lock, taken before the first step and released last."""


@dataclass(frozen=True, slots=True)
class Call:
    """One remote operation as the transport saw it."""

    host: str
    step: str
    op: str
    requests: int
    reused: bool
    """The shell was there and stayed: no shell opened, recycled or reopened, no re-authentication."""
    inline: bool
    """The script travelled on the command line (else on stdin after a bootstrap)."""
    upload: bool
    """Part of a file upload (``put``: the check, the upload with its data on stdin, the time set)."""


@dataclass(slots=True)
class Recorder:
    """What the transports saw, and which step each worker thread is running."""

    calls: list[Call] = field(default_factory=list)
    running: dict[int, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def emit(self, event: ev.Event) -> None:
        """The run's ``EventSink``: steps start and finish on the worker thread that runs them."""
        if isinstance(event, ev.StepStarted):
            self.running[threading.get_ident()] = event.step_id
        elif isinstance(event, ev.StepFinished):
            self.running.pop(threading.get_ident(), None)

    def step(self) -> str:
        return self.running.get(threading.get_ident(), RUN_LEVEL)

    def add(self, call: Call) -> None:
        with self.lock:
            self.calls.append(call)


class CountingTransport(WinRMTransport):
    """
    The WinRM transport, noting every operation's requests (see the module docstring). An upload
    (``put``) runs its operations through ``run``, so they are noted too, marked as an upload's.
    """

    def __init__(self, host: Host, credentials: Credentials, recorder: Recorder) -> None:
        super().__init__(host, credentials)
        self._recorder = recorder
        self._uploading = False

    def _session_events(self) -> int:
        stats = self.stats()
        return stats.shells_opened + stats.shells_recycled + stats.shells_reopened + stats.reauthentications

    def run(self, command: RemoteCommand, *, timeout_s: float, stdin: bytes | None = None) -> CommandResult:
        step = self._recorder.step()
        requests, events = self.requests, self._session_events()
        try:
            return super().run(command, timeout_s=timeout_s, stdin=stdin)
        finally:
            self._recorder.add(
                Call(
                    host=self.host,
                    step=step,
                    op=command.op,
                    requests=self.requests - requests,
                    reused=requests > 0 and self._session_events() == events,
                    inline=stdin is not None or fits_command_line(command.render()),
                    upload=self._uploading,
                )
            )

    def put(self, local: Path, remote: str, *, sha256: str, size: int) -> PutResult:
        self._uploading = True
        try:
            return super().put(local, remote, sha256=sha256, size=size)
        finally:
            self._uploading = False


def registry(recorder: Recorder) -> TransportRegistry:
    def factory(host: Host, credentials: Credentials) -> Transport:
        return CountingTransport(host, credentials, recorder)

    return TransportRegistry({kind.value: factory for kind in AuthTransport})


def rollup(*args: str) -> None:
    """``python -m rollup ARGS``, failing loudly."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "rollup", *args],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"rollup {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")


def simulated_s(op_id: str, factor: float) -> float:
    """The lab's duration of one operation (its kind's, times the time factor)."""
    found = operation(op_id)
    kind = found.kind if found is not None else ""
    return DEFAULT_DURATIONS.get(kind, DEFAULT_DURATION_S) * factor


def critical_path(plan: Plan, weights: Mapping[str, float]) -> tuple[float, list[str]]:
    """The longest chain of ``plan``'s DAG weighted by ``weights`` (seconds per plan step), and its steps."""
    finish: dict[str, float] = {}
    previous: dict[str, str | None] = {}
    for step in plan.steps:  # the KB's order is a topological order
        before = max(step.after, key=lambda s: finish[s], default=None)
        previous[step.id] = before
        finish[step.id] = weights.get(step.id, 0.0) + (finish[before] if before is not None else 0.0)
    last: str | None = max(finish, key=lambda s: finish[s])
    length = finish[last]
    chain = []
    while last is not None:
        chain.append(last)
        last = previous[last]
    return length, chain[::-1]


@dataclass(frozen=True, slots=True)
class Measured:
    forks: int
    state: str
    wall_s: float
    critical_s: float
    run_level_s: float
    work_s: float
    """Every operation's simulated duration, summed: what one host at a time would take."""
    busiest: tuple[str, float]
    chain: list[str]
    calls: list[Call]
    steps: int


def apply_once(folder: Path, *, collab: int, factor: float, forks: int) -> Measured:
    """A new lab in ``folder``, the whole rollup applied to it with ``forks``, the lab stopped."""
    state_dir = folder / "lab"
    rollup("lab", "up", "--state-dir", str(state_dir), "--collab", str(collab),
           "--time-factor", str(factor), "--detach")  # fmt: skip
    try:
        manifest = load_manifest(MANIFEST)
        inventory = load_inventory(str(state_dir / "inventory.yml"))
        plan = build_plan(manifest, inventory)
        package_dir = inventory.settings.package_dir
        assert package_dir is not None
        recorder = Recorder()
        setup = RunSetup(
            manifest=manifest,
            inventory=inventory,
            inventory_digest=inventory.digest(),
            plan=plan,
            package=load_package(package_dir, manifest),
            transports=registry(recorder),
            credentials=CredentialCache(prompt=None),
            runs_dir=folder / "runs",
            operator=operator_name(),
            control_host=control_host_name(),
            emit=recorder.emit,
        )
        started = time.perf_counter()
        report = apply_plan(setup, RunOptions(forks=forks, confirm=(GATE,)))
        wall = time.perf_counter() - started
    finally:
        rollup("lab", "down", "--state-dir", str(state_dir))
    weights: dict[str, float] = {}
    per_host: dict[str, float] = {}
    for call in recorder.calls:
        seconds = simulated_s(call.op, factor)
        weights[call.step] = weights.get(call.step, 0.0) + seconds
        per_host[call.host] = per_host.get(call.host, 0.0) + seconds
    work = sum(weights.values())
    run_level = weights.pop(RUN_LEVEL, 0.0)
    length, chain = critical_path(plan, weights)
    busiest = max(per_host.items(), key=lambda item: item[1])
    return Measured(
        forks=forks,
        state=report.state,
        wall_s=wall,
        critical_s=length + run_level,
        run_level_s=run_level,
        work_s=work,
        busiest=busiest,
        chain=chain,
        calls=recorder.calls,
        steps=len(plan.steps),
    )


def _spread(values: list[int]) -> str:
    if not values:
        return "none"
    ordered = sorted(values)
    median = ordered[len(ordered) // 2]
    mean = sum(values) / len(values)
    return f"{mean:.2f} (min {ordered[0]}, median {median}, max {ordered[-1]}, n={len(values)})"


def report(m: Measured, factor: float) -> None:
    plain = [c for c in m.calls if not c.upload]
    inline = [c.requests for c in plain if c.reused and c.inline]
    piped = [c.requests for c in plain if c.reused and not c.inline]
    sent = [c.requests for c in m.calls if c.upload and c.op == "files.upload"]
    every = sum(c.requests for c in m.calls)
    print(f"--forks {m.forks}: run {m.state}, {m.steps} steps, {len(m.calls)} remote operations "
          f"({len(sent)} of them file uploads), {every} HTTP requests")  # fmt: skip
    print(f"  requests per operation on a reused shell, script on the command line: {_spread(inline)}")
    print(f"  requests per operation on a reused shell, script on stdin: {_spread(piped)}")
    print(f"  requests per file upload (the file's bytes in Sends of at most 108 KiB): {_spread(sent)}")
    print(f"  requests per operation over the whole run (authentication, shell recycling and "
          f"uploads included): {every / max(1, len(m.calls)):.2f}")  # fmt: skip
    print(f"  wall time {m.wall_s:.2f} s; critical path {m.critical_s:.2f} s "
          f"(of which {m.run_level_s:.2f} s outside steps, the remote lock); "
          f"wall / critical path = {m.wall_s / m.critical_s:.2f}")  # fmt: skip
    host, busy = m.busiest
    print(f"  busiest host {host}: {busy:.2f} s of simulated operations "
          f"(wall / busiest host = {m.wall_s / busy:.2f})")  # fmt: skip
    print(f"  all the run's simulated operations, one after another: {m.work_s:.2f} s "
          f"(wall / that = {m.wall_s / m.work_s:.2f})")  # fmt: skip
    print(f"  critical path ({len(m.chain)} steps, time factor {factor:g}): {' > '.join(m.chain)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--collab", type=int, default=6, help="COLLAB hosts in the lab (default 6)")
    parser.add_argument(
        "--time-factor", type=float, default=0.03, help="the lab's time factor (default 0.03)"
    )
    parser.add_argument("--forks", type=int, default=8, help="forks of the parallel run (default 8)")
    args: Any = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="rollup-bench-apply-") as scratch:
        for n, forks in enumerate((args.forks, 1)):
            folder = Path(scratch) / f"run{n}"
            results.append(apply_once(folder, collab=args.collab, factor=args.time_factor, forks=forks))
            report(results[-1], args.time_factor)
    parallel, serial = results
    print(f"--forks {parallel.forks} against --forks 1: wall {parallel.wall_s:.2f} s against "
          f"{serial.wall_s:.2f} s, {serial.wall_s / parallel.wall_s:.2f}x faster")  # fmt: skip


if __name__ == "__main__":
    main()
