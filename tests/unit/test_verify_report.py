"""
The report's three forms: the table, the ``--json`` document and the ``--junit`` XML file.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import pytest
from rich.console import Console

from rollup.checks import CONTROL_HOST, Check, HostReport, Report, Status
from rollup.cli.report import finish, host_status, render, to_json, to_junit, write_junit
from rollup.errors import UsageError


def row(name: str, status: Status, *, group: str = "files", detail: str = "") -> Check:
    """A check of ``status``."""
    return Check(group=group, name=name, expected="e", actual="a", status=status, detail=detail)


def sample(kind: Literal["verify", "preflight"] = "verify") -> Report:
    """Three hosts: one with every status, one unreachable, one compliant."""
    mixed = HostReport(
        host="MPS01",
        roles=("deployment_tool", "mps_engine"),
        checks=(
            row("C:\\MSIShare\\DNSClient.msi", Status.DRIFT, detail="differs in size"),
            row("DNS Provider", Status.UNKNOWN, group="products"),
            row('COM+ <Provisioning> & "Engine"\x07', Status.ERROR, group="complus"),
            row("C:\\MSIShare\\DNSProvider.msi", Status.OK),
        ),
        duration_s=0.25,
    )
    down = HostReport(
        host="COLLAB02", roles=("collab",), checks=(row("WinRM session", Status.FAIL, group="session"),)
    )
    fine = HostReport(host=CONTROL_HOST, roles=(), checks=(row("DNSClient.msi", Status.OK, group="package"),))
    return Report(
        kind=kind,
        manifest_id="hmc40-rollup-2011-01",
        manifest_digest="ab" * 32,
        pinned=True,
        inventory="inventory/lab.yml",
        hosts=(mixed, down, fine),
        started_at=datetime(2011, 3, 21, 9, 30, tzinfo=UTC),
        duration_s=1.5,
    )


def test_junit_is_well_formed_with_a_suite_per_host_and_a_case_per_check() -> None:
    """The XML parses; each host is a testsuite whose counts add up; the totals are their sums."""
    root = ET.fromstring(to_junit(sample()))  # noqa: S314 - rollup's own output, parsed to check it

    suites = root.findall("testsuite")

    assert root.tag == "testsuites"
    assert [s.get("name") for s in suites] == ["MPS01", "COLLAB02", CONTROL_HOST]
    assert [(s.get("tests"), s.get("failures"), s.get("errors"), s.get("skipped")) for s in suites] == [
        ("4", "1", "1", "1"),
        ("1", "0", "1", "0"),
        ("1", "0", "0", "0"),
    ]
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("6", "1", "2")
    assert root.get("skipped") is None, "the Jenkins JUnit schema has no skipped on testsuites"
    assert len(root.findall(".//testcase")) == 6


def test_junit_maps_drift_to_failure_unreachable_to_error_and_unknown_to_skipped() -> None:
    """Drift is a failure, a host that could not be reached an error, unknown a skipped case."""
    root = ET.fromstring(to_junit(sample()))  # noqa: S314 - rollup's own output, parsed to check it

    cases = {c.get("name"): c for c in root.iter("testcase")}

    failure = cases["C:\\MSIShare\\DNSClient.msi"].find("failure")
    assert failure is not None
    assert failure.get("type") == "drift"
    assert failure.text == "differs in size"
    assert cases["WinRM session"].find("error") is not None
    assert cases["DNS Provider"].find("skipped") is not None
    assert list(cases["C:\\MSIShare\\DNSProvider.msi"]) == []
    assert cases["C:\\MSIShare\\DNSProvider.msi"].get("classname") == "MPS01.files"


def test_junit_escapes_markup_and_drops_control_characters() -> None:
    """Names with ``<``, ``&`` and quotes survive intact; characters XML cannot carry are dropped."""
    text = to_junit(sample())

    names = [c.get("name") for c in ET.fromstring(text).iter("testcase")]  # noqa: S314 - own output

    assert 'COM+ <Provisioning> & "Engine"' in names
    assert "\x07" not in text


def test_the_json_document_carries_every_check_and_the_exit_code() -> None:
    """``--json`` gives the summary, each host's status and every check with its fields."""
    document = json.loads(json.dumps(to_json(sample())))

    assert document["exit_code"] == 3
    assert document["summary"] == {
        "hosts": 3,
        "checks": 6,
        "ok": 2,
        "drift": 1,
        "fail": 1,
        "unknown": 1,
        "error": 1,
    }
    assert [(h["host"], h["status"]) for h in document["hosts"]] == [
        ("MPS01", "drift"),
        ("COLLAB02", "fail"),
        (CONTROL_HOST, "ok"),
    ]
    assert document["hosts"][0]["checks"][0] == {
        "group": "files",
        "name": "C:\\MSIShare\\DNSClient.msi",
        "expected": "e",
        "actual": "a",
        "status": "drift",
        "detail": "differs in size",
    }
    assert document["manifest"] == {"id": "hmc40-rollup-2011-01", "digest": "ab" * 32, "pinned": True}


def test_the_table_shows_every_host_and_check_and_the_summary() -> None:
    """The table names each host with its roles, each check with its status, and ends with the summary."""
    console = Console(record=True, width=200)

    render(console, sample())

    text = console.export_text()
    assert "MPS01 (deployment_tool, mps_engine)" in text
    assert "C:\\MSIShare\\DNSClient.msi" in text
    assert "differs in size" in text
    assert text.rstrip().endswith(
        "verify: 3 hosts, 6 checks: 2 ok, 1 drift, 1 fail, 1 unknown, 1 error; exit 3"
    )


def test_finish_writes_the_junit_file_and_returns_the_exit_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``finish`` writes ``--junit FILE``, prints JSON with ``--json`` and returns the report's exit code."""
    target = tmp_path / "verify.xml"

    code = finish(sample("preflight"), as_json=True, junit=target)

    assert code == 1
    assert json.loads(capsys.readouterr().out)["kind"] == "preflight"
    assert ET.parse(target).getroot().get("name") == "rollup preflight"  # noqa: S314 - own output


def test_an_unwritable_junit_file_is_a_usage_error(tmp_path: Path) -> None:
    """A ``--junit`` path that cannot be written is refused with one line naming it."""
    with pytest.raises(UsageError, match="--junit"):
        write_junit(sample(), tmp_path / "no" / "such" / "dir" / "v.xml")


def test_a_host_status_is_its_worst_check() -> None:
    """Drift outranks an error, which outranks unknown."""
    host = sample().hosts[0]

    assert host_status(host) is Status.DRIFT
    assert host_status(HostReport(host="H", roles=(), checks=host.checks[1:])) is Status.ERROR
