"""Injected faults (the request hook), a host going down and back, and Windows' own faults."""

from __future__ import annotations

import time
from typing import Literal

import pytest
import requests
import winrm
from pypsrp.exceptions import WSManFaultError as PsrpFault
from pypsrp.shell import WinRS
from pypsrp.wsman import WSMan
from winrm.exceptions import InvalidCredentialsError, WSManFaultError
from winrm.protocol import Protocol

from rollup.lab.wsman import (
    Action,
    Delay,
    Fault,
    FaultReply,
    NoAnswer,
    RejectAuth,
    RequestInfo,
    ResetConnection,
    WSManFault,
)
from rollup.lab.wsman.faults import operation_timed_out
from tests.lab.conftest import DOMAIN_USER, LOCAL_USER, PASSWORD, FakeHost, Lab


def _on(action: Action, fault: Fault, n: int = 1) -> tuple[list[RequestInfo], object]:
    seen: list[RequestInfo] = []

    def hook(info: RequestInfo) -> Fault | None:
        seen.append(info)
        return fault if info.action is action and info.n == n else None

    return seen, hook


def _session(url: str, transport: Literal["ntlm", "basic"] = "ntlm") -> winrm.Session:
    user = DOMAIN_USER if transport == "ntlm" else LOCAL_USER
    return winrm.Session(
        url, auth=(user, PASSWORD), transport=transport, read_timeout_sec=30, operation_timeout_sec=20
    )


def test_hook_fault_reply_is_an_encrypted_wsman_fault(lab: Lab) -> None:
    """FaultReply answers HTTP 500 with the given fault, encrypted over NTLM like every answer."""
    fault = WSManFault("s:Receiver", "w:InternalError", "Injected. ", 2147942405, "Access is denied. ")
    seen, hook = _on(Action.COMMAND, FaultReply(fault))
    server = lab.start(lab.config(hook=hook))

    with pytest.raises(WSManFaultError) as raised:
        _session(server.endpoint("COLLAB01").http_url).run_cmd("hostname")

    assert (raised.value.wsman_fault_code, raised.value.reason) == (2147942405, "Injected. ")
    assert [(i.action, i.command_line, i.n) for i in seen] == [
        (Action.CREATE, None, 1),
        (Action.COMMAND, "hostname", 1),
    ]


def test_hook_sees_command_lines_of_later_requests(lab: Lab) -> None:
    """Send, Receive and Signal carry the command line of the command they are about."""
    seen, hook = _on(Action.SIGNAL, Delay(0.0))
    server = lab.start(lab.config(hook=hook))

    _session(server.endpoint("COLLAB01").http_url, "basic").run_cmd("echo", ["hi"])

    assert [(i.action.value, i.command_line) for i in seen] == [
        ("Create", None),
        ("Command", "echo hi"),
        ("Receive", "echo hi"),
        ("Signal", "echo hi"),
        ("Delete", None),
    ]


def test_hook_timed_out_fault_is_retried_by_pywinrm(lab: Lab) -> None:
    """A TimedOut fault injected on the first Receive is what a slow host sends: pywinrm retries."""
    _, hook = _on(Action.RECEIVE, FaultReply(operation_timed_out()))
    server = lab.start(lab.config(hook=hook))

    result = _session(server.endpoint("COLLAB01").http_url).run_cmd("hostname")

    assert result.std_out == b"COLLAB01\r\n"


def test_hook_reset_connection_breaks_the_request(lab: Lab) -> None:
    """ResetConnection closes the TCP connection with a reset: the client sees a connection error."""
    _, hook = _on(Action.CREATE, ResetConnection())
    server = lab.start(lab.config(hook=hook))

    with pytest.raises(requests.exceptions.ConnectionError):
        _session(server.endpoint("COLLAB01").http_url, "basic").run_cmd("hostname")


def test_hook_reset_after_processing_starts_the_command(lab: Lab) -> None:
    """ResetConnection(processed=True) on a Command: the client fails, but the run started and finishes."""
    host = FakeHost()
    _, hook = _on(Action.COMMAND, ResetConnection(processed=True))
    server = lab.start(lab.config(runner=host, hook=hook))

    with pytest.raises(requests.exceptions.ConnectionError):
        _session(server.endpoint("COLLAB01").http_url).run_ps("Install-Thing")
    deadline = time.monotonic() + 10
    while host.finished == 0 and time.monotonic() < deadline:
        time.sleep(0.05)

    assert (host.scripts, host.finished) == ([("COLLAB01", "Install-Thing")], 1)


