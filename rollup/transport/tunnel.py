"""
WinRM through an SSH jump host (``ssh_bastion: user@jumphost[:port]``), with paramiko.

Hosting networks often reach the management VLAN only through a bastion. For a host behind
one, rollup keeps one SSH connection per bastion (shared by every host behind it) and a local
listener per host on ``127.0.0.1``: each TCP connection pywinrm opens to that listener is
carried to the host's WinRM port by a ``direct-tcpip`` channel, bytes unchanged. NTLM, Kerberos
and their message encryption run end to end as without the bastion; over HTTPS the TLS session
is the host's own, and its certificate is checked against the host's address, not the
listener's (``rollup.transport.connect``).

The bastion's host key must be in ``known_hosts`` (the host's ``ssh_known_hosts``, else
``~/.ssh/known_hosts``): an unknown key or a changed one is refused (``ConfigError``, never
retried) and never added. The client key is ``ssh_key_file``, else the agent's or ``~/.ssh``'s.

A bastion that cannot be reached, or whose connection drops, is a ``ConnectError`` (transient,
retried like a host that does not answer): the next connection to the listener connects to the
bastion again. A connection the bastion refuses to forward is closed at once, which the WinRM
transport sees as a connection reset.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import threading
from pathlib import Path
from typing import Any

import paramiko

from rollup.errors import ConfigError, ConnectError
from rollup.model.inventory import Host, SshBastion

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 15.0
"""How long the SSH connection to the bastion (TCP, key exchange, authentication) may take."""
CHANNEL_TIMEOUT_S = 15.0
"""How long the bastion may take to open a channel to a host."""
_CHUNK = 65536


class _Bastion:
    """One SSH connection to a bastion, opened again when it has dropped."""

    def __init__(self, bastion: SshBastion) -> None:
        self.bastion = bastion
        self._client: paramiko.SSHClient | None = None
        self._lock = threading.Lock()

    def transport(self, host: str) -> paramiko.Transport:
        """
        The live SSH transport, connecting (again) when there is none; ``host`` is the host
        it is needed for (messages name it).

        Raises:
            ConfigError: the bastion's host key is unknown or changed.
            ConnectError: the bastion cannot be reached or refused the key (transient).
        """
        with self._lock:
            current = self._client.get_transport() if self._client is not None else None
            if current is not None and current.is_active():
                return current
            if self._client is not None:
                self._client.close()
            self._client = self._connect(host)
            opened = self._client.get_transport()
            assert opened is not None
            return opened

    def _connect(self, host: str) -> paramiko.SSHClient:
        b = self.bastion
        where = f"SSH bastion {b.describe()}"
        client = paramiko.SSHClient()
        known = b.known_hosts or Path.home() / ".ssh" / "known_hosts"
        try:
            client.load_host_keys(str(known))
        except OSError as exc:
            raise ConfigError(f"{host}: {where}: cannot read known_hosts {known}: {exc.strerror}") from None
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            client.connect(
                b.host,
                port=b.port,
                username=b.user,
                key_filename=None if b.key_file is None else str(b.key_file),
                timeout=CONNECT_TIMEOUT_S,
                banner_timeout=CONNECT_TIMEOUT_S,
                auth_timeout=CONNECT_TIMEOUT_S,
                allow_agent=b.key_file is None,
                look_for_keys=b.key_file is None,
            )
        except paramiko.BadHostKeyException:
            client.close()
            raise ConfigError(
                f"{host}: {where}: its host key is not the one {known} holds; refused",
                hint="if the bastion's key was changed on purpose, replace its line in known_hosts",
            ) from None
        except paramiko.SSHException as exc:
            client.close()
            if "not found in known_hosts" in str(exc):
                raise ConfigError(
                    f"{host}: {where}: its host key is not in {known}; refused",
                    hint="check the key's fingerprint with the bastion's owner, then: "
                    f"ssh-keyscan -p {b.port} {b.host} >> {known}",
                ) from None
            raise ConnectError(f"{where}: {exc}", host=host) from None
        except OSError as exc:
            client.close()
            raise ConnectError(f"{where}: cannot connect: {exc.strerror or exc}", host=host) from None
        return client

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None


class _Forward:
    """A listener on ``127.0.0.1`` whose connections go through the bastion to ``target``."""

    def __init__(self, bastion: _Bastion, target: tuple[str, int], host: str) -> None:
        self.bastion = bastion
        self.host = host
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, name=f"ssh-forward-{self.port}", daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, peer = self.listener.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._carry, args=(conn, peer), daemon=True).start()

    def _carry(self, conn: socket.socket, peer: tuple[str, int]) -> None:
        try:
            channel = self.bastion.transport(self.host).open_channel(
                "direct-tcpip", self.target, peer, timeout=CHANNEL_TIMEOUT_S
            )
        except (ConfigError, ConnectError, paramiko.SSHException, OSError) as exc:
            log.debug("%s: no channel to %s:%s: %s", self.host, *self.target, exc)
            conn.close()
            return
        with contextlib.closing(conn), contextlib.closing(channel):
            _pump(conn, channel)

    def close(self) -> None:
        self.listener.close()


def _pump(conn: socket.socket, channel: paramiko.Channel) -> None:
    """Copy bytes both ways until either side closes."""
    waitables: list[Any] = [conn, channel]
    while True:
        ready, _, _ = select.select(waitables, [], [], 60.0)
        if conn in ready:
            data = conn.recv(_CHUNK)
            if not data:
                return
            channel.sendall(data)
        if channel in ready:
            data = channel.recv(_CHUNK)
            if not data:
                return
            conn.sendall(data)
        if not ready and channel.closed:
            return


class Tunnels:
    """The bastions and forwards of this process, made when a host first needs them."""

    def __init__(self) -> None:
        self._bastions: dict[SshBastion, _Bastion] = {}
        self._forwards: dict[tuple[SshBastion, str, int], _Forward] = {}
        self._lock = threading.Lock()

    def local_port(self, host: Host) -> int:
        """
        The port on ``127.0.0.1`` that carries connections to ``host``'s WinRM port through its
        bastion. The bastion is connected first, so a refused host key or an unreachable bastion
        is reported here, before pywinrm tries.

        Raises:
            ConfigError, ConnectError: see ``_Bastion.transport``.
        """
        bastion = host.ssh_bastion
        assert bastion is not None
        with self._lock:
            link = self._bastions.setdefault(bastion, _Bastion(bastion))
            key = (bastion, host.address, host.port)
            forward = self._forwards.get(key)
            if forward is None:
                forward = self._forwards[key] = _Forward(link, (host.address, host.port), host.name)
        link.transport(host.name)
        return forward.port

    def channel(self, host: Host) -> paramiko.Channel:
        """
        A ``direct-tcpip`` channel through ``host``'s bastion to the host's own port: the socket
        of an SSH connection to a host that runs OpenSSH (``rollup.transport.ssh_connect``).

        Raises:
            ConfigError, ConnectError: see ``_Bastion.transport``; the bastion did not open the
                channel (transient).
        """
        bastion = host.ssh_bastion
        assert bastion is not None
        with self._lock:
            link = self._bastions.setdefault(bastion, _Bastion(bastion))
        target = (host.address, host.port)
        try:
            return link.transport(host.name).open_channel(
                "direct-tcpip", target, ("127.0.0.1", 0), timeout=CHANNEL_TIMEOUT_S
            )
        except (paramiko.SSHException, OSError, EOFError) as exc:
            where = f"SSH bastion {bastion.describe()}"
            detail = " ".join(str(exc).split()) or type(exc).__name__
            raise ConnectError(
                f"{where}: no channel to {host.address}:{host.port}: {detail}", host=host.name
            ) from None

    def close(self) -> None:
        """Close every listener and SSH connection."""
        with self._lock:
            for forward in self._forwards.values():
                forward.close()
            for link in self._bastions.values():
                link.close()
            self._forwards.clear()
            self._bastions.clear()


TUNNELS = Tunnels()
"""The process's tunnels (a run's hosts share them)."""
