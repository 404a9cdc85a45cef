"""
The SSH transport: PowerShell on a host that runs OpenSSH for Windows (``ansible_connection:
ssh`` with ``ansible_shell_type: powershell``), as Ansible's ssh connection drives it.

One SSH connection per host (``rollup.transport.ssh_connect``: known_hosts, key or password),
opened by the first command and kept for the run; each command is one ``exec`` channel whose
command line is the one WinRM sends: ``powershell.exe -NoProfile -NonInteractive
-ExecutionPolicy Bypass -EncodedCommand <base64 of the UTF-16LE script>``. OpenSSH for Windows
runs it through its default shell, cmd.exe, whose 8,191 characters bound the line as for
WinRS; a larger script goes on stdin to the same bootstrap (``rollup.ps.delivery``). Stdin is
then closed (EOF), so a script that reads it sees its end. Output is decoded as code page 437,
the console's; the exit code is the channel's exit status.

Files go as they go over WinRM (``rollup.transport.upload``: ``files.stat``, one
``files.upload`` with the content as base64 lines on stdin, checked by SHA-256 on the host before
it replaces the target, then ``files.set_time``), not over SFTP: the host's own script does the
check and the atomic replace, whichever transport carried the bytes.

A connection that drops is opened again by the next command. Errors, as WinRM's: a channel
that cannot be opened never started its command (``ConnectError``, transient); a connection
lost while a command runs may have run it (``may_have_started``); a command still running at
``timeout_s`` has its channel closed (which ends it on the host) and is a ``TransportTimeout``.
"""

from __future__ import annotations

import logging
import select
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Self

import paramiko

from rollup.credentials import Credentials
from rollup.errors import ConnectError, ProtocolError, TransportError, TransportTimeout
from rollup.model.inventory import Host
from rollup.ops.base import CommandResult
from rollup.ps.command import RemoteCommand
from rollup.ps.delivery import command_line, fits_command_line, stdin_command, stdin_payload
from rollup.transport import upload
from rollup.transport.base import PutResult, command_result
from rollup.transport.errors import scrub
from rollup.transport.ssh_connect import connect, where

log = logging.getLogger(__name__)

CHANNEL_TIMEOUT_S = 15.0
"""How long the host may take to open a channel and accept its command."""
_CHUNK = 65536


def ssh_command_line(script: str) -> tuple[str, bytes | None]:
    """
    The exec command line that runs ``script``, and the stdin it needs: the script on the
    command line when it fits cmd.exe's limit, else the bootstrap with the script on stdin.
    """
    if fits_command_line(script):
        program, arguments = command_line(script)
        return " ".join((program, *arguments)), None
    program, arguments = stdin_command()
    return " ".join((program, *arguments)), stdin_payload(script)


