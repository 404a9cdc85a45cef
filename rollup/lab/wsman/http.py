"""
HTTP/1.1 on asyncio streams: one coroutine per TCP connection, many requests per connection.

Keep-alive is not optional here: NTLM authenticates the TCP connection, so a client that
authenticated must be able to send its next requests on the same one. Every answer is written
in one ``send`` (headers and body together) and ``TCP_NODELAY`` is set: with Nagle's algorithm
and delayed ACKs a two-part answer costs about 40 ms on Linux loopback. Every answer carries
Content-Type and Content-Length (pywinrm reads Content-Type of every encrypted answer).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from rollup.lab.wsman.auth import NegotiateSession

SOAP_CONTENT_TYPE = "application/soap+xml;charset=UTF-8"
MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 16 * 1024 * 1024
"""Bodies larger than this are refused unread (413) and the connection closed."""

_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    411: "Length Required",
    413: "Request Entity Too Large",
    500: "Internal Server Error",
}


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """One request: header names lower-cased, repeated headers joined with ``", "``."""

    method: str
    target: str
    headers: Mapping[str, str]
    body: bytes
    keep_alive: bool


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """One answer; ``close`` ends the connection after it."""

    status: int
    body: bytes = b""
    content_type: str = SOAP_CONTENT_TYPE
    headers: tuple[tuple[str, str], ...] = ()
    close: bool = False

    def encode(self, keep_alive: bool) -> bytes:
        """Status line, headers and body, as one buffer."""
        lines = [
            f"HTTP/1.1 {self.status} {_REASONS.get(self.status, 'Error')}",
            "Server: Microsoft-HTTPAPI/2.0",
            f"Content-Type: {self.content_type}",
            f"Content-Length: {len(self.body)}",
        ]
        lines.extend(f"{name}: {value}" for name, value in self.headers)
        if not keep_alive or self.close:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body


@dataclass(frozen=True, slots=True)
class Hangup:
    """Answer nothing: wait ``hold_s`` seconds, then close (with a TCP reset if ``reset``)."""

    hold_s: float = 0.0
    reset: bool = True


class _BadRequest(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


@dataclass(eq=False)
class Connection:
    """One accepted TCP connection and what is bound to it: its NTLM context."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    client_ip: str
    negotiate: NegotiateSession = field(default_factory=NegotiateSession)
    reject_next_auth: bool = False
    """Set by a RejectAuth fault: the next NTLM handshake on this connection fails."""

    def abort(self, *, reset: bool) -> None:
        """Close at once; with ``reset`` the peer gets a TCP RST (SO_LINGER 0) instead of a FIN."""
        sock = self.writer.get_extra_info("socket")
        if reset and sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()


Handler = Callable[[Connection, HttpRequest], Awaitable[HttpResponse | Hangup]]


async def _read_request(reader: asyncio.StreamReader) -> HttpRequest | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise _BadRequest(400) from None
        return None
    except asyncio.LimitOverrunError:
        raise _BadRequest(400) from None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise _BadRequest(400)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, colon, value = line.partition(":")
        if not colon:
            raise _BadRequest(400)
        key = name.strip().lower()
        headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    if "transfer-encoding" in headers:
        raise _BadRequest(411)
    try:
        length = int(headers.get("content-length", "0"))
    except ValueError:
        raise _BadRequest(400) from None
    if length < 0:
        raise _BadRequest(400)
    if length > MAX_BODY_BYTES:
        raise _BadRequest(413)
    body = await reader.readexactly(length) if length else b""
    connection = headers.get("connection", "").lower()
    keep_alive = "close" not in connection if parts[2] == "HTTP/1.1" else "keep-alive" in connection
    return HttpRequest(parts[0], parts[1], headers, body, keep_alive)


async def serve_connection(connection: Connection, handler: Handler) -> None:
    """Answer requests on ``connection`` until the client closes it or an answer ends it."""
    sock = connection.writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        while True:
            try:
                request = await _read_request(connection.reader)
            except _BadRequest as bad:
                connection.writer.write(HttpResponse(bad.status, close=True).encode(keep_alive=False))
                await connection.writer.drain()
                break
            if request is None:
                break
            answer = await handler(connection, request)
            if isinstance(answer, Hangup):
                if answer.hold_s > 0:
                    await asyncio.sleep(answer.hold_s)
                connection.abort(reset=answer.reset)
                return
            connection.writer.write(answer.encode(request.keep_alive))
            await connection.writer.drain()
            if answer.close or not request.keep_alive:
                break
    except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
        connection.abort(reset=False)
        return
    connection.writer.close()
    with contextlib.suppress(ConnectionError, OSError):
        await connection.writer.wait_closed()
