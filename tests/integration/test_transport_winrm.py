"""
The WinRM transport against the simulated lab: real pywinrm, real NTLM, the lab's runner on a
pre-rollup COLLAB host, and faults injected by the lab's request hook.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from rollup.credentials import Credentials
from rollup.errors import (
    AuthError,
    ConfigError,
    ConnectError,
    PackageError,
    ProtocolError,
    TransportError,
    TransportTimeout,
)
from rollup.lab.prerollup import prerollup_states, rollup_package
from rollup.lab.runner import DEFAULT_DURATIONS, LabRunner
from rollup.lab.state import HostState, MemoryBlobStore, MemoryStateStore, path_key
from rollup.lab.wsman import (
    Action,
    Fault,
    FaultReply,
    LabEndpoint,
    LabServer,
    NoAnswer,
    RejectAuth,
    RequestInfo,
    ResetConnection,
    ScriptOutcome,
    ScriptRun,
    ScriptRunner,
    WSManFault,
)
from rollup.lab.wsman import faults as lab_faults
from rollup.model.inventory import AuthTransport, CertValidation, Host, Scheme
from rollup.model.manifest import load_manifest
from rollup.model.roles import Role
from rollup.ops.base import Operation
from rollup.ops.files import StatParams, parse_stat
from rollup.ops.products import ListParams
from rollup.ops.registry import operation
from rollup.ps.command import RemoteCommand
from rollup.ps.delivery import fits_command_line, stdin_command
from rollup.secret import Secret
from rollup.testing.fleet import lab_host
from rollup.transport.winrm import MAX_COMMANDS_PER_SHELL, WinRMTransport
from tests.lab.conftest import DOMAIN_USER, PASSWORD, Lab, next_address

MANIFEST = Path(__file__).resolve().parents[2] / "manifests" / "hmc40-rollup-2011-01.yml"
WSS = "Windows SharePoint Services Web Service"


def _operation(op_id: str) -> Operation[Any, Any]:
    found = operation(op_id)
    assert found is not None, op_id
    return found


PRODUCTS = _operation("products.list")
STAT = _operation("files.stat")


@dataclass(frozen=True)
class PreRollup:
    """A COLLAB host before the rollup, the lab's blob store, and the rollup's package files."""

    state: HostState
    blobs: MemoryBlobStore
    package: dict[str, Path]


@pytest.fixture(scope="module", name="prerollup")
def _prerollup(tmp_path_factory: pytest.TempPathFactory) -> PreRollup:
    manifest = load_manifest(MANIFEST)
    cache = tmp_path_factory.mktemp("msi-cache")
    blobs = MemoryBlobStore()
    (state,) = prerollup_states(
        manifest, [("COLLAB01", frozenset({Role.COLLAB}))], blobs=blobs, msi_cache_dir=cache
    )
    return PreRollup(state, blobs, rollup_package(manifest, cache))


@dataclass
class Recorder:
    """A request hook: records every request, answers ``faults[(action, n)]`` where one is set."""

    faults: dict[tuple[Action, int], Fault] = field(default_factory=dict)
    seen: list[RequestInfo] = field(default_factory=list)

    def __call__(self, info: RequestInfo) -> Fault | None:
        self.seen.append(info)
        return self.faults.get((info.action, info.n))

    def count(self, action: Action) -> int:
        return sum(1 for info in self.seen if info.action is action)


@dataclass
class LabHost:
    """One running simulated host and what the test needs to look at."""

    server: LabServer
    endpoint: LabEndpoint
    store: MemoryStateStore
    hook: Recorder
    cert_dir: Path

    def state(self) -> HostState:
        return self.store.read("COLLAB01")


@dataclass
class WinRMLab:
    """Starts the pre-rollup COLLAB01 behind the lab's WinRM server, with the lab's runner."""

    lab: Lab
    prerollup: PreRollup

    def start(
        self,
        *,
        faults: dict[tuple[Action, int], Fault] | None = None,
        fact_s: float = 0.0,
        https: bool = False,
        runner: ScriptRunner | None = None,
    ) -> LabHost:
        """The host; its operations take no time, except ``fact`` ones: ``fact_s`` seconds."""
        store = MemoryStateStore([self.prerollup.state.model_copy(deep=True)])
        durations = dict.fromkeys(DEFAULT_DURATIONS, 0.0) | {"fact": fact_s}
        lab_runner = LabRunner(store, self.prerollup.blobs, durations=durations, time_factor=1.0)
        hook = Recorder(dict(faults or {}))
        config = self.lab.config(
            "COLLAB01", runner=runner or lab_runner, hook=hook, https_port=0 if https else None
        )
        server = self.lab.start(config)
        return LabHost(server, server.endpoint("COLLAB01"), store, hook, self.lab.cert_dir)


@pytest.fixture(name="winrm_lab")
def _winrm_lab(tmp_path: Path, prerollup: PreRollup) -> Iterator[WinRMLab]:
    lab = Lab(tmp_path / "certs")
    yield WinRMLab(lab, prerollup)
    for server in lab.servers:
        assert server.simulation_errors() == ()
        server.stop()


def inventory_host(endpoint: LabEndpoint, **changes: object) -> Host:
    """COLLAB01 as an inventory describes it: NTLM over HTTP to the lab endpoint, unless changed."""
    return replace(inventory_host_at(endpoint.address, endpoint.port), **changes)  # type: ignore[arg-type]


def inventory_host_at(address: str, port: int) -> Host:
    """COLLAB01 with NTLM over HTTP at ``address:port``, and pywinrm's default timeouts."""
    return lab_host("COLLAB01", frozenset({Role.COLLAB}), address=address, port=port, user=DOMAIN_USER)


