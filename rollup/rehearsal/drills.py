"""
Drills: the faults a rehearsal puts its run through, where they strike, and how they are judged.

- ``kill-resume``: the ``rollup apply`` process is killed with SIGKILL once a seeded number of the
  plan's steps have finished (between a fifth and three fifths of them), as a crashed or
  powered-off control host would stop it, and the run is resumed with ``rollup apply --resume``.
  It passes when the resumed run finishes ``done``, no step finished before the kill was started
  again after it (above all, no MSI install ran twice), and the run's audit log still verifies.
- ``host-down``: once a seeded number of steps have finished (between a quarter and half of
  them), one host in the middle of a step (else one with steps to come; a seeded choice) goes
  down and comes back a while later: its VM is turned off and on again through its provider,
  or, in the simulated lab, its WinRM listeners close (``HostOutage``). It passes when the run
  still finishes ``done``: riding it out with retries, or, when the host was away longer than
  the retries wait, with one resume once it is back.

The seed makes a rehearsal repeatable: with the same seed and plan, the drills strike at the same
points and the same host. Judging reads the run's journal (``rollup.engine.journal``) and audit log.
"""

from __future__ import annotations

import random
import socket
import threading
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from rollup.audit.chain import verify_chain
from rollup.engine.journal import read_journal
from rollup.engine.journal_state import RunResumed, StepStarted, StepStatus, replay
from rollup.rehearsal.record import DrillName, DrillRecord

if TYPE_CHECKING:
    from rollup.model.inventory import Host
    from rollup.rehearsal.providers import SnapshotProvider, VmTarget

DRILLS: tuple[DrillName, ...] = ("kill-resume", "host-down")
_FINAL = frozenset({StepStatus.DONE, StepStatus.NOOP, StepStatus.SKIPPED, StepStatus.FAILED})
_KEPT = frozenset({StepStatus.DONE, StepStatus.NOOP, StepStatus.SKIPPED})


class HostOutage(Protocol):
    """How the host-down drill takes a host away and gets it back."""

    def take_down(self, host: str, seconds: float) -> None:
        """Take ``host`` down now; it comes back by itself about ``seconds`` later."""
        ...

    def wait_up(self, host: str, timeout_s: float) -> bool:
        """Wait until ``host`` is back and answers WinRM; whether it did within ``timeout_s``."""
        ...


def answers(address: str, port: int, timeout_s: float, *, poll_s: float = 1.0) -> bool:
    """Whether a TCP connection to ``address:port`` opens within ``timeout_s`` (WinRM's listener is up)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with socket.create_connection((address, port), timeout=min(5.0, max(0.1, timeout_s))):
                return True
        except OSError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(poll_s)


class ProviderOutage:
    """
    The host-down drill on a real lab: the host's VM is turned off through its provider (as if
    its plug were pulled), and turned on again ``seconds`` later from a thread of its own; the
    host is back when its WinRM port answers. The providers are used by nothing else meanwhile.
    """

    def __init__(self, hosts: Mapping[str, tuple[Host, SnapshotProvider, VmTarget]]) -> None:
        self._hosts = dict(hosts)
        self._restarts: dict[str, threading.Thread] = {}
        self._errors: dict[str, str] = {}

    def take_down(self, host: str, seconds: float) -> None:
        _, provider, vm = self._hosts[host]
        provider.power_off(vm)

        def restart() -> None:
            time.sleep(seconds)
            try:
                provider.power_on(vm)
            except Exception as exc:  # reported by wait_up: the drill fails, the rehearsal goes on
                self._errors[host] = " ".join(str(exc).split())

        thread = threading.Thread(target=restart, name=f"host-down-{host}", daemon=True)
        self._restarts[host] = thread
        thread.start()

    def wait_up(self, host: str, timeout_s: float) -> bool:
        started = time.monotonic()
        thread = self._restarts.get(host)
        if thread is not None:
            thread.join(timeout_s)
        if host in self._errors or (thread is not None and thread.is_alive()):
            return False
        entry, _, _ = self._hosts[host]
        return answers(entry.address, entry.port, max(0.0, timeout_s - (time.monotonic() - started)))


@dataclass(frozen=True, slots=True, kw_only=True)
class DrillPlan:
    """Where the drills strike: after how many finished steps (``None``: that drill is off)."""

    seed: int
    kill_after: int | None = None
    down_after: int | None = None
    down_seconds: float = 3.0

    def names(self) -> tuple[DrillName, ...]:
        found: list[DrillName] = []
        if self.kill_after is not None:
            found.append("kill-resume")
        if self.down_after is not None:
            found.append("host-down")
        return tuple(found)

    def choose_host(self, pending: Collection[str], running: Collection[str] = ()) -> str | None:
        """
        The host the host-down drill takes down: one in the middle of a step if there is one,
        else one with steps still to come (a seeded choice either way).
        """
        candidates = sorted(running) or sorted(pending)
        if not candidates:
            return None
        return random.Random(f"{self.seed}/host-down").choice(candidates)  # noqa: S311 - repeatable


def plan_drills(names: Sequence[DrillName], *, seed: int, steps: int, down_seconds: float = 3.0) -> DrillPlan:
    """The strike points of ``names`` for a plan of ``steps`` steps, drawn from ``seed``."""
    rng = random.Random(seed)  # noqa: S311 - a repeatable drill, not a secret
    kill = rng.randint(max(1, steps // 5), max(1, steps * 3 // 5))
    down = rng.randint(max(1, steps // 4), max(1, steps // 2))
    return DrillPlan(
        seed=seed,
        kill_after=kill if "kill-resume" in names else None,
        down_after=down if "host-down" in names else None,
        down_seconds=down_seconds,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Progress:
    """A run's journal at one moment: what has finished, and who still has steps to come."""

    finished: int
    kept: frozenset[str]
    """Steps done, found already in effect, or skipped: a resume keeps them."""
    pending_hosts: frozenset[str]
    running_hosts: frozenset[str]
    """Hosts with a step started and not finished: the ones an outage hits mid-step."""
    retries: int
    """Retries of the steps that finished (their last finish)."""


