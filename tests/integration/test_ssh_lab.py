"""
``ansible_connection: ssh`` through the CLI against the lab (``lab up --ssh-hosts``): some hosts
over SSH, the others over WinRM, the same PowerShell and Windows model behind both. Verify gives
what all-WinRM gives, apply ends done and verifies, and a wrong host key or password is one line.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paramiko
import pytest

from rollup.testing.labproc import LabProcess

GATE = "confirm-prerequisites"
OVER_SSH = {"MPS01", "COLLAB01"}
_ranges = itertools.count()
SSH_LINES = ("ansible_connection:", "ansible_shell_type:", "ansible_port:", "ssh_known_hosts:")


@pytest.fixture(name="lab")
def _lab(tmp_path: Path) -> Iterator[LabProcess]:
    first = f"127.0.93.{1 + 10 * next(_ranges)}"
    lab = LabProcess.start(tmp_path, collab=1, first_address=first, ssh_hosts=",".join(sorted(OVER_SSH)))
    yield lab
    lab.stop()


def _all_winrm(lab: LabProcess) -> Path:
    """The lab's inventory without its SSH lines, beside it (its password file is relative)."""
    lines = lab.inventory.read_text(encoding="utf-8").splitlines(keepends=True)
    path = lab.state_dir / "inventory-winrm.yml"
    path.write_text(
        "".join(line for line in lines if not line.strip().startswith(SSH_LINES)), encoding="utf-8"
    )
    return path


def _verify(lab: LabProcess, inventory: Path, log: Path) -> tuple[int, list[dict[str, Any]]]:
    shown = lab.rollup("--log-file", str(log), "verify", "--inventory", str(inventory), "--json")
    return shown.returncode, json.loads(shown.stdout)["hosts"]


def _reached(log: Path, event: str) -> set[str]:
    records = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    return {r["host"] for r in records if r["event"] == event}


def test_verify_over_ssh_gives_what_winrm_gives(lab: LabProcess, tmp_path: Path) -> None:
    """MPS01 and COLLAB01 over SSH, the others over WinRM: the same per-host checks as all over WinRM."""
    mixed_code, mixed = _verify(lab, lab.inventory, tmp_path / "mixed.jsonl")
    winrm_code, winrm = _verify(lab, _all_winrm(lab), tmp_path / "winrm.jsonl")

    assert (mixed_code, winrm_code) == (3, 3)  # a pre-rollup lab drifts
    assert mixed == winrm
    assert _reached(tmp_path / "mixed.jsonl", "ssh command") == OVER_SSH
    assert _reached(tmp_path / "mixed.jsonl", "wsman request") == {"DNS01", "MPSSQL"}
    assert _reached(tmp_path / "winrm.jsonl", "ssh command") == set()


def test_apply_with_a_mixed_inventory_is_done_and_verifies(lab: LabProcess, tmp_path: Path) -> None:
    """The Deployment Tool host (MPS01, uploads included) and a COLLAB host over SSH: applied."""
    log = tmp_path / "apply.jsonl"
    applied = lab.rollup(
        "--log-file", str(log), "apply", "--inventory", str(lab.inventory), "--runs-dir", str(lab.runs_dir),
        "--confirm", GATE, "--json",
    )  # fmt: skip
    verified = lab.rollup("verify", "--inventory", str(lab.inventory))

    assert applied.returncode == 0, applied.stdout[-2000:] + applied.stderr
    assert json.loads(applied.stdout)["state"] == "done"
    assert verified.returncode == 0, verified.stdout[-2000:]
    assert _reached(log, "ssh command") == OVER_SSH
    assert "files.upload" in lab.host_state("MPS01").operations


def test_a_host_key_that_is_not_the_known_one_is_refused(lab: LabProcess) -> None:
    """known_hosts holds another key for MPS01: one error line, nothing runs there, the others are read."""
    known = lab.state_dir / "ssh" / "known_hosts"
    before = lab.host_state("MPS01")
    lines = known.read_text(encoding="ascii").splitlines()
    key = paramiko.ECDSAKey.generate()
    entry = lines[0].split()[0]
    known.write_text("\n".join([f"{entry} {key.get_name()} {key.get_base64()}", *lines[1:]]) + "\n")

    shown = lab.rollup("verify", "--inventory", str(lab.inventory), "--json")
    hosts = {h["host"]: h for h in json.loads(shown.stdout)["hosts"]}

    assert shown.returncode == 3  # the others drift: a pre-rollup lab
    (check,) = hosts["MPS01"]["checks"]
    assert check["name"] == "SSH session"
    assert "its host key is not the one" in check["actual"]
    assert "\n" not in check["actual"]
    assert lab.host_state("MPS01").operations == before.operations
    assert all(c["status"] != "error" for name in ("DNS01", "COLLAB01") for c in hosts[name]["checks"])


def test_a_refused_password_fails_as_it_does_over_winrm(lab: LabProcess) -> None:
    """A wrong password: one line for an SSH host, and verify and apply exit as they do over WinRM alone."""
    winrm = _all_winrm(lab)
    (lab.state_dir / "lab-password").write_text("Wrong-Passw0rd!\n", encoding="utf-8")

    codes = {}
    for inventory in (lab.inventory, winrm):
        verified = lab.rollup("-q", "verify", "--inventory", str(inventory), "--json")
        applied = lab.rollup(
            "apply", "--inventory", str(inventory), "--runs-dir", str(lab.runs_dir), "--confirm", GATE
        )
        hosts = {h["host"]: h["checks"][0]["actual"] for h in json.loads(verified.stdout)["hosts"]}
        codes[inventory.name] = (verified.returncode, applied.returncode, hosts["COLLAB01"], applied.stderr)

    mixed, all_winrm = codes[lab.inventory.name], codes[winrm.name]
    assert mixed[:2] == all_winrm[:2] == (1, 1)
    assert "ssh://" in mixed[2]
    assert "the host refused the credentials of HOSTING\\rollup-lab (SSH password)" in mixed[2]
    assert "\n" not in mixed[2]
    assert "MPS01: SSH session: host.facts: ssh://" in mixed[3]
