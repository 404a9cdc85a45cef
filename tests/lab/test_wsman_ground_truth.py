"""
The simulated server answers recorded client requests with answers shaped like Windows' own.

Each capture in ``captures/`` is a real exchange with a Windows host. Its requests are replayed
(ShellId and CommandId rewritten to the ones the simulated host hands out) and every answer is
compared with Windows' answer: the same elements in the same namespaces and order, the same
attributes, the same header Action and RelatesTo, the same HTTP status and fault codes.
"""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import requests
import yaml

from rollup.lab.wsman import ScriptOutcome
from rollup.lab.wsman.soap import NS_ADDRESSING, NS_SHELL, NS_WSMAN
from tests.lab.conftest import LOCAL_USER, PASSWORD, FakeHost, Lab

CAPTURES = Path(__file__).parent / "captures"
Shape = list[tuple[str, tuple[str, ...], bool]]


ACTIVITY_ID = "{http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd}ActivityId"
"""An event-tracing header that later Windows releases add; 2008-era hosts (and clients) do without it."""


def _shape(root: ET.Element) -> Shape:
    """Elements in document order as (tag, attribute names, has text); repeated entries collapsed."""
    shape: Shape = []
    for element in root.iter():
        if element.tag == ACTIVITY_ID:
            continue
        entry = (element.tag, tuple(sorted(element.attrib)), bool((element.text or "").strip()))
        if not shape or shape[-1] != entry:
            shape.append(entry)
    return shape


def _header(root: ET.Element, local: str) -> str | None:
    return root.findtext(f".//{{{NS_ADDRESSING}}}{local}")


def _ids(root: ET.Element) -> list[str]:
    shell = root.find(f".//{{{NS_WSMAN}}}Selector[@Name='ShellId']")
    command = root.find(f".//{{{NS_SHELL}}}CommandResponse/{{{NS_SHELL}}}CommandId")
    return [e.text or "" for e in (shell, command) if e is not None]


def _output(root: ET.Element) -> tuple[bytes, bytes, str | None]:
    streams = {"stdout": b"", "stderr": b""}
    for stream in root.iter(f"{{{NS_SHELL}}}Stream"):
        streams[stream.get("Name", "")] += base64.b64decode(stream.text or "")
    return streams["stdout"], streams["stderr"], root.findtext(f".//{{{NS_SHELL}}}ExitCode")


def _replay(lab: Lab, capture: str, host: FakeHost) -> list[tuple[ET.Element, int, ET.Element, int]]:
    """``(Windows' answer, its status, our answer, our status)`` for every recorded request."""
    messages = yaml.safe_load((CAPTURES / f"{capture}.yml").read_text(encoding="utf-8"))["messages"]
    server = lab.start(lab.config(runner=host))
    url = server.endpoint("COLLAB01").http_url
    session = requests.Session()
    session.auth = (LOCAL_USER, PASSWORD)
    renamed: dict[str, str] = {}
    pairs = []
    for message in messages:
        request: str = message["request"]
        for recorded_id, our_id in renamed.items():
            request = request.replace(recorded_id, our_id)
        answer = session.post(
            url,
            data=request.encode("utf-8"),
            headers={"Content-Type": "application/soap+xml;charset=UTF-8"},
            timeout=30,
        )
        windows = ET.fromstring(message["response"])  # noqa: S314 - a recorded file of this repository
        ours = ET.fromstring(answer.content)  # noqa: S314 - the answer of the server under test
        renamed.update(zip(_ids(windows), _ids(ours), strict=True))
        pairs.append((windows, 500 if "transport_error" in message else 200, ours, answer.status_code))
    session.close()
    return pairs


@pytest.mark.parametrize(
    "capture",
    [
        "test_winrs_standard",
        "test_winrs_stderr_rc",
        "test_winrs_bad_cmd_id",
        "test_winrs_fail_poll_process",
        "test_winrs_no_cmd_shell",
        "test_winrs_send",
    ],
)
def test_answers_have_the_shape_of_windows_answers(lab: Lab, capture: str) -> None:
    """Every answer matches Windows' recorded answer in shape, status, Action and RelatesTo."""
    pairs = _replay(lab, capture, FakeHost(outcome=ScriptOutcome(0, "hi\n", "")))

    for windows, windows_status, ours, our_status in pairs:
        assert (our_status, _header(ours, "Action"), _header(ours, "RelatesTo")) == (
            windows_status,
            _header(windows, "Action"),
            _header(windows, "RelatesTo"),
        )
        assert _shape(ours) == _shape(windows)


@pytest.mark.parametrize(
    ("capture", "expected"),
    [
        ("test_winrs_standard", (b"hi\r\n", b"", "0")),
        ("test_winrs_stderr_rc", (b"out \r\n", b"err \r\n", "1")),
    ],
)
def test_cmd_output_is_byte_for_byte_what_windows_sent(
    lab: Lab, capture: str, expected: tuple[bytes, bytes, str]
) -> None:
    """cmd.exe's own output (``echo``, ``>&2``, ``exit``) is the bytes Windows sent, chunking aside."""
    pairs = _replay(lab, capture, FakeHost())
    receives = [(w, o) for w, _, o, _ in pairs if o.find(f".//{{{NS_SHELL}}}ReceiveResponse") is not None]

    assert [(_output(w), _output(o)) for w, o in receives] == [(expected, expected)]


def test_faults_carry_windows_codes(lab: Lab) -> None:
    """The captures' faults carry Windows' codes (unknown CommandId, bad parameter, missing file)."""
    codes = []
    for capture in ("test_winrs_bad_cmd_id", "test_winrs_fail_poll_process", "test_winrs_no_cmd_shell"):
        for windows, _, ours, _ in _replay(lab, capture, FakeHost()):
            fault = ".//{http://schemas.microsoft.com/wbem/wsman/1/wsmanfault}WSManFault"
            if windows.find(fault) is not None:
                codes.append((windows.find(fault).get("Code"), ours.find(fault).get("Code")))  # type: ignore[union-attr]

    assert codes == [("2150858843", "2150858843"), ("87", "87"), ("2147942402", "2147942402")]
