"""
What a step executor works with: sessions to the hosts, the step's context, and its results.

An executor (``rollup.engine.steps.<kind>``) is two functions over a ``StepContext``:

- ``check(ctx) -> Guard``: read-only facts that say whether the step's effect is already in
  place. Every attempt starts here (first, retry, or after a resume), so an action that may
  have started before a crash or a broken link is judged by the host's state, never re-run
  blindly;
- ``act(ctx, guard) -> Acted``: make the change, and verify it. It raises
  ``rollup.engine.retry.StepFailed`` (one line naming the host, with what the operator needs:
  the exit code, a hint, the MSI log's tail; retried when the step lists that exit code),
  ``GateWaiting`` when a person must act and nobody can be asked, or a transport error.

``Hosts`` gives every executor thread-safe access to the sessions: one transport per host,
opened on first use, used by one command at a time. In a dry run it refuses, loudly, any
operation that may change a host, so "dry run changes nothing" is enforced here rather than
trusted to each executor.
"""

from __future__ import annotations

import contextlib
import functools
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from rollup.audit.redact import SecretRegistry
from rollup.credentials import CredentialCache
from rollup.engine.identity import IdentityBook, IdentityMismatch
from rollup.engine.journal_state import Confirmation
from rollup.engine.package import Package
from rollup.errors import RollupError, TransportError
from rollup.model.inventory import Host, Inventory
from rollup.model.manifest import Manifest
from rollup.ops.base import Operation
from rollup.ops.host import FactsParams
from rollup.ops.registry import operation
from rollup.transport.base import PutResult, Transport, TransportRegistry

if TYPE_CHECKING:
    from rollup.planner import Plan, PlanStep

P = TypeVar("P")
R = TypeVar("R")

HOST_LOG_DIR = "C:\\temp\\rollup"
"""Where msiexec logs of a run go on each host: ``<dir>\\<run id>\\<step>.<attempt>.log``."""
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def op(op_id: str) -> Operation[Any, Any]:
    """The operation with this id (a missing one is a programming error, raised at import)."""
    found = operation(op_id)
    if found is None:
        raise RuntimeError(f"no operation {op_id!r} is registered")
    return found


class GateWaiting(RollupError):
    """A person must act (a manual gate) and there is no terminal to ask on."""

    def __init__(self, message: str, *, checklist: tuple[str, ...]) -> None:
        super().__init__(message)
        self.checklist = checklist


class DryRunViolation(RuntimeError):
    """An executor tried to send an operation that may change a host during a dry run (a bug)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Guard:
    """What the guard facts say: in effect (nothing to do), skipped (a false condition), or not."""

    in_effect: bool
    reason: str
    skipped: bool = False
    facts: Any = None
    """Whatever the check read that ``act`` can use (so it need not read it twice)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Acted:
    """What ``act`` did: a one-line summary, the exit code that decided it, evidence to keep."""

    summary: str
    remote_code: int | None = None
    evidence: Mapping[str, str] = field(default_factory=dict)
    """Evidence name to text, kept in the run directory as ``<step>.<attempt>.<name>``."""
    notices: tuple[str, ...] = ()
    """Things the operator should know (a reboot became pending)."""