def transport(host: Host, password: str = PASSWORD) -> WinRMTransport:
    return WinRMTransport(host, Credentials(DOMAIN_USER, Secret(password)))


def list_products(t: WinRMTransport) -> RemoteCommand:
    """Run ``products.list`` (a script that fits the command line); returns the command sent."""
    command = PRODUCTS.command(ListParams())
    assert fits_command_line(command.render())
    result = t.run(command, timeout_s=30)
    assert result.exit_code == 0
    return command


def test_fact_operation_runs_and_parses(winrm_lab: WinRMLab) -> None:
    """products.list runs on the pre-rollup host and its output parses into the installed products."""
    lab = winrm_lab.start()
    command = PRODUCTS.command(ListParams())

    with transport(inventory_host(lab.endpoint)) as t:
        result = t.run(command, timeout_s=30)
        encrypted = t.encrypted
    entries = PRODUCTS.parse(result, ListParams())

    assert (result.host, result.op, result.exit_code, result.stderr) == ("COLLAB01", "products.list", 0, "")
    assert result.command == command.redacted()
    assert [e.display_name for e in entries] == [WSS]
    assert encrypted


def test_script_over_the_command_line_limit_goes_over_stdin(winrm_lab: WinRMLab) -> None:
    """A script longer than cmd.exe takes runs through the stdin bootstrap and its result parses."""
    lab = winrm_lab.start()
    params = StatParams(paths=tuple(f"C:\\Inetpub\\wwwroot\\bin\\assembly{i:04d}.dll" for i in range(300)))
    command = STAT.command(params)

    with transport(inventory_host(lab.endpoint)) as t:
        result = t.run(command, timeout_s=30)
    stats = parse_stat(result, params)

    assert len(command.render()) > 8191
    assert result.exit_code == 0
    assert [s.path for s in stats] == list(params.paths)
    commands = [i.command_line for i in lab.hook.seen if i.action is Action.COMMAND]
    program, arguments = stdin_command()
    assert commands == [" ".join((program, *arguments))]
    assert lab.hook.count(Action.SEND) >= 1


