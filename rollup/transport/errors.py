"""
What pywinrm and requests raise, translated into ``rollup.errors`` at the transport boundary.

Only the transport sees pywinrm's and requests' exceptions; everything above it sees a
``TransportError`` with two facts the engine decides on:

- ``transient``: whether trying again later may help (a refused or reset connection, a read
  timeout, a quota or busy fault, an HTTP 500 without a fault) or cannot (refused credentials,
  an untrusted certificate, any other fault). The engine retries; the transport never does.
- ``may_have_started``: whether the command may have started on the host. It is false for a
  failure before the Command request was sent, and for a Command the host answered with a
  refusal (a fault, 401) or that never left (connection refused); true once the host has
  acknowledged the Command, and for a Command whose answer was lost (reset, read timeout),
  because the host may have processed it. The engine never blindly re-runs such a command.

Messages are one line, name the WS-Management action, and never contain a secret: the
translation scrubs every form of the password from the text it builds.

``FAULTS`` is the table of WS-Management fault codes rollup knows, with the decision for each;
docs/transport.md shows the same table, and a test keeps the two equal.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType

import requests
from winrm.exceptions import (
    AuthenticationError,
    WinRMError,
    WinRMOperationTimeoutError,
    WinRMTransportError,
    WSManFaultError,
)

from rollup.errors import AuthError, ConnectError, ProtocolError, TransportError, TransportTimeout
from rollup.secret import REDACTED, Secret

OPERATION_TIMED_OUT = 2150858793
"""ERROR_WSMAN_OPERATION_TIMEDOUT: nothing to receive within OperationTimeout (polled again)."""
UNEXPECTED_SELECTORS = 2150858843
"""ERROR_WSMAN_UNEXPECTED_SELECTORS: the ShellId (or CommandId) names nothing on the host."""
QUOTA_MAX_SHELLS = 2150859173
QUOTA_MAX_OPERATIONS = 2150859174
"""Every Command counts until its shell is deleted (WinRM 2.0): the cure is a new shell."""


class Stage(Enum):
    """Where a request stands relative to the command it serves."""

    BEFORE = "before"
    """Nothing of the command has reached the host (Create, Delete, a shell recycled)."""
    COMMAND = "command"
    """The Command request itself: sent, not yet acknowledged."""
    STARTED = "started"
    """The host acknowledged the Command (Send, Receive, Signal)."""


@dataclass(frozen=True, slots=True)
class FaultRule:
    """What rollup makes of one WS-Management fault code."""

    code: int
    name: str
    transient: bool
    why: str


_RULES = (
    FaultRule(
        QUOTA_MAX_SHELLS,
        "ERROR_WSMAN_QUOTA_MAX_SHELLS",
        True,
        "shells of other or aborted sessions; they close or idle out",
    ),
    FaultRule(
        QUOTA_MAX_OPERATIONS,
        "ERROR_WSMAN_QUOTA_MAX_OPERATIONS",
        True,
        "a new shell cures it; raised only if the new shell is refused too",
    ),
    FaultRule(2150859175, "ERROR_WSMAN_QUOTA_USER", True, "the user's quota frees up as operations end"),
    FaultRule(2150859176, "ERROR_WSMAN_QUOTA_SYSTEM", True, "the host's quota frees up as operations end"),
    FaultRule(2150859179, "ERROR_WSMAN_QUOTA_MAX_SHELLUSERS", True, "other users' shells close"),
    FaultRule(2150858815, "ERROR_WSMAN_QUOTA_LIMIT", True, "a quota frees up"),
    FaultRule(2150858802, "ERROR_WSMAN_CONCURRENCY", True, "the service is busy with a conflicting request"),
    FaultRule(2150858772, "ERROR_WSMAN_ENDPOINT_UNAVAILABLE", True, "the service is starting or stopping"),
    FaultRule(
        UNEXPECTED_SELECTORS,
        "ERROR_WSMAN_UNEXPECTED_SELECTORS",
        True,
        "the shell is gone (host restarted, idle timeout): the next command opens a new one",
    ),
    FaultRule(2150859204, "ERROR_WINRS_SHELL_DISCONNECTED", True, "the next command opens a new shell"),
    FaultRule(
        2150859230, "ERROR_WSMAN_SERVICE_STREAM_DISCONNECTED", True, "the next command opens a new shell"
    ),
    FaultRule(
        2150858755,
        "ERROR_WSMAN_PROVIDER_FAILURE",
        True,
        "w:InternalError, answered while the WinRM host process is busy or recycling; it passes",
    ),
    FaultRule(87, "ERROR_INVALID_PARAMETER", False, "the request is wrong"),
    FaultRule(2147942402, "ERROR_FILE_NOT_FOUND (0x80070002)", False, "the program does not exist"),
    FaultRule(2147942405, "ERROR_ACCESS_DENIED (0x80070005)", False, "the account lacks the right"),
    FaultRule(2147942606, "ERROR_FILENAME_EXCED_RANGE (0x800700CE)", False, "the command line is too long"),
    FaultRule(2150858819, "ERROR_WSMAN_INVALID_XML", False, "the request is malformed"),
    FaultRule(2150858771, "ERROR_WSMAN_ACTION_NOT_SUPPORTED", False, "the request is wrong"),
    FaultRule(2150858752, "ERROR_WSMAN_RESOURCE_NOT_FOUND", False, "the request is wrong"),
    FaultRule(2150858851, "ERROR_WSMAN_TARGET_ALREADY_EXISTS", False, "the request is wrong"),
)
FAULTS = MappingProxyType({rule.code: rule for rule in _RULES})
"""Known fault codes; any other fault is not transient."""

QUOTA_FAULTS = frozenset(
    {QUOTA_MAX_SHELLS, QUOTA_MAX_OPERATIONS, 2150859175, 2150859176, 2150859179, 2150858815}
)
_QUOTA_HINT = (
    "shells and commands that earlier sessions left open (a killed controller's) count against the "
    "user's WinRM quota until they idle out; `rollup apply --resume` deletes those of its own run first"
)
_AUTH_HINT = "check the user and the password reference in the inventory; a refusal is never retried"
_TLS_HINT = "trust the host's CA with ca_trust_path (cert_validation: ignore is for labs only)"


def scrub(text: str, secret: Secret | None) -> str:
    """``text`` on one line, with every form of ``secret`` (see ``Secret.forms``) replaced by ``***``."""
    line = " ".join(text.split())
    if secret is not None:
        for form in sorted(secret.forms(), key=len, reverse=True):
            line = line.replace(form, REDACTED)
    return line


def transport_error(
    cls: type[TransportError],
    message: str,
    *,
    host: str,
    may_have_started: bool,
    transient: bool | None = None,
    hint: str | None = None,
) -> TransportError:
    """A ``cls`` error with ``may_have_started`` set, and ``transient`` when it differs from the class."""
    error = cls(message, host=host, hint=hint)
    error.may_have_started = may_have_started
    if transient is not None:
        error.transient = transient
    return error


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every exception it wraps (``args``, urllib3's ``reason``, cause and context)."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo.extend(a for a in current.args if isinstance(a, BaseException))
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            todo.append(reason)
        todo.extend(e for e in (current.__cause__, current.__context__) if e is not None)


def _os_reason(exc: BaseException) -> str | None:
    """The operating system's words for a socket failure wrapped in ``exc`` (``connection refused``)."""
    for inner in _chain(exc):
        if isinstance(inner, OSError) and inner.strerror:
            return inner.strerror.lower()
    return None


