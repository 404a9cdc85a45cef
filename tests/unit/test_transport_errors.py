"""
The transport's pure parts: error translation, the fault table and its documentation, the
transport registry, request sizes and timeouts. The exceptions are the real pywinrm, requests
and urllib3 classes, built as those libraries build them.
"""

from __future__ import annotations

import re
import ssl
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest
import requests
from urllib3.connection import HTTPConnection
from urllib3.exceptions import MaxRetryError, NewConnectionError
from urllib3.exceptions import ProtocolError as Urllib3ProtocolError
from winrm.exceptions import (
    InvalidCredentialsError,
    WinRMError,
    WinRMOperationTimeoutError,
    WinRMTransportError,
    WSManFaultError,
)
from winrm.protocol import Protocol
from winrm.transport import HAVE_KERBEROS

from rollup.credentials import Credentials
from rollup.errors import (
    AuthError,
    ConfigError,
    ConnectError,
    ProtocolError,
    TransportError,
    TransportTimeout,
)
from rollup.model.inventory import AuthTransport, CertValidation, Connection, Host, Scheme
from rollup.ops.base import CommandResult
from rollup.ps.command import RemoteCommand
from rollup.secret import Secret
from rollup.transport.base import PutResult, Transport, TransportRegistry, default_registry
from rollup.transport.connect import check_supported, timeouts
from rollup.transport.errors import FAULTS, Stage, Where, scrub, translate
from rollup.transport.ssh import SshTransport
from rollup.transport.winrm import MAX_ENVELOPE_BYTES, SEND_CHUNK_BYTES, WinRMTransport, _split

DOCS = Path(__file__).resolve().parents[2] / "docs" / "transport.md"
PASSWORD = "Tr4nsport-Secret!"
ENDPOINT = "http://192.0.2.10:5985/wsman"


def where(stage: Stage, action: str = "msi.install: Command") -> Where:
    return Where(
        host="COLLAB01",
        action=action,
        stage=stage,
        endpoint=ENDPOINT,
        read_timeout_s=30,
        user="HOSTING\\svc-rollup",
        secret=Secret(PASSWORD),
    )


def fault(code: int, reason: str = "Refused. ") -> WSManFaultError:
    return WSManFaultError(
        code=500,
        message="Bad HTTP response returned from server. Code 500",
        response="<s:Envelope/>",
        reason=reason,
        fault_code="s:Sender",
        fault_subcode="w:QuotaLimit",
        wsman_fault_code=code,
    )


def translated(exc: BaseException, stage: Stage = Stage.COMMAND) -> TransportError:
    error = translate(exc, where(stage))
    assert isinstance(error, TransportError)
    return error


def refused() -> requests.exceptions.ConnectionError:
    """What requests raises when nothing listens: MaxRetryError wrapping NewConnectionError."""
    connection = HTTPConnection("192.0.2.10", 5985)
    inner = NewConnectionError(
        connection, "Failed to establish a new connection: [Errno 111] Connection refused"
    )
    inner.__context__ = ConnectionRefusedError(111, "Connection refused")
    return requests.exceptions.ConnectionError(MaxRetryError(None, "/wsman", inner))  # type: ignore[arg-type]


def reset() -> requests.exceptions.ConnectionError:
    """What requests raises when the host resets the connection after the request went out."""
    cause = ConnectionResetError(104, "Connection reset by peer")
    return requests.exceptions.ConnectionError(Urllib3ProtocolError("Connection aborted.", cause))


def host(**changes: object) -> Host:
    values: dict[str, object] = {
        "name": "COLLAB01",
        "address": "192.0.2.10",
        "port": 5985,
        "scheme": Scheme.HTTP,
        "transport": AuthTransport.NTLM,
        "cert_validation": CertValidation.VALIDATE,
        "ca_trust_path": None,
        "user": "HOSTING\\svc-rollup",
        "password": None,
        "roles": frozenset(),
        "insecure_lab": False,
        "operation_timeout_s": 20.0,
        "read_timeout_s": 30.0,
    }
    values.update(changes)
    return Host(**values)  # type: ignore[arg-type]