def test_one_shell_serves_ten_operations_at_three_requests_each(winrm_lab: WinRMLab) -> None:
    """Ten operations share one shell; each after the first costs Command, Receive and Signal."""
    lab = winrm_lab.start()
    costs = []

    with transport(inventory_host(lab.endpoint)) as t:
        for _ in range(10):
            before = t.requests
            list_products(t)
            costs.append(t.requests - before)
        creates_while_open = lab.hook.count(Action.CREATE)
        shells_while_open = lab.endpoint.open_shells()

    assert (creates_while_open, shells_while_open) == (1, 1)
    assert costs[1:] == [3] * 9
    assert (lab.hook.count(Action.DELETE), lab.endpoint.open_shells()) == (1, 0)


def test_a_finished_command_is_signalled_before_the_next_one_or_never(winrm_lab: WinRMLab) -> None:
    """
    ``run`` returns without the Signal: it goes out before the shell's next Command, and a
    session's last command is never signalled (deleting the shell ends it).
    """
    lab = winrm_lab.start()

    with transport(inventory_host(lab.endpoint)) as t:
        list_products(t)
        after_first = lab.hook.count(Action.SIGNAL)
        list_products(t)
        after_second = lab.hook.count(Action.SIGNAL)
        soap = t.stats().soap

    assert (after_first, after_second, lab.hook.count(Action.SIGNAL)) == (0, 1, 1)
    assert soap["Signal"] == 1
    assert (lab.hook.count(Action.DELETE), lab.endpoint.open_shells()) == (1, 0)
    assert lab.state().operations == ["products.list", "products.list"]


def test_shell_is_recycled_before_the_operations_quota(winrm_lab: WinRMLab) -> None:
    """A shell runs at most 14 commands, so 30 operations need three shells and meet no quota fault."""
    lab = winrm_lab.start()

    with transport(inventory_host(lab.endpoint)) as t:
        for _ in range(30):
            list_products(t)
        stats = t.stats()

    assert MAX_COMMANDS_PER_SHELL == 14
    assert (lab.hook.count(Action.CREATE), lab.hook.count(Action.COMMAND)) == (3, 30)
    assert (stats.shells_opened, stats.shells_recycled) == (3, 2)


def test_operations_quota_fault_gets_a_new_shell(winrm_lab: WinRMLab) -> None:
    """A Command refused for the operations quota (2150859174) is sent again on a new shell."""
    lab = winrm_lab.start(faults={(Action.COMMAND, 2): FaultReply(lab_faults.operations_quota(15))})

    with transport(inventory_host(lab.endpoint)) as t:
        list_products(t)
        list_products(t)
        stats = t.stats()

    assert (stats.shells_opened, stats.shells_recycled) == (2, 1)
    assert lab.state().operations == ["products.list", "products.list"]


def test_put_sends_a_verified_msi_then_skips_it(winrm_lab: WinRMLab) -> None:
    """An 800 KB MSI arrives with its SHA-256; the second put finds it there and sends nothing."""
    lab = winrm_lab.start()
    local = winrm_lab.prerollup.package["ResourceManageDatabase.msi"]
    data = local.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    target = "C:\\temp\\QFERollupPackage\\ResourceManageDatabase.msi"

    with transport(inventory_host(lab.endpoint)) as t:
        first = t.put(local, target, sha256=digest, size=len(data))
        after_first = lab.state()
        second = t.put(local, target, sha256=digest, size=len(data))
    stored = lab.state().files[path_key(target)]

    assert len(data) > 780_000
    assert (first.skipped, first.bytes_sent) == (False, len(data))
    assert (second.skipped, second.bytes_sent) == (True, 0)
    assert second.requests < first.requests
    assert stored.sha256 == digest
    assert stored.blob is not None
    assert winrm_lab.prerollup.blobs.get(stored.blob) == data
    assert lab.state().mutations == after_first.mutations
    assert lab.state().operations[-1] == "files.stat"


