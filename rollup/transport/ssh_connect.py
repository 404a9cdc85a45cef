"""
The SSH connection to a host that runs OpenSSH for Windows (``ansible_connection: ssh``), with
paramiko, and the translation of what paramiko raises into rollup's transport errors.

The host's key must be in the host's ``ssh_known_hosts`` file (else ``~/.ssh/known_hosts``),
looked up as OpenSSH does (``[address]:port`` when the port is not 22): an unknown key or a
changed one is refused and never added, as for an SSH bastion. Authentication is the host's
``ssh_key_file`` when it has one, then the inventory's password (the credential reference WinRM
uses); neither the SSH agent nor ``~/.ssh``'s keys are tried, so what authenticates is what the
inventory says. A host behind an SSH bastion is reached through a ``direct-tcpip`` channel to
its SSH port (``rollup.transport.tunnel``).

| failure | error | transient |
|---|---|---|
| connection refused, unreachable, connect timeout, no SSH banner | ``ConnectError`` | yes |
| the host key unknown or changed | ``ConnectError`` | no |
| the key and the password refused | ``AuthError`` | no |
"""

from __future__ import annotations

import socket
from pathlib import Path

import paramiko

from rollup.credentials import Credentials
from rollup.errors import AuthError, ConfigError, ConnectError, TransportError
from rollup.model.inventory import Host
from rollup.transport.errors import scrub

CONNECT_TIMEOUT_S = 15.0
"""How long the TCP connection, the key exchange and the authentication may each take."""

AUTH_HINT = (
    "check the user and the password reference (or ssh_key_file) in the inventory; a refusal is never retried"
)


def where(host: Host) -> str:
    """``ssh://address:port``, for messages."""
    address = f"[{host.address}]" if ":" in host.address else host.address
    return f"ssh://{address}:{host.port}"


def known_hosts(host: Host) -> Path:
    """The known_hosts file the host's key must be in."""
    return host.ssh_known_hosts or Path.home() / ".ssh" / "known_hosts"


def connect(host: Host, credentials: Credentials, op: str) -> paramiko.SSHClient:
    """
    An authenticated SSH connection to ``host``, made for the operation ``op`` (messages name it).

    Raises:
        ConfigError: the known_hosts file cannot be read.
        ConnectError: the host cannot be reached (transient), or its key is not the known one
            (not transient).
        AuthError: the host refused the key and the password.
    """
    client = paramiko.SSHClient()
    known = known_hosts(host)
    try:
        client.load_host_keys(str(known))
    except OSError as exc:
        raise ConfigError(f"{host.name}: {op}: cannot read known_hosts {known}: {exc.strerror}") from None
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    try:
        sock = _through_bastion(host)
        client.connect(
            host.address,
            port=host.port,
            username=credentials.user,
            password=credentials.password.reveal(),
            key_filename=None if host.ssh_key_file is None else str(host.ssh_key_file),
            timeout=CONNECT_TIMEOUT_S,
            banner_timeout=CONNECT_TIMEOUT_S,
            auth_timeout=CONNECT_TIMEOUT_S,
            allow_agent=False,
            look_for_keys=False,
            sock=sock,
        )
    except TransportError:
        client.close()
        raise
    except Exception as exc:
        client.close()
        error = translate_connect(exc, host, credentials, op)
        if error is None:
            raise
        raise error from None
    return client


def _through_bastion(host: Host) -> paramiko.Channel | None:
    """A ``direct-tcpip`` channel to the host's SSH port through its bastion, if it has one."""
    if host.ssh_bastion is None:
        return None
    from rollup.transport.tunnel import TUNNELS

    return TUNNELS.channel(host)


def translate_connect(
    exc: BaseException, host: Host, credentials: Credentials, op: str
) -> TransportError | None:
    """The error for what ``SSHClient.connect`` raised; ``None`` for what is not a transport failure."""
    return _translate(exc, host, credentials, f"{op}: {where(host)}")


def _translate(exc: BaseException, host: Host, credentials: Credentials, site: str) -> TransportError | None:
    known = known_hosts(host)
    if isinstance(exc, paramiko.BadHostKeyException):
        return ConnectError(
            f"{site}: its host key is not the one {known} holds; refused",
            host=host.name,
            transient=False,
            hint="if the host's key was changed on purpose, replace its line in known_hosts",
        )
    if isinstance(exc, paramiko.AuthenticationException):
        how = "key and password" if host.ssh_key_file is not None else "password"
        return AuthError(
            f"{site}: the host refused the credentials of {credentials.user} (SSH {how})",
            host=host.name,
            hint=AUTH_HINT,
        )
    if isinstance(exc, paramiko.SSHException) and "not found in known_hosts" in str(exc):
        port = "" if host.port == 22 else f"-p {host.port} "
        return ConnectError(
            f"{site}: its host key is not in {known}; refused",
            host=host.name,
            transient=False,
            hint="check the key's fingerprint with the host's owner, then: "
            f"ssh-keyscan {port}{host.address} >> {known}",
        )
    if isinstance(exc, paramiko.SSHException | EOFError):
        detail = scrub(str(exc), credentials.password) or "the connection closed during the handshake"
        return ConnectError(f"{site}: {detail}", host=host.name)
    if isinstance(exc, OSError):
        return ConnectError(f"{site}: cannot connect: {os_reason(exc)}", host=host.name)
    return None


def os_reason(exc: OSError) -> str:
    """The operating system's words for a socket failure (``connection refused``)."""
    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError):
        inner = next(iter(exc.errors.values()), None)
        if isinstance(inner, OSError) and inner.strerror:
            return inner.strerror.lower()
    if isinstance(exc, socket.timeout | TimeoutError):
        return f"no connection within {CONNECT_TIMEOUT_S:g} s"
    return (exc.strerror or str(exc) or type(exc).__name__).lower()
