"""
One WS-Management session to one host on pywinrm's ``Protocol``: the layer under the shells and
commands of ``rollup.transport.winrm``.

Every request goes through ``_call``, which counts it by SOAP action and turns what pywinrm
raises into a ``TransportError`` (``rollup.transport.errors``). A host that restarted has also
forgotten the NTLM context of the connection, and answers an encrypted request it cannot read
with HTTP 400: the session authenticates again and sends that request once more.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from winrm.exceptions import WinRMOperationTimeoutError, WinRMTransportError, WSManFaultError

from rollup.credentials import Credentials
from rollup.model.inventory import Host
from rollup.transport.connect import RequestCounter, timeouts
from rollup.transport.errors import Stage, Where, translate

log = logging.getLogger(__name__)


class WsmanSession:
    """A host's connection settings, its pywinrm ``Protocol`` (built on opening), and what was sent."""

    def __init__(self, host: Host, credentials: Credentials) -> None:
        self.host = host.name
        self._config = host
        self._credentials = credentials
        self._counter = RequestCounter()
        self._protocol: Any = None
        self._soap: Counter[str] = Counter()
        """Requests sent, by SOAP action."""
        self._events: Counter[str] = Counter()
        """Shells opened, recycled and reopened, and authentications repeated."""

    @property
    def requests(self) -> int:
        """HTTP requests sent so far."""
        return self._counter.total

    @property
    def encrypted(self) -> bool:
        """Whether messages are encrypted by the authentication (NTLM, Kerberos or CredSSP over HTTP)."""
        return self._protocol is not None and self._protocol.transport.encryption is not None

    def _call(
        self,
        action: str,
        stage: Stage,
        request: Callable[..., Any],
        *args: Any,
        keep: Callable[[BaseException], bool] | None = None,
        **kwargs: Any,
    ) -> Any:
        """
        Send one WS-Management request through pywinrm, translating what it raises.

        ``keep`` selects exceptions the caller handles itself (they are raised unchanged).
        A request the host could not read (HTTP 400 on an encrypted session) is sent once more
        on a freshly authenticated session.
        """
        for attempt in (1, 2):
            self._soap[action.rpartition(": ")[2]] += 1
            started = time.monotonic()
            try:
                answer = request(*args, **kwargs)
            except Exception as exc:
                _log_request(self.host, action, started, type(exc).__name__)
                if keep is not None and keep(exc):
                    raise
                if not _is_fault(exc):
                    self._protocol.transport.close_session()  # the connection's state is unknown
                if attempt == 1 and self._unreadable(exc):
                    self._events["reauthenticated"] += 1
                    continue
                error = translate(exc, self._where(action, stage))
                if error is None:
                    raise
                raise error from None
            _log_request(self.host, action, started, "ok")
            return answer
        raise AssertionError("unreachable: the second attempt raises or returns")

    def _unreadable(self, exc: BaseException) -> bool:
        """HTTP 400 with no body on an encrypted session: the host lost the connection's context."""
        encrypted = self._protocol.transport.encryption is not None
        return (
            isinstance(exc, WinRMTransportError) and exc.code == 400 and not exc.response_text and encrypted
        )

    def _where(self, action: str, stage: Stage) -> Where:
        return Where(
            host=self.host,
            action=action,
            stage=stage,
            endpoint=self._config.endpoint,
            read_timeout_s=timeouts(self._config)[1],
            user=self._credentials.user,
            secret=self._credentials.password,
        )


def _is_fault(exc: BaseException) -> bool:
    """The host answered with a fault: the connection itself is fine."""
    return isinstance(exc, WSManFaultError | WinRMOperationTimeoutError)


def _log_request(host: str, action: str, started: float, outcome: str) -> None:
    """One debug record per WS-Management request (``rollup -v``, ``--log-file``)."""
    if log.isEnabledFor(logging.DEBUG):
        duration_ms = round((time.monotonic() - started) * 1000, 1)
        extra = {"host": host, "action": action, "duration_ms": duration_ms, "outcome": outcome}
        log.debug("wsman request", extra=extra)
