"""
The simulated server answers recorded client requests with answers shaped like Windows' own.

Each capture in ``captures/`` is a real exchange with a Windows host. Its requests are replayed
(ShellId and CommandId rewritten to the ones the simulated host hands out) and every answer is
compared with Windows' answer: the same elements in the same namespaces and order (the
``p:ActivityId`` header included, on a host configured to send it as the recorded host did), the
same attributes, the same header Action and RelatesTo, the same HTTP status and fault codes.
"""

from __future__ import annotations

import base64
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from rollup.lab.wsman import Limits, ScriptOutcome
from rollup.lab.wsman.activity import ACTIVITY_ID as ACTIVITY_ID_SHAPE
from rollup.lab.wsman.activity import counter
from rollup.lab.wsman.soap import NS_ADDRESSING, NS_SHELL, NS_WSMAN
from tests.lab.conftest import LOCAL_USER, PASSWORD, FakeHost, Lab

CAPTURES = Path(__file__).parent / "captures"
Shape = list[tuple[str, tuple[str, ...], bool]]


ACTIVITY_ID = "{http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd}ActivityId"
"""An event-tracing header some Windows hosts put in every answer, others never."""


MISRECORDED = {("test_winrs_unicode", 4)}
"""Answers whose RelatesTo names a request not in the file (the recording's fault, not Windows')."""


def _message_id(capture: str, n: int) -> str | None:
    request = ET.fromstring(_messages(capture)[n]["request"].encode("utf-8"))  # noqa: S314 - a recorded file
    return _header(request, "MessageID")


def _shape(root: ET.Element) -> Shape:
    """Elements in document order as (tag, attribute names, has text); repeated entries collapsed."""
    shape: Shape = []
    for element in root.iter():
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


def _messages(capture: str) -> list[dict[str, str]]:
    messages: list[dict[str, str]] = yaml.safe_load(
        (CAPTURES / f"{capture}.yml").read_text(encoding="utf-8")
    )["messages"]
    return messages


def _replay_raw(lab: Lab, capture: str, host: FakeHost, **config: Any) -> list[tuple[str, int, str, int]]:
    """
    ``(Windows' answer, its status, our answer, our status)`` for every recorded request, as
    text; the simulated host sends ``p:ActivityId`` if the recorded one did.
    """
    messages = _messages(capture)
    activity = any("ActivityId" in message["response"] for message in messages)
    server = lab.start(lab.config(runner=host, activity_id=activity, **config))
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
        status = 500 if "transport_error" in message else 200
        pairs.append((message["response"], status, answer.content.decode("utf-8"), answer.status_code))
    session.close()
    return pairs


def _replay(lab: Lab, capture: str, host: FakeHost) -> list[tuple[ET.Element, int, ET.Element, int]]:
    """``(Windows' answer, its status, our answer, our status)`` for every recorded request."""
    return [
        (ET.fromstring(windows), windows_status, ET.fromstring(ours), our_status)  # noqa: S314 - see _replay_raw
        for windows, windows_status, ours, our_status in _replay_raw(lab, capture, host)
    ]


