"""Run directories: where runs live, their ids, their write-once facts and evidence, and naming a run."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from rollup.audit.redact import SecretRegistry
from rollup.engine.journal import Journal
from rollup.engine.rundir import (
    RUN_ID_PATTERN,
    RunDir,
    RunFacts,
    create_run,
    list_runs,
    new_run_id,
    resolve_run,
    resolve_runs_dir,
)
from rollup.errors import RollupError, UsageError

T0 = datetime(2026, 11, 21, 10, 45, 12, tzinfo=UTC)


def _facts(run: RunDir) -> RunFacts:
    return RunFacts(
        run_id=run.run_id,
        started_at=T0,
        operator="alice",
        control_host="ctl01",
        tool_version="0.1.0",
        inventory_source="inventory/lab.yml",
        inventory_digest="e" * 64,
        manifest_id="hmc40-rollup-2011-01",
        manifest_digest="d" * 64,
        plan_fingerprint="f" * 64,
        hosts=("MPS01",),
        options={"limit": None},
    )


def _make(runs_dir: Path, *names: str) -> None:
    for name in names:
        (runs_dir / name).mkdir(parents=True)
        (runs_dir / name / "run.json").write_text("{}", encoding="utf-8")


def test_runs_dir_option_then_environment_then_the_state_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """
    --runs-dir beats ROLLUP_RUNS_DIR, which beats runs/ in the state directory: ROLLUP_HOME, else
    the platform's user state directory; relative paths are from cwd.
    """
    env = {"ROLLUP_RUNS_DIR": "from-env", "ROLLUP_HOME": "home"}
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))

    assert resolve_runs_dir("opt", env, cwd=tmp_path) == tmp_path / "opt"
    assert resolve_runs_dir(None, env, cwd=tmp_path) == tmp_path / "from-env"
    assert resolve_runs_dir(None, {"ROLLUP_HOME": "home"}, cwd=tmp_path) == tmp_path / "home" / "runs"
    assert (
        resolve_runs_dir(None, {"ROLLUP_HOME": str(tmp_path / "h")}, cwd=Path("/")) == tmp_path / "h" / "runs"
    )
    assert resolve_runs_dir(None, {}, cwd=tmp_path) == tmp_path / "xdg" / "rollup" / "runs"
    assert resolve_runs_dir(None, {"ROLLUP_RUNS_DIR": "", "ROLLUP_HOME": ""}, cwd=tmp_path) == (
        tmp_path / "xdg" / "rollup" / "runs"
    )
    assert resolve_runs_dir(tmp_path / "abs", env, cwd=Path("/")) == tmp_path / "abs"


def test_run_ids_are_utc_time_and_suffix_and_sort_by_time() -> None:
    """The id is the UTC start second and a suffix; later runs sort later."""
    local = datetime(2026, 11, 21, 11, 45, 12, tzinfo=timezone(timedelta(hours=1)))
    ids = [new_run_id(T0 + timedelta(seconds=s), "ffff") for s in (0, 1, 60, 3600)]

    assert new_run_id(local, "3f9c") == "20261121T104512Z-3f9c"
    assert ids == sorted(ids)
    assert all(RUN_ID_PATTERN.fullmatch(run_id) for run_id in ids)


def test_create_run_makes_a_new_directory_each_time(tmp_path: Path) -> None:
    """Runs created in the same second get different ids; the runs directory is created on demand."""
    runs_dir = tmp_path / "deep" / "runs"

    runs = {create_run(runs_dir, now=T0).run_id for _ in range(20)}

    assert len(runs) == 20
    assert all(name.startswith("20261121T104512Z-") for name in runs)
    assert {run.run_id for run in list_runs(runs_dir)} == runs


def test_facts_are_written_once_and_read_back(tmp_path: Path) -> None:
    """run.json round-trips; a second write is refused and the file is unchanged."""
    run = create_run(tmp_path, now=T0)
    run.write_facts(_facts(run))
    before = run.facts_path.read_bytes()

    with pytest.raises(RollupError, match=r"run.json: already written; run facts never change"):
        run.write_facts(_facts(run))
    assert run.read_facts() == _facts(run)
    assert run.facts_path.read_bytes() == before
    assert json.loads(before)["plan_fingerprint"] == "f" * 64


def test_damaged_facts_name_the_file_and_key(tmp_path: Path) -> None:
    """A run.json missing a key, or absent, is a one-line error naming the file."""
    run = create_run(tmp_path, now=T0)

    with pytest.raises(RollupError, match=r"run.json: cannot read"):
        run.read_facts()
    data = _facts(run).model_dump(mode="json")
    del data["operator"]
    run.facts_path.write_text(json.dumps(data))
    with pytest.raises(RollupError, match=r"run.json: operator: Field required"):
        run.read_facts()


def test_evidence_is_redacted_written_once_and_hashed(tmp_path: Path) -> None:
    """An MSI log tail is kept redacted, with the SHA-256 of what is on disk."""
    run = create_run(tmp_path, now=T0)
    registry = SecretRegistry(["Hunter2!pw"])
    text = "PASSWORD=Hunter2!pw\nReturn value 3.\n"

    evidence = run.write_evidence("install@COLLAB01-1.log", text, registry=registry)
    data = (run.evidence_dir / "install@COLLAB01-1.log").read_bytes()

    assert data == b"PASSWORD=***\nReturn value 3.\n"
    assert evidence.sha256 == hashlib.sha256(data).hexdigest()
    assert run.evidence() == (evidence,)
    with pytest.raises(RollupError, match="evidence is written once"):
        run.write_evidence("install@COLLAB01-1.log", "again")
    with pytest.raises(ValueError, match="evidence name"):
        run.write_evidence("../escape.log", "x")


def test_list_runs_ignores_other_entries(tmp_path: Path) -> None:
    """Only directories named like run ids are runs; oldest first; no directory means no runs."""
    _make(tmp_path, "20261121T104512Z-bbbb", "20261120T000000Z-aaaa", ".locks", "notes")
    (tmp_path / "20261122T000000Z-cccc").write_text("a file")

    assert [run.run_id for run in list_runs(tmp_path)] == ["20261120T000000Z-aaaa", "20261121T104512Z-bbbb"]
    assert list_runs(tmp_path / "absent") == ()


def test_resolve_run_by_last_id_and_prefix(tmp_path: Path) -> None:
    """`last` is the newest; a full id or a unique prefix names one run."""
    _make(tmp_path, "20261120T000000Z-aaaa", "20261121T104512Z-bbbb", "20261121T104512Z-bbbc")

    assert resolve_run(tmp_path, "last").run_id == "20261121T104512Z-bbbc"
    assert resolve_run(tmp_path, "20261121T104512Z-bbbb").run_id == "20261121T104512Z-bbbb"
    assert resolve_run(tmp_path, "20261120").run_id == "20261120T000000Z-aaaa"


def test_last_skips_a_run_without_facts_and_a_refused_run(tmp_path: Path) -> None:
    """An empty run directory (a crash at start) and a run refused before its first step are not `last`."""
    _make(tmp_path, "20261120T000000Z-aaaa", "20261121T104512Z-bbbb")
    (tmp_path / "20261122T000000Z-cccc").mkdir()
    with Journal.open(tmp_path / "20261121T104512Z-bbbb" / "journal.jsonl") as journal:
        journal.run_started(run_id="20261121T104512Z-bbbb", plan_fingerprint="f", operator="alice")
        journal.run_finished("refused")

    assert resolve_run(tmp_path, "last").run_id == "20261120T000000Z-aaaa"


def test_resolve_run_errors_are_one_line(tmp_path: Path) -> None:
    """No runs yet, an unknown id, and an ambiguous prefix (listing the candidates) are usage errors."""
    with pytest.raises(UsageError, match=r"no runs yet$"):
        resolve_run(tmp_path, "last")
    _make(tmp_path, "20261121T104512Z-bbbb", "20261121T104512Z-bbbc")
    with pytest.raises(UsageError, match=r"no run '2025'$"):
        resolve_run(tmp_path, "2025")
    with pytest.raises(
        UsageError, match=r"prefix '20261121' is ambiguous: 20261121T104512Z-bbbb, 20261121T104512Z-bbbc$"
    ):
        resolve_run(tmp_path, "20261121")