class SshTransport:
    """The ``Transport`` for one host over SSH. Not shared between threads (a lock serialises calls)."""

    def __init__(self, host: Host, credentials: Credentials) -> None:
        self.host = host.name
        self._config = host
        self._credentials = credentials
        self._client: paramiko.SSHClient | None = None
        self._lock = threading.RLock()
        self.requests = 0
        """SSH channels opened so far (one per command)."""
        self.connections = 0
        """SSH connections made so far (one per run, more when one dropped)."""

    # ---- lifecycle -------------------------------------------------------------------------

    def open(self) -> None:
        """Nothing to prepare: the first command connects."""

    def close(self) -> None:
        """Close the connection; never raises."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # ---- the port --------------------------------------------------------------------------

    def run(self, command: RemoteCommand, *, timeout_s: float, stdin: bytes | None = None) -> CommandResult:
        """
        Run ``command`` in PowerShell on the host; see ``Transport.run``.

        Raises:
            ValueError: ``stdin`` is given but the script does not fit on the command line.
            TransportError: see the module's documentation.
        """
        script = command.render()
        line, data = ssh_command_line(script)
        if stdin is not None:
            if data is not None:
                raise ValueError(f"{command.op}: a script that reads stdin must fit on the command line")
            data = stdin
        with self._lock:
            started = time.monotonic()
            try:
                exit_code, out, err = self._execute(command.op, line, data, timeout_s)
            except TransportError as exc:
                _log_command(self.host, command.op, started, type(exc).__name__)
                raise
            _log_command(self.host, command.op, started, "ok")
            return command_result(self.host, command, exit_code, out, err, started=started)

    def put(self, local: Path, remote: str, *, sha256: str, size: int) -> PutResult:
        """Upload ``local`` to ``remote`` unless it is there already; see ``Transport.put``."""
        with self._lock:
            before = self.requests
            skipped, sent = upload.put(self, local, remote, sha256=sha256, size=size)
            return PutResult(skipped=skipped, bytes_sent=sent, requests=self.requests - before)

    # ---- one command -----------------------------------------------------------------------

    def _transport(self, op: str) -> paramiko.Transport:
        """The live SSH transport, connecting (again) when there is none."""
        current = self._client.get_transport() if self._client is not None else None
        if current is not None and current.is_active():
            return current
        self.close()
        self._client = connect(self._config, self._credentials, op)
        self.connections += 1
        opened = self._client.get_transport()
        assert opened is not None
        return opened

    def _error(
        self, cls: type[TransportError], op: str, text: str, *, started: bool, transient: bool | None = None
    ) -> TransportError:
        message = scrub(f"{op}: {where(self._config)}: {text}", self._credentials.password)
        return cls(message, host=self.host, may_have_started=started, transient=transient)

    def _execute(self, op: str, line: str, data: bytes | None, timeout_s: float) -> tuple[int, bytes, bytes]:
        deadline = time.monotonic() + timeout_s
        transport = self._transport(op)
        self.requests += 1
        try:
            channel = transport.open_session(timeout=CHANNEL_TIMEOUT_S)
            channel.settimeout(CHANNEL_TIMEOUT_S)
            channel.exec_command(line)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            lost = not transport.is_active()
            self.close()
            detail = " ".join(str(exc).split()) or type(exc).__name__
            if lost:
                raise self._error(
                    ConnectError, op, f"the connection was lost ({detail})", started=False
                ) from None
            raise self._error(
                ProtocolError, op, f"the host refused the command ({detail})", started=False
            ) from None
        try:
            if data is not None:
                channel.sendall(data)
            channel.shutdown_write()
            return self._receive(op, channel, transport, deadline, timeout_s)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            self.close()
            detail = " ".join(str(exc).split()) or type(exc).__name__
            text = f"the connection was lost while the command ran ({detail})"
            raise self._error(ConnectError, op, text, started=True) from None
        finally:
            channel.close()

    def _receive(
        self,
        op: str,
        channel: paramiko.Channel,
        transport: paramiko.Transport,
        deadline: float,
        timeout_s: float,
    ) -> tuple[int, bytes, bytes]:
        """Read stdout and stderr until the exit status has come and both are drained."""
        out, err = bytearray(), bytearray()
        while True:
            if channel.recv_ready():
                out += channel.recv(_CHUNK)
            elif channel.recv_stderr_ready():
                err += channel.recv_stderr(_CHUNK)
            elif channel.exit_status_ready():
                code = channel.recv_exit_status()
                if code == -1:  # paramiko's value for a channel closed without one (SSH's is unsigned)
                    raise OSError("closed without an exit status")
                return code, bytes(out), bytes(err)
            elif channel.closed or not transport.is_active():
                raise OSError("closed without an exit status")
            else:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    channel.close()  # OpenSSH ends the command's process with its channel
                    text = f"still running after {timeout_s:g} s; its channel was closed"
                    raise self._error(TransportTimeout, op, text, started=True)
                if channel.eof_received:  # the output is complete: the exit status follows
                    channel.status_event.wait(min(remaining, 0.5))
                else:
                    select.select([channel], [], [], min(remaining, 0.5))


def _log_command(host: str, op: str, started: float, outcome: str) -> None:
    """One debug record per command (``rollup -v``, ``--log-file``), as WinRM logs each request."""
    if log.isEnabledFor(logging.DEBUG):
        duration_ms = round((time.monotonic() - started) * 1000, 1)
        extra = {"host": host, "action": f"{op}: exec", "duration_ms": duration_ms, "outcome": outcome}
        log.debug("ssh command", extra=extra)
