"""
The port between the engine and a host: ``Transport``, and the registry that picks one.

A transport moves bytes to one host and back: it runs a ``RemoteCommand`` and returns a
``CommandResult``, and it puts a local file on the host. It does not print, retry or decide
policy: a failure is a ``rollup.errors.TransportError`` that says whether a retry may help
(``transient``) and whether the command may have started on the host (``may_have_started``),
and the engine decides. One transport serves one host and is used by one worker at a time.

Transports are chosen through a ``TransportRegistry`` keyed by the inventory's transport kind
(``Host.transport``: ``ntlm``, ``kerberos``, ``credssp``, ``basic``; ``ssh`` for a host whose
``connection`` is SSH). ``default_registry()`` maps the four WinRM kinds to the WinRM transport
and ``ssh`` to the SSH transport; tests and other transports register their own factories on a
registry of their own instead of patching anything.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self, runtime_checkable

from rollup.credentials import Credentials
from rollup.errors import ConfigError
from rollup.model.inventory import AuthTransport, Connection, Host
from rollup.ops.base import CommandResult
from rollup.ps.command import RemoteCommand

CODEPAGE = 437
"""The console code page of an en-US Windows host: what cmd.exe and PowerShell print in, and the
code page a WinRM shell is opened with."""


def command_result(
    host: str, command: RemoteCommand, exit_code: int, out: bytes, err: bytes, *, started: float
) -> CommandResult:
    """What a transport returns for ``command``: its output decoded from ``CODEPAGE``, its
    duration since ``started`` (``time.monotonic()``)."""
    return CommandResult(
        host=host,
        op=command.op,
        command=command.redacted(),
        exit_code=exit_code,
        stdout=out.decode(f"cp{CODEPAGE}"),
        stderr=err.decode(f"cp{CODEPAGE}"),
        duration_s=time.monotonic() - started,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class PutResult:
    """What ``Transport.put`` did."""

    skipped: bool
    """The target already had the same size and SHA-256: nothing was sent."""
    bytes_sent: int
    """File bytes carried to the host (0 when skipped), before any encoding on the wire."""
    requests: int
    """HTTP requests the whole put took (the check included)."""


@runtime_checkable
class Transport(Protocol):
    """
    An open session to one host. Not thread-safe: one per host worker.

    ``open`` prepares the session (it may not contact the host yet); ``close`` releases what
    the host keeps for it and never raises for a host that has gone away. Both are idempotent,
    and the transport is a context manager that opens on entry and closes on exit.
    """

    host: str
    """The host's inventory name, as every error and result names it."""

    def open(self) -> None: ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...

    def run(self, command: RemoteCommand, *, timeout_s: float, stdin: bytes | None = None) -> CommandResult:
        """
        Run ``command`` and wait for it to finish, at most ``timeout_s`` seconds.

        ``stdin`` is data for an operation that reads stdin (``Operation.reads_stdin``); the
        script then travels on the command line. A non-zero exit code is a result, not an error.

        Raises:
            TransportError: the command could not be run or its outcome could not be read.
        """
        ...

    def put(self, local: Path, remote: str, *, sha256: str, size: int) -> PutResult:
        """
        Make the file at ``remote`` hold the bytes of ``local`` (which has ``sha256`` and ``size``).

        Nothing is sent when the target already has that size and SHA-256. Otherwise the bytes
        are verified by SHA-256 on the host before they replace anything.

        Raises:
            PackageError: ``local`` is missing or does not have ``size`` and ``sha256``.
            CommandFailed: the host refused or could not verify the upload.
            TransportError: as for ``run``.
        """
        ...


TransportFactory = Callable[[Host, Credentials], Transport]
"""Makes the (not yet opened) transport for a host, from its inventory entry and credentials."""


class TransportRegistry:
    """Transport factories by inventory transport kind (``Host.transport``)."""

    def __init__(self, factories: Mapping[str, TransportFactory] | None = None) -> None:
        self._factories: dict[str, TransportFactory] = dict(factories or {})

    def register(self, kind: str, factory: TransportFactory) -> None:
        """Use ``factory`` for hosts whose transport is ``kind`` (replacing any earlier one)."""
        self._factories[str(kind)] = factory

    def kinds(self) -> tuple[str, ...]:
        """The kinds with a factory, sorted."""
        return tuple(sorted(self._factories))

    def create(self, host: Host, credentials: Credentials) -> Transport:
        """
        The transport for ``host`` (not opened).

        Raises:
            ConfigError: no transport is registered for the host's kind.
        """
        kind = transport_kind(host)
        factory = self._factories.get(kind)
        if factory is None:
            known = ", ".join(self.kinds()) or "none"
            raise ConfigError(f"{host.name}: no transport for {kind!r} (registered: {known})")
        return factory(host, credentials)

    def __iter__(self) -> Iterator[str]:
        return iter(self.kinds())


def transport_kind(host: Host) -> str:
    """The registry key of ``host``: ``ssh`` for an SSH host, else its WinRM authentication."""
    return "ssh" if host.connection is Connection.SSH else str(host.transport)


def _ssh(host: Host, credentials: Credentials) -> Transport:
    from rollup.transport.ssh import SshTransport

    return SshTransport(host, credentials)


def _winrm(host: Host, credentials: Credentials) -> Transport:
    from rollup.transport.winrm import WinRMTransport

    return WinRMTransport(host, credentials)


def default_registry() -> TransportRegistry:
    """A registry with the WinRM transport for every WinRM kind, and the SSH transport for ``ssh``."""
    return TransportRegistry({**{kind.value: _winrm for kind in AuthTransport}, "ssh": _ssh})
