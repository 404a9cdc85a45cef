"""
A pywinrm ``Protocol`` for one inventory host, and the count of the HTTP requests it sends
(``RequestCounter``; ``TransportStats`` is what a transport reports of them).

Authentication (``Host.transport``), as pywinrm 0.5 supports it:

- ``ntlm``: NTLM (requests-ntlm, installed with rollup) with MS-WSMV message encryption over
  HTTP, where the first request already carries the NEGOTIATE message (``rollup.transport.ntlm``:
  two legs, not three); over HTTPS, TLS protects the messages.
- ``kerberos``: pywinrm's Kerberos, which needs ``pykerberos`` (``pip install pywinrm[kerberos]``),
  a ticket for the user (``kinit``) and a host address that is a DNS name (the SPN is
  ``HTTP/<address>``). Messages are encrypted over HTTP.
- ``credssp``: needs ``requests-credssp`` (``pip install pywinrm[credssp]``) and CredSSP enabled
  on the host; messages are encrypted over HTTP.
- ``basic``: the password in every request, so only over HTTPS, or over HTTP for a host marked
  ``insecure_lab``.

TLS certificates are validated unless the host says ``cert_validation: ignore``; a
``ca_trust_path`` replaces the system's CA bundle for that host. Proxies from the environment
are not used: WinRM goes straight to the host.

pywinrm takes whole seconds: the operation timeout is rounded down (at least 1 s) and the read
timeout up, and the read timeout always exceeds the operation timeout, as pywinrm requires.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

import requests
import requests.adapters
from requests_ntlm import HttpNtlmAuth
from winrm.protocol import Protocol

from rollup.credentials import Credentials
from rollup.errors import ConfigError
from rollup.model.inventory import AuthTransport, CertValidation, Host, Scheme
from rollup.transport.ntlm import PreemptiveNtlmAuth

_PYWINRM_AUTH: Mapping[AuthTransport, Literal["ntlm", "kerberos", "credssp", "basic"]] = {
    AuthTransport.NTLM: "ntlm",
    AuthTransport.KERBEROS: "kerberos",
    AuthTransport.CREDSSP: "credssp",
    AuthTransport.BASIC: "basic",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class TransportStats:
    """What a transport has sent so far (for the benchmark, the tests and the run's summary)."""

    http_requests: int
    """Every HTTP request, authentication legs included."""
    soap: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    """WS-Management requests by action (Create, Command, Send, Receive, Signal, Delete)."""
    shells_opened: int = 0
    shells_recycled: int = 0
    """Shells deleted and replaced to stay under the operations quota."""
    shells_reopened: int = 0
    """Shells replaced because the host no longer knew them."""
    reauthentications: int = 0
    """Sessions authenticated again because the host could not read an encrypted request."""


class RequestCounter:
    """HTTP requests sent, authentication legs and the empty POST that starts encryption included."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._total = 0

    @property
    def total(self) -> int:
        """Requests sent since the counter was made."""
        with self._lock:
            return self._total

    def add(self) -> None:
        """Count one request."""
        with self._lock:
            self._total += 1


class CountingAdapter(requests.adapters.HTTPAdapter):
    """
    requests' HTTP adapter, counting what it sends. requests-ntlm sends its handshake legs
    through the adapter of the response it answers, so those are counted too.
    """

    def __init__(self, counter: RequestCounter, tls_name: str | None = None) -> None:
        self.tls_name = tls_name
        """The name the server's certificate must carry when the URL names a local tunnel."""
        super().__init__()
        self.counter = counter

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        if self.tls_name is not None:  # urllib3 drops these for http:// pools
            pool_kwargs.update(server_hostname=self.tls_name, assert_hostname=self.tls_name)
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)

    def send(  # noqa: PLR0917 (requests' signature)
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | tuple[float, None] | None = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        self.counter.add()
        return super().send(
            request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies
        )


def _mount(session: requests.Session, counter: RequestCounter, tls_name: str | None = None) -> None:
    """Make ``session`` send through a counting adapter (once)."""
    if not isinstance(session.get_adapter("http://"), CountingAdapter):
        adapter = CountingAdapter(counter, tls_name)
        session.mount("http://", adapter)
        session.mount("https://", adapter)


_ENVIRONMENT = threading.Lock()
"""
Held while pywinrm builds a session: it reads the proxy settings through requests, which for
``no_proxy`` rewrites ``os.environ`` for a moment, so two hosts' sessions built at once could
leave the variable changed or fail with ``KeyError``. Released before the first request.
"""


def _count_requests(protocol: Any, counter: RequestCounter, tls_name: str | None = None) -> None:
    """
    Count every HTTP request ``protocol`` sends, on every requests session it builds.

    pywinrm builds its session lazily and, for encryption, sends its first request while
    building it (``setup_encryption``), so the counting adapter is mounted from inside both.
    Building reads the environment under ``_ENVIRONMENT``, which is let go before that first
    request. The wrappers are set on this one transport object; pywinrm itself is unchanged.
    """
    transport = protocol.transport
    build_session = transport.build_session
    setup_encryption = transport.setup_encryption
    building: list[bool] = []
    """Holds ``True`` while this transport's ``build_session`` holds ``_ENVIRONMENT``."""

    def environment_read() -> None:
        if building:
            building.clear()
            _ENVIRONMENT.release()

    def setup_counted(session: requests.Session) -> None:
        # requests otherwise reads (and, for no_proxy, temporarily rewrites) os.environ on every
        # request, which races between threads; pywinrm has already resolved proxies and CA trust.
        session.trust_env = False
        _mount(session, counter, tls_name)
        if type(session.auth) is HttpNtlmAuth:  # encryption is set up over HTTP only
            session.auth = PreemptiveNtlmAuth(transport.username, transport.password)
        environment_read()  # the handshake that follows needs no lock
        setup_encryption(session)

    def build_counted() -> requests.Session:
        if transport.session is None:
            _ENVIRONMENT.acquire()
            building.append(True)
        try:
            session: requests.Session = build_session()
        finally:
            environment_read()
        session.trust_env = False
        _mount(session, counter, tls_name)
        return session

    transport.setup_encryption = setup_counted
    transport.build_session = build_counted


def check_supported(host: Host) -> None:
    """
    Refuse a host this client cannot or must not talk to, before anything is sent.

    Raises:
        ConfigError: Basic over HTTP without ``insecure_lab``; Kerberos or CredSSP without the
            package pywinrm needs for it.
    """
    kind = host.transport
    if kind is AuthTransport.BASIC and host.scheme is Scheme.HTTP and not host.insecure_lab:
        raise ConfigError(
            f"{host.name}: basic authentication over http sends the password in clear; "
            "use scheme: https, or mark a lab host insecure_lab: true"
        )
    from winrm import transport as pywinrm_transport

    if kind is AuthTransport.KERBEROS and not pywinrm_transport.HAVE_KERBEROS:
        raise ConfigError(
            f"{host.name}: transport kerberos needs pykerberos: pip install 'pywinrm[kerberos]'"
        )
    if kind is AuthTransport.CREDSSP and not pywinrm_transport.HAVE_CREDSSP:
        raise ConfigError(
            f"{host.name}: transport credssp needs requests-credssp: pip install 'pywinrm[credssp]'"
        )


def timeouts(host: Host) -> tuple[int, int]:
    """``(operation, read)`` timeouts in whole seconds, read > operation >= 1."""
    operation = max(1, math.floor(host.operation_timeout_s))
    read = max(operation + 1, math.ceil(host.read_timeout_s))
    return operation, read


def build_protocol(host: Host, credentials: Credentials, counter: RequestCounter) -> Any:
    """
    The pywinrm ``Protocol`` for ``host`` (nothing is sent yet), counting into ``counter``.
    A host behind an SSH bastion is reached through a local tunnel (``rollup.transport.tunnel``),
    its certificate still checked against its own address.

    Raises:
        ConfigError: see ``check_supported``; the bastion's host key is unknown or changed.
        ConnectError: the bastion cannot be reached (transient).
    """
    check_supported(host)
    operation, read = timeouts(host)
    validate = host.cert_validation is CertValidation.VALIDATE
    endpoint, tls_name = host.endpoint, None
    if host.ssh_bastion is not None:
        from rollup.transport.tunnel import TUNNELS

        endpoint = f"{host.scheme}://127.0.0.1:{TUNNELS.local_port(host)}/wsman"
        tls_name = host.address if host.scheme is Scheme.HTTPS else None
    protocol = Protocol(
        endpoint,
        transport=_PYWINRM_AUTH[host.transport],
        username=credentials.user,
        password=credentials.password.reveal(),
        server_cert_validation="validate" if validate else "ignore",
        ca_trust_path=str(host.ca_trust_path) if host.ca_trust_path is not None else None,  # type: ignore[arg-type]
        read_timeout_sec=read,
        operation_timeout_sec=operation,
        message_encryption="auto",
        proxy=None,
    )
    _count_requests(protocol, counter, tls_name)
    return protocol
