"""`rollup runs list`, `show` and `unlock`, run in-process through the CLI's single error boundary."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import JsonValue

from rollup.audit.log import AuditLog, head_hash
from rollup.cli.main import main
from rollup.engine.journal import Journal
from rollup.engine.journal_state import Outcome
from rollup.engine.locks import LockHolder, acquire_lock, lock_path
from rollup.engine.rundir import RunDir, RunFacts, control_host_name, create_run
from rollup.model.inventory import load_inventory

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 21, 10, 45, 12, tzinfo=UTC)
DIGEST = "e" * 64


@pytest.fixture(autouse=True)
def _in_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("ROLLUP_RUNS_DIR", raising=False)
    monkeypatch.delenv("ROLLUP_INVENTORY", raising=False)


def _run(
    runs_dir: Path, *, finished: bool, second: int = 0, options: dict[str, JsonValue] | None = None
) -> RunDir:
    """A run of two steps on MPS01 and a confirmed gate; finished `done`, or cut off mid-step."""
    run = create_run(runs_dir, now=T0.replace(second=second))
    run.write_facts(
        RunFacts(
            run_id=run.run_id,
            started_at=T0,
            operator="alice",
            control_host="ctl01",
            tool_version="0.1.0",
            inventory_source="inventory/lab.yml",
            inventory_digest=DIGEST,
            manifest_id="hmc40-rollup-2011-01",
            manifest_digest="d" * 64,
            plan_fingerprint="f" * 64,
            hosts=("MPS01",),
            options=options or {},
        )
    )
    with (
        Journal.open(run.journal_path, clock=lambda: T0) as journal,
        AuditLog.open(run.audit_path, run_id=run.run_id) as audit,
    ):
        journal.run_started(run_id=run.run_id, plan_fingerprint="f" * 64, operator="alice")
        audit.record("run_started", operator="alice")
        journal.step_started("stop-services@MPS01", attempt=1)
        journal.step_finished(
            "stop-services@MPS01",
            outcome=Outcome.DONE,
            exit_code=0,
            duration_s=2.0,
            summary="3 services stopped",
        )
        journal.step_waiting("confirm-backup@MPS01", checklist=["backup taken"])
        journal.gate_confirmed("confirm-backup@MPS01", by="alice", note="backup 42")
        journal.step_started("install-msi@MPS01", attempt=1)
        if finished:
            journal.step_finished("install-msi@MPS01", outcome=Outcome.NOOP, exit_code=0, duration_s=0.5)
            journal.run_finished("done")
    return run


def test_list_with_no_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An empty or absent runs directory says so and exits 0."""
    code = main(["runs", "list", "--runs-dir", str(tmp_path)])

    assert code == 0
    assert capsys.readouterr().out == f"{tmp_path}: no runs yet\n"


def test_list_shows_state_and_step_counts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """One row per run, oldest first; a cut-off run whose lock is free is `interrupted`."""
    done = _run(tmp_path, finished=True, second=1)
    cut = _run(tmp_path, finished=False, second=2)

    code = main(["runs", "list", "--runs-dir", str(tmp_path)])
    out = capsys.readouterr().out.splitlines()

    assert code == 0
    assert out[0].split() == ["RUN", "KIND", "STARTED", "STATE", "OPERATOR", "INVENTORY", "STEPS"]
    assert out[1].split()[:6] == [
        done.run_id, "apply", "2026-11-21T10:45:12Z", "done", "alice", "inventory/lab.yml",
    ]  # fmt: skip
    assert out[1].endswith("1 done, 1 confirmed, 1 noop")
    assert out[2].split()[:4] == [cut.run_id, "apply", "2026-11-21T10:45:12Z", "interrupted"]
    assert out[2].endswith("1 done, 1 confirmed, 1 running")


