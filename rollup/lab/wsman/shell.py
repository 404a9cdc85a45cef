"""
WinRS on one host: shells, their commands, and the six operations on them.

A command's output is kept as chunks in the order it was produced; Receive hands out what the
client asked for (``DesiredStream``), as much as fits its ``MaxEnvelopeSize``, and blocks up
to ``OperationTimeout`` when there is nothing yet, then answers with the TimedOut fault (the
clients retry at once, so answering early would make them spin). Quotas and idle expiry follow
``Limits``; expiry is checked on each request to the host, which is when a client can notice.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field

from rollup.lab.cmdshell import launch
from rollup.lab.winproc import CmdHost, Emit, LaunchError, Process, ReadStdin, Sent, codec
from rollup.lab.wsman import faults, messages
from rollup.lab.wsman.api import ScriptRunner, WindowsVersion
from rollup.lab.wsman.faults import WSManFault
from rollup.lab.wsman.limits import Limits
from rollup.lab.wsman.runtime import Runtime
from rollup.lab.wsman.soap import DECLARATIONS_RECEIVE, SHELL_URI, SoapRequest, envelope, new_uuid
from rollup.ps.command import read_header
from rollup.ps.delivery import decode_powershell, decode_stdin_payload

MAX_STREAM_CHUNK = 16 * 1024
"""Largest output piece in one ``rsp:Stream`` element, in bytes."""

_SIGNALS = ("signal/terminate", "signal/ctrl_c", "signal/ctrl_break")


def script_op(script: str | None) -> str | None:
    """The operation id of a script's ``#rollup-op`` header; ``None`` without a readable one."""
    if script is None:
        return None
    with contextlib.suppress(ValueError):
        header = read_header(script)
        return None if header is None else header[0]
    return None


def line_op(line: str) -> str | None:
    """The operation id of the script a ``powershell -EncodedCommand`` line carries inline."""
    decoded = decode_powershell(line.split())
    return script_op(decoded.script) if decoded is not None and decoded.mode == "inline" else None


class WSManError(Exception):
    """An operation answered with a fault."""

    def __init__(self, fault: WSManFault) -> None:
        super().__init__(fault.reason)
        self.fault = fault


@dataclass(eq=False)
class Command:
    """A running or finished command of a shell."""

    id: str
    line: str
    op: str | None = None
    """The operation id of the script it carries, when operations are tracked (request hooks)."""
    chunks: list[tuple[str, bytes]] = field(default_factory=list)
    exit_code: int | None = None
    failure: WSManFault | None = None
    stdin: bytearray = field(default_factory=bytearray)
    stdin_closed: bool = False
    terminated: bool = False
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    stdin_ready: asyncio.Event = field(default_factory=asyncio.Event)

    def terminate(self) -> None:
        """Signal or Delete: the client is done with it (a run in progress still finishes)."""
        self.terminated = True
        self.stdin_ready.set()
        self.changed.set()


@dataclass(eq=False)
class Shell:
    """An open cmd shell."""

    id: str
    owner: str
    codepage: int
    environment: dict[str, str]
    idle_timeout_s: float
    last_used: float
    user: str = ""
    """The owner as the client named it (``USERNAME`` and ``USERDOMAIN`` of its processes)."""
    profile: bool = True
    """Whether its processes run with the user's profile (no ``WINRS_NOPROFILE``)."""
    busy: int = 0
    operations: int = 0
    commands: dict[str, Command] = field(default_factory=dict)


def _owner_key(principal: str) -> str:
    return principal.upper()


