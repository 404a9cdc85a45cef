"""
The run's marker on the Deployment Tool host: one run at a time per deployment, across control hosts.

The local lock (``rollup.engine.locks``) stops two runs on one control host; two operators on
two laptops would still interleave uninstalls and reinstalls. So a run also creates a marker
on the Deployment Tool host (``lock.acquire``: create-new, naming the run, operator, control
host and time) before its first step, and deletes it when it ends ``done`` or ``failed``. A
run that waits for an operator keeps it: the deployment is half-way through that run. A
resumed run takes its own marker back (the marker names its run id).

A marker left by a run that cannot finish (its controller is gone for good) is removed with
``rollup apply --break-remote-lock``, which is recorded in the audit log as an override, with
the holder it removed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from rollup.audit.log import AuditLog
from rollup.engine.events import EventSink, Notice
from rollup.engine.retry import RetryPolicy, run_with_retries
from rollup.engine.steps.context import Hosts, op
from rollup.errors import LockHeld, RollupError
from rollup.model.roles import Role
from rollup.ops.heads import RecordParams
from rollup.ops.lockmarker import LockAcquireParams, LockReadParams, LockReleaseParams, LockState

_READ = op("lock.read")
_ACQUIRE = op("lock.acquire")
_RELEASE = op("lock.release")
_RECORD = op("heads.record")
_POLICY = RetryPolicy(attempts=3, first_wait_s=2.0, max_wait_s=10.0, deadline_s=120.0)


class RemoteLock:
    """The marker of run ``run_id`` on the inventory's Deployment Tool host."""

    def __init__(
        self,
        hosts: Hosts,
        *,
        run_id: str,
        operator: str,
        control_host: str,
        emit: EventSink,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        (tool,) = hosts.inventory.hosts_in(Role.DEPLOYMENT_TOOL)
        self.host = tool.name
        self._hosts = hosts
        self._run_id = run_id
        self._operator = operator
        self._control_host = control_host
        self._emit = emit
        self._sleep = sleep

    def _call(self, operation: object, params: object) -> LockState:
        def attempt(_: int) -> LockState:
            state: LockState = self._hosts.call(self.host, operation, params)  # type: ignore[arg-type]
            return state

        return run_with_retries(attempt, _POLICY, on_retry=lambda n, wait, error: None, sleep=self._sleep)

    def acquire(self, *, break_lock: bool, audit: AuditLog) -> None:
        """
        Create the marker, or take this run's own back.

        Raises:
            LockHeld: another run's marker is there (named, with how to deal with it).
            TransportError, CommandFailed: the host could not be asked.
        """
        if break_lock:
            self._break(audit)
        params = LockAcquireParams(
            run_id=self._run_id,
            operator=self._operator,
            control_host=self._control_host,
            inventory=self._hosts.inventory.source,
            acquired_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        state = self._call(_ACQUIRE, params)
        if state.acquired:
            return
        holder = state.holder
        who = holder.describe() if holder else "a file that is not a rollup marker"
        resume = (
            f"`rollup apply --resume {holder.run_id}` on {holder.control_host} finishes that run, or "
            if holder
            else ""
        )
        raise LockHeld(
            f"{self.host}: {state.path} is held by {who}",
            hint=f"{resume}add --break-remote-lock if that run will never finish "
            "(it is recorded in the audit log)",
        )

    def _break(self, audit: AuditLog) -> None:
        found = self._call(_READ, LockReadParams())
        if not found.held or (found.holder is not None and found.holder.run_id == self._run_id):
            return
        holder = found.holder
        victim = holder.run_id if holder else "unknown"
        self._call(_RELEASE, LockReleaseParams(run_id=victim, force=True))
        who = holder.describe() if holder else f"an unreadable marker: {(found.text or '')[:80]!r}"
        audit.override_recorded(
            kind="remote_lock_broken", reason=f"{self.host}: removed {who}", by=self._operator
        )
        self._emit(Notice(text=f"{self.host}: removed the marker of {who} (--break-remote-lock)"))

    def keep_head(self, state: str, head: str) -> None:
        """
        Append the run's audit head to the heads file beside the marker (``heads.record``), a
        copy that cutting records off the end of the local log cannot also remove. A failure is
        a notice: ``rollup audit verify RUN --remote`` then finds no copy there.
        """
        params = RecordParams(
            run_id=self._run_id,
            state=state,
            audit_head=head,
            at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        try:
            run_with_retries(
                lambda _: self._hosts.call(self.host, _RECORD, params),
                _POLICY,
                on_retry=lambda n, wait, error: None,
                sleep=self._sleep,
            )
        except RollupError as exc:
            self._emit(Notice(text=f"{self.host}: could not keep this run's audit head there: {exc}"))

    def release(self) -> None:
        """Delete the marker; a failure is reported as a notice, never fails a finished run."""
        try:
            state = self._call(_RELEASE, LockReleaseParams(run_id=self._run_id))
        except RollupError as exc:
            self._emit(
                Notice(
                    text=f"{self.host}: could not remove this run's marker: {exc}; "
                    "the next run will need --break-remote-lock"
                )
            )
            return
        if state.held:
            self._emit(Notice(text=f"{self.host}: the marker now belongs to another run; left in place"))
