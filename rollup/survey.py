"""
Reading a selection of hosts without changing anything: one session per host, hosts in parallel.

``survey`` resolves every host's credentials first (a prompt is asked once, before any host is
contacted, and a reference that cannot be resolved stops everything as a ``CredentialError``),
then works on ``forks`` hosts at a time: it opens one transport per host, runs the caller's read
function over a ``ReadSession`` (which refuses any operation that may change a host), and closes
the transport. Whatever one host raises on purpose (it cannot be reached, refuses the
credentials, answers something unreadable) becomes that host's one-line error, never the
survey's: the other hosts are read all the same.

``run_verify`` is ``rollup verify`` without the printing: one ``verify.facts`` per host (the
fact groups its roles need, ``rollup.verify.verify_params``, worked out once per set of roles
and shared by the hosts that have it, like the script itself), longest scripts first, then
``rollup.verify.evaluate`` (and, given a rehearsal's baseline, ``rollup.baseline``'s checks, the
folders listed in the same script). ``read_baseline`` lists a lab's component folders, for the
rehearsal record.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from rollup.baseline import HostBaseline, baseline_checks, baseline_folders, for_roles, host_baseline
from rollup.checks import Report
from rollup.credentials import CredentialCache, Credentials
from rollup.errors import RollupError, TransportError
from rollup.model.inventory import Host, Inventory
from rollup.model.manifest import Manifest
from rollup.ops.base import Operation
from rollup.ops.listing import ListedFile
from rollup.ops.verify import FACTS, Unreadable, VerifyFacts, VerifyParams
from rollup.ps.command import RemoteCommand
from rollup.transport.base import Transport, TransportRegistry
from rollup.verify import evaluate, is_pinned, verify_params

Baseline = tuple[str, Sequence[HostBaseline]]
"""A rehearsal's id and the baselines of its hosts (``rollup.baseline``)."""

DEFAULT_FORKS = 16
"""Hosts read at once unless ``--forks`` says otherwise."""

P = TypeVar("P")
R = TypeVar("R")
T = TypeVar("T")


class MutationRefused(RuntimeError):
    """A read function asked for an operation that may change a host (a programming error)."""


class ReadSession:
    """One host's transport, for operations that only read."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def call(self, op: Operation[P, R], params: P) -> R:
        """
        Run ``op`` with ``params`` and parse its result.

        Raises:
            MutationRefused: ``op`` may change the host.
            TransportError, ResultParseError, CommandFailed: from the transport and the parser.
        """
        return self.run(op, op.command(params), params)

    def run(self, op: Operation[P, R], command: RemoteCommand, params: P) -> R:
        """
        ``call``, with ``command`` already built from ``params`` (``op.command(params)``), so that
        hosts asked the same share one.

        Raises:
            MutationRefused: ``op`` may change the host (checked on ``op``, whatever ``command`` is).
            ValueError: ``command`` is not an ``op`` command.
            TransportError, ResultParseError, CommandFailed: from the transport and the parser.
        """
        if op.mutates:
            raise MutationRefused(f"{self._transport.host}: {op.id} may change the host; a survey only reads")
        if command.op != op.id:
            raise ValueError(f"{self._transport.host}: command {command.op} is not {op.id}")
        result = self._transport.run(command, timeout_s=op.timeout_s)
        return op.parse(result, params)


@dataclass(frozen=True, slots=True, kw_only=True)
class Reading(Generic[T]):
    """What reading one host gave: its value, or the one-line reason there is none."""

    host: Host
    value: T | None
    error: str | None
    requests: int | None
    """HTTP requests the host's session took (the WinRM transport counts them), else ``None``."""
    duration_s: float


def one_line(exc: BaseException, host: str) -> str:
    """An error's text on one line, without the ``HOST: `` prefix (the report is per host already)."""
    text = " ".join(str(exc).split())
    return text.removeprefix(f"{host}: ") or type(exc).__name__


def survey(
    hosts: Sequence[Host],
    read: Callable[[Host, ReadSession], T],
    *,
    transports: TransportRegistry,
    credentials: CredentialCache,
    forks: int = DEFAULT_FORKS,
    cost: Callable[[Host], float] | None = None,
) -> tuple[Reading[T], ...]:
    """
    ``read`` each host through its own session, ``forks`` hosts at a time; results in host order.

    Hosts are started costliest first when ``cost`` estimates each one (ties keep host order),
    so that a long host does not start last and keep one fork busy while the others idle. A
    session is closed (its shell deleted) off the reading threads, so a fork moves on to its
    next host without waiting for the Delete; every session is closed before this returns.

    Raises:
        CredentialError: a host's credentials cannot be resolved (before any host is contacted).
    """
    if not hosts:
        return ()
    resolved = {host.name: credentials.get(host) for host in hosts}
    workers = max(1, min(forks, len(hosts)))
    with (
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="survey") as readers,
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="survey-close") as closers,
    ):

        def one(host: Host) -> tuple[Reading[T], Any]:
            reading, transport = _read_one(host, resolved[host.name], read, transports)
            if transport is not None:
                closers.submit(_close, transport)
            return reading, transport

        order = sorted(range(len(hosts)), key=lambda i: -cost(hosts[i])) if cost else range(len(hosts))
        started = {i: readers.submit(one, hosts[i]) for i in order}
        done = [started[i].result() for i in range(len(hosts))]
    return tuple(replace(reading, requests=_requests(transport)) for reading, transport in done)


