"""
``rollup rehearse --simulated --json --junit FILE`` through the CLI: the record as a document that
validates against rollup/schemas/rehearsal.schema.json, and a JUnit file that follows the Jenkins
JUnit XSD and lists the stages and every plan step of the rehearsal's run, as its journal has them.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
import xmlschema

from rollup.cli.main import main
from rollup.engine.journal import read_journal
from rollup.engine.journal_state import replay
from rollup.engine.rundir import resolve_run
from rollup.schemas import schema

ROOT = Path(__file__).resolve().parents[2]
JUNIT_XSD = ROOT / "tests" / "schemas" / "jenkins-junit-10.xsd"


@pytest.mark.slow
def test_the_rehearsal_document_and_junit_file_follow_their_schemas(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.setenv("ROLLUP_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "rollup-cache"))
    for name in ("ROLLUP_LAB_USER", "ROLLUP_LAB_PASSWORD", "ROLLUP_RUNS_DIR", "ROLLUP_MANIFEST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(ROOT)
    runs, junit = tmp_path / "runs", tmp_path / "rehearsal.xml"

    code = main([
        "rehearse", "--simulated", "--no-drills", "--state-dir", str(tmp_path / "lab"),
        "--runs-dir", str(runs), "--json", "--junit", str(junit),
    ])  # fmt: skip
    document = json.loads(capsys.readouterr().out)

    assert code == 0
    assert (document["format"], document["kind"], document["result"]) == (1, "rehearsal", "passed")
    jsonschema.validate(document, schema("rehearsal"))
    xmlschema.XMLSchema(JUNIT_XSD).validate(str(junit))
    root = ET.parse(junit).getroot()  # noqa: S314 - written by the code under test
    journal = replay(read_journal(resolve_run(runs, document["run_id"]).journal_path).entries, is_live=False)
    cases = {
        f"{case.get('name')}@{suite.get('name')}"
        for suite in root.iter("testsuite")
        if suite.get("name") != "rehearsal"
        for case in suite.iter("testcase")
    }
    assert cases == set(journal.steps)
    assert len(cases) == document["plan"]["steps"]
    stages = [case.get("name") for case in root.iterfind("testsuite[@name='rehearsal']/testcase")]
    assert stages == [stage["name"] for stage in document["stages"]]
    assert (root.get("tests"), root.get("failures")) == (str(len(cases) + len(stages)), "0")
