"""The server's contracts with the layer above: configuration checks, run lifecycle, simulation errors."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
import winrm
from winrm.exceptions import WSManFaultError
from winrm.protocol import Protocol

from rollup.errors import ConfigError
from rollup.lab.wsman import Credential, LabServer, ScriptOutcome, ScriptRun
from rollup.secret import Secret
from tests.lab.conftest import DOMAIN_USER, PASSWORD, FakeHost, Lab


def _protocol(url: str) -> Protocol:
    return Protocol(url, transport="ntlm", username=DOMAIN_USER, password=PASSWORD)


def test_non_loopback_address_is_refused(lab: Lab) -> None:
    """An endpoint must listen on 127.0.0.0/8: any other address is a configuration error naming the host."""
    config = replace(lab.config("WEB01"), address="10.0.0.5")

    with pytest.raises(
        ConfigError, match=r"^lab host WEB01: address '10\.0\.0\.5' is not a loopback address$"
    ):
        LabServer([config])


def test_duplicate_host_names_are_refused(lab: Lab) -> None:
    """Two endpoints with one name are refused before anything listens."""
    with pytest.raises(ConfigError, match="the name is used twice"):
        LabServer([lab.config("SQL01"), lab.config("sql01")])


def test_one_account_with_two_passwords_is_refused(lab: Lab) -> None:
    """The NTLM user file is process-wide, so an account has one password across the lab."""
    other = (Credential(DOMAIN_USER, Secret("another password")),)

    with pytest.raises(ConfigError, match=r"account HOSTING\\admin has another password"):
        lab.start(lab.config("A2"), lab.config("B2", credentials=other))


def test_address_in_use_is_a_config_error(lab: Lab) -> None:
    """A port another listener holds makes start fail with a one-line error, leaving nothing listening."""
    first = lab.start(lab.config("C3")).endpoint("C3")
    taken = replace(lab.config("D3"), address=first.address, port=first.port)

    with pytest.raises(ConfigError, match=rf"^lab host D3: cannot listen on {first.address}: "):
        lab.start(taken)


def test_finish_runs_even_after_the_client_terminates(lab: Lab) -> None:
    """A run whose command was signalled and whose shell was deleted still finishes after its duration."""
    host = FakeHost(duration_s=0.3)
    server = lab.start(lab.config(runner=host))
    protocol = _protocol(server.endpoint("COLLAB01").http_url)
    shell = protocol.open_shell()
    command_id = protocol.run_command(shell, "powershell", ["-Command", "msiexec /i x.msi"])
    deadline = time.monotonic() + 10
    while not host.scripts and time.monotonic() < deadline:
        time.sleep(0.02)
    protocol.cleanup_command(shell, command_id)
    protocol.close_shell(shell)
    while host.finished == 0 and time.monotonic() < deadline:
        time.sleep(0.02)

    assert (len(host.scripts), host.finished) == (1, 1)


def test_stopping_finishes_runs_in_progress(lab: Lab) -> None:
    """Stopping the server calls finish at once for every started run, so no host is left half-way."""
    host = FakeHost(duration_s=600)
    server = lab.start(lab.config(runner=host))
    protocol = _protocol(server.endpoint("COLLAB01").http_url)
    shell = protocol.open_shell()
    protocol.run_command(shell, "powershell", ["-Command", "Install-Everything"])
    deadline = time.monotonic() + 10
    while not host.scripts and time.monotonic() < deadline:
        time.sleep(0.02)

    server.stop()

    assert (len(host.scripts), host.finished) == (1, 1)


def test_a_failing_runner_is_a_provider_fault_and_is_recorded(lab: Lab) -> None:
    """A runner that raises answers the Receive with a plugin fault and is listed in simulation_errors."""

    def broken(host: str, script: str) -> ScriptRun:
        raise KeyError("no such operation")

    server = lab.start(lab.config(runner=broken))

    with pytest.raises(WSManFaultError) as fault:
        winrm.Session(
            server.endpoint("COLLAB01").http_url, auth=(DOMAIN_USER, PASSWORD), transport="ntlm"
        ).run_ps("x")

    assert fault.value.wsman_fault_code == 2150858755
    assert len(server.simulation_errors()) == 1
    assert "KeyError: 'no such operation'" in server.simulation_errors()[0]


def test_output_is_encoded_in_the_shell_code_page(lab: Lab) -> None:
    """Text is encoded in 437 by default (unknown characters become ?) and in UTF-8 for code page 65001."""
    outcome = ScriptOutcome(0, "café ✓\n", "")
    server = lab.start(lab.config(runner=FakeHost(outcome=outcome)))
    protocol = _protocol(server.endpoint("COLLAB01").http_url)
    outputs = []
    for codepage in (437, 65001):
        shell = protocol.open_shell(codepage=codepage)
        outputs.append(
            protocol.get_command_output(shell, protocol.run_command(shell, "powershell", ["-Command", "x"]))[
                0
            ]
        )
        protocol.close_shell(shell, close_session=False)

    assert outputs == ["café ?\r\n".encode("cp437"), "café ✓\r\n".encode()]
