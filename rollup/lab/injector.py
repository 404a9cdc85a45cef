"""
A scenario's faults, at run time: the WinRM request hook and the ``LabRunner`` ``before`` hook.

Each rule counts, per host, the calls it matches from 1 when the lab starts: for an HTTP rule,
the requests of its ``action`` whose operation is its ``op`` (``*``: any), where ``start`` is
the request that starts a run (the Command, or the Send completing a script sent on stdin); for
an operation rule, the scripts of its ``op`` that reach the host. ``nth`` triggers on those counts;
``probability`` draws once per matching call from a generator seeded with the scenario's
seed, the rule's index and the host's name, so a run is repeatable whatever the other hosts
do. When several HTTP rules trigger on one request, the first in the file decides the answer
(a request has one); every operation rule that triggers applies.

Timed conditions (a disk full or a file locked for ``seconds``) are lifted by a timer; when
the lab stops, the ones still pending are lifted at once, so a state directory never keeps a
condition nobody will lift. Conditions without ``seconds`` stay until ``rollup lab release``.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from rollup.lab import scenario as sc
from rollup.lab.patterns import matches
from rollup.lab.state import HostState, StateStore, path_key
from rollup.lab.wsman import (
    WINRM_2_0,
    Action,
    Delay,
    Fault,
    FaultReply,
    GoDown,
    NoAnswer,
    RejectAuth,
    RequestHook,
    RequestInfo,
    ResetConnection,
    WSManFault,
)
from rollup.lab.wsman import faults as wsman_faults
from rollup.ps.delivery import BOOTSTRAP, encode_command

log = logging.getLogger("rollup.lab.scenario")

INJECTED = "fault injected by the lab's scenario"


@dataclass(frozen=True, slots=True)
class _Lift:
    """A timed condition to remove from a host's state."""

    host: str
    field: str
    path: str


class _Trigger:
    """One rule on one host: its count of matching calls and its random draws."""

    def __init__(self, rule: sc.HttpFault | sc.OperationFault, index: int, host: str, seed: int) -> None:
        self.rule = rule
        self.index = index
        self.count = 0
        self._nth = frozenset(rule.nth or ())
        # Repeatable draws, not secrets: a seeded generator is the point.
        self._random = random.Random(f"{seed}/{index}/{host.lower()}")  # noqa: S311

    def fires(self) -> bool:
        """Count one matching call; whether the rule triggers on it."""
        self.count += 1
        if self.rule.probability is not None:
            return self._random.random() < self.rule.probability
        return self.count in self._nth