def _read_one(
    host: Host,
    credentials: Credentials,
    read: Callable[[Host, ReadSession], T],
    transports: TransportRegistry,
) -> tuple[Reading[T], Any]:
    """Read one host; the reading (its requests not yet counted) and the transport to close."""
    started = time.monotonic()
    transport: Any = None
    value: T | None = None
    error: str | None = None
    try:
        transport = transports.create(host, credentials)
        transport.open()
        value = read(host, ReadSession(transport))
    except RollupError as exc:
        error = one_line(exc, host.name)
    reading = Reading(
        host=host, value=value, error=error, requests=None, duration_s=time.monotonic() - started
    )
    return reading, transport


def _close(transport: Transport) -> None:
    """Close a session; a host that went away meanwhile is no error (the reading is complete)."""
    with contextlib.suppress(TransportError):
        transport.close()


def _requests(transport: Any) -> int | None:
    """The HTTP requests a transport sent, when it counts them (the WinRM transport does)."""
    requests = getattr(transport, "requests", None)
    return requests if isinstance(requests, int) else None


def run_verify(
    manifest: Manifest,
    inventory: Inventory,
    *,
    transports: TransportRegistry,
    credentials: CredentialCache,
    forks: int = DEFAULT_FORKS,
    baseline: Baseline | None = None,
) -> Report:
    """
    Verify every host of ``inventory`` (as narrowed by ``--limit``) against ``manifest``, and
    against a rehearsal's ``baseline`` (``(rehearsal id, its hosts' baselines)``) when given.

    Raises:
        CredentialError: a host's credentials cannot be resolved. Everything a host raises is
            in the report, as that host's ``error``.
    """
    started_at = datetime.now(UTC)
    started = time.monotonic()
    by_roles = {roles: verify_params(manifest, roles) for roles in {host.roles for host in inventory.hosts}}
    if baseline is not None:
        by_roles = {
            roles: replace(p, listing=baseline_folders(manifest, roles)) for roles, p in by_roles.items()
        }
    commands = {roles: FACTS.command(params) for roles, params in by_roles.items() if not params.empty}

    def read(host: Host, session: ReadSession) -> VerifyFacts:
        params = by_roles[host.roles]
        return VerifyFacts() if params.empty else session.run(FACTS, commands[host.roles], params)

    # The script's length: a script too long for the command line costs its Send as well.
    lengths = {roles: float(len(command.render())) for roles, command in commands.items()}
    readings = survey(
        inventory.hosts, read, transports=transports, credentials=credentials, forks=forks,
        cost=lambda host: lengths.get(host.roles, 0.0),
    )  # fmt: skip
    observed = [(r.host, r.value if r.value is not None else (r.error or "no facts")) for r in readings]
    hosts = tuple(
        replace(report, requests=r.requests, duration_s=r.duration_s)
        for report, r in zip(evaluate(manifest, observed), readings, strict=True)
    )
    if baseline is not None:
        rehearsal, hosts_seen = baseline
        hosts = tuple(
            report if r.value is None else replace(report, checks=(*report.checks, *baseline_checks(
                rehearsal, for_roles(hosts_seen, r.host.roles), r.value.listing)))
            for report, r in zip(hosts, readings, strict=True)
        )  # fmt: skip
    return Report(
        kind="verify",
        manifest_id=manifest.metadata.id,
        manifest_digest=manifest.digest(),
        pinned=is_pinned(manifest),
        inventory=inventory.source,
        hosts=hosts,
        started_at=started_at,
        duration_s=time.monotonic() - started,
    )


def read_baseline(
    manifest: Manifest,
    inventory: Inventory,
    *,
    transports: TransportRegistry,
    credentials: CredentialCache,
    forks: int = DEFAULT_FORKS,
) -> tuple[HostBaseline, ...]:
    """
    Every host's component folders listed (``files.listing``'s group of ``verify.facts``, one
    script per host), as a rehearsal records its golden baseline. A host that cannot be read has
    its ``error`` instead of files.

    Raises:
        CredentialError: a host's credentials cannot be resolved.
    """
    folders = {roles: baseline_folders(manifest, roles) for roles in {host.roles for host in inventory.hosts}}
    params = {roles: VerifyParams(listing=f) for roles, f in folders.items()}

    def read(host: Host, session: ReadSession) -> VerifyFacts:
        wanted = params[host.roles]
        return VerifyFacts(listing=()) if wanted.empty else session.call(FACTS, wanted)

    readings = survey(inventory.hosts, read, transports=transports, credentials=credentials, forks=forks)
    found = []
    for r in readings:
        listed = r.value.listing if r.value is not None else None
        seen: tuple[ListedFile, ...] | str = r.error or "not read"
        if isinstance(listed, Unreadable):
            seen = listed.message
        elif listed is not None:
            seen = listed
        found.append(host_baseline(r.host.name, r.host.roles, folders[r.host.roles], seen))
    return tuple(found)