def read_progress(journal: Path, step_hosts: Mapping[str, str]) -> Progress:
    """The progress in ``journal`` of a plan whose steps run on ``step_hosts`` (step id -> host)."""
    state = replay(read_journal(journal).entries)
    final = {step for step, record in state.steps.items() if record.status in _FINAL}
    return Progress(
        finished=len(final),
        kept=frozenset(step for step, record in state.steps.items() if record.status in _KEPT),
        pending_hosts=frozenset(host for step, host in step_hosts.items() if step not in final),
        running_hosts=frozenset(
            step_hosts[step]
            for step, record in state.steps.items()
            if record.status is StepStatus.RUNNING and step in step_hosts
        ),
        retries=sum(record.retries for record in state.steps.values()),
    )


def judge_kill_resume(
    *,
    journal: Path,
    audit_log: Path,
    killed_after: int | None,
    kept_at_kill: frozenset[str],
    state: str,
    total: int,
) -> DrillRecord:
    """
    The kill-resume drill's verdict: the run ended ``done`` after a resume, no step kept at the
    kill started again, and the audit chain verifies.
    """
    if killed_after is None:
        return DrillRecord(
            name="kill-resume", result="failed", after_steps=0,
            detail="the run ended before the drill could kill it",
        )  # fmt: skip
    entries = read_journal(journal).entries
    resumed = next((n for n, entry in enumerate(entries) if isinstance(entry, RunResumed)), None)
    after = entries[resumed:] if resumed is not None else ()
    repeated = sorted({e.step for e in after if isinstance(e, StepStarted) and e.step in kept_at_kill})
    chain = verify_chain(audit_log)
    problems = []
    if resumed is None:
        problems.append("the run was never resumed")
    if state != "done":
        problems.append(f"the resumed run ended {state}")
    if repeated:
        shown = ", ".join(repeated[:3])
        problems.append(f"{len(repeated)} step(s) finished before the kill ran again: {shown}")
    if chain.bad is not None:
        problems.append(f"the audit log is broken at {chain.bad.describe()}")
    detail = (
        f"killed (SIGKILL) after {killed_after} of {total} steps had finished; resumed to {state}; "
        f"none of the {len(kept_at_kill)} steps finished before the kill ran again; "
        f"the audit log verifies ({chain.records} records)"
    )
    return DrillRecord(
        name="kill-resume",
        result="failed" if problems else "passed",
        after_steps=killed_after,
        detail="; ".join(problems) if problems else detail,
    )


def judge_host_down(
    *,
    host: str | None,
    after: int | None,
    seconds: float,
    back: bool,
    state: str,
    resumed: bool,
    retries: int,
) -> DrillRecord:
    """The host-down drill's verdict: the host went down mid-run, came back, and the run ended ``done``."""
    if host is None or after is None:
        return DrillRecord(
            name="host-down", result="failed", after_steps=after or 0,
            detail="the run ended before the drill could take a host down",
        )  # fmt: skip
    how = "after one resume once it was back" if resumed else f"riding it out with {retries} retries"
    if not back:
        return DrillRecord(
            name="host-down", result="failed", host=host, after_steps=after,
            detail=f"{host} did not come back after going down",
        )  # fmt: skip
    if state != "done":
        return DrillRecord(
            name="host-down", result="failed", host=host, after_steps=after,
            detail=f"{host} went down for {seconds:g} s after {after} steps; the run ended {state}",
        )  # fmt: skip
    return DrillRecord(
        name="host-down",
        result="passed",
        host=host,
        after_steps=after,
        detail=f"{host} went down for {seconds:g} s after {after} steps; the run finished done, {how}",
    )
