"""
``rollup.transport.ntlm``: the NEGOTIATE message goes with the first request, so NTLM costs two
HTTP requests instead of three, and what a host answers instead of a challenge is reported, not
crashed on. The server here is a small HTTP server on loopback with pyspnego as the acceptor.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
import spnego
import spnego.exceptions
from requests_ntlm import HttpNtlmAuth
from winrm.exceptions import WinRMError

from rollup.credentials import Credentials
from rollup.lab.wsman.api import Credential
from rollup.lab.wsman.auth import USER_FILE
from rollup.model.inventory import Scheme
from rollup.model.roles import Role
from rollup.secret import Secret
from rollup.testing.fleet import lab_host
from rollup.transport.connect import RequestCounter, build_protocol
from rollup.transport.ntlm import PreemptiveNtlmAuth

USER = "HOSTING\\rollup-lab"
PASSWORD = "Ntlm-Test-2011!"
ACCOUNT = (Credential(USER, Secret(PASSWORD)),)


@pytest.fixture(autouse=True)
def _account() -> Iterator[None]:
    """The account pyspnego's acceptor knows (through the lab's NTLM_USER_FILE)."""
    USER_FILE.register("ntlm-test", ACCOUNT)
    yield
    USER_FILE.unregister(ACCOUNT)


@dataclass
class Seen:
    """What the server received: each request's Authorization header ('' when there was none)."""

    authorization: list[str] = field(default_factory=list)
    context: Any = None


Answer = Callable[[Seen, str], tuple[int, dict[str, str]]]


def ntlm_acceptor(seen: Seen, authorization: str) -> tuple[int, dict[str, str]]:
    """A WinRM host's answers: 401 offering Negotiate, the challenge, then 200."""
    scheme, _, token = authorization.partition(" ")
    if scheme != "Negotiate":
        return 401, {"WWW-Authenticate": "Negotiate"}
    if seen.context is None:
        seen.context = spnego.server(protocol="negotiate")
    out = seen.context.step(base64.b64decode(token))
    if not seen.context.complete:
        return 401, {"WWW-Authenticate": "Negotiate " + base64.b64encode(out or b"").decode()}
    return 200, {}


@contextmanager
def server(answer: Answer) -> Iterator[tuple[str, Seen]]:
    seen = Seen()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            authorization = self.headers.get("Authorization", "")
            seen.authorization.append(authorization)
            status, headers = answer(seen, authorization)
            self.send_response(status)
            for name, value in {**headers, "Content-Length": "0"}.items():
                self.send_header(name, value)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/wsman", seen
    finally:
        httpd.shutdown()
        httpd.server_close()


def post(url: str) -> requests.Response:
    with requests.Session() as session:
        session.auth = PreemptiveNtlmAuth(USER, PASSWORD)
        return session.post(url, data=b"")


def test_two_requests_authenticate_and_the_first_carries_the_negotiate_message() -> None:
    with server(ntlm_acceptor) as (url, seen), requests.Session() as session:
        auth = PreemptiveNtlmAuth(USER, PASSWORD)
        session.auth = auth
        answer = session.post(url, data=b"")

    assert answer.status_code == 200
    assert len(seen.authorization) == 2
    negotiate = base64.b64decode(seen.authorization[0].removeprefix("Negotiate "))
    authenticate = base64.b64decode(seen.authorization[1].removeprefix("Negotiate "))
    assert negotiate.startswith(b"NTLMSSP\x00\x01\x00\x00\x00")
    assert authenticate.startswith(b"NTLMSSP\x00\x03\x00\x00\x00")
    assert str(seen.context.client_principal) == USER
    # The session keys agree: what the client seals the server opens (pywinrm's encryption).
    assert auth.session_security is not None
    sealed, signature = auth.session_security.wrap(b"<Envelope/>")
    assert seen.context.unwrap(signature + sealed).data == b"<Envelope/>"


