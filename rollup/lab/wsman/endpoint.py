"""
One simulated host on the wire: its listeners, and the path of each request through them.

A request goes: latency -> authentication (Basic, or the connection's NTLM context) ->
decryption -> envelope size -> SOAP parsing -> the request hook -> the WinRS operation ->
encryption of the answer (faults included, as Windows does). A hook's ``GoDown`` takes the
whole host down from inside the request, so the next connection is refused at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ssl
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from rollup.errors import ConfigError
from rollup.lab.wsman import crypto, faults, soap
from rollup.lab.wsman.activity import ActivityIds
from rollup.lab.wsman.api import (
    Action,
    AddressTaken,
    Delay,
    EndpointConfig,
    Fault,
    FaultReply,
    GoDown,
    NoAnswer,
    RejectAuth,
    RequestInfo,
    ResetConnection,
)
from rollup.lab.wsman.auth import CHALLENGE_HEADERS, Authenticator
from rollup.lab.wsman.config import ACTION_GET, NS_CONFIG, config_body
from rollup.lab.wsman.http import Connection, Hangup, HttpRequest, HttpResponse, serve_connection
from rollup.lab.wsman.messages import BodyError, parse_command
from rollup.lab.wsman.runtime import Runtime
from rollup.lab.wsman.shell import WinRS, WSManError, line_op
from rollup.lab.wsman.tls import certificate_files, server_context

_ACTIONS = {
    soap.ACTION_CREATE: Action.CREATE,
    soap.ACTION_COMMAND: Action.COMMAND,
    soap.ACTION_SEND: Action.SEND,
    soap.ACTION_RECEIVE: Action.RECEIVE,
    soap.ACTION_SIGNAL: Action.SIGNAL,
    soap.ACTION_DELETE: Action.DELETE,
}

_UNAUTHORIZED = HttpResponse(401, headers=CHALLENGE_HEADERS)


@dataclass
class EndpointStats:
    """Counters since the server started: TCP connections, HTTP requests, completed NTLM handshakes."""

    connections: int = 0
    requests: int = 0
    handshakes: int = 0


class Endpoint:
    """
    A host's WinRM service: HTTP on ``port`` and, if configured, HTTPS on ``https_port``.

    Created and driven by ``LabServer``; the public methods are safe to call from any thread.
    """

    def __init__(self, config: EndpointConfig, runtime: Runtime, cert_dir: Path | None) -> None:
        self.config = config
        self.name = config.name
        self.address = config.address
        self.port = config.port
        self.https_port = config.https_port
        self._runtime = runtime
        self._cert_dir = cert_dir
        self._auth = Authenticator(config.credentials)
        self._activity_ids = ActivityIds() if config.activity_id else None
        self.winrs = WinRS(
            config.name,
            config.os,
            config.runner,
            config.limits,
            runtime,
            track_ops=config.hook is not None,
            activity_id=self.activity_id,
        )
        self._listeners: list[asyncio.Server] = []
        self._connections: set[Connection] = set()
        self._counts: Counter[Action] = Counter()
        self._reopen: asyncio.TimerHandle | None = None
        self.stats = EndpointStats()

    def activity_id(self) -> str | None:
        """The ``p:ActivityId`` of the next answer, or ``None`` if this host sends none."""
        return None if self._activity_ids is None else self._activity_ids.next()

    @property
    def http_url(self) -> str:
        """``http://<address>:<port>/wsman``."""
        return f"http://{self.address}:{self.port}/wsman"

    @property
    def https_url(self) -> str | None:
        """``https://<address>:<https_port>/wsman``, if the host has an HTTPS listener."""
        return None if self.https_port is None else f"https://{self.address}:{self.https_port}/wsman"

    async def open(self) -> None:
        """
        Start listening (keeping the ports chosen the first time).

        Raises:
            AddressTaken: another program listens on the address and port.
            ConfigError: an address or port cannot be listened on for another reason.
        """
        tls: ssl.SSLContext | None = None
        if self.https_port is not None:
            if self._cert_dir is None:
                raise ConfigError(f"lab host {self.name}: an HTTPS port needs a certificate directory")
            tls = server_context(*certificate_files(self._cert_dir, self.name, self.address))
        try:
            http = await asyncio.start_server(self._accept, self.address, self.port, backlog=128)
            self._listeners.append(http)
            self.port = http.sockets[0].getsockname()[1]
            if tls is not None:
                https = await asyncio.start_server(
                    self._accept, self.address, self.https_port, ssl=tls, backlog=128
                )
                self._listeners.append(https)
                self.https_port = https.sockets[0].getsockname()[1]
        except OSError as exc:
            await self.close()
            error = AddressTaken if exc.errno == errno.EADDRINUSE else ConfigError
            raise error(f"lab host {self.name}: cannot listen on {self.address}: {exc.strerror}") from None

    async def close(self) -> None:
        """Stop listening and cut every open connection."""
        for listener in self._listeners:
            listener.close()
        for connection in list(self._connections):
            connection.abort(reset=True)
        for listener in self._listeners:
            with contextlib.suppress(Exception):
                await listener.wait_closed()
        self._listeners.clear()

    async def go_down(self, seconds: float) -> None:
        """Close the listeners and forget every shell; listen again after ``seconds``."""
        if self._reopen is not None:
            self._reopen.cancel()
        await self.close()
        self.winrs.forget_all()
        self._reopen = self._runtime.loop.call_later(seconds, lambda: self._runtime.spawn(self._come_back()))

    async def _come_back(self) -> None:
        self._reopen = None
        if self._runtime.stopping.is_set():
            return
        if self.config.on_restart is not None:
            await asyncio.to_thread(self.config.on_restart, self.config.name)
        await self.open()

    def cancel_reopen(self) -> None:
        """Stay down: the server is stopping."""
        if self._reopen is not None:
            self._reopen.cancel()
            self._reopen = None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        connection = Connection(reader, writer, peer[0] if peer else "")
        self.stats.connections += 1
        self._connections.add(connection)
        try:
            await serve_connection(connection, self._handle)
        except asyncio.CancelledError:
            # The lab is stopping. Ending the task normally matters on Python 3.11, whose
            # asyncio.streams callback calls task.exception() on a cancelled connection task
            # and prints a traceback to stderr (fixed in 3.12).
            writer.close()
        finally:
            self._connections.discard(connection)

    async def _handle(self, connection: Connection, request: HttpRequest) -> HttpResponse | Hangup:
        self.stats.requests += 1
        if self.config.latency_s > 0:
            await asyncio.sleep(self.config.latency_s)
        if request.method != "POST":
            return HttpResponse(405)
        if request.target.split("?")[0].lower() != "/wsman":
            return HttpResponse(404)
        authenticated = self._authenticate(connection, request)
        if isinstance(authenticated, HttpResponse):
            return authenticated
        if not request.body:
            return HttpResponse(200, headers=authenticated[1])
        return await self._answer(connection, request, *authenticated)

    async def _answer(
        self,
        connection: Connection,
        request: HttpRequest,
        principal: str,
        headers: tuple[tuple[str, str], ...],
    ) -> HttpResponse | Hangup:
        """Decrypt, check the size, process, encrypt: the answer to an authenticated SOAP request."""
        content_type = request.headers.get("content-type", "")
        context = connection.negotiate.context if crypto.is_encrypted(content_type) else None
        if crypto.is_encrypted(content_type) and context is None:
            return _UNAUTHORIZED
        try:
            data = request.body if context is None else crypto.unwrap(context, content_type, request.body)
        except crypto.FramingError:
            return HttpResponse(400, close=True)
        if len(data) > self.config.limits.max_envelope_bytes:
            return HttpResponse(413, headers=headers)
        result = await self._soap(connection, request, principal, data)
        if isinstance(result, Hangup | HttpResponse):
            return result
        status, body = result[0], result[1].encode("utf-8")
        if context is not None:
            return HttpResponse(status, crypto.wrap(context, body), crypto.CONTENT_TYPE, headers)
        return HttpResponse(status, body, headers=headers)

    def _authenticate(
        self, connection: Connection, request: HttpRequest
    ) -> tuple[str, tuple[tuple[str, str], ...]] | HttpResponse:
        """``(principal, headers for the answer)``, or the 401 to send."""
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "basic":
            principal = self._auth.basic(value)
            return (principal, ()) if principal else _UNAUTHORIZED
        if scheme.lower() in ("negotiate", "ntlm"):
            return self._negotiate(connection, scheme, value)
        if connection.negotiate.principal is not None and not scheme:
            return connection.negotiate.principal, ()
        return _UNAUTHORIZED

    def _negotiate(
        self, connection: Connection, scheme: str, token: str
    ) -> tuple[str, tuple[tuple[str, str], ...]] | HttpResponse:
        """One NTLM leg; the challenge echoes the client's scheme, which it matches case-sensitively."""
        leg = connection.negotiate.step(token, self._auth)
        if leg.principal is None:
            challenge = (("WWW-Authenticate", f"{scheme} {leg.token}"),)
            return _UNAUTHORIZED if leg.failed else HttpResponse(401, headers=challenge)
        self.stats.handshakes += 1
        if connection.reject_next_auth:
            connection.reject_next_auth = False
            connection.negotiate.reset()
            return _UNAUTHORIZED
        return leg.principal, ((("WWW-Authenticate", f"{scheme} {leg.token}"),) if leg.token else ())

    def _machine(self, request: HttpRequest) -> str:
        host = request.headers.get("host", "")
        return host.rsplit(":", 1)[0] if host and not host.endswith("]") else (host or self.address)

    async def _soap(
        self, connection: Connection, http: HttpRequest, principal: str, data: bytes
    ) -> tuple[int, str] | Hangup | HttpResponse:
        """Process one SOAP request: ``(HTTP status, envelope)``, or what to do instead of answering."""
        machine = self._machine(http)
        try:
            request = soap.parse_request(data)
        except soap.SoapError:
            return 500, soap.fault_envelope(faults.invalid_xml(), None, machine, self.activity_id())
        self.winrs.expire_idle()
        if request.action == ACTION_GET and request.resource_uri == NS_CONFIG:
            answer = config_body(self.config.limits)
            action_uri = f"{soap.NS_TRANSFER}/GetResponse"
            return 200, soap.envelope(
                soap.DECLARATIONS_GET, action_uri, request.message_id, answer, self.activity_id()
            )
        action = _ACTIONS.get(request.action)
        if action is None or request.resource_uri != soap.CMD_RESOURCE_URI:
            refusal = (
                faults.action_not_supported(request.action) if action is None else faults.resource_not_found()
            )
            return 500, soap.fault_envelope(refusal, request.message_id, machine, self.activity_id())
        outcome = self._consult_hook(action, request)
        early = await self._apply_hook(connection, outcome, request.message_id, machine)
        if early is not None:
            return early
        scheme = "https" if connection.writer.get_extra_info("sslcontext") is not None else "http"
        port = self.https_port if scheme == "https" else self.port
        address = f"{scheme}://{http.headers.get('host', f'{self.address}:{port}')}/wsman"
        try:
            result = 200, await self._dispatch(action, request, principal, address, connection.client_ip)
        except WSManError as error:
            result = 500, soap.fault_envelope(error.fault, request.message_id, machine, self.activity_id())
        if isinstance(outcome, GoDown):
            await self.go_down(outcome.seconds)
            return Hangup(reset=True)
        return _hangup(outcome) if isinstance(outcome, ResetConnection | NoAnswer) else result

    async def _apply_hook(
        self, connection: Connection, outcome: Fault | None, relates_to: str | None, machine: str
    ) -> tuple[int, str] | Hangup | HttpResponse | None:
        """What a hook's fault does before processing; ``None`` to go on and process the request."""
        if isinstance(outcome, GoDown) and not outcome.processed:
            await self.go_down(outcome.seconds)
            return Hangup(reset=True)
        if isinstance(outcome, FaultReply):
            return 500, soap.fault_envelope(outcome.fault, relates_to, machine, self.activity_id())
        if isinstance(outcome, RejectAuth):
            if connection.negotiate.principal is not None:
                connection.negotiate.reset()
                connection.reject_next_auth = True
            return _UNAUTHORIZED
        if isinstance(outcome, Delay):
            await asyncio.sleep(outcome.seconds)
        if isinstance(outcome, ResetConnection | NoAnswer) and not outcome.processed:
            return _hangup(outcome)
        return None

    def _consult_hook(self, action: Action, request: soap.SoapRequest) -> Fault | None:
        self._counts[action] += 1
        hook = self.config.hook
        if hook is None:
            return None
        line: str | None = None
        op: str | None = None
        if action is Action.COMMAND:
            with contextlib.suppress(BodyError):
                body = parse_command(request.body)
                line = " ".join((body.command, *body.arguments))
                op = line_op(line)
        elif action in (Action.SEND, Action.RECEIVE, Action.SIGNAL):
            command = self.winrs.known_command(request.shell_id, _command_id(request))
            line = None if command is None else command.line
            if action is Action.SEND:
                op = self.winrs.send_op(request)
            elif command is not None:
                op = command.op
        return hook(RequestInfo(self.name, action, line, self._counts[action], op))

    async def _dispatch(
        self, action: Action, request: soap.SoapRequest, principal: str, address: str, client_ip: str
    ) -> str:
        relates = request.message_id
        if action is Action.RECEIVE:
            return await self.winrs.receive(request, principal)
        if action is Action.DELETE:
            self.winrs.delete(request, principal)
            action_uri = f"{soap.NS_TRANSFER}/DeleteResponse"
            return soap.envelope(soap.DECLARATIONS_DELETE, action_uri, relates, "", self.activity_id())
        if action is Action.CREATE:
            body = self.winrs.create(request, principal, address, client_ip)
            action_uri = f"{soap.NS_TRANSFER}/CreateResponse"
            return soap.envelope(soap.DECLARATIONS_SHELL, action_uri, relates, body, self.activity_id())
        handlers = {
            Action.COMMAND: self.winrs.command,
            Action.SEND: self.winrs.send,
            Action.SIGNAL: self.winrs.signal,
        }
        body = handlers[action](request, principal)
        return soap.envelope(
            soap.DECLARATIONS_SHELL, f"{request.action}Response", relates, body, self.activity_id()
        )


def _hangup(outcome: ResetConnection | NoAnswer) -> Hangup:
    if isinstance(outcome, NoAnswer):
        return Hangup(hold_s=outcome.hold_s, reset=False)
    return Hangup(reset=True)


def _command_id(request: soap.SoapRequest) -> str | None:
    body = request.body
    if body is None:
        return None
    if body.get("CommandId"):
        return body.get("CommandId")
    for child in body:
        if child.get("CommandId"):
            return child.get("CommandId")
    return None