def test_a_run_holding_its_lock_is_running(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """While a live process holds the inventory lock for the run, it is `running`, in JSON too."""
    run = _run(tmp_path, finished=False)
    holder = LockHolder(
        run_id=run.run_id,
        operator="alice",
        pid=os.getpid(),
        host=control_host_name(),
        started_at="2026-11-21T10:45:12Z",
        inventory="inventory/lab.yml",
    )

    with acquire_lock(tmp_path, DIGEST, holder):
        code = main(["runs", "list", "--runs-dir", str(tmp_path), "--json"])
    data = json.loads(capsys.readouterr().out)

    assert code == 0
    assert data["runs_dir"] == str(tmp_path)
    assert data["runs"][0]["run_id"] == run.run_id
    assert data["runs"][0]["state"] == "running"
    assert data["runs"][0]["step_counts"] == {"done": 1, "confirmed": 1, "running": 1}
    assert data["runs"][0]["problems"] == []


def test_show_prints_facts_audit_steps_and_confirmations(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The text view has the facts, the audit head, a step table, the confirmations and evidence."""
    run = _run(tmp_path, finished=True)
    run.write_evidence("install-msi@MPS01-1.log", "MSI (s) Product: installed\n")

    code = main(["runs", "show", "last", "--runs-dir", str(tmp_path)])
    out = capsys.readouterr().out.splitlines()

    assert code == 0
    assert out[0] == f"run {run.run_id}: done"
    assert out[1:3] == [
        "  kind       apply",
        "  started    2026-11-21T10:45:12Z by alice on ctl01 (rollup 0.1.0)",
    ]
    assert f"  audit      intact, 1 record, head {head_hash(run.audit_path)}" in out
    table = out[out.index("") + 1 : out.index("", out.index("") + 1)]
    rows = [line.split(maxsplit=6) for line in table]
    assert rows[0] == ["STEP", "STATUS", "ATTEMPT", "EXIT", "RETRIES", "DURATION", "SUMMARY"]
    assert rows[1] == ["stop-services@MPS01", "done", "1", "0", "0", "2.0s", "3 services stopped"]
    assert rows[2] == ["confirm-backup@MPS01", "confirmed", "0", "-", "0", "-"]
    assert rows[3] == ["install-msi@MPS01", "noop", "1", "0", "0", "0.5s"]
    assert "  confirm-backup@MPS01 by alice at 2026-11-21T10:45:12Z: backup 42" in out
    assert any(line.startswith("  install-msi@MPS01-1.log  sha256 ") for line in out)


def test_show_json_reports_a_torn_journal_and_a_broken_audit_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The JSON view names the torn journal line and the first bad audit record."""
    run = _run(tmp_path, finished=False)
    with run.journal_path.open("ab") as handle:
        handle.write(b'{"event":"step_fin')
    run.audit_path.write_text(run.audit_path.read_text().replace("alice", "mallory"))

    code = main(["runs", "show", run.run_id[:10], "--runs-dir", str(tmp_path), "--json"])
    data = json.loads(capsys.readouterr().out)

    assert code == 0
    assert data["state"] == "interrupted"
    assert data["journal_torn_line"] == 7
    assert data["audit"]["intact"] is False
    assert data["audit"]["problem"].startswith("line 1 (seq 1): hash mismatch")
    assert data["facts"]["plan_fingerprint"] == "f" * 64
    assert [s["status"] for s in data["steps"]] == ["done", "confirmed", "running"]
    assert data["confirmations"] == [
        {"step": "confirm-backup@MPS01", "by": "alice", "at": "2026-11-21T10:45:12Z", "note": "backup 42"}
    ]


def test_show_a_run_without_facts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A run directory with no run.json (a crash at start) is shown with the problem, not a crash."""
    run = create_run(tmp_path, now=T0)

    code = main(["runs", "show", run.run_id, "--runs-dir", str(tmp_path)])
    out = capsys.readouterr().out.splitlines()

    assert code == 0
    assert out[0] == f"run {run.run_id}: interrupted"
    assert out[1] == "  audit      no audit log"
    assert out[2].startswith("  problem    ")
    assert out[2].endswith("run.json: cannot read: No such file or directory")


def test_show_an_ambiguous_prefix_lists_the_candidates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 2 with the matching ids on one line."""
    first = _run(tmp_path, finished=True, second=1)
    second = _run(tmp_path, finished=True, second=2)

    code = main(["runs", "show", "2026", "--runs-dir", str(tmp_path)])

    assert code == 2
    assert capsys.readouterr().err == (
        f"rollup: {tmp_path}: run id prefix '2026' is ambiguous: {first.run_id}, {second.run_id}\n"
    )


def test_unlock_clears_a_dead_runs_lock(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Details left in the inventory's lock by a dead run are cleared; a free lock is reported as such."""
    digest = load_inventory("lab").digest()
    path = lock_path(tmp_path, digest)
    path.parent.mkdir(parents=True)
    path.write_text(
        json.dumps(
            {
                "run_id": "20261121T104512Z-aaaa",
                "operator": "bob",
                "pid": 999_999_999,
                "host": control_host_name(),
                "started_at": "2026-11-21T10:45:12Z",
                "inventory": "inventory/lab.yml",
            }
        )
    )

    first = main(["runs", "unlock", "--inventory", "lab", "--runs-dir", str(tmp_path)])
    second = main(["runs", "unlock", "--inventory", "lab", "--runs-dir", str(tmp_path)])
    out = capsys.readouterr().out.splitlines()

    assert (first, second) == (0, 0)
    assert out[0] == (
        "inventory/lab.yml: cleared the lock details of run 20261121T104512Z-aaaa (operator bob, "
        f"host {control_host_name()}, pid 999999999, since 2026-11-21T10:45:12Z), which is gone"
    )
    assert out[1] == "inventory/lab.yml: not locked"


def test_unlock_refuses_a_live_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A lock held by a live process is not touched: exit 1 with the holder named and a hint."""
    digest = load_inventory("lab").digest()
    holder = LockHolder(
        run_id="20261121T104512Z-aaaa",
        operator="alice",
        pid=os.getpid(),
        host=control_host_name(),
        started_at="2026-11-21T10:45:12Z",
        inventory="inventory/lab.yml",
    )

    with acquire_lock(tmp_path, digest, holder):
        code = main(["runs", "unlock", "--inventory", "lab", "--runs-dir", str(tmp_path)])
    err = capsys.readouterr().err.splitlines()

    assert code == 1
    assert err[0].startswith("rollup: inventory/lab.yml: locked by run 20261121T104512Z-aaaa (operator alice")
    assert err[1] == f"hint: pid {os.getpid()} is alive; if it is stuck, stop it and the lock is released"


def test_a_rollback_says_so_and_names_the_run_it_undoes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`run.json`'s `options.kind` and `rolls_back` reach the list, `show` and both JSON documents."""
    applied = _run(tmp_path, finished=True, second=1)
    options: dict[str, JsonValue] = {"kind": "rollback", "rolls_back": applied.run_id}
    rollback = _run(tmp_path, finished=True, second=2, options=options)

    assert main(["runs", "list", "--runs-dir", str(tmp_path)]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert main(["runs", "list", "--runs-dir", str(tmp_path), "--json"]) == 0
    documents = json.loads(capsys.readouterr().out)["runs"]
    assert main(["runs", "show", rollback.run_id, "--runs-dir", str(tmp_path)]) == 0
    shown = capsys.readouterr().out.splitlines()
    assert main(["runs", "show", rollback.run_id, "--runs-dir", str(tmp_path), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)

    assert [line.split()[:2] for line in listed[1:]] == [
        [applied.run_id, "apply"],
        [rollback.run_id, "rollback"],
    ]
    assert [(d["run_kind"], d["rolls_back"]) for d in documents] == [
        ("apply", None),
        ("rollback", applied.run_id),
    ]
    assert f"  kind       rollback of run {applied.run_id}" in shown
    assert (document["run_kind"], document["rolls_back"]) == ("rollback", applied.run_id)