def test_hook_no_answer_holds_then_closes(lab: Lab) -> None:
    """NoAnswer holds the request, then closes the connection without answering."""
    _, hook = _on(Action.CREATE, NoAnswer(hold_s=0.2))
    server = lab.start(lab.config(hook=hook))

    with pytest.raises(requests.exceptions.ConnectionError):
        _session(server.endpoint("COLLAB01").http_url, "basic").run_cmd("hostname")


def test_hook_no_answer_longer_than_the_read_timeout(lab: Lab) -> None:
    """A hold longer than the client's read timeout surfaces as a read timeout."""
    _, hook = _on(Action.CREATE, NoAnswer(hold_s=3.0))
    server = lab.start(lab.config(hook=hook))
    session = winrm.Session(
        server.endpoint("COLLAB01").http_url,
        auth=(LOCAL_USER, PASSWORD),
        transport="basic",
        read_timeout_sec=2,
        operation_timeout_sec=1,
    )

    with pytest.raises(requests.exceptions.ReadTimeout):
        session.run_cmd("hostname")


@pytest.mark.parametrize("transport", ["ntlm", "basic"])
def test_hook_reject_auth_fails_good_credentials(lab: Lab, transport: Literal["ntlm", "basic"]) -> None:
    """RejectAuth answers 401 to good credentials: InvalidCredentialsError, over NTLM and Basic."""
    _, hook = _on(Action.COMMAND, RejectAuth())
    server = lab.start(lab.config(hook=hook))
    url = server.endpoint("COLLAB01").http_url

    with pytest.raises(InvalidCredentialsError):
        _session(url, transport).run_cmd("hostname")
    assert _session(url, transport).run_cmd("hostname").std_out == b"COLLAB01\r\n"


def test_hook_delay_and_endpoint_latency_still_answer(lab: Lab) -> None:
    """Delay and the endpoint's latency slow answers down without changing them."""
    _, hook = _on(Action.RECEIVE, Delay(0.2))
    server = lab.start(lab.config(hook=hook, latency_s=0.01))

    result = _session(server.endpoint("COLLAB01").http_url).run_cmd("hostname")

    assert (result.status_code, result.std_out) == (0, b"COLLAB01\r\n")


def test_host_down_and_back(lab: Lab) -> None:
    """set_down refuses connections and forgets shells; the host listens again on the same port afterwards."""
    server = lab.start(lab.config())
    endpoint = server.endpoint("COLLAB01")
    port = endpoint.port
    protocol = Protocol(endpoint.http_url, transport="basic", username=LOCAL_USER, password=PASSWORD)
    shell = protocol.open_shell()

    endpoint.set_down(0.5)
    with pytest.raises(requests.exceptions.ConnectionError):
        _session(endpoint.http_url, "basic").run_cmd("hostname")
    deadline, back = time.monotonic() + 10, None
    while back is None and time.monotonic() < deadline:
        try:
            back = _session(endpoint.http_url, "basic").run_cmd("hostname")
        except requests.exceptions.ConnectionError:
            time.sleep(0.1)
    with pytest.raises(WSManFaultError) as gone:
        protocol.run_command(shell, "hostname")

    assert back is not None
    assert back.std_out == b"COLLAB01\r\n"
    assert endpoint.port == port
    assert gone.value.wsman_fault_code == 2150858843


def test_unknown_shell_and_command_get_windows_faults(lab: Lab) -> None:
    """Unknown ShellId and CommandId get Windows' InvalidSelectors faults with Windows' messages."""
    server = lab.start(lab.config())
    endpoint = server.endpoint("COLLAB01")
    wsman = WSMan(
        endpoint.address, port=endpoint.port, username=DOMAIN_USER, password=PASSWORD, ssl=False, auth="ntlm"
    )
    with WinRS(wsman) as shell, pytest.raises(PsrpFault) as no_command:
        shell.receive("stdout stderr", "87E77BEB-6761-4C48-9D70-A00266B8459A")
    protocol = Protocol(endpoint.http_url, transport="ntlm", username=DOMAIN_USER, password=PASSWORD)

    with pytest.raises(WSManFaultError) as no_shell:
        protocol.run_command("D1B4C3A2-0000-4000-8000-000000000001", "hostname")

    assert no_command.value.code == 2150858843
    assert "command identifier that does not exist" in (no_command.value.message or "")
    assert no_shell.value.wsman_fault_code == 2150858843