def test_put_keeps_the_local_last_write_time(winrm_lab: WinRMLab, tmp_path: Path) -> None:
    """The target gets the package file's time, as a Windows copy keeps it; a changed time alone is reset."""
    lab = winrm_lab.start()
    local = tmp_path / "DNSClient.msi"
    local.write_bytes(b"dns client")
    kb_time = datetime(2011, 3, 10, 10, 4, tzinfo=UTC)
    os.utime(local, (kb_time.timestamp(), kb_time.timestamp()))
    digest = hashlib.sha256(b"dns client").hexdigest()
    target = "C:\\temp\\QFERollupPackage\\DNSClient.msi"

    with transport(inventory_host(lab.endpoint)) as t:
        t.put(local, target, sha256=digest, size=10)
        uploaded = lab.state().files[path_key(target)].mtime
        later = kb_time.replace(year=2012)
        os.utime(local, (later.timestamp(), later.timestamp()))
        again = t.put(local, target, sha256=digest, size=10)
    operations = lab.state().operations

    assert uploaded == kb_time
    assert lab.state().files[path_key(target)].mtime == later
    assert (again.skipped, again.bytes_sent) == (False, 0)
    assert operations[-2:] == ["files.stat", "files.set_time"]


def test_put_refuses_a_local_file_that_is_not_the_one_planned(winrm_lab: WinRMLab, tmp_path: Path) -> None:
    """A local file whose SHA-256 differs from the planned one is refused before any byte is sent."""
    lab = winrm_lab.start()
    local = tmp_path / "DNSClient.msi"
    local.write_bytes(b"not the package")
    target = "C:\\temp\\QFERollupPackage\\DNSClient.msi"

    with transport(inventory_host(lab.endpoint)) as t, pytest.raises(PackageError, match="SHA-256 differs"):
        t.put(local, target, sha256="ab" * 32, size=len(b"not the package"))

    assert path_key(target) not in lab.state().files
    assert "files.upload" not in lab.state().operations


def test_basic_over_https_with_certificate_validation_ignored(winrm_lab: WinRMLab) -> None:
    """Basic over HTTPS works against a self-signed certificate when the host says ignore."""
    lab = winrm_lab.start(https=True)
    host = inventory_host(
        lab.endpoint,
        scheme=Scheme.HTTPS,
        port=lab.endpoint.https_port,
        transport=AuthTransport.BASIC,
        cert_validation=CertValidation.IGNORE,
    )

    with transport(host) as t:
        list_products(t)
        encrypted = t.encrypted

    assert not encrypted
    assert lab.hook.count(Action.COMMAND) == 1


def test_self_signed_certificate_is_refused_when_validating(winrm_lab: WinRMLab) -> None:
    """With validation on (the default) an untrusted certificate is a ConnectError no retry can fix."""
    lab = winrm_lab.start(https=True)
    host = inventory_host(
        lab.endpoint, scheme=Scheme.HTTPS, port=lab.endpoint.https_port, transport=AuthTransport.BASIC
    )

    with transport(host) as t, pytest.raises(ConnectError) as raised:
        list_products(t)

    assert "TLS" in str(raised.value)
    assert (raised.value.transient, raised.value.may_have_started) == (False, False)
    assert lab.hook.seen == []


def test_ca_trust_path_makes_the_lab_certificate_trusted(winrm_lab: WinRMLab) -> None:
    """A ca_trust_path holding the host's certificate makes validation succeed."""
    lab = winrm_lab.start(https=True)
    (certificate,) = sorted(lab.cert_dir.glob("*.crt"))
    host = inventory_host(
        lab.endpoint,
        scheme=Scheme.HTTPS,
        port=lab.endpoint.https_port,
        transport=AuthTransport.BASIC,
        ca_trust_path=certificate,
    )

    with transport(host) as t:
        list_products(t)

    assert lab.hook.count(Action.COMMAND) == 1


