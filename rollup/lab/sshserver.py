"""
The lab's SSH server: every simulated host also serves SSH, as OpenSSH for Windows does, on
its own loopback address and port ``SSH_PORT`` (paramiko's server side).

A connection authenticates with the lab's account, by password or with the lab's client key
(``DIR/ssh/client_key``); the host key is one per lab (``DIR/ssh/host_key``), listed for every
host in ``DIR/ssh/known_hosts``. Each ``exec`` request is run as OpenSSH for Windows runs it
with its default shell: ``cmd.exe /c <command>``, by the same cmd.exe and ``powershell.exe``
as a WinRS command (``rollup.lab.cmdshell``), whose scripts go to the same runner: the same
interpreter and Windows model run them, with the same timing and fault hooks. Stdin is read up
to the client's EOF; output is sent in the console's code page, 437, with CRLF line ends, then
the exit status, then the channel closes. Shells, subsystems (SFTP) and port forwarding are
refused: rollup runs commands only.

A host that restarts (``set_down``) drops its SSH connections and, until it is back, closes
new ones at once, which a client sees as a connection lost before the SSH banner.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import selectors
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import paramiko
from paramiko.common import (
    AUTH_FAILED,
    AUTH_SUCCESSFUL,
    OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED,
    OPEN_SUCCEEDED,
)

from rollup.errors import ConfigError
from rollup.lab.cmdshell import TOO_LONG, launch
from rollup.lab.labdir import SSH_PORT
from rollup.lab.scripting import ScriptOutcome, ScriptRunner, WindowsVersion
from rollup.lab.winproc import CmdHost, Emit, LaunchError, Process, ReadStdin, Sent, Start
from rollup.lab.wsman.api import AddressTaken, Credential

log = logging.getLogger("rollup.lab.ssh")

CODEPAGE = 437
_CHUNK = 65536


@dataclass(frozen=True, slots=True)
class SshHost:
    """One host's SSH endpoint."""

    name: str
    address: str
    os: WindowsVersion
    port: int = SSH_PORT


@dataclass(slots=True)
class _Live:
    """A host's listener, its open connections, and until when it is down."""

    host: SshHost
    listener: socket.socket
    transports: set[paramiko.Transport] = field(default_factory=set)
    down_until: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)
    """Held while the runner starts or finishes a run of this host."""


def _same_user(given: str, account: str) -> bool:
    """Windows matches ``DOMAIN\\name`` case-insensitively; a bare name matches the account's name."""
    given, account = given.casefold(), account.casefold()
    return given == account or given == account.rpartition("\\")[2]


class _Interface(paramiko.ServerInterface):
    """Authentication and channel requests for one connection to one host."""

    def __init__(self, server: LabSshServer, live: _Live) -> None:
        self.server = server
        self.live = live
        self.user = ""

    def get_allowed_auths(self, username: str) -> str:
        return "publickey,password"

    def check_auth_password(self, username: str, password: str) -> int:
        for account in self.server.accounts:
            if _same_user(username, account.user) and password == account.password.reveal():
                self.user = account.user
                return AUTH_SUCCESSFUL
        return AUTH_FAILED

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        key_ok = self.server.client_key is not None and key == self.server.client_key
        for account in self.server.accounts:
            if key_ok and _same_user(username, account.user):
                self.user = account.user
                return AUTH_SUCCESSFUL
        return AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind == "session":
            return OPEN_SUCCEEDED
        return OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        line = command.decode("utf-8", "replace")
        name = f"ssh-exec-{self.live.host.name}"
        threading.Thread(
            target=self.server.execute, args=(self.live, self.user, channel, line), name=name, daemon=True
        ).start()
        return True