class WinRS:
    """The shells of one host and what Create, Command, Send, Receive, Signal and Delete do."""

    def __init__(
        self,
        host: str,
        os: WindowsVersion,
        runner: ScriptRunner,
        limits: Limits,
        runtime: Runtime,
        *,
        track_ops: bool = False,
        activity_id: Callable[[], str | None] = lambda: None,
    ) -> None:
        self.host = host
        self.os = os
        self.runner = runner
        self.limits = limits
        self.runtime = runtime
        self.track_ops = track_ops
        """Whether to read each command's operation id (only request hooks need it)."""
        self.activity_id = activity_id
        """The ``p:ActivityId`` of the next answer (``None``: the host sends none)."""
        self.shells: dict[str, Shell] = {}
        self._lock = asyncio.Lock()

    def _now(self) -> float:
        return self.runtime.loop.time()

    def expire_idle(self) -> None:
        """Delete the shells idle for longer than their IdleTimeout."""
        now = self._now()
        for shell in list(self.shells.values()):
            if shell.busy == 0 and now - shell.last_used > shell.idle_timeout_s:
                self._delete(shell)

    def _delete(self, shell: Shell) -> None:
        for command in shell.commands.values():
            command.terminate()
        del self.shells[shell.id]

    def forget_all(self) -> None:
        """The host went down: every shell is gone (runs in progress still finish)."""
        for shell in list(self.shells.values()):
            self._delete(shell)

    def _shell(self, request: SoapRequest, principal: str) -> Shell:
        shell = self.shells.get(request.shell_id or "")
        if shell is None or shell.owner != _owner_key(principal):
            raise WSManError(faults.shell_not_found(request.shell_id or ""))
        shell.last_used = self._now()
        return shell

    @staticmethod
    def _command(shell: Shell, command_id: str | None) -> Command:
        if not command_id:
            raise WSManError(faults.invalid_parameter())
        command = shell.commands.get(command_id)
        if command is None:
            raise WSManError(faults.command_not_found())
        return command

    def known_command(self, shell_id: str | None, command_id: str | None) -> Command | None:
        """A command of an open shell, for request hooks (no ownership check, nothing changes)."""
        shell = self.shells.get(shell_id or "")
        return None if shell is None else shell.commands.get(command_id or "")

    def send_op(self, request: SoapRequest) -> str | None:
        """
        The operation id a Send is about: the command's, or for the stdin bootstrap, the one in
        the script this Send completes (stdin so far plus this request's, when it ends stdin).
        """
        try:
            streams = messages.parse_send(request.body)
        except messages.BodyError:
            return None
        for stream in streams:
            command = self.known_command(request.shell_id, stream.command_id)
            if command is None:
                continue
            if command.op is not None:
                return command.op
            if stream.end and not command.stdin_closed:
                return script_op(decode_stdin_payload(bytes(command.stdin) + stream.data))
        return None

    def create(self, request: SoapRequest, principal: str, address: str, client_ip: str) -> str:
        """Open a shell; the body of the CreateResponse."""
        try:
            body = messages.parse_create(request.body)
        except messages.BodyError:
            raise WSManError(faults.invalid_parameter()) from None
        owner = _owner_key(principal)
        if sum(1 for s in self.shells.values() if s.owner == owner) >= self.limits.max_shells_per_user:
            raise WSManError(faults.shell_quota(self.limits.max_shells_per_user))
        shell_id = body.shell_id or new_uuid()
        if shell_id in self.shells:
            raise WSManError(faults.already_exists())
        codepage_text = request.options.get("WINRS_CODEPAGE", "437")
        try:
            codepage = int(codepage_text)
            codecs.lookup(codec(codepage))
        except (ValueError, LookupError):
            raise WSManError(faults.invalid_parameter()) from None
        idle = body.idle_timeout_s if body.idle_timeout_s is not None else self.limits.idle_timeout_s
        profile = not request.option_true("WINRS_NOPROFILE")
        environment = dict(body.environment)
        self.shells[shell_id] = Shell(
            shell_id, owner, codepage, environment, idle, self._now(), principal, profile
        )
        return messages.create_response(
            shell_id, body, address=address, owner=principal, client_ip=client_ip, idle_timeout_s=idle
        )

    def command(self, request: SoapRequest, principal: str) -> str:
        """Start a command; the body of the CommandResponse."""
        shell = self._shell(request, principal)
        try:
            body = messages.parse_command(request.body)
        except messages.BodyError:
            raise WSManError(faults.invalid_parameter()) from None
        owner_operations = sum(s.operations for s in self.shells.values() if s.owner == shell.owner)
        if owner_operations >= self.limits.max_operations_per_user:
            raise WSManError(faults.operations_quota(self.limits.max_operations_per_user))
        command_id = body.command_id or new_uuid()
        if command_id in shell.commands:
            raise WSManError(faults.invalid_parameter())
        cmd_host = CmdHost(
            self.host, self.os, self.runner, shell.codepage, shell.environment, shell.user, shell.profile
        )
        try:
            skip = request.option_true("WINRS_SKIP_CMD_SHELL")
            process = launch(body.command, body.arguments, cmd_host, skip_cmd_shell=skip)
        except LaunchError as exc:
            missing = exc.code == LaunchError.FILE_NOT_FOUND
            raise WSManError(faults.file_not_found() if missing else faults.filename_too_long()) from None
        line = " ".join((body.command, *body.arguments))
        command = Command(command_id, line, line_op(line) if self.track_ops else None)
        shell.commands[command_id] = command
        shell.operations += 1
        self.runtime.spawn(self._drive(command, process, shell.codepage))
        return messages.command_response(command_id)

    def send(self, request: SoapRequest, principal: str) -> str:
        """Append stdin; End closes it."""
        shell = self._shell(request, principal)
        try:
            streams = messages.parse_send(request.body)
        except messages.BodyError:
            raise WSManError(faults.invalid_parameter()) from None
        for stream in streams:
            command = self._command(shell, stream.command_id)
            if command.stdin_closed:
                continue
            command.stdin.extend(stream.data)
            command.stdin_closed = stream.end
            command.stdin_ready.set()
            if self.track_ops and stream.end and command.op is None:
                command.op = script_op(decode_stdin_payload(bytes(command.stdin)))
        return messages.SEND_RESPONSE

    async def receive(self, request: SoapRequest, principal: str) -> str:
        """Wait for output or completion (at most OperationTimeout); the whole response envelope."""
        shell = self._shell(request, principal)
        try:
            body = messages.parse_receive(request.body)
        except messages.BodyError:
            raise WSManError(faults.invalid_parameter()) from None
        command = self._command(shell, body.command_id)
        timeout = min(request.operation_timeout_s or self.limits.max_timeout_s, self.limits.max_timeout_s)
        deadline = self._now() + timeout
        shell.busy += 1
        try:
            while not self._ready(command, body.streams):
                remaining = deadline - self._now()
                if remaining <= 0:
                    raise WSManError(faults.operation_timed_out())
                command.changed.clear()
                try:
                    await asyncio.wait_for(command.changed.wait(), timeout=remaining)
                except TimeoutError:
                    raise WSManError(faults.operation_timed_out()) from None
        finally:
            shell.busy -= 1
            shell.last_used = self._now()
        if command.failure is not None:
            raise WSManError(command.failure)
        if command.terminated and shell.commands.get(command.id) is not command:
            raise WSManError(faults.command_not_found())
        ceiling = self.limits.max_envelope_bytes
        limit = min(request.max_envelope_size or ceiling, ceiling)
        return self._receive_envelope(command, body.streams, request.message_id, limit)

    @staticmethod
    def _ready(command: Command, streams: tuple[str, ...]) -> bool:
        return (
            command.exit_code is not None
            or command.failure is not None
            or command.terminated
            or any(name in streams for name, _ in command.chunks)
        )

    def _receive_envelope(
        self, command: Command, streams: tuple[str, ...], relates_to: str | None, limit: int
    ) -> str:
        activity_id = self.activity_id()

        def render(chunks: list[tuple[str, bytes]], done: bool, code: int) -> str:
            ended, code_or_none = (streams, code) if done else ((), None)
            body = messages.receive_response(command.id, chunks, ended, code_or_none)
            return envelope(
                DECLARATIONS_RECEIVE, f"{SHELL_URI}/ReceiveResponse", relates_to, body, activity_id
            )

        budget = limit - len(render([], True, -2147483648))
        element = max(len(messages.stream_open(n, command.id)) for n in ("stdout", "stderr"))
        element += len(messages.STREAM_CLOSE)
        taken: list[tuple[str, bytes]] = []
        kept: list[tuple[str, bytes]] = []
        full = False
        for name, data in command.chunks:
            if name not in streams or full:
                kept.append((name, data))
                continue
            size = min(len(data), (budget - element) // 4 * 3)
            if size <= 0:
                full = True
                kept.append((name, data))
                continue
            taken.append((name, data[:size]))
            budget -= element + 4 * math.ceil(size / 3)
            if size < len(data):
                kept.append((name, data[size:]))
                full = True
        command.chunks = kept
        drained = not any(name in streams for name, _ in kept)
        done = drained and command.exit_code is not None
        return render(taken, done, command.exit_code if command.exit_code is not None else 0)

    def signal(self, request: SoapRequest, principal: str) -> str:
        """Terminate a command (any of terminate, ctrl_c, ctrl_break) and forget it."""
        shell = self._shell(request, principal)
        try:
            body = messages.parse_signal(request.body)
        except messages.BodyError:
            raise WSManError(faults.invalid_parameter()) from None
        command = self._command(shell, body.command_id)
        if not body.code.lower().endswith(_SIGNALS):
            raise WSManError(faults.invalid_parameter())
        command.terminate()
        del shell.commands[command.id]
        return messages.SIGNAL_RESPONSE

    def delete(self, request: SoapRequest, principal: str) -> None:
        """Close a shell and everything in it."""
        self._delete(self._shell(request, principal))

    def _emit(self, command: Command, emit: Emit, codepage: int) -> None:
        for name, text in (("stdout", emit.stdout), ("stderr", emit.stderr)):
            if text:
                crlf = text.replace("\r\n", "\n").replace("\n", "\r\n")
                data = crlf.encode(codec(codepage), errors="replace")
                command.chunks.extend(
                    (name, data[i : i + MAX_STREAM_CHUNK]) for i in range(0, len(data), MAX_STREAM_CHUNK)
                )
        command.changed.set()

    async def _drive(self, command: Command, process: Process, codepage: int) -> None:
        """Run a command's steps: output, stdin, and runs (started and finished on worker threads)."""
        sent: Sent = None
        try:
            while True:
                step = process.send(sent)
                sent = None
                if isinstance(step, Emit):
                    self._emit(command, step, codepage)
                elif isinstance(step, ReadStdin):
                    while not command.stdin_closed and not command.terminated:
                        command.stdin_ready.clear()
                        await command.stdin_ready.wait()
                    if command.terminated:
                        process.close()
                        return
                    sent = bytes(command.stdin)
                else:
                    run = await self.runtime.call(self._lock, step.start)
                    await self.runtime.pause(run.duration_s)
                    sent = await self.runtime.call(self._lock, run.finish)
                    if command.terminated:
                        process.close()
                        return
        except StopIteration as stop:
            command.exit_code = int(stop.value)
        except Exception as exc:  # the host model's code failed: report it loudly, keep serving
            detail = f"{type(exc).__name__}: {exc}"
            self.runtime.record_error(self.host, f"command {command.line[:80]!r} failed: {detail}")
            command.failure = faults.provider_failure(detail)
        command.changed.set()
