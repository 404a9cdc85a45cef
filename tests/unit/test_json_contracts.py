"""
Every ``--json`` document has a shipped JSON Schema and carries ``format`` and ``kind``; the
documents made without a lab validate here (the lab's in tests/integration/test_json_contracts.py),
and the rehearsal's JUnit file validates against the Jenkins JUnit XSD.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
import jsonschema
import pytest
import xmlschema

from rollup.cli.main import cli, main
from rollup.cli.rehearse_report import run_json, to_junit
from rollup.engine.journal_state import (
    JournalEntry,
    Outcome,
    RunFinished,
    RunStarted,
    StepFinished,
    StepStarted,
    StepWaiting,
    UnitDone,
)
from rollup.rehearsal.record import PlanShape, RehearsalRecord, StageRecord
from rollup.schemas import schema

ROOT = Path(__file__).resolve().parents[2]
JUNIT_XSD = ROOT / "tests" / "schemas" / "jenkins-junit-10.xsd"

KIND_OF = {
    "apply": "apply",
    "inventory show": "inventory",
    "lab state": "lab-host",
    "manifest list": "manifest-list",
    "manifest show": "manifest",
    "plan": "plan",
    "preflight": "preflight",
    "rehearse": "rehearsal",
    "rollback": "rollback",
    "runs list": "runs",
    "runs show": "run",
    "verify": "verify",
}
"""Each command that takes ``--json``, and the kind (and schema) of its document."""


def _json_commands(group: click.Group, prefix: str = "") -> set[str]:
    found: set[str] = set()
    for name, command in group.commands.items():
        path = f"{prefix}{name}"
        if isinstance(command, click.Group):
            found |= _json_commands(command, f"{path} ")
        elif any("--json" in p.opts for p in command.params):
            found.add(path)
    return found


def test_every_json_command_has_its_schema_shipped() -> None:
    """A command that gains ``--json`` without a schema in rollup/schemas fails here."""
    commands = _json_commands(cli)
    assert commands <= set(KIND_OF), f"--json without a schema: {sorted(commands - set(KIND_OF))}"
    for command in commands:
        kind = KIND_OF[command]
        shipped = schema(kind)
        jsonschema.Draft202012Validator.check_schema(shipped)
        assert shipped["properties"]["kind"] == {"const": kind}
        assert shipped["properties"]["format"] == {"const": 1}
        assert {"format", "kind"} <= set(shipped["required"])


@pytest.fixture
def in_project(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("ROLLUP_INVENTORY", raising=False)
    monkeypatch.delenv("ROLLUP_MANIFEST", raising=False)


@pytest.mark.usefixtures("in_project")
@pytest.mark.parametrize(
    ("argv", "kind"),
    [
        (["manifest", "show", "--json"], "manifest"),
        (["plan", "--inventory", "prod", "--json"], "plan"),
        (["plan", "--inventory", "lab", "--json"], "plan"),
        (["inventory", "show", "--inventory", "prod", "--json"], "inventory"),
        (["inventory", "show", "--inventory", "lab", "--json"], "inventory"),
    ],
)
def test_the_documents_made_without_a_host_validate(
    argv: list[str], kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 0
    document = json.loads(capsys.readouterr().out)
    assert (document["format"], document["kind"]) == (1, kind)
    jsonschema.validate(document, schema(kind))


@pytest.mark.usefixtures("in_project")
def test_runs_list_validates_with_no_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", "list", "--runs-dir", str(tmp_path / "runs"), "--json"]) == 0
    jsonschema.validate(json.loads(capsys.readouterr().out), schema("runs"))


@pytest.mark.usefixtures("in_project")
def test_a_document_without_a_guaranteed_field_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """The schemas check what docs/json.md guarantees: a plan step without its host is no plan."""
    assert main(["plan", "--inventory", "lab", "--json"]) == 0
    document: dict[str, Any] = json.loads(capsys.readouterr().out)
    del document["steps"][3]["host"]
    with pytest.raises(jsonschema.ValidationError, match="'host' is a required property"):
        jsonschema.validate(document, schema("plan"))


def _record(stage_result: str) -> RehearsalRecord:
    started = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    return RehearsalRecord(
        rehearsal_id="20261207T090000Z-abcd",
        result="failed" if stage_result == "failed" else "passed",
        started_at=started,
        finished_at=started + timedelta(seconds=1234.5),
        tool_version="0.1.0",
        operator="ops",
        control_host="ctl",
        simulated=True,
        seed=1,
        inventory_source="lab.yml",
        inventory_digest="0" * 64,
        manifest_id="hmc40-rollup-2011-01",
        manifest_digest="1" * 64,
        plan=PlanShape(fingerprint="2" * 64, roles={"deployment_tool": 1}, hosts=2, steps=3),
        stages=(
            StageRecord(name="preflight", result="passed", detail="92 ok", duration_s=1.0),
            StageRecord(name="apply", result=stage_result, detail="run ended failed", duration_s=900.25),  # type: ignore[arg-type]
        ),
        drills=(),
        snapshot=None,
        run_id="20261207T090001Z-ef01",
        audit_head=None,
    )


def _journal() -> tuple[JournalEntry, ...]:
    at = datetime(2026, 12, 7, 9, 0, 1, tzinfo=UTC)
    return (
        RunStarted(seq=1, ts=at, run_id="R", plan_fingerprint="2" * 64, operator="o", pid=7),
        StepStarted(seq=2, ts=at, step="uninstall-components@MPS01", attempt=1),
        StepFinished(seq=3, ts=at, step="uninstall-components@MPS01", outcome=Outcome.DONE, duration_s=600.0),
        StepStarted(seq=4, ts=at, step="install-dnsclient@DNS01", attempt=2),
        UnitDone(seq=5, ts=at, step="install-dnsclient@DNS01", unit="msiexec exited 3010 (C:\\x.log)"),
        StepFinished(seq=6, ts=at, step="install-dnsclient@DNS01", outcome=Outcome.FAILED, exit_code=1603,
                     duration_s=30.0, summary="msiexec exited 1603"),
        StepWaiting(seq=7, ts=at, step="restart-iis@DNS01"),
        RunFinished(seq=8, ts=at, state="failed"),
    )  # fmt: skip


def test_the_rehearsal_run_in_json_has_each_step_and_the_restart_notices() -> None:
    run = run_json("20261207T090001Z-ef01", _journal())

    assert run is not None
    assert run["state"] == "failed"
    assert [(s["host"], s["step"], s["status"], s["attempts"], s["exit_code"]) for s in run["steps"]] == [
        ("MPS01", "uninstall-components", "done", 1, None),
        ("DNS01", "install-dnsclient", "failed", 2, 1603),
        ("DNS01", "restart-iis", "waiting", 0, None),
    ]
    assert run["notices"] == ["install-dnsclient@DNS01: msiexec exited 3010 (C:\\x.log)"]
    assert run_json(None, ()) is None


def test_the_rehearsal_junit_has_stages_and_each_host_s_steps_and_follows_the_xsd() -> None:
    text = to_junit(_record("failed"), _journal())

    xmlschema.XMLSchema(JUNIT_XSD).validate(text)
    root = ET.fromstring(text)  # noqa: S314 - our own output
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert list(suites) == ["rehearsal", "MPS01", "DNS01"]
    assert (root.get("tests"), root.get("failures")) == ("5", "2")
    assert suites["rehearsal"].get("failures") == "1"
    assert suites["rehearsal"].find("testcase[@name='apply']/failure") is not None
    failure = suites["DNS01"].find("testcase[@name='install-dnsclient']/failure")
    assert failure is not None
    assert failure.text == "msiexec exited 1603 (exit 1603)"
    skipped = suites["DNS01"].find("testcase[@name='restart-iis']/skipped")
    assert skipped is not None
    assert skipped.get("message") == "waiting"
    assert (suites["DNS01"].get("skipped"), suites["MPS01"].get("time")) == ("1", "600.000")


def test_a_junit_file_with_skipped_on_testsuites_breaks_the_xsd() -> None:
    """The XSD is strict where it matters: the attribute rollup once wrote is refused."""
    text = to_junit(_record("passed"), ()).replace("<testsuites ", '<testsuites skipped="0" ', 1)
    with pytest.raises(xmlschema.XMLSchemaValidationError):
        xmlschema.XMLSchema(JUNIT_XSD).validate(text)