@pytest.mark.parametrize(
    "capture",
    [
        "test_winrs_standard",
        "test_winrs_stderr_rc",
        "test_winrs_bad_cmd_id",
        "test_winrs_fail_poll_process",
        "test_winrs_no_cmd_shell",
        "test_winrs_send",
        "test_winrs_environment",
        "test_client_execute_cmd_environment",
        "test_winrs_noprofile",
        "test_winrs_unicode",
        "test_winrs_extra_opts",
        "test_wsman_update_envelope_size_150",
        "test_winrs_open_already_opened",
    ],
)
def test_answers_have_the_shape_of_windows_answers(lab: Lab, capture: str) -> None:
    """Every answer matches Windows' recorded answer in shape, status, Action and RelatesTo."""
    pairs = _replay(lab, capture, FakeHost(outcome=ScriptOutcome(0, "hi\n", "")))

    for n, (windows, windows_status, ours, our_status) in enumerate(pairs):
        relates_to = (
            _header(windows, "RelatesTo") if (capture, n) not in MISRECORDED else _message_id(capture, n)
        )
        assert (our_status, _header(ours, "Action"), _header(ours, "RelatesTo")) == (
            windows_status,
            _header(windows, "Action"),
            relates_to,
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


def _activity_ids(root: ET.Element) -> list[str]:
    return [element.text or "" for element in root.iter(ACTIVITY_ID)]


@pytest.mark.parametrize(
    "capture",
    ["test_winrs_environment", "test_winrs_noprofile", "test_winrs_unicode", "test_winrs_bad_cmd_id"],
)
def test_activity_ids_are_shaped_and_numbered_as_windows_numbers_them(lab: Lab, capture: str) -> None:
    """
    A host that sends ``p:ActivityId`` does so in every answer, faults included, right after
    MessageID; within a session only the processor and its counter change, and a counter grows.
    """
    windows_ids: list[str] = []
    our_ids: list[str] = []
    for windows, _, ours, _ in _replay(lab, capture, FakeHost()):
        for root, ids in ((windows, windows_ids), (ours, our_ids)):
            header = [element.tag.rsplit("}", 1)[1] for element in root[0]]
            assert header[:3] == ["Action", "MessageID", "ActivityId"]
            ids.extend(_activity_ids(root))

    for ids in (windows_ids, our_ids):
        assert all(ACTIVITY_ID_SHAPE.match(i) for i in ids)
        assert len({(i[:13], i[-10:]) for i in ids}) == 1
        by_processor: dict[int, list[int]] = {}
        for cpu, value in map(counter, ids):
            by_processor.setdefault(cpu, []).append(value)
        assert all(values == sorted(set(values)) for values in by_processor.values())
    assert len(our_ids) == len(windows_ids)


def _echoed(answer: str, parts: tuple[str, ...]) -> list[str]:
    """The elements ``rsp:<part>`` of a CreateResponse, as text."""
    return [m.group(0) for p in parts for m in re.finditer(f"<rsp:{p}>.*?</rsp:{p}>", answer)]


@pytest.mark.parametrize(
    "capture", ["test_winrs_environment", "test_client_execute_cmd_environment", "test_winrs_extra_opts"]
)
def test_create_echoes_its_body_in_windows_exact_text(lab: Lab, capture: str) -> None:
    """
    The Create's variables, working directory and idle timeout come back as the same text
    Windows sent: quotes written as ``&quot;`` and ``&apos;``, backslashes left out of names.
    (Without an ``IdleTimeOut`` in the Create, the host's own applies: 180 s for WinRM 2.0.)
    """
    request = _messages(capture)[0]["request"]
    parts = tuple(p for p in ("Environment", "WorkingDirectory", "IdleTimeOut") if f"rsp:{p}>" in request)
    windows, _, ours, _ = _replay_raw(lab, capture, FakeHost())[0]

    assert _echoed(ours, parts) == _echoed(windows, parts)
    assert _echoed(ours, parts)


@pytest.mark.parametrize("kb", [150, 500, 4096])
def test_config_get_reports_the_host_envelope_size_as_windows_does(lab: Lab, kb: int) -> None:
    """
    A Get of ``winrm/config`` (pypsrp's ``update_max_payload_size``) answers the recorded
    ``cfg:Config`` shape with the host's own ``MaxEnvelopeSizekb``, as the recorded host set to
    150, 500 and 4096 did.
    """
    capture = f"test_wsman_update_envelope_size_{kb}"
    [(windows, windows_status, ours, our_status)] = [
        (ET.fromstring(w), ws, ET.fromstring(o), os)  # noqa: S314 - see _replay_raw
        for w, ws, o, os in _replay_raw(lab, capture, FakeHost(), limits=Limits(max_envelope_kb=kb))
    ]
    size = "{http://schemas.microsoft.com/wbem/wsman/1/config}MaxEnvelopeSizekb"

    assert (our_status, _header(ours, "Action"), _shape(ours)) == (
        windows_status,
        _header(windows, "Action"),
        _shape(windows),
    )
    assert ours.findtext(f".//{size}") == windows.findtext(f".//{size}") == str(kb)
