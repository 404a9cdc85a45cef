"""
``rollup apply`` acts only on the host the inventory names: the real CLI against the simulated
lab, whose hosts report their computer name and machine SID through ``host.facts``.

- Two hosts' addresses exchanged in the inventory (DNS01's and COLLAB01's): nothing changes on
  either host, and the run's output names both, each with what was expected and what answered.
- A resumed run whose lab was stopped and replaced by another lab on the same loopback addresses
  changes nothing on the new lab: each lab has its own password, so the new lab refuses the old
  lab's credentials; and with one password shared on purpose (``ROLLUP_LAB_PASSWORD``), the
  machines are not the ones the run first reached, and the resume refuses them by their SIDs.
"""

from __future__ import annotations

import itertools
import json
import subprocess
from pathlib import Path

import pytest
import yaml

from rollup.engine.rundir import list_runs
from rollup.testing.labproc import LabProcess

GATE = "confirm-prerequisites"
_ranges = itertools.count()
SCENARIO = {
    "faults": [{"kind": "exit_code", "hosts": ["COLLAB01"], "op": "msi.uninstall", "nth": 1, "code": 1603}]
}


def _address() -> str:
    return f"127.0.86.{1 + 10 * next(_ranges)}"


def _mutations(lab: LabProcess) -> dict[str, int]:
    return {host: lab.host_state(host).mutations for host in lab.hosts()}


def test_two_swapped_addresses_change_neither_host_and_name_both(tmp_path: Path) -> None:
    """
    DNS01 <-> COLLAB01 in the inventory: the pre-flight of apply refuses the run, naming both with
    what was expected and what answered, and nothing changes anywhere; with the pre-flight
    skipped, the run's own identity check stops both hosts (the others go on) and names them.
    """
    lab = LabProcess.start(tmp_path, collab=1, first_address=_address())
    try:
        data = yaml.safe_load(lab.inventory.read_text(encoding="utf-8"))
        groups = data["all"]["children"]
        dns, collab = groups["dns"]["hosts"]["DNS01"], groups["collab"]["hosts"]["COLLAB01"]
        dns["address"], collab["address"] = collab["address"], dns["address"]
        swapped = lab.state_dir / "swapped.yml"
        swapped.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        before = _mutations(lab)
        args = ("apply", "--inventory", str(swapped), "--runs-dir", str(lab.runs_dir), "--confirm", GATE)

        refused = lab.rollup(*args)
        untouched = _mutations(lab)
        skipped = lab.rollup(*args, "--skip-preflight", "--reason", "identity test")
        after = _mutations(lab)
    finally:
        lab.stop()
    dns_line = f"DNS01: http://{dns['address']}:5985/wsman answers as computer COLLAB01, not DNS01"
    collab_line = f"COLLAB01: http://{collab['address']}:5985/wsman answers as computer DNS01, not COLLAB01"

    for done in (refused, skipped):
        output = done.stdout + done.stderr
        assert done.returncode == 1, output
        assert dns_line in output
        assert collab_line in output
    assert untouched == before
    assert (after["DNS01"], after["COLLAB01"]) == (before["DNS01"], before["COLLAB01"])
    assert after["MPS01"] > before["MPS01"]


def _failed_run(tmp_path: Path, first: str) -> tuple[LabProcess, str]:
    """Lab A: a run that fails part-way (1603 on COLLAB01), then lab A stops."""
    (tmp_path / "a").mkdir()
    lab = LabProcess.start(tmp_path / "a", collab=1, first_address=first, scenario=SCENARIO)
    try:
        failed = lab.apply("--confirm", GATE)
        assert failed.returncode == 1, failed.stdout + failed.stderr
        (run,) = list_runs(lab.runs_dir)
    finally:
        lab.stop()
    return lab, run.run_id


def _same_addresses(a: LabProcess, b: LabProcess) -> bool:
    def addresses(lab: LabProcess) -> list[str]:
        return [h["address"] for h in json.loads((lab.state_dir / "lab.json").read_text())["hosts"]]

    return addresses(a) == addresses(b)


def _resume_on_a_new_lab(
    tmp_path: Path,
) -> tuple[LabProcess, LabProcess, subprocess.CompletedProcess[str], tuple[dict[str, int], dict[str, int]]]:
    """A run fails on lab A, lab B takes A's addresses, the run resumes: B's mutations before and after."""
    first = _address()
    old, run_id = _failed_run(tmp_path, first)
    (tmp_path / "b").mkdir()
    new = LabProcess.start(tmp_path / "b", collab=1, first_address=first)
    try:
        before = _mutations(new)
        resumed = old.apply("--resume", run_id)
        after = _mutations(new)
    finally:
        new.stop()
    return old, new, resumed, (before, after)


def test_a_resume_against_another_lab_on_the_same_addresses_changes_nothing(tmp_path: Path) -> None:
    """Each lab has its own password: the new lab refuses the old lab's run, and nothing changes."""
    old, new, resumed, (before, after) = _resume_on_a_new_lab(tmp_path)

    assert _same_addresses(old, new)
    assert after == before
    assert resumed.returncode == 1, resumed.stdout + resumed.stderr
    assert (
        old.inventory.parent.joinpath("lab-password").read_text()
        != new.state_dir.joinpath("lab-password").read_text()
    )


def test_a_resume_refuses_machines_that_are_not_the_ones_it_first_reached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One password for both labs: the resume finds other machine SIDs and refuses every host."""
    monkeypatch.setenv("ROLLUP_LAB_PASSWORD", "Shared-Lab-Password-1")
    old, new, resumed, (before, after) = _resume_on_a_new_lab(tmp_path)
    output = resumed.stdout + resumed.stderr

    assert _same_addresses(old, new)
    assert resumed.returncode == 1, output
    assert "MPS01: http://" in output
    assert "is another machine than this run first reached there" in output
    assert after == before


def test_a_host_of_another_domain_is_refused_and_the_right_domain_passes(tmp_path: Path) -> None:
    """DNS01 pinned to another domain: apply stops DNS01 naming both domains; the lab's own passes."""
    lab = LabProcess.start(tmp_path, collab=1, first_address=_address())
    try:
        data = yaml.safe_load(lab.inventory.read_text(encoding="utf-8"))
        dns = data["all"]["children"]["dns"]["hosts"]["DNS01"]
        dns["domain"] = "other.example"
        wrong = lab.state_dir / "wrong-domain.yml"
        wrong.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        dns["domain"] = "HOSTING"
        right = lab.state_dir / "right-domain.yml"
        right.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        before = lab.host_state("DNS01").mutations

        refused = lab.rollup(
            "apply", "--inventory", str(wrong), "--runs-dir", str(lab.runs_dir), "--confirm", GATE
        )
        after = lab.host_state("DNS01").mutations
        accepted = lab.rollup(
            "apply", "--inventory", str(right), "--runs-dir", str(lab.runs_dir), "--dry-run"
        )
    finally:
        lab.stop()
    output = refused.stdout + refused.stderr
    assert refused.returncode == 1, output
    assert "answers as a member of domain hosting.local, not other.example" in output
    assert after == before
    assert "member of domain" not in accepted.stdout + accepted.stderr
