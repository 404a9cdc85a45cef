"""The wire formats on their own: MS-WSMV encryption framing, SOAP reading, fault rendering."""

from __future__ import annotations

import os
import stat
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import spnego

from rollup.lab.wsman import crypto, faults
from rollup.lab.wsman.auth import USER_FILE
from rollup.lab.wsman.soap import SoapError, fault_envelope, parse_duration, parse_request
from tests.lab.conftest import CREDENTIALS, DOMAIN_USER, PASSWORD

WSMAN_FAULT = "{http://schemas.microsoft.com/wbem/wsman/1/wsmanfault}"


@pytest.fixture(name="contexts")
def _contexts() -> Any:
    """A completed NTLM pair: (client, server)."""
    USER_FILE.register("test", CREDENTIALS)
    try:
        client = spnego.client(DOMAIN_USER, PASSWORD, protocol="ntlm")
        server = spnego.server(protocol="negotiate")
        token = client.step()
        while not server.complete:
            answer = server.step(token)
            if answer is not None and not client.complete:
                token = client.step(answer)
        yield client, server
    finally:
        USER_FILE.unregister(CREDENTIALS)


def test_encrypted_body_round_trips_in_both_directions(contexts: Any) -> None:
    """A body the server wraps, the client unwraps, and the reverse, over several messages in order."""
    client, server = contexts
    request = b"<s:Envelope>request</s:Envelope>"
    framed = crypto.wrap(client, request)

    plaintexts = [crypto.unwrap(server, crypto.CONTENT_TYPE, framed)]
    for n in range(3):
        answer = crypto.wrap(server, f"answer {n}".encode())
        plaintexts.append(crypto.unwrap(client, crypto.CONTENT_TYPE, answer))

    assert plaintexts == [request, b"answer 0", b"answer 1", b"answer 2"]
    assert framed.startswith(
        b"--Encrypted Boundary\r\n\tContent-Type: application/HTTP-SPNEGO-session-encrypted\r\n"
    )
    assert framed.endswith(b"--Encrypted Boundary--\r\n")


def test_tampered_body_is_refused(contexts: Any) -> None:
    """A flipped byte fails the NTLM signature check: FramingError, never a wrong plaintext."""
    client, server = contexts
    framed = bytearray(crypto.wrap(client, b"<s:Envelope>request</s:Envelope>"))
    framed[-30] ^= 0xFF

    with pytest.raises(crypto.FramingError):
        crypto.unwrap(server, crypto.CONTENT_TYPE, bytes(framed))


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("PT20S", 20.0),
        ("PT60.000S", 60.0),
        ("P0DT0H3M0S", 180.0),
        ("PT1M30.5S", 90.5),
        ("P1D", 86400.0),
        ("20", None),
    ],
)
def test_durations(text: str, seconds: float | None) -> None:
    """``xs:duration`` values as WS-Management clients write them."""
    result = parse_duration(text)

    assert result == seconds


def test_doctype_is_refused() -> None:
    """A body that declares a DOCTYPE is refused before parsing: no entity expansion from the network."""
    with pytest.raises(SoapError, match="DOCTYPE"):
        parse_request(b'<!DOCTYPE x [<!ENTITY a "b">]><x/>')


def test_shell_not_found_fault_names_the_shell() -> None:
    """The shell-not-found fault carries Windows' message with the ShellId, in f:Message."""
    text = fault_envelope(faults.shell_not_found("ABC-123"), "uuid:1", "127.0.0.9")
    root = ET.fromstring(text)  # noqa: S314 - rendered by the code under test
    fault = root.find(f".//{WSMAN_FAULT}WSManFault")

    assert fault is not None
    assert (fault.get("Code"), fault.get("Machine")) == ("2150858843", "127.0.0.9")
    assert fault.findtext(f"{WSMAN_FAULT}Message", "").startswith(
        "The request for the Windows Remote Shell with ShellId ABC-123 failed because the shell was not found"
    )


def test_quota_faults_state_the_limit() -> None:
    """The quota faults say the limit in Windows' words."""
    shells, operations = faults.shell_quota(5), faults.operations_quota(15)

    assert shells.message.startswith(
        "The WS-Management service cannot process the request. This user is allowed a maximum number of 5 "
        "concurrent shells, which has been exceeded."
    )
    assert "maximum number of 15 concurrent operations" in operations.message
    assert (shells.wsman_code, operations.wsman_code) == (2150859173, 2150859174)


def test_ntlm_user_file_is_private_and_removed_with_the_last_account() -> None:
    """The NTLM_USER_FILE the acceptor reads is mode 0600 in a 0700 directory, and goes away when unused."""
    USER_FILE.register("test", CREDENTIALS)
    path = Path(os.environ["NTLM_USER_FILE"])
    modes = (stat.S_IMODE(path.stat().st_mode), stat.S_IMODE(path.parent.stat().st_mode))
    lines = path.read_text(encoding="utf-8").splitlines()
    USER_FILE.unregister(CREDENTIALS)

    assert modes == (0o600, 0o700)
    assert lines == [f"HOSTING:admin:{PASSWORD}", f":labadmin:{PASSWORD}"]
    assert not path.exists()
