"""The simulated WinRM server, driven by the unmodified pywinrm and pypsrp clients."""

from __future__ import annotations

import base64

import pytest
import winrm
from pypsrp.client import Client
from pypsrp.exceptions import AuthenticationError
from pypsrp.shell import CommandState, SignalCode, WinRS
from pypsrp.wsman import NAMESPACES, WSMan
from winrm.exceptions import InvalidCredentialsError
from winrm.protocol import Protocol

from rollup.lab.wsman import Limits, ScriptOutcome, WindowsVersion
from rollup.ps.delivery import command_line, stdin_command, stdin_payload
from tests.lab.conftest import DOMAIN_USER, LOCAL_USER, PASSWORD, FakeHost, Lab


def _ntlm(url: str) -> winrm.Session:
    return winrm.Session(url, auth=(DOMAIN_USER, PASSWORD), transport="ntlm")


def test_pywinrm_basic_over_https_runs_hostname(lab: Lab) -> None:
    """pywinrm's ``ssl`` transport (Basic over TLS, self-signed certificate ignored) runs ``hostname``."""
    server = lab.start(lab.config("MPS01", https_port=0))
    session = winrm.Session(
        server.endpoint("MPS01").https_url or "",
        auth=(LOCAL_USER, PASSWORD),
        transport="ssl",
        server_cert_validation="ignore",
    )

    result = session.run_cmd("hostname")

    assert (result.status_code, result.std_out, result.std_err) == (0, b"MPS01\r\n", b"")


def test_pywinrm_ntlm_with_encryption_runs_builtins(lab: Lab) -> None:
    """Over HTTP with NTLM message encryption, ``hostname``, ``echo`` and ``ver`` answer as cmd.exe does."""
    server = lab.start(lab.config("DNS01", os=WindowsVersion.SERVER_2003_SP2))
    session = _ntlm(server.endpoint("DNS01").http_url)

    results = [
        session.run_cmd("hostname"),
        session.run_cmd("echo", ["hello", "world"]),
        session.run_cmd("ver"),
    ]

    assert [(r.status_code, r.std_out, r.std_err) for r in results] == [
        (0, b"DNS01\r\n", b""),
        (0, b"hello world\r\n", b""),
        (0, b"\r\nMicrosoft Windows [Version 5.2.3790]\r\n", b""),
    ]


def test_pywinrm_ntlm_returns_exit_code_and_stderr(lab: Lab) -> None:
    """A failing command line returns its exit code and both streams intact."""
    server = lab.start(lab.config())
    session = _ntlm(server.endpoint("COLLAB01").http_url)

    result = session.run_cmd("echo out && echo err>&2 && exit 7")
    unknown = session.run_cmd("ipconfig", ["/all"])

    assert (result.status_code, result.std_out, result.std_err) == (7, b"out \r\n", b"err \r\n")
    assert unknown.status_code == 1
    assert unknown.std_err == (
        b"'ipconfig' is not recognized as an internal or external command,\r\n"
        b"operable program or batch file.\r\n"
    )


def test_run_ps_reaches_the_runner_and_returns_its_outcome(lab: Lab) -> None:
    """``run_ps`` (``-encodedcommand``) hands the decoded script to the runner; its outcome comes back."""
    host = FakeHost(outcome=ScriptOutcome(3, "line one\nline two\n", "boom\n"))
    server = lab.start(lab.config(runner=host))

    result = _ntlm(server.endpoint("COLLAB01").http_url).run_ps("Get-Date")

    assert host.scripts == [("COLLAB01", "Get-Date")]
    assert (result.status_code, result.std_out) == (3, b"line one\r\nline two\r\n")
    assert b"boom" in result.std_err


