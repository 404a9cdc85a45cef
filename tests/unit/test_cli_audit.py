"""`rollup audit verify`, run in-process through the CLI's single error boundary."""

from __future__ import annotations

from pathlib import Path

import pytest

from rollup.audit.log import AuditLog, head_hash
from rollup.cli.main import main
from rollup.engine.rundir import RunDir, create_run


@pytest.fixture(autouse=True)
def _no_runs_dir_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("ROLLUP_RUNS_DIR", raising=False)
    monkeypatch.chdir(tmp_path)


def _run_with_audit(runs_dir: Path, records: int = 3) -> RunDir:
    run = create_run(runs_dir)
    with AuditLog.open(run.audit_path, run_id=run.run_id) as log:
        for n in range(records):
            log.record("step_finished", step=f"s{n}@MPS01", exit_code=0)
    return run


def test_an_intact_file_exits_0_with_count_and_head(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The output names the file, the record count and the full head hash."""
    run = _run_with_audit(tmp_path / "runs")

    code = main(["audit", "verify", str(run.audit_path)])

    assert code == 0
    assert capsys.readouterr().out == (
        f"{run.audit_path}: intact: 3 records, head {head_hash(run.audit_path)}\n"
    )


def test_a_broken_file_exits_1_naming_the_first_bad_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An edited record fails with its line, seq and problem."""
    run = _run_with_audit(tmp_path / "runs")
    text = run.audit_path.read_text().replace('"step":"s1@MPS01"', '"step":"s1@MPS02"')
    run.audit_path.write_text(text)

    code = main(["audit", "verify", str(run.audit_path)])
    out = capsys.readouterr().out.splitlines()

    assert code == 1
    assert out[0] == (
        f"{run.audit_path}: BROKEN at line 2 (seq 2): hash mismatch: "
        "the record's content does not match its hash"
    )
    assert out[1].startswith("before it: 1 record verified, head ")


def test_a_run_id_prefix_or_last_is_looked_up_in_the_runs_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """RUN may be `last`, an id or a prefix, in --runs-dir or ROLLUP_RUNS_DIR; a run directory works too."""
    runs_dir = tmp_path / "runs"
    run = _run_with_audit(runs_dir, records=2)

    by_last = main(["audit", "verify", "last", "--runs-dir", str(runs_dir)])
    monkeypatch.setenv("ROLLUP_RUNS_DIR", str(runs_dir))
    by_prefix = main(["audit", "verify", run.run_id[:10]])
    by_dir = main(["audit", "verify", str(run.path)])
    out = capsys.readouterr().out.splitlines()

    assert (by_last, by_prefix, by_dir) == (0, 0, 0)
    assert out == [f"{run.audit_path}: intact: 2 records, head {head_hash(run.audit_path)}"] * 3


def test_expect_head_catches_a_dropped_tail(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With --expect-head, removing the last record is caught; a malformed hash is a usage error."""
    run = _run_with_audit(tmp_path / "runs")
    head = head_hash(run.audit_path)
    lines = run.audit_path.read_text().splitlines(keepends=True)
    run.audit_path.write_text("".join(lines[:-1]))

    dropped = main(["audit", "verify", str(run.audit_path), "--expect-head", head])
    out = capsys.readouterr().out
    malformed = main(["audit", "verify", str(run.audit_path), "--expect-head", "abc"])
    err = capsys.readouterr().err

    assert dropped == 1
    assert f"expected head not found: no record has hash {head}" in out
    assert malformed == 2
    assert "--expect-head 'abc': a head hash is 64 lower-case hex digits" in err


def test_missing_targets_are_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A missing file, an unknown run, and no runs at all exit 2 with one line on stderr."""
    missing_file = main(["audit", "verify", "nowhere/audit.jsonl"])
    no_runs = main(["audit", "verify", "last", "--runs-dir", str(tmp_path / "runs")])
    _run_with_audit(tmp_path / "runs")
    unknown = main(["audit", "verify", "1999", "--runs-dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err.splitlines()

    assert (missing_file, no_runs, unknown) == (2, 2, 2)
    assert err[0] == "rollup: nowhere/audit.jsonl: no such file"
    assert err[1] == f"rollup: {tmp_path / 'runs'}: no runs yet"
    assert err[2] == f"rollup: {tmp_path / 'runs'}: no run '1999'"