class Hosts:
    """
    The run's sessions to its hosts. Thread-safe: each host's transport is used by one command
    at a time (a transport is one WinRM shell), different hosts in parallel.

    A transport that raised a ``TransportError`` is closed and dropped, so the next command
    opens a fresh one. Credentials are resolved on first use, and each password is registered
    with ``registry`` before anything can log it.
    """

    def __init__(
        self,
        inventory: Inventory,
        transports: TransportRegistry,
        credentials: CredentialCache,
        registry: SecretRegistry,
        *,
        read_only: bool = False,
        identity: IdentityBook | None = None,
    ) -> None:
        self.inventory = inventory
        self.read_only = read_only
        self._identity = IdentityBook() if identity is None else identity
        self._refused: dict[str, IdentityMismatch] = {}
        self._transports = transports
        self._credentials = credentials
        self._registry = registry
        self._open: dict[str, Transport] = {}
        self._locks: dict[str, threading.RLock] = {h.name: threading.RLock() for h in inventory.hosts}
        self._guard = threading.Lock()
        self.on_shell: Callable[[str, str], object] | None = None
        """Told ``(host, ShellId)`` of each shell a session opens (the run journals them)."""

    def _lock(self, host: str) -> threading.RLock:
        with self._guard:
            return self._locks.setdefault(host, threading.RLock())

    def _transport(self, host: str) -> Transport:
        found = self._open.get(host)
        if found is None:
            refused = self._refused.get(host)
            if refused is not None:
                raise refused
            entry = self.inventory.host(host)
            credentials = self._credentials.get(entry)
            self._registry.add(credentials.password)
            found = self._transports.create(entry, credentials)
            if self.on_shell is not None and hasattr(found, "shell_opened"):
                found.shell_opened = functools.partial(self.on_shell, host)
            found.open()
            try:
                self._identify(entry, found)
            except BaseException:
                with contextlib.suppress(TransportError):
                    found.close()
                raise
            self._open[host] = found
        return found

    def _identify(self, entry: Host, transport: Transport) -> None:
        """Before anything else on a new session: is it the inventory's host? (``rollup.engine.identity``)"""
        facts_op, params = op("host.facts"), FactsParams()
        result = transport.run(facts_op.command(params), timeout_s=facts_op.timeout_s)
        try:
            self._identity.check(entry, facts_op.parse(result, params))
        except IdentityMismatch as exc:
            self._refused[entry.name] = exc
            raise

    def _drop(self, host: str) -> None:
        transport = self._open.pop(host, None)
        if transport is not None:
            with contextlib.suppress(TransportError):
                transport.close()

    def call(
        self,
        host: str,
        op: Operation[P, R],
        params: P,
        *,
        timeout_s: float | None = None,
        stdin: bytes | None = None,
    ) -> R:
        """
        Run ``op`` with ``params`` on ``host`` and parse its result.

        Raises:
            DryRunViolation: ``op`` may change the host and this is a dry run.
            TransportError, ResultParseError, CommandFailed: from the transport and the parser.
        """
        if self.read_only and op.mutates:
            raise DryRunViolation(f"{host}: {op.id} may change the host; a dry run sends only reads")
        command = op.command(params)
        with self._lock(host):
            try:
                result = self._transport(host).run(
                    command, timeout_s=op.timeout_s if timeout_s is None else timeout_s, stdin=stdin
                )
            except TransportError:
                self._drop(host)
                raise
        return op.parse(result, params)

    def put(self, host: str, local: Path, remote: str, *, sha256: str, size: int) -> PutResult:
        """Make ``remote`` on ``host`` hold ``local`` (nothing sent when it already does)."""
        if self.read_only:
            raise DryRunViolation(f"{host}: sending {remote} changes the host; a dry run sends only reads")
        with self._lock(host):
            try:
                return self._transport(host).put(local, remote, sha256=sha256, size=size)
            except TransportError:
                self._drop(host)
                raise

    def delete_shells(self, host: str, shell_ids: Sequence[str]) -> int:
        """Delete shells of ``host`` by id (see ``WinRMTransport.delete_shells``); how many were."""
        with self._lock(host):
            delete = getattr(self._transport(host), "delete_shells", None)
            return int(delete(shell_ids)) if delete is not None else 0

    def close(self) -> None:
        """Close every open session (errors of hosts that went away are ignored)."""
        with self._guard:
            names = list(self._open)
        for host in names:
            with self._lock(host):
                self._drop(host)


ConfirmGate = Callable[[tuple[str, ...]], Confirmation]
"""Asks an operator to confirm a checklist and records it; raises ``GateWaiting`` with nobody to ask."""

GateNeeded = Callable[[], tuple[bool, str]]
"""Whether a manual gate must be passed: some step after it is not in effect (and which)."""


def _forget(unit: str) -> None:
    """``unit_done`` where nothing is journaled (a dry run)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StepContext:
    """Everything one attempt of one plan step needs."""

    step: PlanStep
    plan: Plan
    manifest: Manifest
    package: Package
    hosts: Hosts
    run_id: str
    attempt: int
    started_at: datetime
    """When this step first started in this run (UTC): the Deployment Tool logs are read from here."""
    upstream_changed: bool
    """Whether a step this one depends on (directly or not) acted in this run."""
    confirmation: Confirmation | None
    """The operator's confirmation of this step, if it has one (journal or command line)."""
    confirm: ConfirmGate
    gate_needed: GateNeeded
    params: Mapping[str, Any] | None = None
    """The parameters to use instead of ``step.params`` (a conditional's wrapped step)."""
    units_done: frozenset[str] = frozenset()
    """Units of work inside this step that this run finished already (the journal, across resumes)."""
    unit_done: Callable[[str], None] = _forget
    """Journals that a unit of work inside this step is done, before the step goes on."""
    progress: Callable[[str], None] = _forget
    """Tells the operator which unit of work inside this step begins (a ``StepProgress`` event)."""

    @property
    def host(self) -> str:
        return self.step.host

    @property
    def p(self) -> Mapping[str, Any]:
        """The step's parameters (the wrapped step's, inside a conditional)."""
        return self.step.params if self.params is None else self.params

    def call(self, op: Operation[P, R], params: P, *, host: str | None = None) -> R:
        """Run ``op`` on this step's host (or ``host``), bounded by the step's timeout."""
        timeout = float(min(self.step.timeout_s, op.timeout_s)) if host else float(self.step.timeout_s)
        return self.hosts.call(host or self.step.host, op, params, timeout_s=timeout)

    def log_path(self, what: str) -> str:
        """
        Where msiexec writes its verbose log for this attempt on the host. ``what`` may carry text
        a host reported (an installed product's version): only its letters, digits, ``.``, ``_``
        and ``-`` are kept (the rest become ``_``, at most 64 characters), so the file is always
        one valid Windows file name in the run's folder.
        """
        safe = _UNSAFE_NAME.sub("_", what)[:64]
        return f"{HOST_LOG_DIR}\\{self.run_id}\\{self.step.step}.{safe}.{self.attempt}.log"


class Executor(Protocol):
    """One step kind (see the module docstring)."""

    def describe(self, step: PlanStep) -> str:
        """One line saying what the step does, for the audit log and the dry run (no secrets)."""
        ...

    def check(self, ctx: StepContext) -> Guard: ...

    def act(self, ctx: StepContext, guard: Guard) -> Acted: ...
