"""
The WinRM transport: one WinRS shell per host, on pywinrm's ``Protocol`` (pywinrm unchanged).

A command costs three requests on an open shell: Command, Receive (more while it runs), and
Signal. The Signal that ends a finished command goes out just before the shell's next Command,
so ``run`` returns with the output, and it is not sent at all when the shell is deleted first
(deleting a shell ends its commands): a session of one command costs Create, Command, Receive
and Delete. The shell is opened by the first command and reused for the whole run, with three
exceptions, all handled here and invisible to the caller:

- WinRM 2.0 counts every Command against MaxConcurrentOperationsPerUser (15) until its shell is
  deleted, and Signal does not give the slot back (MS-WSMV behaviour note 118). So a shell
  runs at most ``MAX_COMMANDS_PER_SHELL`` (14) commands, then is deleted and replaced; a
  Command refused with that quota fault anyway gets a new shell and is sent once more.
- A host that restarted (or closed the shell for being idle) answers the Command with the
  unknown-ShellId fault: a new shell is opened and the Command sent once more.
- A host that restarted has also forgotten the NTLM context of the connection, and answers an
  encrypted request it cannot read with HTTP 400: the session authenticates again and sends
  that request once more (``rollup.transport.session``, which sends every request).

None of these repeats a command that may have run: each repeats a request the host refused
or could not read. Everything else becomes a ``TransportError`` (see
``rollup.transport.errors``) for the engine, which alone retries.

Scripts that fit cmd.exe's command line go as ``powershell -EncodedCommand``; larger ones go
on stdin to a fixed bootstrap (``rollup.ps.delivery``). Data on stdin (the bootstrap's script,
an upload's base64 lines) is split over several Sends so that no request exceeds the
MaxEnvelopeSize of 150 KB: a larger one would be refused with HTTP 413. Output is decoded as
the shell's code page, 437.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Self

from winrm.exceptions import WinRMOperationTimeoutError, WSManFaultError

from rollup.credentials import Credentials
from rollup.errors import TransportError, TransportTimeout
from rollup.model.inventory import Host
from rollup.ops.base import CommandResult
from rollup.ps.command import RemoteCommand
from rollup.ps.delivery import command_line, fits_command_line, stdin_command, stdin_payload
from rollup.transport import upload
from rollup.transport.base import CODEPAGE, PutResult, command_result
from rollup.transport.connect import TransportStats, build_protocol
from rollup.transport.errors import (
    QUOTA_MAX_OPERATIONS,
    UNEXPECTED_SELECTORS,
    Stage,
    transport_error,
)
from rollup.transport.session import WsmanSession

log = logging.getLogger(__name__)

MAX_COMMANDS_PER_SHELL = 14
"""Commands per shell before it is replaced: WinRM 2.0 refuses a user's 16th operation."""
MAX_ENVELOPE_BYTES = 153_600
"""MaxEnvelopeSize (150 KB), what pywinrm announces and WinRM 2.0 accepts."""
SEND_CHUNK_BYTES = 108 * 1024
"""
Stdin bytes per Send: 147,456 characters of base64 plus about 1.5 KB of envelope, within
``MAX_ENVELOPE_BYTES`` with room to spare.
"""


def _split(data: bytes, limit: int) -> list[bytes]:
    """``data`` in pieces of at most ``limit`` bytes, cut after a line end where there is one."""
    pieces: list[bytes] = []
    start = 0
    while len(data) - start > limit:
        cut = data.rfind(b"\n", start, start + limit)
        end = cut + 1 if cut >= start else start + limit
        pieces.append(data[start:end])
        start = end
    pieces.append(data[start:])
    return pieces


