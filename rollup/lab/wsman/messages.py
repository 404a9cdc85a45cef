"""
The WinRS message bodies: what Create, Command, Send, Receive and Signal carry, and the
bodies Windows answers with (shapes from the recorded exchanges in pypsrp's captures).
"""

from __future__ import annotations

import base64
import binascii
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from xml.sax.saxutils import escape

from rollup.lab.wsman.soap import CMD_RESOURCE_URI, NS_SHELL, SHELL_URI, parse_duration, q


class BodyError(ValueError):
    """A WinRS body the cmd shell plugin cannot use (answered with InvalidParameter)."""


@dataclass(frozen=True, slots=True)
class CreateBody:
    """``rsp:Shell`` of a Create."""

    shell_id: str | None
    input_streams: str
    output_streams: str
    working_directory: str | None
    idle_timeout_s: float | None
    environment: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class CommandBody:
    """``rsp:CommandLine``: one ``rsp:Arguments`` per argument (pypsrp) or one for all (pywinrm)."""

    command_id: str | None
    command: str
    arguments: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SendStream:
    """One ``rsp:Stream`` of a Send."""

    command_id: str
    name: str
    data: bytes
    end: bool


@dataclass(frozen=True, slots=True)
class ReceiveBody:
    """``rsp:Receive/rsp:DesiredStream``."""

    command_id: str | None
    streams: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SignalBody:
    """``rsp:Signal``: the command and the signal code URI."""

    command_id: str | None
    code: str


def _child_text(element: ET.Element, local: str) -> str | None:
    child = element.find(q(NS_SHELL, local))
    return None if child is None else (child.text or "")


def _expect(body: ET.Element | None, local: str) -> ET.Element:
    if body is None or body.tag != q(NS_SHELL, local):
        raise BodyError(f"expected rsp:{local}")
    return body


def parse_create(body: ET.Element | None) -> CreateBody:
    """Read ``rsp:Shell``. ``IdleTimeOut`` may be an ``xs:duration`` (pypsrp) or seconds (pywinrm)."""
    shell = _expect(body, "Shell")
    idle_text = (_child_text(shell, "IdleTimeOut") or "").strip()
    idle = parse_duration(idle_text) if idle_text.startswith("P") else None
    if idle is None and idle_text:
        try:
            idle = float(idle_text)
        except ValueError:
            raise BodyError("IdleTimeOut is not a duration") from None
    variables = shell.iterfind(f"{q(NS_SHELL, 'Environment')}/{q(NS_SHELL, 'Variable')}")
    return CreateBody(
        shell_id=shell.get("ShellId"),
        input_streams=(_child_text(shell, "InputStreams") or "stdin").strip(),
        output_streams=(_child_text(shell, "OutputStreams") or "stdout stderr").strip(),
        working_directory=_child_text(shell, "WorkingDirectory"),
        idle_timeout_s=idle,
        environment=tuple((v.get("Name", ""), v.text or "") for v in variables),
    )


def parse_command(body: ET.Element | None) -> CommandBody:
    """Read ``rsp:CommandLine``."""
    line = _expect(body, "CommandLine")
    command = _child_text(line, "Command")
    if command is None:
        raise BodyError("no rsp:Command")
    arguments = tuple(a.text or "" for a in line.iterfind(q(NS_SHELL, "Arguments")))
    return CommandBody(line.get("CommandId"), command.strip(), arguments)


def parse_send(body: ET.Element | None) -> tuple[SendStream, ...]:
    """Read every ``rsp:Stream`` of ``rsp:Send`` (base64 text)."""
    send = _expect(body, "Send")
    streams = []
    for stream in send.iterfind(q(NS_SHELL, "Stream")):
        command_id = stream.get("CommandId")
        if not command_id:
            raise BodyError("rsp:Stream without CommandId")
        try:
            data = base64.b64decode((stream.text or "").strip(), validate=True)
        except (binascii.Error, ValueError):
            raise BodyError("rsp:Stream is not base64") from None
        end = (stream.get("End") or "false").strip().lower() == "true"
        streams.append(SendStream(command_id, stream.get("Name", "stdin"), data, end))
    return tuple(streams)


def parse_receive(body: ET.Element | None) -> ReceiveBody:
    """Read ``rsp:DesiredStream``."""
    receive = _expect(body, "Receive")
    desired = receive.find(q(NS_SHELL, "DesiredStream"))
    if desired is None:
        raise BodyError("no rsp:DesiredStream")
    return ReceiveBody(desired.get("CommandId"), tuple((desired.text or "stdout").split()))


