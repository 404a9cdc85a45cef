"""
``rollup apply`` and ``rollup confirm`` at the manual gate and DNSProvider's settings, as an
operator runs them: the real CLI, the simulated lab over HTTP with the real pywinrm client, no
transport doubles (the rest of apply's promises are in ``test_apply``).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rollup.engine.journal import read_journal
from rollup.engine.journal_state import StepFinished
from rollup.engine.rundir import list_runs
from rollup.lab.state import path_key
from rollup.lab.store import FileStateStore
from rollup.testing.labproc import LabProcess

NEW = "4.0.2491.0"
GATE = "confirm-prerequisites"


_ranges = itertools.count()


@pytest.fixture(name="lab")
def _lab(tmp_path: Path) -> Iterator[LabProcess]:
    address = f"127.0.98.{1 + 10 * next(_ranges)}"
    lab = LabProcess.start(tmp_path, collab=3, first_address=address)
    yield lab
    lab.stop()


def _versions(dump: dict[str, Any]) -> dict[str, str]:
    return {p["name"]: p["version"] for p in dump["products"]}


def test_a_gate_without_a_terminal_exits_5_then_confirm_and_resume_finish(lab: LabProcess) -> None:
    """No terminal: exit 5 naming the gate; `rollup confirm` records the operator; `--resume` exits 0."""
    waiting = lab.apply()
    (run,) = list_runs(lab.runs_dir)

    confirmed = lab.rollup(
        "confirm", run.run_id, GATE, "--note", "prerequisites checked", "--runs-dir", str(lab.runs_dir)
    )
    resumed = lab.apply("--resume", run.run_id)

    audit = [json.loads(line) for line in run.audit_path.read_text().splitlines()]
    gates = [r for r in audit if r["event"] == "gate_confirmed"]
    verified = lab.rollup("audit", "verify", str(run.audit_path))

    assert waiting.returncode == 5, waiting.stderr + waiting.stdout
    assert f"rollup confirm {run.run_id} {GATE}@MPS01" in waiting.stdout + waiting.stderr
    assert confirmed.returncode == 0, confirmed.stderr
    assert f"confirmed {GATE}@MPS01 of run {run.run_id}" in confirmed.stdout
    assert resumed.returncode == 0, resumed.stderr + resumed.stdout
    assert [g["note"] for g in gates] == ["prerequisites checked"]
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert _versions(lab.state("COLLAB03"))["Windows SharePoint Services Web Service"] == NEW


def test_a_confirmed_gate_restarts_only_the_hosts_a_step_changed(lab: LabProcess) -> None:
    """COLLAB02 lost its copy of the MSI: the re-run sends it and restarts IIS there, nowhere else."""
    first = lab.apply("--confirm", GATE)
    with FileStateStore(lab.state_dir / "hosts", lab.hosts()).update("COLLAB02") as collab:
        del collab.files[path_key("C:\\temp\\QFERollupPackage\\WindowsSharePointServicesWebService.msi")]
    before = {host: lab.host_state(host) for host in lab.hosts()}

    second = lab.apply("--confirm", GATE)

    after = {host: lab.host_state(host) for host in lab.hosts()}
    (_, run) = list_runs(lab.runs_dir)
    finished = {
        e.step: e.outcome.value for e in read_journal(run.journal_path).entries if isinstance(e, StepFinished)
    }

    def sent(host: str) -> list[str]:
        return after[host].operations[len(before[host].operations) :]

    assert first.returncode == 0, first.stderr + first.stdout
    assert second.returncode == 0, second.stderr + second.stdout
    assert finished[f"{GATE}@MPS01"] == "done"
    assert finished["transfer-wss-web-service@COLLAB02"] == "done"
    assert "iis.reset" in sent("COLLAB02")
    for host in ("DNS01", "COLLAB01", "COLLAB03", "MPSSQL"):
        assert after[host].mutations == before[host].mutations, (host, sent(host))
        assert "iis.reset" not in sent(host), host
    assert "iis.reset" not in sent("MPS01")
    assert "complus.restart" not in sent("MPS01")
    assert finished["dns-iis-restart@DNS01"] == "noop"
    assert finished["restart-provisioning-engine@MPS01"] == "noop"


def test_apply_turns_basic_authentication_on_for_dnsprovider_and_verify_checks_it(lab: LabProcess) -> None:
    """
    The KB's default domain is a Basic authentication setting: apply switches it on, verify checks
    it; with Require SSL set, verify also checks that the site has a certificate bound.
    """
    store = FileStateStore(lab.state_dir / "hosts", lab.hosts())
    with store.update("DNS01") as dns:
        dns.iis["dnsprovider"].auth_basic = False

    applied = lab.apply("--confirm", GATE)
    after = lab.host_state("DNS01").iis["dnsprovider"]
    compliant = lab.rollup("verify", "--inventory", str(lab.inventory))
    with store.update("DNS01") as dns:
        dns.iis["dnsprovider"].auth_basic = False
    drifted = lab.rollup("verify", "--inventory", str(lab.inventory), "--limit", "DNS01", "--json")
    with store.update("DNS01") as dns:
        dns.iis["dnsprovider"].auth_basic = True
        dns.ssl_certificates.clear()
    unbound = lab.rollup("verify", "--inventory", str(lab.inventory), "--limit", "DNS01", "--json")

    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert after.auth_basic is True
    assert after.default_logon_domain == "\\"
    assert compliant.returncode == 0, compliant.stdout + compliant.stderr
    assert drifted.returncode == 3, drifted.stdout + drifted.stderr
    assert _not_ok(drifted.stdout) == ["Default Web Site/DNSProvider: Basic authentication"]
    assert unbound.returncode == 3, unbound.stdout + unbound.stderr
    assert _not_ok(unbound.stdout) == ["Default Web Site/DNSProvider: certificate bound to Default Web Site"]


def _not_ok(document: str) -> list[str]:
    """The names of the checks of a ``verify --json`` document that are not ok."""
    return [c["name"] for h in json.loads(document)["hosts"] for c in h["checks"] if c["status"] != "ok"]
