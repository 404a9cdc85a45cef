"""
``rollup rollback RUN`` on the simulated lab through the CLI: apply, roll back, and the lab is as
it was before the apply (product versions, the MSI share); refusals change nothing; a killed
rollback resumes.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from rollup.engine.journal import read_journal
from rollup.engine.journal_state import StepFinished, StepStarted
from rollup.engine.rundir import RunDir, list_runs
from rollup.lab.state import path_key
from rollup.lab.store import FileStateStore
from rollup.lab.windows.hostfiles import put_text
from rollup.schemas import schema
from rollup.testing.labproc import ROOT, LabProcess

GATE = "confirm-prerequisites"
SHARE = "c:\\msishare\\"
_ranges = itertools.count()


@pytest.fixture(name="lab")
def _lab(tmp_path: Path) -> Iterator[LabProcess]:
    address = f"127.0.91.{1 + 10 * next(_ranges)}"
    lab = LabProcess.start(tmp_path, collab=2, first_address=address, time_factor=0.001)
    yield lab
    lab.stop()


def _picture(lab: LabProcess) -> dict[str, Any]:
    """Each host's installed products (name -> version) and the MSI share's files (path -> SHA-256)."""
    found: dict[str, Any] = {}
    for host in lab.hosts():
        state = lab.host_state(host)
        products = sorted((p.display_name, p.display_version) for p in state.products.values())
        share = sorted((k, f.sha256) for k, f in state.files.items() if k.startswith(SHARE))
        found[host] = {"products": products, "share": share}
    return found


def _rollback(lab: LabProcess, *args: str) -> Any:
    return lab.rollup("rollback", "--runs-dir", str(lab.runs_dir), *args)


def _applied(lab: LabProcess) -> RunDir:
    result = lab.apply("--confirm", GATE)
    assert result.returncode == 0, result.stdout + result.stderr
    return list_runs(lab.runs_dir)[-1]


def test_rollback_returns_the_lab_to_its_pre_rollup_state(lab: LabProcess, tmp_path: Path) -> None:
    """
    Apply; DNS01 with 100 MB free refuses the rollback at the hosts' pre-flight (exit 1, no run),
    COLLAB02 without its component does not (the rollback installs it again);
    a --dry-run rollback shows it and changes no host; --skip-preflight needs --reason; rolled
    back with one: every product at its previous version, the share as before; verify passes
    against the previous package; the SQL objects and DNSProvider's settings are reported left in
    place; audited like an apply, the override too; rolling back again is all no-ops.
    """
    before = _picture(lab)
    applied = _applied(lab)
    after_apply = _picture(lab)
    with FileStateStore(lab.state_dir / "hosts", lab.hosts()).update("DNS01") as dns:
        dns.disk_free_bytes = 100 * 1024**2
    with FileStateStore(lab.state_dir / "hosts", lab.hosts()).update("COLLAB02") as collab:
        collab.products.clear()  # as an applied run that failed after its uninstall leaves it
    mutations = {h: lab.host_state(h).mutations for h in lab.hosts()}
    refused = _rollback(lab, applied.run_id)
    shown = _rollback(lab, applied.run_id, "--dry-run")
    no_reason = _rollback(lab, applied.run_id, "--skip-preflight")
    unchanged = {h: lab.host_state(h).mutations for h in lab.hosts()}
    runs_after_refusals = len(list_runs(lab.runs_dir))

    rolled = _rollback(lab, applied.run_id, "--json", "--skip-preflight", "--reason", "CHG-7 emergency")
    with FileStateStore(lab.state_dir / "hosts", lab.hosts()).update("DNS01") as dns:
        dns.disk_free_bytes = 40 * 1024**3
    document = json.loads(rolled.stdout)
    jsonschema.validate(document, schema("rollback"))
    after = _picture(lab)
    run = list_runs(lab.runs_dir)[-1]
    facts = run.read_facts()
    audited = lab.rollup("audit", "verify", run.run_id, "--runs-dir", str(lab.runs_dir))
    previous = tmp_path / "previous"
    made = lab.rollup("lab", "previous-package", str(previous))
    verified = lab.rollup(
        "verify", "--inventory", str(lab.inventory), "--manifest", str(previous / "manifest.yml"),
        "--package-dir", str(previous / "package"), "--json",
    )  # fmt: skip

    assert after_apply != before
    assert rolled.returncode == 0, rolled.stdout + rolled.stderr
    assert after == before
    assert (facts.options["kind"], facts.options["rolls_back"]) == ("rollback", applied.run_id)
    assert document["kind"] == "rollback"
    assert document["rolls_back"] == applied.run_id
    left = {entry["step"]: entry for entry in document["left_in_place"]}
    assert set(left) == {"sql-objects-left@MPSSQL", "iis-settings-left-dnsprovider@DNS01"}
    assert left["sql-objects-left@MPSSQL"]["host"] == "MPSSQL"
    assert "left in place (the KB gives no removal)" in left["sql-objects-left@MPSSQL"]["what"]
    assert "SeleteAndAssembleAllocateOrgMailStores" in left["sql-objects-left@MPSSQL"]["what"]
    assert "MPSSQL: left in place" in rolled.stderr
    dnsprovider = (
        "Default Web Site/DNSProvider: left in place (the KB gives no previous value): "
        "basic_auth True, default_logon_domain '\\', require_ssl True"
    )
    assert left["iis-settings-left-dnsprovider@DNS01"] == {
        "host": "DNS01", "step": "iis-settings-left-dnsprovider@DNS01", "what": dnsprovider,
    }  # fmt: skip
    assert f"DNS01: {dnsprovider}" in rolled.stderr
    assert audited.returncode == 0, audited.stdout + audited.stderr
    assert made.returncode == 0, made.stdout + made.stderr
    assert verified.returncode == 0, verified.stdout + verified.stderr
    # docs/rollback.md, "Refused, with the reason", literally
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "pre-flight failed: 1 check(s) did not pass:\n" in refused.stdout
    assert (
        "  DNS01: free space on C:: 0.1 GB [fail] (the rollup's files, backups and logs need room)\n"
    ) in refused.stdout
    assert (
        "rollup: pre-flight failed: 1 check(s) on 1 host(s): DNS01: free space on C:: 0.1 GB; "
        "nothing was changed"
    ) in refused.stderr
    assert no_reason.returncode == 2
    assert "--skip-preflight needs --reason TEXT" in no_reason.stderr
    assert runs_after_refusals == 1
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "the run would refuse to start" in shown.stdout
    assert "restore-msishare" in shown.stdout
    assert "reinstall-previous-dnsclient" in shown.stdout
    assert unchanged == mutations
    overrides = [json.loads(line) for line in run.audit_path.read_text(encoding="utf-8").splitlines()]
    assert [(r["kind"], r["reason"]) for r in overrides if r["event"] == "override_recorded"] == [
        ("preflight_skipped", "CHG-7 emergency")
    ]
    again = _rollback(lab, applied.run_id)
    entries = read_journal(list_runs(lab.runs_dir)[-1].journal_path).entries
    assert again.returncode == 0, again.stdout + again.stderr
    assert {e.outcome.value for e in entries if isinstance(e, StepFinished)} <= {"noop", "skipped"}


@pytest.mark.parametrize("damage", ["deleted", "changed"])
def test_a_missing_or_changed_backup_refuses_the_rollback(lab: LabProcess, damage: str) -> None:
    """The reason names the host and the backup; exit 1; no host changed; no run directory."""
    applied = _applied(lab)
    state = lab.host_state("MPS01")
    backup = next(
        f.path
        for k, f in state.files.items()
        if k.startswith(SHARE + "dnsclient.msi.") and k.endswith(".bak")
    )
    _damage(lab, backup, damage)
    mutations = {h: lab.host_state(h).mutations for h in lab.hosts()}

    refused = _rollback(lab, applied.run_id)

    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert f"MPS01: {backup}: " in refused.stderr
    assert ("missing" if damage == "deleted" else "differs from the one run") in refused.stderr
    assert "nothing was changed" in refused.stderr
    assert {h: lab.host_state(h).mutations for h in lab.hosts()} == mutations
    assert len(list_runs(lab.runs_dir)) == 1


def _damage(lab: LabProcess, path: str, how: str) -> None:
    """Delete the backup on MPS01, or change its bytes (a new SHA-256)."""
    with FileStateStore(lab.state_dir / "hosts", lab.hosts()).update("MPS01") as mps:
        if how == "deleted":
            del mps.files[path_key(path)]
        else:
            put_text(mps, path, "not the backup the run kept", time.time())


def test_a_rollback_killed_mid_run_resumes_without_repeating_done_steps(lab: LabProcess) -> None:
    """SIGKILL once a few steps are done; --resume last finishes; no done step starts again."""
    before = _picture(lab)
    applied = _applied(lab)
    process = subprocess.Popen(
        [sys.executable, "-m", "rollup", "rollback", "--runs-dir", str(lab.runs_dir), applied.run_id],
        cwd=ROOT, env=lab.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        runs = list_runs(lab.runs_dir)
        if len(runs) == 2 and runs[-1].journal_path.exists():
            finished = [e for e in read_journal(runs[-1].journal_path).entries if isinstance(e, StepFinished)]
            if len(finished) >= 3:
                break
        time.sleep(0.02)
    process.kill()
    process.wait()
    run = list_runs(lab.runs_dir)[-1]
    done_before = {e.step for e in read_journal(run.journal_path).entries if isinstance(e, StepFinished)}

    resumed = _rollback(lab, "--resume", "last")
    entries = read_journal(run.journal_path).entries
    cut = max(i for i, e in enumerate(entries) if type(e).__name__ == "RunResumed")
    started_again = {e.step for e in entries[cut:] if isinstance(e, StepStarted)}

    assert len(done_before) >= 3
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert started_again.isdisjoint(done_before)
    assert _picture(lab) == before