class LabSshServer:
    """The SSH endpoints of a lab's hosts: ``start`` returns once every one listens."""

    def __init__(
        self,
        hosts: Sequence[SshHost],
        runner: ScriptRunner,
        accounts: tuple[Credential, ...],
        host_key: paramiko.PKey,
        client_key: paramiko.PKey | None = None,
    ) -> None:
        self.hosts = tuple(hosts)
        self.runner = runner
        self.accounts = accounts
        self.host_key = host_key
        self.client_key = client_key
        self._live: dict[str, _Live] = {}
        self._selector = selectors.DefaultSelector()
        self._stopping = threading.Event()
        self._runs: set[threading.Thread] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """
        Listen on every host's SSH port.

        Raises:
            ConfigError: an address or port is taken (nothing is left listening).
        """
        for host in self.hosts:
            try:
                listener = socket.create_server((host.address, host.port), reuse_port=False)
            except OSError as exc:
                self.stop()
                error = AddressTaken if exc.errno == errno.EADDRINUSE else ConfigError
                raise error(
                    f"lab host {host.name}: cannot listen on {host.address}:{host.port} (SSH): {exc.strerror}"
                ) from None
            listener.setblocking(False)
            self._live[host.name.casefold()] = live = _Live(host, listener)
            self._selector.register(listener, selectors.EVENT_READ, live)
        self._thread = threading.Thread(target=self._accept, name="lab-ssh", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stopping.is_set():
            for key, _ in self._selector.select(timeout=0.2):
                live: _Live = key.data
                with contextlib.suppress(OSError):
                    sock, _peer = live.listener.accept()
                    sock.setblocking(True)
                    if time.monotonic() < live.down_until:
                        sock.close()
                        continue
                    threading.Thread(target=self._serve, args=(live, sock), daemon=True).start()

    def _serve(self, live: _Live, sock: socket.socket) -> None:
        """One connection: the handshake, then channels until the client or the host closes it."""
        transport = paramiko.Transport(sock)
        transport.add_server_key(self.host_key)
        with self._lock:
            live.transports.add(transport)
        try:
            transport.start_server(server=_Interface(self, live))
            channels: set[paramiko.Channel] = set()  # paramiko holds channels weakly only
            while transport.is_active() and not self._stopping.is_set():
                channel = transport.accept(timeout=0.5)  # exec requests start their own threads
                channels = {c for c in channels if not c.closed} | ({channel} if channel else set())
        except (paramiko.SSHException, OSError, EOFError) as exc:
            log.debug("%s: SSH connection ended: %s", live.host.name, exc)
        finally:
            with self._lock:
                live.transports.discard(transport)
            transport.close()

    def execute(self, live: _Live, user: str, channel: paramiko.Channel, line: str) -> None:
        """Run one exec request through cmd.exe, as OpenSSH for Windows does, and report its exit status."""
        me = threading.current_thread()
        with self._lock:
            self._runs.add(me)
        try:
            host = CmdHost(live.host.name, live.host.os, self.runner, CODEPAGE, None, user or "Administrator")
            try:
                process = launch(line, (), host, skip_cmd_shell=False)
                code = self._drive(live, channel, process)
            except LaunchError:
                _emit(channel, Emit(stderr=TOO_LONG))
                code = 1
            except Exception as exc:  # the host model's code failed: report it loudly, keep serving
                log.error(
                    "lab host %s: SSH command %r failed: %s: %s",
                    live.host.name,
                    line[:80],
                    type(exc).__name__,
                    exc,
                )
                _emit(channel, Emit(stderr=f"{type(exc).__name__}: {exc}\r\n"))
                code = 1
            with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
                channel.send_exit_status(code)
        finally:
            _await_eof(channel)
            channel.close()
            with self._lock:
                self._runs.discard(me)

    def _drive(self, live: _Live, channel: paramiko.Channel, process: Process) -> int:
        sent: Sent = None
        try:
            while True:
                step = process.send(sent)
                sent = None
                if isinstance(step, Emit):
                    _emit(channel, step)
                elif isinstance(step, ReadStdin):
                    sent = _read_stdin(channel)
                elif isinstance(step, Start):
                    sent = self._run(live, step)
        except StopIteration as stop:
            return int(stop.value)

    def _run(self, live: _Live, step: Start) -> ScriptOutcome:
        with live.lock:
            run = step.start()
        self._stopping.wait(run.duration_s)  # a stopping lab finishes its runs at once
        with live.lock:
            return run.finish()

    def set_down(self, name: str, seconds: float) -> None:
        """The host restarts: its connections are cut, and new ones closed for ``seconds``."""
        live = self._live.get(name.casefold())
        if live is None:
            return
        live.down_until = time.monotonic() + seconds
        with self._lock:
            cut = list(live.transports)
        for transport in cut:
            transport.close()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop listening, let the runs in progress finish (at once), close every connection."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(5)
        for live in self._live.values():
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(live.listener)
            live.listener.close()
        deadline = time.monotonic() + timeout_s
        with self._lock:
            runs = list(self._runs)
        for run in runs:
            run.join(max(0.0, deadline - time.monotonic()))
        for live in self._live.values():
            with self._lock:
                cut = list(live.transports)
            for transport in cut:
                transport.close()
        self._selector.close()


def _emit(channel: paramiko.Channel, emit: Emit) -> None:
    for text, send in ((emit.stdout, channel.sendall), (emit.stderr, channel.sendall_stderr)):
        if text:
            crlf = text.replace("\r\n", "\n").replace("\n", "\r\n")
            with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
                send(crlf.encode(f"cp{CODEPAGE}", errors="replace"))


def _await_eof(channel: paramiko.Channel, limit_s: float = 1.0) -> None:
    """
    Wait (briefly) for the client's EOF before closing: a client sends it once its exec request
    is answered, so the close cannot overtake that answer (paramiko's client fails a command
    whose channel closes before the answer to its exec request).
    """
    deadline = time.monotonic() + limit_s
    while not channel.eof_received and not channel.closed and time.monotonic() < deadline:
        time.sleep(0.002)


def _read_stdin(channel: paramiko.Channel) -> bytes:
    """Everything the client sends on stdin, up to its EOF."""
    data = bytearray()
    while True:
        piece = channel.recv(_CHUNK)
        if not piece:
            return bytes(data)
        data += piece


# ---- the lab's keys ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SshKeys:
    """Where a lab's SSH keys are: ``DIR/ssh/``."""

    folder: Path

    @property
    def host_key(self) -> Path:
        return self.folder / "host_key"

    @property
    def client_key(self) -> Path:
        return self.folder / "client_key"

    @property
    def known_hosts(self) -> Path:
        return self.folder / "known_hosts"

    def ensure(self, hosts: Sequence[SshHost]) -> None:
        """Make the host key and the client key once; write known_hosts for ``hosts`` (every start)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        for path in (self.host_key, self.client_key):
            if not path.exists():
                made = paramiko.ECDSAKey.generate()
                made.write_private_key_file(str(path))
                path.chmod(0o600)
        key = self.load_host_key()
        lines = [f"[{h.address}]:{h.port} {key.get_name()} {key.get_base64()}\n" for h in hosts]
        self.known_hosts.write_text("".join(lines), encoding="ascii")

    def load_host_key(self) -> paramiko.PKey:
        return paramiko.ECDSAKey.from_private_key_file(str(self.host_key))

    def load_client_key(self) -> paramiko.PKey:
        return paramiko.ECDSAKey.from_private_key_file(str(self.client_key))
