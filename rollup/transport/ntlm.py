"""
NTLM over HTTP in two legs instead of three.

requests-ntlm sends a connection's first request without credentials, reads the 401 that
offers ``Negotiate``, and only then starts NTLM: three requests before the first answer.
A WinRM host always offers ``Negotiate`` (it is how Windows' own WinRS and PowerShell
remoting clients start), so ``PreemptiveNtlmAuth`` puts the NTLM NEGOTIATE message on the
first request and answers the challenge of its 401 with the AUTHENTICATE message: one round
trip fewer for every session, which is one in seven of a verify's requests.

It is used over HTTP, where pywinrm encrypts the messages with the session's keys. Over HTTPS
the AUTHENTICATE message carries a channel binding made from the server's certificate, which
is only known once connected, so HTTPS keeps requests-ntlm's own flow. Everything after the
handshake (``session_security`` for pywinrm's encryption, a 401 later on the same session) is
requests-ntlm's.
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import urlparse

import requests
import spnego
import spnego.exceptions
from requests_ntlm import HttpNtlmAuth
from requests_ntlm.requests_ntlm import ShimSessionSecurity
from winrm.exceptions import WinRMError

SCHEME = "Negotiate"
"""What WinRM offers on a 401 (never ``NTLM``), and so what the Authorization header names."""


class PreemptiveNtlmAuth(HttpNtlmAuth):
    """requests-ntlm's ``HttpNtlmAuth`` whose first request carries the NEGOTIATE message."""

    def __init__(self, username: str, password: str) -> None:
        super().__init__(username, password, send_cbt=False)
        self._pending: Any = None
        """The client context between the NEGOTIATE request and its challenge."""
        self._started = False

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        if self._started:
            return super().__call__(r)
        self._started = True
        self._pending = spnego.client(
            self.username,
            self.password,
            protocol="ntlm",
            hostname=str(urlparse(r.url).hostname or "unspecified"),
            service="http",
            options=spnego.NegotiateOptions.use_ntlm,
        )
        r.headers["Connection"] = "Keep-Alive"
        r.headers["Authorization"] = f"{SCHEME} {_b64(self._pending.step())}"
        r.register_hook("response", self._answer_challenge)  # type: ignore[no-untyped-call]
        return r

    def _answer_challenge(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        """Send the AUTHENTICATE message for the challenge in ``response`` (a 401)."""
        client, self._pending = self._pending, None
        challenge = _challenge(response) if response.status_code == 401 else None
        if client is None or challenge is None:
            return response  # refused outright: pywinrm reports the 401
        response.content  # noqa: B018 (read the body so the connection can be reused)
        response.raw.release_conn()
        request = response.request.copy()
        try:
            authenticate = client.step(challenge)
        except Exception as exc:  # a token from the network: any parse error means it is not NTLM
            detail = exc.message if isinstance(exc, spnego.exceptions.SpnegoError) else str(exc)
            raise WinRMError(f"the host's NTLM challenge cannot be read ({detail})") from exc
        request.headers["Authorization"] = f"{SCHEME} {_b64(authenticate)}"
        answer: requests.Response = response.connection.send(request, **kwargs)
        answer.history.append(response)
        self.session_security = ShimSessionSecurity(client)
        return answer


def _challenge(response: requests.Response) -> bytes | None:
    """The NTLM CHALLENGE message in a 401's ``WWW-Authenticate: Negotiate <token>``, if any."""
    for offer in response.headers.get("WWW-Authenticate", "").split(","):
        scheme, _, token = offer.strip().partition(" ")
        if scheme.lower() == SCHEME.lower() and token.strip():
            try:
                return base64.b64decode(token.strip(), validate=True)
            except ValueError:
                return None
    return None


def _b64(token: bytes | None) -> str:
    return base64.b64encode(token or b"").decode("ascii")
