"""
cmd.exe's commands in the recorded Windows exchanges, run on the simulated host through the real
clients that recorded them (pypsrp), and through pywinrm, compared with what Windows printed.

The recorded host is a Server 2016 with its own software (Chocolatey, Docker, ...), so a ``set``
listing is compared where it does not depend on the machine: the lines of the variables the
Create sent and cmd.exe's ``PROMPT``, the order of the variables both hosts have, and what the
profile (or ``WINRS_NOPROFILE``) decides.
"""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import winrm
import yaml
from pypsrp.client import Client
from pypsrp.shell import Process, SignalCode, WinRS
from winrm.protocol import Protocol

from rollup.lab.wsman import ScriptOutcome, WindowsVersion
from rollup.lab.wsman.soap import NS_SHELL
from tests.lab.conftest import DOMAIN_USER, PASSWORD, FakeHost, Lab

CAPTURES = Path(__file__).parent / "captures"
PROFILE = ("APPDATA", "LOCALAPPDATA", "TEMP", "TMP", "USERPROFILE")


def _recorded(capture: str) -> tuple[dict[str, str], bytes]:
    """The Create's variables (in the order sent) and the stdout Windows sent, chunks joined."""
    messages = yaml.safe_load((CAPTURES / f"{capture}.yml").read_text(encoding="utf-8"))["messages"]
    create = ET.fromstring(messages[0]["request"].encode("utf-8"))  # noqa: S314 - a recorded file
    variables = {v.get("Name", ""): v.text or "" for v in create.iter(f"{{{NS_SHELL}}}Variable")}
    stdout = b""
    for message in messages:
        answer = ET.fromstring(message["response"].encode("utf-8"))  # noqa: S314 - a recorded file
        for stream in answer.iter(f"{{{NS_SHELL}}}Stream"):
            if stream.get("Name") == "stdout" and stream.text:
                stdout += base64.b64decode(stream.text)
    return variables, stdout


def _listing(stdout: bytes) -> list[tuple[str, str]]:
    """``set``'s lines as ``(name, value)``; every line ends with CRLF."""
    text = stdout.decode("cp437")
    assert text.endswith("\r\n")
    return [(line.split("=", 1)[0], line.split("=", 1)[1]) for line in text[:-2].split("\r\n")]


def _pypsrp_set(lab: Lab, capture: str, *, no_profile: bool = False) -> bytes:
    """``set`` as the capture ran it: ``Client.execute_cmd``, or ``WinRS`` and ``cmd.exe /c set``."""
    variables, _ = _recorded(capture)
    server = lab.start(lab.config(os=WindowsVersion.SERVER_2008_R2_SP1))
    endpoint = server.endpoint("COLLAB01")
    client = Client(endpoint.address, port=endpoint.port, username=DOMAIN_USER, password=PASSWORD, ssl=False)
    if capture.startswith("test_client_"):
        stdout, stderr, rc = client.execute_cmd("set", environment=variables)
        assert (stderr, rc) == ("", 0)
        return stdout.encode("cp437")
    with WinRS(client.wsman, environment=variables or None, no_profile=no_profile or None) as shell:
        process = Process(shell, "cmd.exe", ["/c", "set"])
        process.invoke()
        process.signal(SignalCode.CTRL_C)
    assert (process.stderr, process.rc) == (b"", 0)
    return bytes(process.stdout)


@pytest.mark.parametrize("capture", ["test_winrs_environment", "test_client_execute_cmd_environment"])
def test_set_lists_the_create_variables_where_windows_lists_them(lab: Lab, capture: str) -> None:
    """
    The Create's variables and ``PROMPT`` are listed as Windows listed them, and every variable
    both hosts have comes in Windows' order (``1234`` first, then ``PROMPT``, then ``_-(){}...``
    before ``ALLUSERSPROFILE``; ``env1`` between ``ComSpec`` and ``LOCALAPPDATA``).
    """
    variables, windows_stdout = _recorded(capture)
    windows = _listing(windows_stdout)
    ours = _listing(_pypsrp_set(lab, capture))

    own = {*variables, "PROMPT", "OS", "NUMBER_OF_PROCESSORS", "SystemDrive"}
    assert [line for line in ours if line[0] in own] == [line for line in windows if line[0] in own]
    common = {name for name, _ in windows} & {name for name, _ in ours}
    assert [n for n, _ in ours if n in common] == [n for n, _ in windows if n in common]
    assert len(common) >= len(variables) + 25


@pytest.mark.parametrize(
    ("capture", "no_profile"), [("test_winrs_noprofile", True), ("test_winrs_environment", False)]
)
def test_noprofile_decides_the_profile_variables_as_on_windows(
    lab: Lab, capture: str, no_profile: bool
) -> None:
    """
    ``WINRS_NOPROFILE`` leaves out ``APPDATA`` and ``LOCALAPPDATA`` and points ``USERPROFILE`` at
    the default profile and ``TEMP`` at the Windows directory's; with a profile they are the user's.
    """
    windows = dict(_listing(_recorded(capture)[1]))
    ours = dict(_listing(_pypsrp_set(lab, capture, no_profile=no_profile)))

    def profile(listing: dict[str, str], user: str) -> dict[str, str]:
        return {n: listing[n].replace(user, "USER") for n in PROFILE if n in listing}

    assert profile(ours, "admin") == profile(windows, "vagrant")