def _never_sent(exc: requests.exceptions.ConnectionError) -> bool:
    """Whether the connection failed before the request could leave (refused, unreachable, unresolved)."""
    from urllib3.exceptions import NewConnectionError

    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    return any(isinstance(inner, NewConnectionError) for inner in _chain(exc))


@dataclass(frozen=True, slots=True, kw_only=True)
class Where:
    """What a failed request was: for whom, which action, at which stage, over which endpoint."""

    host: str
    action: str
    stage: Stage
    endpoint: str
    read_timeout_s: float
    user: str
    secret: Secret | None = None

    @property
    def started(self) -> bool:
        """The host had acknowledged the Command."""
        return self.stage is Stage.STARTED

    @property
    def unknown(self) -> bool:
        """A request whose answer is lost may have been processed: true from the Command on."""
        return self.stage is not Stage.BEFORE

    def error(
        self,
        cls: type[TransportError],
        text: str,
        *,
        may: bool | None = None,
        transient: bool | None = None,
        hint: str | None = None,
    ) -> TransportError:
        """A ``cls`` error about this request; ``may`` defaults to ``started``."""
        return transport_error(
            cls,
            scrub(f"{self.action}: {text}", self.secret),
            host=self.host,
            may_have_started=self.started if may is None else may,
            transient=transient,
            hint=hint,
        )


