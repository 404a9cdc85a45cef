"""
What the layer above gives the simulated WinRM server, and what it gets back.

The server speaks WS-Management and emulates cmd.exe; it knows nothing of the host's state.
Each host is described by an ``EndpointConfig`` whose ``runner`` is called with every
PowerShell script that reaches the host, and returns a ``ScriptRun``: how long the operation
takes and a ``finish`` callback that applies its effects and says what it printed.

Threading: ``runner`` and ``finish`` are called on a worker thread, never two at once for the
same host, so the host model needs no lock of its own for calls made through one server.
Request hooks are called on the server's event loop thread and must return quickly.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from rollup.errors import ConfigError
from rollup.lab.scripting import ScriptOutcome as ScriptOutcome  # noqa: PLC0414 - re-exported
from rollup.lab.scripting import ScriptRun as ScriptRun  # noqa: PLC0414 - re-exported
from rollup.lab.scripting import ScriptRunner as ScriptRunner  # noqa: PLC0414 - re-exported
from rollup.lab.scripting import WindowsVersion as WindowsVersion  # noqa: PLC0414 - re-exported
from rollup.lab.wsman.faults import WSManFault
from rollup.lab.wsman.limits import WINRM_2_0, Limits
from rollup.secret import Secret


class AddressTaken(ConfigError):
    """A lab host's address and port are already listened on by another program (``EADDRINUSE``)."""


@dataclass(frozen=True, slots=True)
class Credential:
    """
    An account the host accepts, over Basic and NTLM alike.

    ``user`` is ``DOMAIN\\name`` (``HOSTING\\admin``) or a bare local name (``admin``); the
    client must send the same form, as Windows matches domain and name (case-insensitively).
    """

    user: str
    password: Secret

    @property
    def domain(self) -> str:
        """The domain part, ``""`` for a bare name."""
        return self.user.rpartition("\\")[0]

    @property
    def name(self) -> str:
        """The account name without its domain."""
        return self.user.rpartition("\\")[2]


class Action(StrEnum):
    """The six WinRS operations a request hook can see."""

    CREATE = "Create"
    COMMAND = "Command"
    SEND = "Send"
    RECEIVE = "Receive"
    SIGNAL = "Signal"
    DELETE = "Delete"


@dataclass(frozen=True, slots=True)
class RequestInfo:
    """
    One authenticated SOAP request, as a request hook sees it.

    ``command_line`` is the command line of the command the request is about (``Command``,
    and ``Send``, ``Receive`` and ``Signal`` naming a known command), else ``None``.
    ``n`` counts this host's requests of the same action, from 1 when the server started.
    ``op`` is the operation id in the ``#rollup-op`` header of the script that command carries:
    known from the ``Command`` on when the script is on the command line, and from the ``Send``
    that ends stdin on when it comes through the stdin bootstrap; ``None`` otherwise (no
    command, a script without a header, stdin not complete yet). It is only read when the host
    has a hook, so fault rules can name an operation.
    """

    host: str
    action: Action
    command_line: str | None
    n: int
    op: str | None = None


@dataclass(frozen=True, slots=True)
class FaultReply:
    """Answer HTTP 500 with this WS-Management fault instead of processing the request."""

    fault: WSManFault


@dataclass(frozen=True, slots=True)
class ResetConnection:
    """
    Close the TCP connection with a reset, without answering.

    With ``processed`` the request takes effect first (a Command starts), so the client cannot
    tell whether it did: the case a journal must survive.
    """

    processed: bool = False


@dataclass(frozen=True, slots=True)
class NoAnswer:
    """Hold the request ``hold_s`` seconds, then close the connection without answering."""

    hold_s: float
    processed: bool = False


@dataclass(frozen=True, slots=True)
class RejectAuth:
    """Answer 401 as for a wrong password, although the credentials are good."""


@dataclass(frozen=True, slots=True)
class Delay:
    """Wait ``seconds`` before processing the request, then answer normally."""

    seconds: float


@dataclass(frozen=True, slots=True)
class GoDown:
    """
    Take the host down for ``seconds`` (as ``LabEndpoint.set_down``) and drop this request's
    connection without an answer, as when a host reboots under a client's request.

    With ``processed`` the request takes effect first (a Command starts its run), as for
    ``ResetConnection``.
    """

    seconds: float
    processed: bool = False


Fault = FaultReply | ResetConnection | NoAnswer | RejectAuth | Delay | GoDown
RequestHook = Callable[[RequestInfo], Fault | None]


@dataclass(frozen=True, slots=True)
class EndpointConfig:
    """
    One simulated host: where it listens, whom it lets in, what it runs.

    ``address`` must be a loopback address (127.0.0.0/8). Port 0 asks for a free port; the
    endpoint keeps it when it is taken down and brought back.
    """

    name: str
    address: str
    credentials: tuple[Credential, ...]
    runner: ScriptRunner
    port: int = 5985
    https_port: int | None = None
    os: WindowsVersion = WindowsVersion.SERVER_2008_SP2
    hook: RequestHook | None = None
    latency_s: float = 0.0
    """Added before every HTTP answer, authentication legs included."""
    limits: Limits = field(default=WINRM_2_0)
    activity_id: bool = False
    """Whether every answer carries a ``p:ActivityId`` header (some Windows hosts add one, others not)."""
    on_restart: Callable[[str], None] | None = None
    """Called with the host's name when it listens again after going down (a restart): what a
    boot changes on the host (``LabRunner.restarted``)."""

    def check(self) -> None:
        """
        Refuse a configuration the server cannot serve.

        Raises:
            ConfigError: one line naming the host and the field.
        """
        try:
            loopback = ipaddress.ip_address(self.address).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ConfigError(f"lab host {self.name}: address {self.address!r} is not a loopback address")
        for label, port in (("port", self.port), ("https_port", self.https_port)):
            if port is not None and not 0 <= port <= 65535:
                raise ConfigError(f"lab host {self.name}: {label} must be 0-65535")
        if not self.credentials:
            raise ConfigError(f"lab host {self.name}: credentials: at least one account is required")
        if self.latency_s < 0:
            raise ConfigError(f"lab host {self.name}: latency_s must not be negative")