def test_protocol_runs_several_commands_in_one_shell(lab: Lab) -> None:
    """One shell, several commands, each with its own output and exit code, then the shell is closed."""
    host = FakeHost()
    server = lab.start(lab.config(runner=host))
    endpoint = server.endpoint("COLLAB01")
    protocol = Protocol(endpoint.http_url, transport="ntlm", username=DOMAIN_USER, password=PASSWORD)
    shell = protocol.open_shell()
    outputs = []
    for command, args in (("hostname", ()), ("echo", ("two",)), (*command_line("Write-Output 3"),)):
        command_id = protocol.run_command(shell, command, list(args))
        outputs.append(protocol.get_command_output(shell, command_id))
        protocol.cleanup_command(shell, command_id)
    open_before_close = endpoint.open_shells()
    protocol.close_shell(shell)

    assert outputs == [(b"COLLAB01\r\n", b"", 0), (b"two\r\n", b"", 0), (b"done\r\n", b"", 0)]
    assert host.scripts == [("COLLAB01", "Write-Output 3")]
    assert (open_before_close, endpoint.open_shells()) == (1, 0)


def test_stdin_bootstrap_receives_the_script_sent_with_send(lab: Lab) -> None:
    """The stdin bootstrap waits for stdin End; the runner then gets the script that Send carried."""
    host = FakeHost()
    server = lab.start(lab.config(runner=host))
    protocol = Protocol(
        server.endpoint("COLLAB01").http_url, transport="ntlm", username=DOMAIN_USER, password=PASSWORD
    )
    script = "# large script\n" + "Write-Output 'é'\n" * 500
    payload = stdin_payload(script)
    shell = protocol.open_shell()
    command, args = stdin_command()
    command_id = protocol.run_command(shell, command, list(args))
    half = len(payload) // 2
    protocol.send_command_input(shell, command_id, payload[:half])
    scripts_before_end = list(host.scripts)
    protocol.send_command_input(shell, command_id, payload[half:], end=True)
    output = protocol.get_command_output(shell, command_id)
    protocol.cleanup_command(shell, command_id)
    protocol.close_shell(shell)

    assert scripts_before_end == []
    assert host.scripts == [("COLLAB01", script)]
    assert output == (b"done\r\n", b"", 0)


def test_wrong_password_raises_invalid_credentials(lab: Lab) -> None:
    """A wrong password is answered 401: pywinrm raises InvalidCredentialsError over NTLM and Basic."""
    server = lab.start(lab.config())
    url = server.endpoint("COLLAB01").http_url

    with pytest.raises(InvalidCredentialsError):
        winrm.Session(url, auth=(DOMAIN_USER, "wrong"), transport="ntlm").run_cmd("hostname")
    with pytest.raises(InvalidCredentialsError):
        winrm.Session(url, auth=(LOCAL_USER, "wrong"), transport="basic").run_cmd("hostname")


def test_an_account_of_another_host_is_refused(lab: Lab) -> None:
    """NTLM checks the principal against the host's own accounts, not every account of the lab."""
    server = lab.start(lab.config("A1"), lab.config("B1", credentials=lab.config().credentials[1:]))

    with pytest.raises(InvalidCredentialsError):
        _ntlm(server.endpoint("B1").http_url).run_cmd("hostname")
    assert _ntlm(server.endpoint("A1").http_url).run_cmd("hostname").std_out == b"A1\r\n"


@pytest.mark.parametrize("auth", ["ntlm", "negotiate"])
def test_pypsrp_execute_cmd_with_encryption(lab: Lab, auth: str) -> None:
    """pypsrp ``Client.execute_cmd`` works with raw NTLM and with SPNEGO (final token on the 200)."""
    server = lab.start(lab.config())
    endpoint = server.endpoint("COLLAB01")
    client = Client(
        endpoint.address, port=endpoint.port, username=DOMAIN_USER, password=PASSWORD, ssl=False, auth=auth
    )

    result = client.execute_cmd("echo abc")

    assert result == ("abc\r\n", "", 0)


def test_pypsrp_wrong_password_raises_authentication_error(lab: Lab) -> None:
    """pypsrp reports a refused NTLM handshake as AuthenticationError."""
    server = lab.start(lab.config())
    endpoint = server.endpoint("COLLAB01")
    client = Client(
        endpoint.address, port=endpoint.port, username=DOMAIN_USER, password="bad", ssl=False, auth="ntlm"
    )

    with pytest.raises(AuthenticationError):
        client.execute_cmd("hostname")