def test_a_host_that_offers_no_negotiate_gets_its_401_back_after_one_request() -> None:
    with server(lambda _seen, _auth: (401, {"WWW-Authenticate": 'Basic realm="WSMAN"'})) as (url, seen):
        answer = post(url)

    assert (answer.status_code, len(seen.authorization)) == (401, 1)


def test_a_challenge_that_is_not_ntlm_is_a_winrm_error_naming_it() -> None:
    garbage = base64.b64encode(b"NTLMSSP\x00\x02" + b"\x00" * 8).decode()
    with (
        server(lambda _seen, _auth: (401, {"WWW-Authenticate": f"Negotiate {garbage}"})) as (url, _),
        pytest.raises(WinRMError, match="NTLM challenge cannot be read"),
    ):
        post(url)


def test_a_refused_authenticate_message_is_the_hosts_401() -> None:
    def refuse_second(seen: Seen, authorization: str) -> tuple[int, dict[str, str]]:
        status, headers = ntlm_acceptor(seen, authorization)
        return (401, {"WWW-Authenticate": "Negotiate"}) if status == 200 else (status, headers)

    with server(refuse_second) as (url, seen):
        answer = post(url)

    assert (answer.status_code, len(seen.authorization)) == (401, 2)


def lab(scheme: Scheme, endpoint_port: int) -> Any:
    found = lab_host("COLLAB01", frozenset({Role.COLLAB}), address="127.0.0.1", port=endpoint_port)
    return replace(found, scheme=scheme)


def test_pywinrm_sessions_over_http_start_with_two_legs() -> None:
    """build_protocol swaps in the pre-emptive handshake where pywinrm encrypts (HTTP)."""
    with server(ntlm_acceptor) as (url, seen):
        port = int(url.split(":")[2].split("/")[0])
        counter = RequestCounter()
        protocol = build_protocol(lab(Scheme.HTTP, port), Credentials(USER, Secret(PASSWORD)), counter)
        session = protocol.transport.build_session()

    assert type(session.auth) is PreemptiveNtlmAuth
    assert (counter.total, len(seen.authorization)) == (2, 2)


def test_https_keeps_requests_ntlm_for_its_channel_binding() -> None:
    """Nothing is sent while an HTTPS session is built; its auth is requests-ntlm's own."""
    counter = RequestCounter()
    protocol = build_protocol(lab(Scheme.HTTPS, 9), Credentials(USER, Secret(PASSWORD)), counter)
    session = protocol.transport.build_session()

    assert type(session.auth) is HttpNtlmAuth
    assert counter.total == 0


def test_a_password_given_as_its_lm_nt_hashes_authenticates_as_the_password_does() -> None:
    """requests-ntlm's pass-the-hash form (``LM:NT`` in hex) keeps working."""
    from spnego._ntlm_raw.crypto import lmowfv1, ntowfv1

    hashes = f"{lmowfv1(PASSWORD).hex()}:{ntowfv1(PASSWORD).hex()}"
    with server(ntlm_acceptor) as (url, seen), requests.Session() as session:
        session.auth = PreemptiveNtlmAuth(USER, hashes)
        answer = session.post(url, data=b"")

    assert (answer.status_code, str(seen.context.client_principal)) == (200, USER)


def test_a_wrong_password_is_refused_with_the_hosts_401() -> None:
    with server(_refusing_acceptor) as (url, seen), requests.Session() as session:
        session.auth = PreemptiveNtlmAuth(USER, "Not-The-Password-1!")
        answer = session.post(url, data=b"")

    assert (answer.status_code, len(seen.authorization)) == (401, 2)


def _refusing_acceptor(seen: Seen, authorization: str) -> tuple[int, dict[str, str]]:
    """The acceptor, answering 401 where pyspnego refuses the AUTHENTICATE message."""
    try:
        return ntlm_acceptor(seen, authorization)
    except spnego.exceptions.SpnegoError:
        return 401, {"WWW-Authenticate": "Negotiate"}