class WinRMTransport(WsmanSession):
    """
    The ``Transport`` for one host over WinRM. Not shared between threads (a lock makes
    concurrent calls wait rather than interleave).

    Raises (from ``open``, ``run`` or ``put``):
        ConfigError: the host's authentication is not allowed or not installed (see
            ``rollup.transport.connect``).
    """

    def __init__(self, host: Host, credentials: Credentials) -> None:
        super().__init__(host, credentials)
        self._shell_id: str | None = None
        self._shell_commands = 0
        self._finished: tuple[str, str, str] | None = None
        """``(op, shell, command)`` of the finished command not yet signalled."""
        self._lock = threading.RLock()
        self.shell_opened: Callable[[str], object] | None = None
        """Told each ShellId this session opens, at once (the engine journals them)."""

    # ---- lifecycle -------------------------------------------------------------------------

    def open(self) -> None:
        """Prepare the session; the host is contacted by the first command."""
        with self._lock:
            if self._protocol is None:
                self._protocol = build_protocol(self._config, self._credentials, self._counter)

    def close(self) -> None:
        """Delete the shell, if one is open, and close the connection. A failure is only logged."""
        with self._lock:
            if self._protocol is None:
                return
            try:
                if self._shell_id is not None:
                    self._delete_shell()
            except TransportError as exc:
                log.debug("%s: shell not deleted: %s", self.host, exc)
            finally:
                self._shell_id = None
                self._finished = None
                self._protocol.transport.close_session()

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

    def stats(self) -> TransportStats:
        """A snapshot of what was sent."""
        with self._lock:
            return TransportStats(
                http_requests=self._counter.total,
                soap=MappingProxyType(dict(self._soap)),
                shells_opened=self._events["opened"],
                shells_recycled=self._events["recycled"],
                shells_reopened=self._events["reopened"],
                reauthentications=self._events["reauthenticated"],
            )

    # ---- the port --------------------------------------------------------------------------

    def run(self, command: RemoteCommand, *, timeout_s: float, stdin: bytes | None = None) -> CommandResult:
        """
        Run ``command`` on the host's shell; see ``Transport.run``.

        Raises:
            ValueError: ``stdin`` is given but the script does not fit on the command line.
            TransportError: see ``rollup.transport.errors``; ``TransportTimeout`` when the
                command did not finish within ``timeout_s`` (it was signalled to terminate).
        """
        script = command.render()
        if stdin is not None and not fits_command_line(script):
            raise ValueError(f"{command.op}: a script that reads stdin must fit on the command line")
        if stdin is None and not fits_command_line(script):
            program, arguments = stdin_command()
            data: bytes | None = stdin_payload(script)
        else:
            program, arguments = command_line(script)
            data = stdin
        with self._lock:
            self.open()
            started = time.monotonic()
            exit_code, out, err = self._execute(command.op, program, arguments, data, timeout_s)
            return command_result(self.host, command, exit_code, out, err, started=started)

    def put(self, local: Path, remote: str, *, sha256: str, size: int) -> PutResult:
        """Upload ``local`` to ``remote`` unless it is there already; see ``Transport.put``."""
        with self._lock:
            self.open()
            before = self.requests
            skipped, sent = upload.put(self, local, remote, sha256=sha256, size=size)
            return PutResult(skipped=skipped, bytes_sent=sent, requests=self.requests - before)

    # ---- one command -----------------------------------------------------------------------

    def _execute(
        self, op: str, program: str, arguments: tuple[str, ...], data: bytes | None, timeout_s: float
    ) -> tuple[int, bytes, bytes]:
        deadline = time.monotonic() + timeout_s
        command_id = self._start(op, program, arguments)
        shell_id = self._shell_id
        if data is not None:
            pieces = _split(data, SEND_CHUNK_BYTES)
            for n, piece in enumerate(pieces, 1):
                self._call(
                    f"{op}: Send",
                    Stage.STARTED,
                    self._protocol.send_command_input,
                    shell_id,
                    command_id,
                    piece,
                    n == len(pieces),
                )
        exit_code, out, err = self._receive(op, command_id, deadline, timeout_s)
        if shell_id is not None:
            self._finished = (op, shell_id, command_id)
        return exit_code, out, err

    def _signal_finished(self) -> None:
        """Signal the finished command of the current shell, if there is one not yet signalled."""
        finished, self._finished = self._finished, None
        if finished is None or finished[1] != self._shell_id:
            return
        op, shell_id, command_id = finished
        try:
            self._call(f"{op}: Signal", Stage.STARTED, self._protocol.cleanup_command, shell_id, command_id,
                       keep=_shell_gone)  # fmt: skip
        except WSManFaultError:
            # The host no longer knows the shell (it restarted, or the shell idled out).
            self._shell_id = None
            self._events["reopened"] += 1
        except TransportError as exc:
            # The outcome is known; the shell is left to idle out and the next command opens another.
            log.debug("%s: %s; the shell is abandoned", self.host, exc)
            self._shell_id = None

    def _start(self, op: str, program: str, arguments: tuple[str, ...]) -> str:
        """Send the Command on a usable shell; a refused Command gets one new shell and one more try."""
        self._ensure_shell(op)
        action = f"{op}: Command"
        try:
            return self._command(action, program, arguments, keep=_shell_unusable)
        except WSManFaultError as fault:
            if _fault(fault) == QUOTA_MAX_OPERATIONS:
                self._delete_shell()
                self._events["recycled"] += 1
            else:
                self._shell_id = None
                self._events["reopened"] += 1
            log.debug("%s: %s refused (fault %s): new shell", self.host, action, _fault(fault))
        self._open_shell(op)
        return self._command(action, program, arguments, keep=None)

    def _command(
        self,
        action: str,
        program: str,
        arguments: tuple[str, ...],
        *,
        keep: Callable[[BaseException], bool] | None,
    ) -> str:
        run_command = self._protocol.run_command
        command_id: str = self._call(
            action, Stage.COMMAND, run_command, self._shell_id, program, arguments, keep=keep
        )
        self._shell_commands += 1
        return command_id

    def _receive(
        self, op: str, command_id: str, deadline: float, timeout_s: float
    ) -> tuple[int, bytes, bytes]:
        """Poll for output until the command is done, or signal terminate at the deadline."""
        out: list[bytes] = []
        err: list[bytes] = []
        configured = self._protocol.operation_timeout_sec
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._timed_out(op, command_id, timeout_s)
            self._protocol.operation_timeout_sec = max(1, min(configured, math.floor(remaining)))
            try:
                chunk_out, chunk_err, exit_code, done = self._call(
                    f"{op}: Receive",
                    Stage.STARTED,
                    self._protocol.get_command_output_raw,
                    self._shell_id,
                    command_id,
                    keep=lambda exc: isinstance(exc, WinRMOperationTimeoutError),
                )
            except WinRMOperationTimeoutError:
                continue
            finally:
                self._protocol.operation_timeout_sec = configured
            out.append(chunk_out)
            err.append(chunk_err)
            if done:
                return int(exit_code), b"".join(out), b"".join(err)

    def _timed_out(self, op: str, command_id: str, timeout_s: float) -> TransportError:
        """Signal terminate (best effort) and make the timeout error."""
        try:
            self._call(
                f"{op}: Signal", Stage.STARTED, self._protocol.cleanup_command, self._shell_id, command_id
            )
        except TransportError as exc:
            log.debug("%s: terminate not delivered: %s", self.host, exc)
            self._shell_id = None
        return transport_error(
            TransportTimeout,
            f"{op}: not finished within {timeout_s:g} s; terminate was signalled, it may still be running",
            host=self.host,
            may_have_started=True,
        )

    # ---- the shell -------------------------------------------------------------------------

    def _ensure_shell(self, op: str) -> None:
        if self._shell_id is not None and self._shell_commands >= MAX_COMMANDS_PER_SHELL:
            self._delete_shell()
            self._events["recycled"] += 1
        self._signal_finished()
        if self._shell_id is None:
            self._open_shell(op)

    def _open_shell(self, op: str) -> None:
        open_shell = self._protocol.open_shell
        self._shell_id = self._call(f"{op}: Create", Stage.BEFORE, open_shell, codepage=CODEPAGE)
        self._shell_commands = 0
        self._events["opened"] += 1
        if self.shell_opened is not None and self._shell_id is not None:
            self.shell_opened(self._shell_id)

    def delete_shells(self, shell_ids: Sequence[str]) -> int:
        """
        Delete shells by id (those an earlier, killed process of the run left open, which count
        against the user's shell quota until they idle out). A shell the host no longer knows is
        skipped. Returns how many were deleted.
        """
        deleted = 0
        with self._lock:
            self.open()
            for shell_id in shell_ids:
                try:
                    self._call(
                        "Delete", Stage.BEFORE, self._protocol.close_shell, shell_id, close_session=False
                    )
                except TransportError as exc:
                    log.debug("%s: shell %s not deleted: %s", self.host, shell_id, exc)
                    continue
                deleted += 1
        return deleted

    def _delete_shell(self) -> None:
        """Delete the shell, and with it its commands (one the host no longer knows counts as deleted)."""
        shell_id, self._shell_id = self._shell_id, None
        self._finished = None
        try:
            self._call(
                "Delete",
                Stage.BEFORE,
                self._protocol.close_shell,
                shell_id,
                close_session=False,
                keep=_shell_gone,
            )
        except WSManFaultError:
            return


def _fault(exc: BaseException) -> int | None:
    """The WSManFault code of a pywinrm fault, else ``None``."""
    return exc.wsman_fault_code if isinstance(exc, WSManFaultError) else None


def _shell_gone(exc: BaseException) -> bool:
    """The host does not know the shell (it restarted, or the shell idled out)."""
    return _fault(exc) == UNEXPECTED_SELECTORS


def _shell_unusable(exc: BaseException) -> bool:
    """The Command was refused for its shell (gone, or out of operations): a new shell cures it."""
    return _fault(exc) in (UNEXPECTED_SELECTORS, QUOTA_MAX_OPERATIONS)
