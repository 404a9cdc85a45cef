"""Windows' limits as the simulated hosts enforce them, seen through pywinrm."""

from __future__ import annotations

import base64
import time
import xml.etree.ElementTree as ET
from typing import Literal

import pytest
import winrm
import xmltodict  # type: ignore[import-untyped]
from winrm.exceptions import WinRMTransportError, WSManFaultError
from winrm.protocol import Protocol

from rollup.lab.wsman import Action, Limits, RequestInfo, ScriptOutcome
from rollup.lab.wsman.soap import ACTION_RECEIVE, CMD_RESOURCE_URI, NS_SHELL
from tests.lab.conftest import DOMAIN_USER, LOCAL_USER, PASSWORD, FakeHost, Lab


def _protocol(url: str, transport: Literal["ntlm", "basic"] = "ntlm") -> Protocol:
    user = DOMAIN_USER if transport == "ntlm" else LOCAL_USER
    return Protocol(url, transport=transport, username=user, password=PASSWORD)


def test_command_line_over_8191_characters_fails_as_cmd_does(lab: Lab) -> None:
    """A 9,000-character command line reaches cmd.exe, which refuses it: stderr and exit code 1."""
    server = lab.start(lab.config())
    session = winrm.Session(
        server.endpoint("COLLAB01").http_url, auth=(LOCAL_USER, PASSWORD), transport="basic"
    )

    result = session.run_cmd("echo " + "x" * 8995)

    assert (result.status_code, result.std_out, result.std_err) == (
        1,
        b"",
        b"The command line is too long.\r\n",
    )


def test_command_line_over_32767_characters_is_a_fault(lab: Lab) -> None:
    """Beyond CreateProcess's 32,767 characters the Command itself fails with 0x800700CE."""
    server = lab.start(lab.config())
    protocol = _protocol(server.endpoint("COLLAB01").http_url)
    shell = protocol.open_shell()

    with pytest.raises(WSManFaultError) as fault:
        protocol.run_command(shell, "echo", ["x" * 40000])
    protocol.close_shell(shell)

    assert fault.value.wsman_fault_code == 2147942606
    assert fault.value.reason == "The filename or extension is too long. "


def test_request_over_max_envelope_size_is_refused_and_the_connection_survives(lab: Lab) -> None:
    """A Send larger than MaxEnvelopeSizekb (150) gets HTTP 413; the shell and connection keep working."""
    server = lab.start(lab.config())
    protocol = _protocol(server.endpoint("COLLAB01").http_url)
    shell = protocol.open_shell()
    command_id = protocol.run_command(shell, "powershell.exe", ["-"])

    with pytest.raises(WinRMTransportError) as refused:
        protocol.send_command_input(shell, command_id, b"x" * 160_000)
    protocol.cleanup_command(shell, command_id)
    after = protocol.get_command_output(shell, protocol.run_command(shell, "hostname"))
    protocol.close_shell(shell)

    assert refused.value.code == 413
    assert after == (b"COLLAB01\r\n", b"", 0)


def test_sixth_shell_exceeds_the_shell_quota(lab: Lab) -> None:
    """MaxShellsPerUser is 5: the sixth Create fails with Windows' quota fault; closing one makes room."""
    server = lab.start(lab.config())
    protocol = _protocol(server.endpoint("COLLAB01").http_url)
    shells = [protocol.open_shell() for _ in range(5)]

    with pytest.raises(WSManFaultError) as fault:
        protocol.open_shell()
    protocol.close_shell(shells.pop(), close_session=False)
    shells.append(protocol.open_shell())

    assert fault.value.wsman_fault_code == 2150859173
    assert "maximum number of 5 concurrent shells" in fault.value.reason
    assert len(set(shells)) == 5


