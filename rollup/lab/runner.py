"""
The simulated hosts' PowerShell: runs the scripts that reach a host, and times them.

``LabRunner`` is the ``ScriptRunner`` the WinRM server calls with every script that reaches a
host. It runs the script itself in the lab's PowerShell interpreter (``rollup.lab.pwsh``)
against the host's Windows model (``rollup.lab.windows.Machine`` over the host's state), and
answers with the script's exit code, stdout and stderr, as powershell.exe does for WinRS. The
script's ``#rollup-op`` header names the operation: the lab reads it only to time the run and to
give fault scenarios their hook, never to decide what the script does. A script without a
header, or naming an operation this version does not know, fails at once (exit 1, a message on
stderr): the lab's hosts run rollup's operations, not arbitrary scripts.

Timing: a script arrives (``__call__``), a fault scenario's ``before`` hook may change the host
there and then (hold the installer mutex, fill a disk, lock a file, queue exit codes), and the
run finishes ``durations[kind] * time_factor`` seconds later (``ScriptRun.finish``), when the
script runs under the host's lock. ``finish`` counts the run: it appends the operation id to
``HostState.operations`` and adds 1 to ``mutations`` when the run changed the state (compared
field by field). A read-only operation whose script changes the state is a bug in the
operation: ``finish`` raises ``ReadOnlyViolation`` and the change is discarded.

The machine gets the store as its ``peers``, so a Hyper-V host can capture and restore its
guests' states. Changes made there are the guests' own: they are saved under each guest's lock
and never counted as mutations of the host the script ran on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from types import MappingProxyType
from typing import Any

from rollup.errors import ResultParseError
from rollup.lab.state import BlobStore, HostState, StateStore
from rollup.lab.wsman.api import ScriptOutcome, ScriptRun
from rollup.ops.base import Operation
from rollup.ops.registry import operation
from rollup.ps.command import read_header

BeforeHook = Callable[[str, str, int, HostState, float], float | None]
"""
``before(host, op_id, n, state, now) -> duration override (seconds) or None``: called when a
script arrives, inside ``store.update(host)``, ``n`` counting from 1 the runs of ``op_id`` this
host has received since the runner started. Its changes to ``state`` are the scenario's, not
the operation's: they are saved but never counted as mutations.
"""

DEFAULT_DURATIONS: Mapping[str, float] = MappingProxyType(
    {
        "fact": 0.5,
        "copy": 2.0,
        "msi": 15.0,
        "iis": 5.0,
        "complus": 10.0,
        "sql": 2.0,
        "service": 3.0,
        "deploytool": 30.0,
        "lock": 0.5,
        "boot": 60.0,
    }
)
"""Seconds an operation of each kind takes on a simulated host, before ``time_factor``."""

DEFAULT_DURATION_S = 1.0
"""For an operation kind ``durations`` does not name."""

KEPT_OPERATIONS = 1000
"""``HostState.operations`` keeps the ids of the last this many runs."""

LAB_USER = "HOSTING\\rollup-lab"
"""The account simulations see as the caller (``SimContext.user``) unless told otherwise."""

NO_HEADER = (
    "The simulated host runs only rollup operation scripts, and this script has no #rollup-op header.\r\n"
)


class ReadOnlyViolation(RuntimeError):
    """A read-only operation's simulation changed the host's state: a bug in that operation."""


@dataclass(frozen=True, slots=True)
class _Refusal:
    """A script the lab cannot run: it fails at once, as a PowerShell script error would."""

    message: str

    def __call__(self) -> ScriptOutcome:
        return ScriptOutcome(1, "", self.message)


def _counted_fields(state: HostState) -> dict[str, Any]:
    """The state as compared for mutations: everything but the run counters themselves."""
    return state.model_dump(mode="python", exclude={"mutations", "operations"})


RestartHook = Callable[[str, float, float], None]
"""``(host, after_s, down_s)``: a run made ``host`` restart; it goes down ``after_s`` from now for
``down_s``, and ``LabRunner.restarted`` is called when it is back."""


class LabRunner:
    """
    A ``ScriptRunner`` over a ``StateStore`` and a ``BlobStore``.

    Args:
        clock: the lab's time, seconds since the epoch (``SimContext.now``, the ``before`` hook).
        durations: seconds per operation kind (``Operation.kind``), before ``time_factor``.
        time_factor: multiplies every duration, the ``before`` hook's overrides included
            (0 runs everything at once; 0.01 makes a 15 s install take 0.15 s).
        before: the fault scenario's hook (see ``BeforeHook``).
        user: the caller's account as simulations see it.
        restart: called when a run has made the host restart (``RestartHook``); without one, a
            restart only clears the pending-restart markers at once.
    """

    def __init__(
        self,
        store: StateStore,
        blobs: BlobStore,
        *,
        clock: Callable[[], float] = time.time,
        durations: Mapping[str, float] = DEFAULT_DURATIONS,
        time_factor: float = 1.0,
        before: BeforeHook | None = None,
        user: str = LAB_USER,
        restart: RestartHook | None = None,
    ) -> None:
        if time_factor < 0:
            raise ValueError("time_factor must not be negative")
        self._store = store
        self._blobs = blobs
        self._clock = clock
        self._durations = dict(durations)
        self._time_factor = time_factor
        self._before = before
        self._user = user
        self._restart = restart
        self._counts: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def wants_stdin(self, script: str) -> bool:
        """
        Whether ``script``'s operation reads data from stdin (``Operation.reads_stdin``): the
        cmd layer then collects stdin up to the client's End before calling the runner.
        """
        try:
            header = read_header(script)
        except ResultParseError:
            return False
        op = operation(header[0]) if header else None
        return op is not None and op.reads_stdin

    def __call__(self, host: str, script: str, stdin: bytes = b"") -> ScriptRun:
        """Start a run of ``script`` on ``host``; ``stdin`` is what the client sent, if anything."""
        try:
            header = read_header(script)
        except ResultParseError as exc:
            return ScriptRun(0.0, _Refusal(f"{exc}\r\n"))
        if header is None:
            return ScriptRun(0.0, _Refusal(NO_HEADER))
        op_id, values = header
        op = operation(op_id)
        if op is None:
            return ScriptRun(0.0, _Refusal(f"The simulated host has no operation {op_id!r}.\r\n"))
        try:
            op.params_from(values)
        except (ResultParseError, TypeError) as exc:
            return ScriptRun(0.0, _Refusal(f"{exc}\r\n"))
        override = self._arrive(host, op_id)
        seconds = self._durations.get(op.kind, DEFAULT_DURATION_S) if override is None else override
        return ScriptRun(
            max(0.0, seconds) * self._time_factor, partial(self._finish, host, op, script, stdin)
        )

    def restarted(self, host: str) -> None:
        """
        ``host`` has restarted: the file renames and installs Windows kept for the next boot are
        done, so no restart is pending any more (the markers ``host.facts`` reads are gone).
        """
        with self._store.update(host) as state:
            state.files.update(state.pending_files)  # the installs' files that were in use
            state.pending_files = {}
            state.pending_reboot = []
            state.booted_at = self._clock()

    def _arrive(self, host: str, op_id: str) -> float | None:
        """Count the arrival and give the scenario its moment; its duration override, if any."""
        with self._lock:
            key = (host.lower(), op_id)
            n = self._counts[key] = self._counts.get(key, 0) + 1
        if self._before is None:
            return None
        with self._store.update(host) as state:
            return self._before(host, op_id, n, state, self._clock())

    def _finish(self, host: str, op: Operation[Any, Any], script: str, stdin: bytes) -> ScriptOutcome:
        """Run the script itself in the lab's PowerShell against the host's Windows model, and count it."""
        from rollup.lab.pwsh.host import run_powershell
        from rollup.lab.windows.machine import Machine

        lines = stdin.decode("utf-8", "replace").splitlines() if stdin else []
        with self._store.update(host) as state:
            before = _counted_fields(state)
            machine = Machine(state, self._blobs, now=self._clock(), user=self._user, peers=self._store)
            run = run_powershell(script, machine, lines)
            changed = _counted_fields(state) != before
            if changed and not op.mutates:
                raise ReadOnlyViolation(f"{host}: the read-only operation {op.id} changed the host's state")
            state.operations = [*state.operations, op.id][-KEPT_OPERATIONS:]
            if changed:
                state.mutations += 1
            restart_in = state.restart_in_s
            state.restart_in_s = None
            if restart_in is not None and self._restart is None:
                state.pending_reboot = []
                state.booted_at = self._clock()
        if restart_in is not None and self._restart is not None:
            boot = self._durations.get("boot", DEFAULT_DURATIONS["boot"])
            self._restart(host, restart_in * self._time_factor, boot * self._time_factor)
        return ScriptOutcome(run.exit_code, run.stdout, run.stderr)
