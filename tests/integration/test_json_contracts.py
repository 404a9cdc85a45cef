"""
The ``--json`` documents and ``--junit`` files of a run on the simulated lab, through the CLI:
pre-flight, apply, verify, ``runs list``, ``runs show`` and ``lab state`` each validate against
the schema shipped in rollup/schemas, and every JUnit file against the Jenkins JUnit XSD.
(``rehearse``'s are checked in test_rehearse_simulated.py.)
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import xmlschema

from rollup.schemas import schema
from rollup.testing.labproc import LabProcess

JUNIT_XSD = Path(__file__).resolve().parents[1] / "schemas" / "jenkins-junit-10.xsd"


def test_every_document_and_junit_file_of_a_lab_run_follows_its_schema(tmp_path: Path) -> None:
    lab = LabProcess.start(tmp_path, collab=1, first_address="127.0.140.1")
    inventory = str(lab.inventory)
    xml = {name: tmp_path / f"{name}.xml" for name in ("preflight", "apply", "verify")}
    reported = {name: ("--json", "--junit", str(path)) for name, path in xml.items()}
    try:
        made = {
            "preflight": lab.rollup("preflight", "--inventory", inventory, *reported["preflight"]),
            "apply": lab.apply("--confirm", "confirm-prerequisites", *reported["apply"]),
            "verify": lab.rollup("verify", "--inventory", inventory, *reported["verify"]),
            "runs": lab.rollup("runs", "list", "--runs-dir", str(lab.runs_dir), "--json"),
            "run": lab.rollup("runs", "show", "last", "--runs-dir", str(lab.runs_dir), "--json"),
            "lab-host": lab.rollup("lab", "state", "COLLAB01", "--state-dir", str(lab.state_dir), "--json"),
        }
    finally:
        lab.stop()

    for kind, done in made.items():
        assert done.returncode == 0, f"{kind}: {done.stderr}"
        document = json.loads(done.stdout)
        assert (document["format"], document["kind"]) == (1, kind)
        jsonschema.validate(document, schema(kind))
    assert json.loads(made["apply"].stdout)["state"] == "done"
    assert json.loads(made["run"].stdout)["run_id"] == json.loads(made["apply"].stdout)["run_id"]
    junit = xmlschema.XMLSchema(JUNIT_XSD)
    for path in xml.values():
        junit.validate(str(path))