def parse_signal(body: ET.Element | None) -> SignalBody:
    """Read ``rsp:Signal``."""
    signal = _expect(body, "Signal")
    return SignalBody(signal.get("CommandId"), (_child_text(signal, "Code") or "").strip())


_ENTITIES = {'"': "&quot;", "'": "&apos;"}


def _xml_text(text: str) -> str:
    """Text as Windows' WS-Management serializer writes it: quotes escaped too (as recorded)."""
    return escape(text, _ENTITIES)


def _duration(seconds: float) -> str:
    return f"PT{seconds:.3f}S"


def create_response(
    shell_id: str, create: CreateBody, *, address: str, owner: str, client_ip: str, idle_timeout_s: float
) -> str:
    """
    ``x:ResourceCreated`` plus the ``rsp:Shell`` description, as Windows 2008 R2+ answers. The
    Create's variables are echoed in the order sent, with the backslashes of their names left
    out (``Name="a\\b"`` comes back as ``Name="ab"``; the value keeps them), as recorded.
    """
    environment = ""
    if create.environment:
        variables = "".join(
            f'<rsp:Variable Name="{_xml_text(name.replace(chr(92), ""))}">{_xml_text(value)}</rsp:Variable>'
            for name, value in create.environment
        )
        environment = f"<rsp:Environment>{variables}</rsp:Environment>"
    directory = (
        ""
        if create.working_directory is None
        else f"<rsp:WorkingDirectory>{_xml_text(create.working_directory)}</rsp:WorkingDirectory>"
    )
    return (
        f"<x:ResourceCreated><a:Address>{escape(address)}</a:Address><a:ReferenceParameters>"
        f"<w:ResourceURI>{CMD_RESOURCE_URI}</w:ResourceURI><w:SelectorSet>"
        f'<w:Selector Name="ShellId">{shell_id}</w:Selector></w:SelectorSet></a:ReferenceParameters>'
        f'</x:ResourceCreated><rsp:Shell xmlns:rsp="{NS_SHELL}"><rsp:ShellId>{shell_id}</rsp:ShellId>'
        f"<rsp:ResourceUri>{CMD_RESOURCE_URI}</rsp:ResourceUri><rsp:Owner>{escape(owner)}</rsp:Owner>"
        f"<rsp:ClientIP>{escape(client_ip)}</rsp:ClientIP>{environment}{directory}"
        f"<rsp:IdleTimeOut>{_duration(idle_timeout_s)}</rsp:IdleTimeOut>"
        f"<rsp:InputStreams>{escape(create.input_streams)}</rsp:InputStreams>"
        f"<rsp:OutputStreams>{escape(create.output_streams)}</rsp:OutputStreams>"
        "<rsp:ShellRunTime>P0DT0H0M0S</rsp:ShellRunTime><rsp:ShellInactivity>P0DT0H0M0S</rsp:ShellInactivity>"
        "</rsp:Shell>"
    )


def command_response(command_id: str) -> str:
    """``rsp:CommandResponse``."""
    return f"<rsp:CommandResponse><rsp:CommandId>{command_id}</rsp:CommandId></rsp:CommandResponse>"


SEND_RESPONSE = "<rsp:SendResponse/>"
SIGNAL_RESPONSE = "<rsp:SignalResponse/>"


def stream_open(name: str, command_id: str) -> str:
    """The start tag of an output ``rsp:Stream``."""
    return f'<rsp:Stream Name="{name}" CommandId="{command_id}">'


STREAM_CLOSE = "</rsp:Stream>"


def receive_response(
    command_id: str, chunks: Iterable[tuple[str, bytes]], ended: Iterable[str], exit_code: int | None
) -> str:
    """
    ``rsp:ReceiveResponse``: output chunks in the order produced, then (when the command is
    done and drained) an empty ``End="true"`` stream per desired stream and
    ``CommandState Done`` with the exit code; otherwise ``CommandState Running``.
    """
    parts = [
        f"{stream_open(name, command_id)}{base64.b64encode(data).decode('ascii')}{STREAM_CLOSE}"
        for name, data in chunks
    ]
    parts.extend(f'<rsp:Stream Name="{n}" CommandId="{command_id}" End="true"></rsp:Stream>' for n in ended)
    state = f'<rsp:CommandState CommandId="{command_id}" State="{SHELL_URI}/CommandState'
    if exit_code is None:
        parts.append(f'{state}/Running"></rsp:CommandState>')
    else:
        parts.append(f'{state}/Done"><rsp:ExitCode>{exit_code}</rsp:ExitCode></rsp:CommandState>')
    return f"<rsp:ReceiveResponse>{''.join(parts)}</rsp:ReceiveResponse>"