def test_fault_table_in_the_docs_matches_the_code() -> None:
    """docs/transport.md lists exactly the known faults, each with the same name and decision."""
    rows = re.findall(r"^\| (\d+) \| ([^|]+?) \| (yes|no) \| ([^|]+?) \|$", DOCS.read_text(), re.MULTILINE)
    documented = {int(code): (name, answer == "yes", why) for code, name, answer, why in rows}

    assert documented == {r.code: (r.name, r.transient, r.why) for r in FAULTS.values()}


@pytest.mark.parametrize("code", sorted(FAULTS))
def test_each_known_fault_is_a_protocol_error_with_its_decision(code: int) -> None:
    """A known fault keeps its code and reason in the message and is transient as the table says."""
    error = translated(fault(code), Stage.BEFORE)

    assert type(error) is ProtocolError
    assert error.transient is FAULTS[code].transient
    assert f"WS-Management fault {code} (w:QuotaLimit): Refused." in str(error)
    assert error.may_have_started is False


def test_unknown_fault_is_not_transient() -> None:
    """A fault code rollup does not know is a ProtocolError that no retry is expected to fix."""
    error = translated(fault(2150858999))

    assert (type(error), error.transient) == (ProtocolError, False)


@pytest.mark.parametrize(
    ("stage", "started"), [(Stage.BEFORE, False), (Stage.COMMAND, False), (Stage.STARTED, True)]
)
def test_a_fault_says_the_command_started_only_after_it_was_acknowledged(stage: Stage, started: bool) -> None:
    """A fault answering the Command is a refusal; after the acknowledgement the command may be running."""
    assert translated(fault(2150858755), stage).may_have_started is started


def test_http_500_without_a_fault_is_transient_and_may_have_started() -> None:
    """HTTP 500 with no fault body: retrying may help, and a Command may have been processed."""
    error = translated(WinRMTransportError("http", 500, ""))

    assert type(error) is ProtocolError
    assert (error.transient, error.may_have_started) == (True, True)
    assert str(error) == "COLLAB01: msi.install: Command: HTTP 500 without a WS-Management fault"


def test_http_400_means_the_command_was_not_read() -> None:
    """HTTP 400 (the host could not read the request) is neither transient nor a started command."""
    error = translated(WinRMTransportError("http", 400, ""))

    assert (error.transient, error.may_have_started) == (False, False)


def test_http_413_is_a_bug_not_a_transport_failure() -> None:
    """A request over MaxEnvelopeSize is never sent on purpose: it becomes a RuntimeError."""
    error = translate(WinRMTransportError("http", 413, ""), where(Stage.STARTED, "files.upload: Send"))

    assert isinstance(error, RuntimeError)
    assert "MaxEnvelopeSize" in str(error)


def test_refused_credentials_are_an_auth_error_never_retried() -> None:
    """HTTP 401 names the user, is never transient, and does not mean the command started."""
    error = translated(InvalidCredentialsError("the specified credentials were rejected by the server"))

    assert type(error) is AuthError
    assert (error.transient, error.may_have_started) == (False, False)
    assert "HOSTING\\svc-rollup" in str(error)
    assert error.hint is not None


@pytest.mark.parametrize(
    ("stage", "started"), [(Stage.BEFORE, False), (Stage.COMMAND, True), (Stage.STARTED, True)]
)
def test_read_timeout_may_have_started_from_the_command_on(stage: Stage, started: bool) -> None:
    """No answer in time: transient; a Command without an answer may have been processed."""
    error = translated(requests.exceptions.ReadTimeout("read timed out"), stage)

    assert type(error) is TransportTimeout
    assert (error.transient, error.may_have_started) == (True, started)
    assert str(error).endswith("no answer within 30 s")


def test_connection_refused_never_started_the_command() -> None:
    """A connection that could not be made carried no request: even a Command did not start."""
    error = translated(refused(), Stage.COMMAND)

    assert type(error) is ConnectError
    assert (error.transient, error.may_have_started) == (True, False)
    assert str(error) == f"COLLAB01: msi.install: Command: cannot connect to {ENDPOINT}: connection refused"