def translate(exc: BaseException, where: Where) -> Exception | None:
    """
    The error to raise instead of ``exc``, which a pywinrm call raised for the request ``where``.

    Returns:
        A ``TransportError``; a ``RuntimeError`` for HTTP 413, which rollup never provokes
        (requests are kept within MaxEnvelopeSize, so a 413 is a bug); ``None`` for an
        exception that is not a transport failure (a bug, left to propagate as it is).
    """
    if isinstance(exc, requests.exceptions.RequestException):
        return _from_requests(exc, where)
    if isinstance(exc, WinRMTransportError):
        return _from_http_status(exc, where)
    return _from_winrm(exc, where)


def _from_winrm(exc: BaseException, where: Where) -> TransportError | None:
    if isinstance(exc, AuthenticationError):
        text = f"the host refused the credentials of {where.user} (HTTP 401)"
        return where.error(AuthError, text, hint=_AUTH_HINT)
    if isinstance(exc, WinRMOperationTimeoutError):
        text = "the host did not complete the request within OperationTimeout"
        return where.error(TransportTimeout, text, may=where.unknown)
    if isinstance(exc, WSManFaultError):
        code = exc.wsman_fault_code if isinstance(exc.wsman_fault_code, int) else None
        rule = FAULTS.get(code) if code is not None else None
        subcode = f" ({exc.fault_subcode})" if exc.fault_subcode else ""
        text = f"WS-Management fault {code}{subcode}: {exc.reason}"
        hint = _QUOTA_HINT if code in QUOTA_FAULTS else None
        return where.error(ProtocolError, text, transient=rule is not None and rule.transient, hint=hint)
    if isinstance(exc, WinRMError | ET.ParseError | StopIteration | AssertionError):
        detail = str(exc) or type(exc).__name__
        return where.error(ProtocolError, f"malformed or unexpected answer: {detail}")
    return None


def _from_http_status(exc: WinRMTransportError, where: Where) -> Exception:
    if exc.code == 413:
        return RuntimeError(f"{where.host}: {where.action}: HTTP 413, a request over MaxEnvelopeSize")
    # 400: the host could not read the request (it lost the connection's security context).
    may = where.started or (where.unknown and exc.code != 400)
    text = f"HTTP {exc.code} without a WS-Management fault"
    return where.error(ProtocolError, text, transient=exc.code in (500, 503), may=may)


def _from_requests(exc: requests.exceptions.RequestException, where: Where) -> TransportError | None:
    if isinstance(exc, requests.exceptions.SSLError):
        text = f"TLS with {where.endpoint} failed: {_tls_reason(exc)}"
        return where.error(ConnectError, text, transient=False, hint=_TLS_HINT)
    if isinstance(exc, requests.exceptions.ReadTimeout):
        text = f"no answer within {where.read_timeout_s:g} s"
        return where.error(TransportTimeout, text, may=where.unknown)
    if isinstance(exc, requests.exceptions.ConnectionError):
        if _never_sent(exc):
            reason = _os_reason(exc) or "no connection could be made"
            return where.error(ConnectError, f"cannot connect to {where.endpoint}: {reason}")
        reason = _os_reason(exc) or "closed without an answer"
        text = f"the connection was lost before the host answered ({reason})"
        return where.error(ConnectError, text, may=where.unknown)
    return None


def _tls_reason(exc: BaseException) -> str:
    """The certificate problem in an ``SSLError`` (``certificate verify failed: self-signed certificate``)."""
    text = " ".join(str(exc).split())
    found = re.search(r"certificate verify failed: ([^(\])']+)", text)
    if found:
        return "certificate not trusted (" + found.group(1).strip() + ")"
    if "hostname" in text.lower() and "match" in text.lower():
        return "the certificate is for another host name"
    return "handshake refused"
