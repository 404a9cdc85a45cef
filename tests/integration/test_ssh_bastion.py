"""
WinRM through an SSH bastion (``rollup_ssh_bastion``), against a real OpenSSH server on
loopback with the simulated lab behind it, through the CLI: apply and verify over the tunnel,
a bastion whose host key is not the known one refused, a bastion that goes away mid-run retried.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest
import yaml

from rollup.engine.rundir import list_runs
from rollup.testing.labproc import LabProcess
from rollup.testing.sshd import NoSshd, Sshd, behind

GATE = "confirm-prerequisites"
_ranges = itertools.count()


@pytest.fixture(name="lab")
def _lab(tmp_path: Path) -> Iterator[LabProcess]:
    lab = LabProcess.start(tmp_path, collab=1, first_address=f"127.0.95.{1 + 10 * next(_ranges)}")
    yield lab
    lab.stop()


@pytest.fixture(name="sshd")
def _sshd(tmp_path: Path) -> Iterator[Sshd]:
    try:
        server = Sshd.start(tmp_path / "ssh")
    except NoSshd as exc:
        pytest.skip(str(exc))
    yield server
    server.stop()


def _addresses(inventory: Path) -> set[str]:
    document = yaml.safe_load(inventory.read_text(encoding="utf-8"))
    groups = document["all"]["children"].values()
    return {entry["address"] for group in groups for entry in group["hosts"].values() if entry}


def test_apply_and_verify_go_through_the_bastion(lab: LabProcess, sshd: Sshd) -> None:
    """Every host's WinRM goes through sshd's direct-tcpip channels; the run is done and verifies."""
    behind(lab.inventory, sshd)

    applied = lab.apply("--confirm", GATE)
    verified = lab.rollup("verify", "--inventory", str(lab.inventory))

    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert verified.returncode == 0, verified.stdout + verified.stderr
    reached = {target.split()[0] for target in sshd.channels()}
    assert reached == _addresses(lab.inventory)


def test_a_bastion_with_another_host_key_is_refused(lab: LabProcess, sshd: Sshd) -> None:
    """known_hosts holds another key for the bastion: nothing goes through it, and the error says why."""
    behind(lab.inventory, sshd)
    other = paramiko.RSAKey.generate(2048)
    sshd.known_hosts.write_text(f"[127.0.0.1]:{sshd.port} ssh-rsa {other.get_base64()}\n", encoding="ascii")

    verified = lab.rollup("verify", "--inventory", str(lab.inventory))

    assert verified.returncode != 0, verified.stdout
    assert "host key is not the one" in verified.stdout + verified.stderr
    assert sshd.channels() == []


def test_a_bastion_that_goes_away_mid_run_is_retried(lab: LabProcess, sshd: Sshd) -> None:
    """sshd and its sessions die during the run and come back: cut requests are retried, the run is done."""
    behind(lab.inventory, sshd)
    process = lab.apply_process("--confirm", GATE)
    deadline = time.monotonic() + 120
    journal: Path | None = None
    while time.monotonic() < deadline and process.poll() is None:
        runs = list_runs(lab.runs_dir)
        journal = runs[0].journal_path if runs else None
        if journal is not None and journal.exists() and len(journal.read_text().splitlines()) >= 12:
            break
        time.sleep(0.05)
    sshd.stop()
    time.sleep(1.0)
    sshd.resume()
    out, err = process.communicate(timeout=600)

    (run,) = list_runs(lab.runs_dir)
    audit = [json.loads(line) for line in run.audit_path.read_text(encoding="utf-8").splitlines()]
    retries = [r for r in audit if r["event"] == "retry_scheduled"]
    assert process.returncode == 0, out + err
    assert retries, "the cut connections were retried"


def test_ssh_hosts_are_reached_through_the_bastion(tmp_path: Path, sshd: Sshd) -> None:
    """Every host over SSH behind sshd: a channel to each host's SSH port; verify reads them all."""
    lab = LabProcess.start(
        tmp_path, collab=1, first_address=f"127.0.95.{1 + 10 * next(_ranges)}", ssh_hosts="all"
    )
    try:
        behind(lab.inventory, sshd)
        known = lab.state_dir / "ssh" / "known_hosts"  # the hosts' ssh_known_hosts serves the bastion too
        known.write_text(known.read_text(encoding="ascii") + sshd.known_hosts.read_text(encoding="ascii"))
        verified = lab.rollup("verify", "--inventory", str(lab.inventory), "--json")
    finally:
        lab.stop()

    hosts = json.loads(verified.stdout)["hosts"]
    assert verified.returncode == 3, verified.stdout[-1000:]  # a pre-rollup lab drifts
    assert all(check["group"] != "session" for host in hosts for check in host["checks"])
    assert {target.split()[-1] for target in sshd.channels()} == {"2222"}
    assert {target.split()[0] for target in sshd.channels()} == _addresses(lab.inventory)