def test_basic_over_http_is_refused_unless_insecure_lab(winrm_lab: WinRMLab) -> None:
    """Basic over plain HTTP would send the password in clear: refused before any request, unless a lab."""
    lab = winrm_lab.start()
    host = inventory_host(lab.endpoint, transport=AuthTransport.BASIC)

    with pytest.raises(ConfigError, match=r"^COLLAB01: basic authentication over http"):
        transport(host).open()
    requests_before = lab.endpoint.stats().requests
    with transport(replace(host, insecure_lab=True)) as t:
        list_products(t)

    assert requests_before == 0
    assert lab.hook.count(Action.COMMAND) == 1


def test_wrong_password_is_an_auth_error_that_never_shows_it(
    winrm_lab: WinRMLab, caplog: pytest.LogCaptureFixture
) -> None:
    """A refused password is an AuthError, never transient, and appears in no message or log."""
    caplog.set_level(logging.DEBUG)
    lab = winrm_lab.start()
    wrong = "Wr0ng-Passw0rd-4711"

    with transport(inventory_host(lab.endpoint), password=wrong) as t, pytest.raises(AuthError) as raised:
        list_products(t)

    error = raised.value
    assert (error.transient, error.may_have_started) == (False, False)
    assert str(error).startswith("COLLAB01: products.list: Create: the host refused the credentials")
    shown = " ".join((str(error), repr(error), error.hint or "", caplog.text))
    assert all(form not in shown for form in Secret(wrong).forms())


def test_connection_refused_is_a_transient_connect_error() -> None:
    """Nothing listening: a ConnectError that a retry may cure, and the command never started."""
    host = inventory_host_at(next_address(), 5985)

    with transport(host) as t, pytest.raises(ConnectError, match="connection refused") as raised:
        list_products(t)

    assert (raised.value.transient, raised.value.may_have_started) == (True, False)


ACCESS_DENIED = WSManFault(
    "s:Receiver", "w:InternalError", "Access is denied. ", 2147942405, "Access is denied. "
)


@pytest.mark.parametrize(
    ("action", "fault", "expected", "transient", "started"),
    [
        (Action.CREATE, FaultReply(lab_faults.shell_quota(5)), ProtocolError, True, False),
        (Action.COMMAND, FaultReply(ACCESS_DENIED), ProtocolError, False, False),
        (Action.RECEIVE, FaultReply(lab_faults.provider_failure("boom")), ProtocolError, True, True),
        (Action.CREATE, ResetConnection(), ConnectError, True, False),
        (Action.COMMAND, ResetConnection(processed=True), ConnectError, True, True),
        (Action.CREATE, NoAnswer(hold_s=0.2), ConnectError, True, False),
        (Action.RECEIVE, NoAnswer(hold_s=4.0), TransportTimeout, True, True),
        (Action.COMMAND, RejectAuth(), AuthError, False, False),
    ],
    ids=[
        "shell-quota",
        "access-denied",
        "plugin-failure-after-start",
        "reset-on-create",
        "reset-after-command-processed",
        "closed-without-answer",
        "no-answer-read-timeout",
        "auth-rejected",
    ],
)
def test_injected_faults_are_translated(  # noqa: PLR0917 (parametrized)
    winrm_lab: WinRMLab,
    action: Action,
    fault: Fault,
    expected: type[TransportError],
    transient: bool,
    started: bool,
) -> None:
    """Each injected failure becomes the right error class, with the right transient and may_have_started."""
    lab = winrm_lab.start(faults={(action, 1): fault})
    host = inventory_host(lab.endpoint, operation_timeout_s=1.0, read_timeout_s=2.0)

    with transport(host) as t, pytest.raises(expected) as raised:
        list_products(t)

    assert type(raised.value) is expected
    assert (raised.value.transient, raised.value.may_have_started) == (transient, started)
    assert str(raised.value).startswith(f"COLLAB01: products.list: {action.value}: ")