def test_sixteenth_command_exceeds_the_operations_quota_until_the_shell_is_deleted(lab: Lab) -> None:
    """Commands count against MaxConcurrentOperationsPerUser (15) until their shell is deleted."""
    server = lab.start(lab.config())
    protocol = _protocol(server.endpoint("COLLAB01").http_url, transport="basic")
    shell = protocol.open_shell()
    for _ in range(15):
        command_id = protocol.run_command(shell, "hostname")
        protocol.get_command_output(shell, command_id)
        protocol.cleanup_command(shell, command_id)

    with pytest.raises(WSManFaultError) as fault:
        protocol.run_command(shell, "hostname")
    protocol.close_shell(shell, close_session=False)
    fresh = protocol.open_shell()
    output = protocol.get_command_output(fresh, protocol.run_command(fresh, "hostname"))

    assert fault.value.wsman_fault_code == 2150859174
    assert output == (b"COLLAB01\r\n", b"", 0)


def test_idle_shell_is_deleted_after_its_idle_timeout(lab: Lab) -> None:
    """A shell with no request for IdleTimeout is gone: the next request gets the shell-not-found fault."""
    server = lab.start(lab.config(limits=Limits(idle_timeout_s=0.3)))
    endpoint = server.endpoint("COLLAB01")
    protocol = _protocol(endpoint.http_url, transport="basic")
    shell = protocol.open_shell()
    deadline = time.monotonic() + 10
    while endpoint.open_shells() and time.monotonic() < deadline:
        time.sleep(0.1)

    with pytest.raises(WSManFaultError) as fault:
        protocol.run_command(shell, "hostname")

    assert (fault.value.wsman_fault_code, fault.value.fault_subcode) == (2150858843, "w:InvalidSelectors")


def test_operation_timeout_is_waited_for_and_retried(lab: Lab) -> None:
    """A 2.5 s run with OperationTimeout 1 s: Receive times out and is repeated; the output is complete."""
    receives: list[int] = []

    def hook(info: RequestInfo) -> None:
        if info.action is Action.RECEIVE:
            receives.append(info.n)

    host = FakeHost(outcome=ScriptOutcome(0, "finished\n", ""), duration_s=2.5)
    server = lab.start(lab.config(runner=host, hook=hook))
    session = winrm.Session(
        server.endpoint("COLLAB01").http_url,
        auth=(DOMAIN_USER, PASSWORD),
        transport="ntlm",
        operation_timeout_sec=1,
        read_timeout_sec=3,
    )

    result = session.run_ps("Start-Sleep 2")

    assert (result.status_code, result.std_out) == (0, b"finished\r\n")
    assert len(receives) >= 3


def _raw_receive(protocol: Protocol, shell: str, command_id: str) -> bytes:
    message = {
        "env:Envelope": protocol.build_wsman_header(
            action=ACTION_RECEIVE, resource_uri=CMD_RESOURCE_URI, shell_id=shell
        )
    }
    desired = message["env:Envelope"].setdefault("env:Body", {}).setdefault("rsp:Receive", {})
    desired["rsp:DesiredStream"] = {"@CommandId": command_id, "#text": "stdout stderr"}
    return protocol.send_message(xmltodict.unparse(message))


def test_large_output_is_split_to_fit_max_envelope_size(lab: Lab) -> None:
    """400 KB of output comes over several Receives, each envelope within the request's 153,600 bytes."""
    text = "".join(f"{n:07d} some installer log line\n" for n in range(12_000))
    server = lab.start(lab.config(runner=FakeHost(outcome=ScriptOutcome(0, text, ""))))
    protocol = _protocol(server.endpoint("COLLAB01").http_url)
    shell = protocol.open_shell()
    command_id = protocol.run_command(shell, "powershell.exe", ["-Command", "Get-Content log"])
    sizes, output, done = [], b"", False
    while not done:
        response = _raw_receive(protocol, shell, command_id)
        sizes.append(len(response))
        root = ET.fromstring(response)  # noqa: S314 - the answer of the server under test
        output += b"".join(base64.b64decode(s.text or "") for s in root.iter(f"{{{NS_SHELL}}}Stream"))
        done = any(s.get("State", "").endswith("/Done") for s in root.iter(f"{{{NS_SHELL}}}CommandState"))
    protocol.close_shell(shell)

    assert output == text.replace("\n", "\r\n").encode()
    assert len(sizes) >= 3
    assert max(sizes) <= 153_600
