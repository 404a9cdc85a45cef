"""
``DirectLabTransport``: a ``Transport`` that runs scripts through the simulated lab in-process.

No HTTP, no WinRM, no threads of its own: ``run`` renders the command exactly as the WinRM
transport does, hands the script (and stdin) to a ``rollup.lab.runner.LabRunner``, and finishes
the run at once (whatever duration the lab gives it), so an engine test applies a whole rollup
to simulated hosts in a fraction of a second. ``put`` does what the WinRM transport does, with
the same operations: ``files.stat`` first, then one ``files.upload`` when the bytes differ.

Transport faults are data: a ``FaultPlan`` is asked before every command and may answer with
an error to raise, before the command reaches the host (``processed=False``) or after the host
has run it (``processed=True``: the case where the controller cannot tell, which the engine's
guards must survive).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

from rollup.credentials import Credentials
from rollup.lab.runner import LabRunner
from rollup.model.inventory import AuthTransport, Host
from rollup.ops.base import CommandResult
from rollup.ps.command import RemoteCommand
from rollup.transport import upload
from rollup.transport.base import PutResult, TransportRegistry


@dataclass(frozen=True, slots=True)
class InjectedFault:
    """
    Raise ``error`` instead of answering; with ``processed`` the host runs the command first.

    ``error`` is usually a ``TransportError``; any other ``BaseException`` stands for the
    controller dying at that instant (the journal is left as a SIGKILL would leave it).
    """

    error: BaseException
    processed: bool = False


FaultPlan = Callable[[str, str, int], InjectedFault | None]
"""``(host, operation id, n) -> fault or None``; ``n`` counts the host's runs of that operation from 1."""


class DirectLabTransport:
    """A ``rollup.transport.base.Transport`` over a ``LabRunner``, in the calling thread."""

    def __init__(
        self,
        host: str,
        runner: LabRunner,
        *,
        faults: FaultPlan | None = None,
        counts: dict[tuple[str, str], int] | None = None,
    ) -> None:
        self.host = host
        self._runner = runner
        self._faults = faults
        self._counts = {} if counts is None else counts
        """Commands run per (host, operation), shared by the transports of one registry."""
        self.opened = False
        self.commands: list[str] = []
        """Operation ids run through this transport, in order (for tests)."""

    def open(self) -> None:
        self.opened = True

    def close(self) -> None:
        self.opened = False

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def run(self, command: RemoteCommand, *, timeout_s: float, stdin: bytes | None = None) -> CommandResult:
        """Run ``command`` on the simulated host now; faults from the plan are raised as planned."""
        key = (self.host, command.op)
        n = self._counts[key] = self._counts.get(key, 0) + 1
        fault = self._faults(self.host, command.op, n) if self._faults else None
        if fault is not None and not fault.processed:
            raise fault.error
        started = time.monotonic()
        outcome = self._runner(self.host, command.render(), stdin or b"").finish()
        self.commands.append(command.op)
        if fault is not None:
            raise fault.error
        return CommandResult(
            host=self.host,
            op=command.op,
            command=command.redacted(),
            exit_code=outcome.exit_code,
            stdout=outcome.stdout,
            stderr=outcome.stderr,
            duration_s=time.monotonic() - started,
        )

    def put(self, local: Path, remote: str, *, sha256: str, size: int) -> PutResult:
        """
        Make ``remote`` hold ``local``'s bytes and time, with the WinRM transport's own routine.

        Raises:
            PackageError: ``local`` does not have ``size`` and ``sha256``.
            CommandFailed: the host refused the upload or could not verify it.
        """
        before = len(self.commands)
        skipped, sent = upload.put(self, local, remote, sha256=sha256, size=size)
        return PutResult(skipped=skipped, bytes_sent=sent, requests=len(self.commands) - before)


def direct_registry(runner: LabRunner, *, faults: FaultPlan | None = None) -> TransportRegistry:
    """
    A ``TransportRegistry`` giving a ``DirectLabTransport`` for every host, whatever its kind.

    The fault plan's ``n`` counts across every transport of the registry, so a fault keeps
    its place in the sequence when the engine drops a broken transport and opens a new one.
    """
    counts: dict[tuple[str, str], int] = {}

    def factory(host: Host, credentials: Credentials) -> DirectLabTransport:
        return DirectLabTransport(host.name, runner, faults=faults, counts=counts)

    return TransportRegistry({kind.value: factory for kind in AuthTransport})