def test_command_processed_before_a_reset_did_run(winrm_lab: WinRMLab) -> None:
    """may_have_started is true for a reset after the host processed the Command: the run happened."""
    lab = winrm_lab.start(faults={(Action.COMMAND, 1): ResetConnection(processed=True)})

    with transport(inventory_host(lab.endpoint)) as t, pytest.raises(ConnectError) as raised:
        list_products(t)
    deadline = time.monotonic() + 10
    while not lab.state().operations and time.monotonic() < deadline:
        time.sleep(0.02)

    assert raised.value.may_have_started
    assert lab.state().operations == ["products.list"]


def test_operation_timeout_signals_terminate(winrm_lab: WinRMLab) -> None:
    """A command still running at its deadline is signalled to terminate and reported as a timeout."""
    lab = winrm_lab.start(fact_s=30.0)
    host = inventory_host(lab.endpoint, operation_timeout_s=1.0, read_timeout_s=3.0)

    with transport(host) as t, pytest.raises(TransportTimeout, match=r"not finished within 1\.5 s") as raised:
        t.run(PRODUCTS.command(ListParams()), timeout_s=1.5)

    assert (raised.value.transient, raised.value.may_have_started) == (True, True)
    assert lab.hook.count(Action.RECEIVE) >= 2
    assert lab.hook.count(Action.SIGNAL) == 1


def _wait_listening(address: str, port: int) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection((address, port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_restarted_host_gets_a_new_shell_transparently(winrm_lab: WinRMLab) -> None:
    """After a host restart (shells and NTLM context lost) the next command re-authenticates and reopens."""
    lab = winrm_lab.start()

    with transport(inventory_host(lab.endpoint)) as t:
        list_products(t)
        lab.endpoint.set_down(0.3)
        _wait_listening(lab.endpoint.address, lab.endpoint.port)
        list_products(t)
        stats = t.stats()

    assert (stats.shells_opened, stats.shells_reopened, stats.reauthentications) == (2, 1, 1)
    assert lab.state().operations == ["products.list", "products.list"]


def test_results_carry_the_redacted_script_only(winrm_lab: WinRMLab) -> None:
    """A command with a secret parameter reports its redacted rendering, never the secret."""
    lab = winrm_lab.start()
    secret = Secret("S3cret-Value-Not-Shown")
    command = RemoteCommand(op="test.secret", params={"password": secret}, body="exit 0\n")

    with transport(inventory_host(lab.endpoint)) as t:
        result = t.run(command, timeout_s=30)

    assert result.command == command.redacted()
    shown = " ".join((result.command, result.stdout, result.stderr, repr(result)))
    assert all(form not in shown for form in secret.forms())
    assert result.exit_code == 1


def test_failed_commands_leave_no_shell_behind(winrm_lab: WinRMLab) -> None:
    """Six refused Commands in a row reuse one shell, so MaxShellsPerUser (5) is never reached."""
    refusals: dict[tuple[Action, int], Fault] = {
        (Action.COMMAND, n): FaultReply(ACCESS_DENIED) for n in range(1, 7)
    }
    lab = winrm_lab.start(faults=refusals)
    shells = []

    with transport(inventory_host(lab.endpoint)) as t:
        for _ in range(6):
            with pytest.raises(ProtocolError, match="2147942405"):
                list_products(t)
            shells.append(lab.endpoint.open_shells())
        list_products(t)

    assert shells == [1] * 6
    assert (lab.hook.count(Action.CREATE), lab.endpoint.open_shells()) == (1, 0)


def test_output_is_decoded_as_code_page_437(winrm_lab: WinRMLab) -> None:
    """The shell's output arrives in code page 437; characters it lacks arrive as '?', as on Windows."""

    def runner(host: str, script: str) -> ScriptRun:
        return ScriptRun(0.0, lambda: ScriptOutcome(0, "Überprüfung: café ½ ✓\n", "Fehler: Größe\n"))

    lab = winrm_lab.start(runner=runner)

    with transport(inventory_host(lab.endpoint)) as t:
        result = t.run(PRODUCTS.command(ListParams()), timeout_s=30)

    assert (result.stdout, result.stderr) == ("Überprüfung: café ½ ?\r\n", "Fehler: Größe\r\n")
