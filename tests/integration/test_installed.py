"""
rollup as operators install it: the wheel built from this folder, installed with ``pipx install``
into a fresh environment of its own, runs the main job from an empty directory. Nothing
comes from the project folder: the manifests are package data, and the runs, the rehearsal record
and the simulated lab go to the state directory (``ROLLUP_HOME``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
import xmlschema

from rollup.engine.journal import read_journal
from rollup.engine.journal_state import replay
from rollup.engine.rundir import resolve_run
from rollup.schemas import schema

ROOT = Path(__file__).resolve().parents[2]
ID = "hmc40-rollup-2011-01"
JUNIT_XSD = ROOT / "tests" / "schemas" / "jenkins-junit-10.xsd"


def _run(*args: str | Path, cwd: Path, env: dict[str, str], timeout_s: float = 600) -> str:
    done = subprocess.run(
        [str(arg) for arg in args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    assert done.returncode == 0, f"{args}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module", name="installed")
def _installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``rollup`` command pipx installed from the wheel (built from a copy of the sources)."""
    work = tmp_path_factory.mktemp("installed")
    source = work / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "rollup", source / "rollup", ignore=shutil.ignore_patterns("__pycache__"))
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    _run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "-q",
        "-w",
        work / "wheels",
        source,
        cwd=work,
        env=env,
    )
    (wheel,) = (work / "wheels").glob("rollup-*.whl")
    pipx = {"PIPX_HOME": str(work / "pipx"), "PIPX_BIN_DIR": str(work / "bin")}
    pipx["PIPX_MAN_DIR"] = str(work / "man")
    _run(sys.executable, "-m", "pipx", "install", wheel, cwd=work, env=env | pipx)
    return work / "bin" / "rollup"


@pytest.mark.slow
def test_the_installed_wheel_runs_the_main_job_from_an_empty_directory(
    installed: Path, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """
    `manifest list`, `manifest show ID` and `rehearse --simulated` succeed and the directory stays
    empty. The rehearsal's `--json` document follows rollup/schemas/rehearsal.schema.json and its
    `--junit` file the Jenkins JUnit XSD, listing the stages and every plan step of the run as its
    journal has them.
    """
    empty, home = tmp_path / "empty", tmp_path / "home"
    empty.mkdir()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "ROLLUP_"))}
    env.pop("COLUMNS", None)  # piped output as an operator's pipe gets it: as wide as its lines
    env |= {
        "ROLLUP_HOME": str(home),
        "ROLLUP_CACHE_DIR": str(tmp_path_factory.getbasetemp() / "rollup-cache"),
    }

    listed = _run(installed, "manifest", "list", cwd=empty, env=env)
    document = json.loads(_run(installed, "manifest", "list", "--json", cwd=empty, env=env))
    shown = _run(installed, "manifest", "show", ID, cwd=empty, env=env)
    junit = tmp_path / "rehearsal.xml"
    rehearsed = json.loads(
        _run(
            installed,
            "rehearse",
            "--simulated",
            "--seed",
            "3",
            "--json",
            "--junit",
            junit,
            cwd=empty,
            env=env,
        )
    )
    runs = json.loads(_run(installed, "runs", "list", "--json", cwd=tmp_path, env=env))

    assert ID in listed, f"COLUMNS={os.environ.get('COLUMNS')!r} TERM={os.environ.get('TERM')!r}"
    (manifest,) = document["manifests"]
    assert manifest["id"] == ID
    assert Path(manifest["path"]).is_relative_to(installed.parents[1] / "pipx" / "venvs" / "rollup")
    assert "January 2011 update rollup for Hosted Messaging and Collaboration 4.0 (KB2492954)" in shown
    assert (rehearsed["format"], rehearsed["kind"], rehearsed["result"]) == (1, "rehearsal", "passed")
    jsonschema.validate(rehearsed, schema("rehearsal"))
    assert len(list((home / "rehearsals").glob("*.json"))) == 1
    xmlschema.XMLSchema(JUNIT_XSD).validate(str(junit))
    root = ET.parse(junit).getroot()  # noqa: S314 - written by the code under test
    journal = replay(read_journal(resolve_run(home / "runs", rehearsed["run_id"]).journal_path).entries)
    cases = {
        f"{case.get('name')}@{suite.get('name')}"
        for suite in root.iter("testsuite")
        if suite.get("name") != "rehearsal"
        for case in suite.iter("testcase")
    }
    assert cases == set(journal.steps) == {step["id"] for step in rehearsed["run"]["steps"]}
    assert len(cases) == rehearsed["plan"]["steps"]
    assert rehearsed["run"]["state"] == "done"
    rehearsal = [
        (case.get("classname"), case.get("name")) for case in root.iterfind("testsuite[@name='rehearsal']/")
    ]
    stages = [("rehearsal.stage", stage["name"]) for stage in rehearsed["stages"]]
    assert rehearsal == [*stages, ("rehearsal.drill", "kill-resume")]
    assert (root.get("tests"), root.get("failures")) == (str(len(cases) + len(rehearsal)), "0")
    assert runs["runs_dir"] == str(home / "runs")
    assert [run["state"] for run in runs["runs"]] == ["done"]
    assert list(empty.iterdir()) == []