def test_reset_after_sending_the_command_may_have_started_it() -> None:
    """A reset after the Command went out leaves its fate unknown."""
    error = translated(reset(), Stage.COMMAND)

    assert type(error) is ConnectError
    assert (error.transient, error.may_have_started) == (True, True)
    assert "connection reset by peer" in str(error)


def test_reset_during_create_did_not_start_anything() -> None:
    """A reset while opening the shell is transient and started nothing."""
    assert translated(reset(), Stage.BEFORE).may_have_started is False


def test_untrusted_certificate_is_a_connect_error_no_retry_fixes() -> None:
    """TLS verification failures are not transient and carry a hint about ca_trust_path."""
    cause = ssl.SSLCertVerificationError(
        1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate (_ssl.c:1006)"
    )
    error = translated(requests.exceptions.SSLError(MaxRetryError(None, "/wsman", cause)), Stage.BEFORE)  # type: ignore[arg-type]

    assert type(error) is ConnectError
    assert (error.transient, error.may_have_started) == (False, False)
    assert "certificate not trusted (self-signed certificate)" in str(error)
    assert error.hint is not None
    assert "ca_trust_path" in error.hint


def test_operation_timeout_outside_receive_is_a_timeout() -> None:
    """The OperationTimeout fault on a Command is a transient timeout whose Command may have started."""
    error = translated(WinRMOperationTimeoutError(), Stage.COMMAND)

    assert type(error) is TransportTimeout
    assert (error.transient, error.may_have_started) == (True, True)


@pytest.mark.parametrize(
    "exc",
    [ET.ParseError("not well-formed"), StopIteration(), WinRMError("message has been tampered with")],
    ids=["xml", "missing-element", "pywinrm"],
)
def test_malformed_answers_are_protocol_errors(exc: BaseException) -> None:
    """An answer pywinrm cannot read is a ProtocolError, not transient."""
    error = translated(exc, Stage.STARTED)

    assert (type(error), error.transient, error.may_have_started) == (ProtocolError, False, True)


def test_other_exceptions_are_not_translated() -> None:
    """A bug (any other exception) is left to propagate as it is."""
    assert translate(KeyError("ShellId"), where(Stage.BEFORE)) is None


def test_no_form_of_the_password_survives_in_a_message() -> None:
    """The password, and its base64 forms, are scrubbed from messages built from host answers."""
    leaky = " ".join(Secret(PASSWORD).forms())
    error = translated(fault(2150858755, reason=f"Bad value\r\n{leaky}"), Stage.BEFORE)

    assert all(form not in str(error) for form in Secret(PASSWORD).forms())
    assert "\n" not in str(error)
    assert scrub(f"a\n {PASSWORD}  b", Secret(PASSWORD)) == "a *** b"


def test_default_registry_gives_the_winrm_transport_for_every_kind() -> None:
    """Every WinRM kind maps to WinRMTransport, ``ssh`` to SshTransport; both are Transports."""
    registry = default_registry()
    made = registry.create(host(), Credentials("HOSTING\\svc-rollup", Secret(PASSWORD)))
    ssh_host = replace(host(), connection=Connection.SSH, port=22)
    over_ssh = registry.create(ssh_host, Credentials("HOSTING\\svc-rollup", Secret(PASSWORD)))

    assert registry.kinds() == ("basic", "credssp", "kerberos", "ntlm", "ssh")
    assert isinstance(over_ssh, SshTransport)
    assert isinstance(over_ssh, Transport)
    assert isinstance(made, WinRMTransport)
    assert isinstance(made, Transport)
    assert made.host == "COLLAB01"


