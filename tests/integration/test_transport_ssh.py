"""
The SSH transport against the lab's SSH server, in this process: real paramiko on both sides,
the lab's cmd.exe and powershell.exe, a runner that records the scripts it gets. Results, the
stdin route, and every failure as the error class (and ``transient``) the engine relies on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import paramiko
import pytest

from rollup.credentials import Credentials
from rollup.errors import AuthError, ConnectError, TransportError, TransportTimeout
from rollup.lab.labdir import SSH_PORT
from rollup.lab.sshserver import LabSshServer, SshHost, SshKeys
from rollup.lab.wsman import Credential, ScriptOutcome, WindowsVersion
from rollup.model.inventory import Connection, Host
from rollup.model.roles import Role
from rollup.ops.files import StatParams
from rollup.ops.products import ListParams
from rollup.ops.registry import operation
from rollup.ps.command import RemoteCommand
from rollup.secret import Secret
from rollup.testing.fleet import lab_host
from rollup.testing.labproc import worker_address
from rollup.transport.ssh import SshTransport
from tests.lab.conftest import DOMAIN_USER, PASSWORD, FakeHost, next_address


@dataclass
class SshLab:
    """One simulated host serving SSH, the inventory host for it, and its runner."""

    server: LabSshServer
    host: Host
    runner: FakeHost
    keys: SshKeys

    def transport(self, password: str = PASSWORD, **changes: object) -> SshTransport:
        return SshTransport(replace(self.host, **changes), Credentials(DOMAIN_USER, Secret(password)))


@pytest.fixture(name="lab")
def _lab(tmp_path: Path) -> Iterator[SshLab]:
    address = worker_address(next_address())
    endpoint = SshHost("COLLAB01", address, WindowsVersion.SERVER_2003_SP2)
    keys = SshKeys(tmp_path / "ssh")
    keys.ensure([endpoint])
    runner = FakeHost(ScriptOutcome(0, "done \u00e9\r\n", "warned\r\n"))
    server = LabSshServer(
        [endpoint],
        runner,
        (Credential(DOMAIN_USER, Secret(PASSWORD)),),
        keys.load_host_key(),
        keys.load_client_key(),
    )
    server.start()
    host = replace(
        lab_host("COLLAB01", frozenset({Role.COLLAB}), address=address),
        connection=Connection.SSH,
        port=SSH_PORT,
        ssh_known_hosts=keys.known_hosts,
    )
    yield SshLab(server, host, runner, keys)
    server.stop()


def _command(op_id: str, params: object) -> RemoteCommand:
    found = operation(op_id)
    assert found is not None
    return found.command(params)


PRODUCTS = _command("products.list", ListParams())


def test_a_command_returns_exit_code_and_both_streams(lab: SshLab) -> None:
    """The script reaches the runner unchanged; stdout and stderr come back as code page 437 text."""
    lab.runner.outcome = ScriptOutcome(3, "done \u00e9\r\n", "warned\r\n")
    with lab.transport() as transport:
        first = transport.run(PRODUCTS, timeout_s=30)
        second = transport.run(PRODUCTS, timeout_s=30)

    assert (first.exit_code, first.stdout, first.stderr) == (3, "done \u00e9\r\n", "warned\r\n")
    assert second.exit_code == 3
    assert [script for _, script in lab.runner.scripts] == [PRODUCTS.render()] * 2
    assert (transport.requests, transport.connections) == (2, 1)


def test_a_long_script_travels_on_stdin(lab: SshLab) -> None:
    """A script too long for cmd.exe's line goes to the bootstrap on stdin and arrives whole."""
    paths = tuple(f"C:\\Inetpub\\wwwroot\\bin\\assembly{i:04d}.dll" for i in range(300))
    command = _command("files.stat", StatParams(paths=paths))
    with lab.transport() as transport:
        result = transport.run(command, timeout_s=30)

    assert result.exit_code == 0
    assert lab.runner.scripts == [("COLLAB01", command.render())]


def test_a_key_file_authenticates(lab: SshLab) -> None:
    """With ssh_key_file the lab's client key is accepted, whatever the password."""
    with lab.transport(password="not-it", ssh_key_file=lab.keys.client_key) as transport:
        assert transport.run(PRODUCTS, timeout_s=30).exit_code == 0


def test_a_refused_password_is_an_auth_error_never_retried(lab: SshLab) -> None:
    wrong = "Wrong-Passw0rd!"
    with lab.transport(password=wrong) as transport, pytest.raises(AuthError) as raised:
        transport.run(PRODUCTS, timeout_s=30)

    error = raised.value
    assert (error.transient, error.may_have_started) == (False, False)
    assert str(error).startswith("COLLAB01: products.list: ssh://")
    assert f"refused the credentials of {DOMAIN_USER} (SSH password)" in str(error)
    assert wrong not in str(error)
    assert lab.runner.scripts == []


def test_an_unknown_host_key_is_refused(lab: SshLab, tmp_path: Path) -> None:
    """A known_hosts without the host, and one with another key for it: refused, not retried, nothing runs."""
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("", encoding="ascii")
    other = tmp_path / "other_known_hosts"
    key = paramiko.ECDSAKey.generate()
    other.write_text(
        f"[{lab.host.address}]:{SSH_PORT} {key.get_name()} {key.get_base64()}\n", encoding="ascii"
    )

    errors: list[TransportError] = []
    for known in (empty, other):
        with lab.transport(ssh_known_hosts=known) as transport, pytest.raises(ConnectError) as raised:
            transport.run(PRODUCTS, timeout_s=30)
        errors.append(raised.value)

    assert [(e.transient, e.may_have_started) for e in errors] == [(False, False)] * 2
    assert "its host key is not in" in str(errors[0])
    assert "ssh-keyscan -p 2222" in (errors[0].hint or "")
    assert "its host key is not the one" in str(errors[1])
    assert lab.runner.scripts == []


def test_connection_refused_is_transient_and_never_started(lab: SshLab) -> None:
    with lab.transport(port=SSH_PORT + 1) as transport, pytest.raises(ConnectError) as raised:
        transport.run(PRODUCTS, timeout_s=30)

    assert (raised.value.transient, raised.value.may_have_started) == (True, False)
    assert "connection refused" in str(raised.value)


def test_a_command_past_its_deadline_is_a_timeout_that_may_have_started(lab: SshLab) -> None:
    lab.runner.duration_s = 5.0
    started = time.monotonic()
    with lab.transport() as transport, pytest.raises(TransportTimeout) as raised:
        transport.run(PRODUCTS, timeout_s=0.5)

    assert time.monotonic() - started < 3
    assert (raised.value.transient, raised.value.may_have_started) == (True, True)


def test_a_host_that_restarts_mid_command_may_have_run_it_and_is_reached_again(lab: SshLab) -> None:
    """The connection is cut mid-command: transient, may have started; the next command reconnects."""
    lab.runner.duration_s = 1.0
    threading.Timer(0.3, lab.server.set_down, ("COLLAB01", 0.5)).start()
    with lab.transport() as transport:
        with pytest.raises(ConnectError) as raised:
            transport.run(PRODUCTS, timeout_s=30)
        time.sleep(0.8)
        lab.runner.duration_s = 0.0
        again = transport.run(PRODUCTS, timeout_s=30)

    assert (raised.value.transient, raised.value.may_have_started) == (True, True)
    assert again.exit_code == 0
    assert transport.connections == 2