def test_keep_alive_serves_many_requests_after_one_handshake(lab: Lab) -> None:
    """pypsrp keeps its connection: three commands (15 SOAP requests) on one TCP connection, one handshake."""
    server = lab.start(lab.config())
    endpoint = server.endpoint("COLLAB01")
    client = Client(
        endpoint.address, port=endpoint.port, username=DOMAIN_USER, password=PASSWORD, ssl=False, auth="ntlm"
    )

    results = [client.execute_cmd(f"echo {n}") for n in range(3)]
    stats = endpoint.stats()

    assert [r[0] for r in results] == ["0\r\n", "1\r\n", "2\r\n"]
    assert (stats.connections, stats.handshakes) == (1, 1)
    assert stats.requests >= 15 + 3


def test_pypsrp_client_chosen_ids_codepage_and_arguments(lab: Lab) -> None:
    """pypsrp's own ShellId and CommandId are kept; one ``rsp:Arguments`` per argument; code page 65001."""
    server = lab.start(lab.config())
    endpoint = server.endpoint("COLLAB01")
    wsman = WSMan(
        endpoint.address, port=endpoint.port, username=DOMAIN_USER, password=PASSWORD, ssl=False, auth="ntlm"
    )
    shell_id = "0C8E4B16-3F7B-4E1C-9A57-1D8B0A6F2C11"
    command_id = "7D4C2E9A-5B1F-4C3D-8E6A-2F9B1C0D3E42"
    with WinRS(wsman, id=shell_id, codepage=65001, environment={"GREETING": "héllo"}) as shell:
        response = shell.command("cmd.exe", ["/c", "echo", "%GREETING%"], command_id=command_id)
        returned_id = response.findtext("rsp:CommandResponse/rsp:CommandId", "", namespaces=NAMESPACES)
        state, rc, streams = CommandState.PENDING, None, dict[str, bytes]()
        while state != CommandState.DONE:
            state, rc, streams = shell.receive("stdout stderr", returned_id)
        shell.signal(SignalCode.CTRL_C, returned_id)
        shell_seen = shell.id

    assert (shell_seen, returned_id) == (shell_id, command_id)
    assert (streams["stdout"], rc) == ("héllo\r\n".encode(), 0)


def test_skip_cmd_shell_needs_a_full_path(lab: Lab) -> None:
    """With WINRS_SKIP_CMD_SHELL a bare ``powershell.exe`` is not found (0x80070002); the full path runs."""
    host = FakeHost()
    server = lab.start(lab.config(runner=host))
    protocol = Protocol(
        server.endpoint("COLLAB01").http_url, transport="basic", username=LOCAL_USER, password=PASSWORD
    )
    shell = protocol.open_shell()
    encoded = base64.b64encode("Get-Date".encode("utf-16-le")).decode()

    with pytest.raises(winrm.exceptions.WSManFaultError) as missing:
        protocol.run_command(shell, "powershell.exe", ["-EncodedCommand", encoded], skip_cmd_shell=True)
    path = "C:\\Windows\\system32\\WindowsPowerShell\\v1.0\\powershell.exe"
    command_id = protocol.run_command(shell, path, ["-EncodedCommand", encoded], skip_cmd_shell=True)
    output = protocol.get_command_output(shell, command_id)
    protocol.close_shell(shell)

    assert missing.value.wsman_fault_code == 2147942402
    assert output == (b"done\r\n", b"", 0)
    assert host.scripts == [("COLLAB01", "Get-Date")]


def test_pypsrp_reads_the_host_envelope_size_from_winrm_config(lab: Lab) -> None:
    """pypsrp's ``update_max_payload_size`` reads ``winrm/config`` (a Get) and adopts the host's limit."""
    server = lab.start(lab.config(limits=Limits(max_envelope_kb=500)))
    endpoint = server.endpoint("COLLAB01")
    wsman = WSMan(
        endpoint.address, port=endpoint.port, username=DOMAIN_USER, password=PASSWORD, ssl=False, auth="ntlm"
    )

    wsman.update_max_payload_size()

    assert wsman.max_envelope_size == 500 * 1024
    assert (
        wsman.get_server_config().findtext("cfg:Config/cfg:Winrs/cfg:MaxShellsPerUser", namespaces=NAMESPACES)
        == "5"
    )
