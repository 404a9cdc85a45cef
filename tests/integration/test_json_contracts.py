"""
One run on the simulated lab, through the CLI, read the ways scripts and operators read it:

- the ``--json`` documents of pre-flight, apply, verify, ``runs list``, ``runs show`` and ``lab
  state`` each validate against the schema shipped in rollup/schemas, and every ``--junit`` file
  against the Jenkins JUnit XSD (``rehearse``'s are checked in test_installed.py);
- apply's progress names each unit of a long step as it begins (a Deployment Tool command, an
  msiexec run), numbered;
- with ``-q``, verify and apply print their result alone.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import xmlschema

from rollup.schemas import schema
from rollup.testing.labproc import LabProcess

JUNIT_XSD = Path(__file__).resolve().parents[1] / "schemas" / "jenkins-junit-10.xsd"
GATE = "confirm-prerequisites"


def test_a_lab_run_read_as_documents_progress_lines_and_quiet_results(tmp_path: Path) -> None:
    lab = LabProcess.start(tmp_path, collab=1, first_address="127.0.140.1")
    inventory = str(lab.inventory)
    xml = {name: tmp_path / f"{name}.xml" for name in ("preflight", "apply", "verify")}
    reported = {name: ("--json", "--junit", str(path)) for name, path in xml.items()}
    try:
        made = {
            "preflight": lab.rollup("preflight", "--inventory", inventory, *reported["preflight"]),
            "apply": lab.apply("--confirm", GATE, *reported["apply"]),
            "verify": lab.rollup("verify", "--inventory", inventory, *reported["verify"]),
            "runs": lab.rollup("runs", "list", "--runs-dir", str(lab.runs_dir), "--json"),
            "run": lab.rollup("runs", "show", "last", "--runs-dir", str(lab.runs_dir), "--json"),
            "lab-host": lab.rollup("lab", "state", "COLLAB01", "--state-dir", str(lab.state_dir), "--json"),
        }
        quiet_verify = lab.rollup("-q", "verify", "--inventory", inventory)
        misplaced = lab.apply("--confirm", GATE, "-q")
        quiet_apply = lab.rollup("-q", "apply", "--inventory", inventory, "--runs-dir", str(lab.runs_dir),
                                 "--confirm", GATE)  # fmt: skip
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

    progress = made["apply"].stderr  # with --json, progress and the summary go to stderr
    units = re.findall(r"MPS01 uninstall-components@MPS01: uninstall (.+) \((\d+) of (\d+)\)", progress)
    assert [(int(n), int(total)) for _, n, total in units] == [(n, 17) for n in range(1, 18)]
    assert "DNS01 dnsclient-run-twice@DNS01: msiexec /i DNSClient.msi (run 1 of 2)" in progress
    assert re.search(r"COLLAB01 uninstall-old-wss-web-service@COLLAB01: msiexec /x .+ 4\.0\.\d+", progress)
    assert "COLLAB01 install-wss-web-service@COLLAB01: msiexec /i " in progress
    assert re.search(r"initialize-exchange@MPS01: initialize .+ \(1 of \d+\)", progress)

    assert misplaced.returncode == 2, "-q is an option of rollup itself, before the command"
    assert quiet_verify.returncode == 0, quiet_verify.stderr
    assert re.fullmatch(r"verify: 4 hosts, (\d+) checks: \1 ok; exit 0\n", quiet_verify.stdout)
    assert quiet_apply.returncode == 0, quiet_apply.stderr
    (line,) = quiet_apply.stdout.splitlines()
    assert re.fullmatch(r"run \S+: done \(\d+ noop, 1 skipped\); audit head [0-9a-f]{64}", line), line
    assert quiet_apply.stderr == ""