def test_pywinrm_shell_environment_reaches_set_and_expansion(lab: Lab) -> None:
    """pywinrm's ``env_vars`` are listed by ``set`` in Windows' order and expand in ``echo``."""
    variables, windows_stdout = _recorded("test_winrs_environment")
    server = lab.start(lab.config(os=WindowsVersion.SERVER_2008_R2_SP1))
    protocol = Protocol(
        server.endpoint("COLLAB01").http_url, transport="ntlm", username=DOMAIN_USER, password=PASSWORD
    )
    shell = protocol.open_shell(env_vars=variables)
    outputs = []
    for command, arguments in (("set", []), ("echo", ["%env1%", "%1234%"]), ("set", ["env"])):
        command_id = protocol.run_command(shell, command, arguments)
        outputs.append(protocol.get_command_output(shell, command_id))
        protocol.cleanup_command(shell, command_id)
    protocol.close_shell(shell)

    head = [name for name, _ in _listing(outputs[0][0])][:4]
    assert (
        head
        == [name for name, _ in _listing(windows_stdout)][:4]
        == ["1234", "PROMPT", '_-(){}[]<>*+-/\\?"!@#$^&|;:i,.`~0', "ALLUSERSPROFILE"]
    )
    assert outputs[1:] == [(b"var1 5678\r\n", b"", 0), (b"env1=var1\r\n", b"", 0)]


@pytest.mark.parametrize(("codepage", "expected"), [(65001, "こんにちは\r\n".encode()), (437, b"?????\r\n")])
def test_echo_of_unicode_text_is_encoded_in_the_shell_code_page(
    lab: Lab, codepage: int, expected: bytes
) -> None:
    """
    ``echo こんにちは`` prints the UTF-8 bytes Windows sent in ``test_winrs_unicode`` with code page
    65001 (there from PowerShell's ``Write-Host``), and ``?`` per character with the default 437.
    """
    recorded = _recorded("test_winrs_unicode")[1]
    server = lab.start(lab.config())
    endpoint = server.endpoint("COLLAB01")
    protocol = Protocol(endpoint.http_url, transport="ntlm", username=DOMAIN_USER, password=PASSWORD)
    shell = protocol.open_shell(codepage=codepage)
    command_id = protocol.run_command(shell, "echo", ["こんにちは"])
    output = protocol.get_command_output(shell, command_id)
    protocol.close_shell(shell)

    assert recorded.rstrip(b"\n") == "こんにちは".encode()
    assert output == (expected, b"", 0)


@pytest.mark.parametrize("auth", ["ntlm", "basic"])
def test_clients_read_answers_that_carry_activity_ids(lab: Lab, auth: str) -> None:
    """A host that sends ``p:ActivityId`` (as the recorded Server 2016 did) serves both clients."""
    server = lab.start(lab.config(activity_id=True))
    endpoint = server.endpoint("COLLAB01")
    user = DOMAIN_USER if auth == "ntlm" else "labadmin"
    session = winrm.Session(endpoint.http_url, auth=(user, PASSWORD), transport=auth)
    encryption = "auto" if auth == "ntlm" else "never"
    client = Client(
        endpoint.address,
        port=endpoint.port,
        username=user,
        password=PASSWORD,
        ssl=False,
        auth=auth,
        encryption=encryption,
    )

    result = session.run_cmd("hostname")

    assert (result.status_code, result.std_out) == (0, b"COLLAB01\r\n")
    assert client.execute_cmd("hostname") == ("COLLAB01\r\n", "", 0)


def test_unicode_powershell_argument_reaches_the_runner_intact(lab: Lab) -> None:
    """
    ``powershell.exe Write-Host こんにちは`` in a 65001 shell, as ``test_winrs_unicode`` ran it
    through pypsrp: the runner gets the Unicode text and its output comes back as Windows' bytes
    (line end aside: Windows' ``Write-Host`` ended it with a bare LF, the lab's runner text gets CRLF).
    """
    recorded = _recorded("test_winrs_unicode")[1]
    host = FakeHost(outcome=ScriptOutcome(0, "こんにちは\n", ""))
    server = lab.start(lab.config(runner=host))
    endpoint = server.endpoint("COLLAB01")
    client = Client(endpoint.address, port=endpoint.port, username=DOMAIN_USER, password=PASSWORD, ssl=False)
    with WinRS(client.wsman, codepage=65001) as shell:
        process = Process(shell, "powershell.exe", ["Write-Host こんにちは"])
        process.invoke()
        process.signal(SignalCode.CTRL_C)

    assert host.scripts == [("COLLAB01", "Write-Host こんにちは")]
    assert (process.stdout, process.rc) == (recorded.replace(b"\n", b"\r\n"), 0)