class FaultInjector:
    """
    Runs a scenario's fault rules for the hosts of one lab.

    Args:
        scenario: the validated scenario.
        hosts: the lab's host names.
        store: the lab's state store (timed conditions are lifted through it).
    """

    def __init__(self, scenario: sc.Scenario, hosts: Sequence[str], store: StateStore) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._http: dict[str, list[_Trigger]] = {}
        self._ops: dict[str, list[_Trigger]] = {}
        for index, rule in enumerate(scenario.faults):
            table = self._http if rule.kind in sc.HTTP_KINDS else self._ops
            for host in hosts:
                if any(matches(pattern, host) for pattern in rule.hosts):
                    table.setdefault(host.lower(), []).append(_Trigger(rule, index, host, scenario.seed))
        self._timers: dict[_Lift, threading.Timer] = {}
        self._closed = False

    def request_hook(self, host: str) -> RequestHook | None:
        """The WinRM request hook of ``host``, or ``None`` when no HTTP rule concerns it."""
        triggers = self._http.get(host.lower())
        if not triggers:
            return None

        def hook(info: RequestInfo) -> Fault | None:
            chosen: sc.HttpFault | None = None
            with self._lock:
                for trigger in triggers:
                    rule = trigger.rule
                    if not isinstance(rule, sc.HttpFault) or not _http_matches(rule, info):
                        continue
                    if trigger.fires() and chosen is None:
                        chosen = rule
                        log.info(
                            "%s: fault %d (%s) on %s request %d of %s",
                            host,
                            trigger.index,
                            rule.kind,
                            info.action.value,
                            trigger.count,
                            info.op or "-",
                        )
            return None if chosen is None else _http_fault(chosen)

        return hook

    def before(self, host: str, op_id: str, n: int, state: HostState, now: float) -> float | None:
        """
        ``LabRunner``'s ``before`` hook: apply the operation rules that trigger on this call.

        Returns:
            The duration override of a triggered ``slow`` rule (the longest), else ``None``.
        """
        duration: float | None = None
        with self._lock:
            fired = [t for t in self._ops.get(host.lower(), ()) if _op_matches(t.rule, op_id) and t.fires()]
        for trigger in fired:
            rule = trigger.rule
            log.info("%s: fault %d (%s) on %s call %d", host, trigger.index, rule.kind, op_id, trigger.count)
            if isinstance(rule, sc.InstallerBusy):
                state.installer_busy_until = max(state.installer_busy_until or 0.0, now + rule.seconds)
            elif isinstance(rule, sc.ExitCode):
                state.forced_exit_codes[op_id] = [rule.code, *state.forced_exit_codes.get(op_id, [])]
            elif isinstance(rule, sc.DiskFull | sc.LockedFile):
                field = "disk_full_paths" if isinstance(rule, sc.DiskFull) else "locked_files"
                paths: list[str] = getattr(state, field)
                if all(path_key(p) != path_key(rule.path) for p in paths):
                    setattr(state, field, [*paths, rule.path])
                if rule.seconds is not None:
                    self._schedule(_Lift(state.name, field, rule.path), rule.seconds)
            elif isinstance(rule, sc.Slow):
                duration = max(duration or 0.0, rule.seconds)
        return duration

    def close(self) -> None:
        """Cancel the timers and lift every timed condition still pending (the lab is stopping)."""
        with self._lock:
            self._closed = True
            pending = list(self._timers)
            for timer in self._timers.values():
                timer.cancel()
            self._timers.clear()
        for lift in pending:
            self._lift(lift)

    def _schedule(self, lift: _Lift, seconds: float) -> None:
        with self._lock:
            if self._closed:
                return
            earlier = self._timers.pop(lift, None)
            if earlier is not None:
                earlier.cancel()
            timer = threading.Timer(seconds, self._expire, (lift,))
            timer.daemon = True
            self._timers[lift] = timer
            timer.start()

    def _expire(self, lift: _Lift) -> None:
        with self._lock:
            if self._timers.get(lift) is None or self._closed:
                return
            del self._timers[lift]
        self._lift(lift)

    def _lift(self, lift: _Lift) -> None:
        with self._store.update(lift.host) as state:
            paths: list[str] = getattr(state, lift.field)
            setattr(state, lift.field, [p for p in paths if path_key(p) != path_key(lift.path)])
        log.info("%s: %s %s lifted", lift.host, lift.field, lift.path)


def _op_matches(rule: sc.HttpFault | sc.OperationFault, op_id: str) -> bool:
    if isinstance(rule, sc.ExitCode) and op_id not in sc.FORCED_EXIT_OPS:
        return False
    return rule.op in ("*", op_id)


_BOOTSTRAP = encode_command(BOOTSTRAP)


def _http_matches(rule: sc.HttpFault, info: RequestInfo) -> bool:
    if rule.action == "start" and not _starts_run(info):
        return False
    if rule.action not in ("start", "any") and Action(rule.action.capitalize()) is not info.action:
        return False
    return rule.op in ("*", info.op)


def _starts_run(info: RequestInfo) -> bool:
    """
    Whether the request starts a run: a Command, unless it is the stdin bootstrap, whose run
    starts with the Send that completes the script (the one that makes its operation known).
    """
    bootstrap = info.command_line is not None and info.command_line.endswith(_BOOTSTRAP)
    if info.action is Action.COMMAND:
        return not bootstrap
    return info.action is Action.SEND and bootstrap and info.op is not None


def _http_fault(rule: sc.HttpFault) -> Fault:
    """The WinRM server's fault for a triggered HTTP rule."""
    if isinstance(rule, sc.Http500):
        return FaultReply(_wsman_fault(rule.fault))
    if isinstance(rule, sc.Reset):
        return ResetConnection(processed=rule.processed)
    if isinstance(rule, sc.NoAnswer):
        return NoAnswer(rule.hold_s, processed=rule.processed)
    if isinstance(rule, sc.AuthFailure):
        return RejectAuth()
    if isinstance(rule, sc.HostDown):
        return GoDown(rule.seconds, processed=rule.processed)
    return Delay(rule.seconds)


def _wsman_fault(name: str) -> WSManFault:
    """The body of an ``http_500`` rule: Windows' own faults, or a plugin error naming the scenario."""
    if name == "timed_out":
        return wsman_faults.operation_timed_out()
    if name == "shell_quota":
        return wsman_faults.shell_quota(WINRM_2_0.max_shells_per_user)
    if name == "operations_quota":
        return wsman_faults.operations_quota(WINRM_2_0.max_operations_per_user)
    return wsman_faults.provider_failure(INJECTED)