class _Recording:
    """A transport that records what it is asked to run (what a test registers instead of WinRM)."""

    def __init__(self, host: Host, credentials: Credentials) -> None:
        self.host = host.name
        self.ran: list[str] = []

    def open(self) -> None:
        self.ran.append("open")

    def close(self) -> None:
        self.ran.append("close")

    def __enter__(self) -> _Recording:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(self, command: RemoteCommand, *, timeout_s: float, stdin: bytes | None = None) -> CommandResult:
        self.ran.append(command.op)
        return CommandResult(
            host=self.host,
            op=command.op,
            command=command.redacted(),
            exit_code=0,
            stdout="",
            stderr="",
            duration_s=0.0,
        )

    def put(self, local: Path, remote: str, *, sha256: str, size: int) -> PutResult:
        return PutResult(skipped=True, bytes_sent=0, requests=0)


def test_registry_uses_a_registered_factory_and_refuses_an_unknown_kind() -> None:
    """A factory registered for a kind is used for its hosts; a kind with none is a ConfigError."""
    registry = TransportRegistry()
    registry.register("ntlm", _Recording)
    credentials = Credentials("HOSTING\\svc-rollup", Secret(PASSWORD))

    with registry.create(host(), credentials) as made:
        made.run(RemoteCommand(op="test.ping", params={}, body="exit 0"), timeout_s=1)

    assert isinstance(made, _Recording)
    assert made.ran == ["open", "test.ping", "close"]
    with pytest.raises(ConfigError, match=r"^COLLAB01: no transport for 'basic' \(registered: ntlm\)$"):
        registry.create(host(transport=AuthTransport.BASIC), credentials)


def test_basic_over_http_needs_insecure_lab() -> None:
    """Basic over plain HTTP is refused unless the host is an insecure lab host; over HTTPS it is fine."""
    with pytest.raises(ConfigError, match="basic authentication over http sends the password in clear"):
        check_supported(host(transport=AuthTransport.BASIC))

    check_supported(host(transport=AuthTransport.BASIC, insecure_lab=True))
    check_supported(host(transport=AuthTransport.BASIC, scheme=Scheme.HTTPS, port=5986))


def test_kerberos_needs_its_package() -> None:
    """Kerberos is refused with an install hint when pykerberos is missing, accepted when present."""
    if HAVE_KERBEROS:
        check_supported(host(transport=AuthTransport.KERBEROS))
    else:
        with pytest.raises(ConfigError, match=r"pywinrm\[kerberos\]"):
            check_supported(host(transport=AuthTransport.KERBEROS))


@pytest.mark.parametrize(
    ("operation", "read", "expected"), [(20.0, 30.0, (20, 30)), (20.5, 20.9, (20, 21)), (0.5, 0.8, (1, 2))]
)
def test_timeouts_are_whole_seconds_with_read_above_operation(
    operation: float, read: float, expected: tuple[int, int]
) -> None:
    """pywinrm takes whole seconds and needs read > operation >= 1."""
    assert timeouts(host(operation_timeout_s=operation, read_timeout_s=read)) == expected


def test_stdin_is_split_after_line_ends_within_the_limit() -> None:
    """Pieces never exceed the limit, end after a line end where one exists, and rejoin to the data."""
    data = b"".join(b"x" * 76 + b"\r\n" for _ in range(100)) + b"tail"
    pieces = _split(data, 1000)

    assert b"".join(pieces) == data
    assert all(len(p) <= 1000 for p in pieces)
    assert all(p.endswith(b"\n") for p in pieces[:-1])
    assert _split(b"", 10) == [b""]
    assert _split(b"y" * 25, 10) == [b"y" * 10, b"y" * 10, b"y" * 5]


def test_a_full_send_stays_within_max_envelope_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """The largest Send, exactly as pywinrm builds it, fits WinRM 2.0's 150 KB envelope."""
    protocol = Protocol(ENDPOINT, transport="ntlm", username="HOSTING\\svc-rollup", password=PASSWORD)
    sent: list[str] = []
    monkeypatch.setattr(protocol, "send_message", sent.append)
    shell = "C0FFEE00-0000-4000-8000-000000000001"

    protocol.send_command_input(shell, shell, b"\xff" * SEND_CHUNK_BYTES, end=False)
    size = len(sent[0].encode("utf-8"))

    assert MAX_ENVELOPE_BYTES == 150 * 1024
    assert MAX_ENVELOPE_BYTES - 8192 < size <= MAX_ENVELOPE_BYTES
