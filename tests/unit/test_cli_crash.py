"""
The crash file of an internal error (exit 4): a new file in a directory private to the user,
never written through a symlink another local user planted.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

import pytest

from rollup.cli import main as cli_main
from rollup.cli.commands import manifest as manifest_command
from rollup.errors import ExitCode


@pytest.fixture(name="tmp_dir")
def _tmp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A system temporary directory of the test's own, and a command that fails unexpectedly."""
    shared = tmp_path / "tmp"
    shared.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(shared))

    def boom(*_: object, **__: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(manifest_command, "load_manifest", boom)
    return shared


def _crash(capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    code = cli_main.main(["manifest", "check"])
    return code, capsys.readouterr().err.splitlines()


def test_a_symlink_at_the_old_fixed_path_is_not_followed(
    tmp_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Another user's link from ``rollup-crash.log`` to the operator's file changes nothing."""
    victim = tmp_dir.parent / "operator-file.txt"
    victim.write_text("the operator's data\n", encoding="utf-8")
    (tmp_dir / "rollup-crash.log").symlink_to(victim)

    code, lines = _crash(capsys)

    private = tmp_dir / f"rollup-{os.geteuid()}"
    (crash,) = private.iterdir()
    assert code == ExitCode.INTERNAL
    assert lines == [
        "rollup: internal error: RuntimeError: boom",
        f"hint: details were written to {crash}; please report them",
    ]
    assert victim.read_text(encoding="utf-8") == "the operator's data\n"
    assert stat.S_IMODE(private.lstat().st_mode) == 0o700
    assert stat.S_IMODE(crash.lstat().st_mode) == 0o600
    assert "RuntimeError: boom" in crash.read_text(encoding="utf-8")


def test_two_crashes_keep_two_files(tmp_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Each crash writes a new file (created exclusively), never over an existing one."""
    _crash(capsys)
    _crash(capsys)

    assert len(list((tmp_dir / f"rollup-{os.geteuid()}").iterdir())) == 2


def test_a_planted_directory_link_is_refused(tmp_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``rollup-<uid>`` as a link to someone's folder: nothing is written there, the hint says so."""
    elsewhere = tmp_dir.parent / "elsewhere"
    elsewhere.mkdir()
    (tmp_dir / f"rollup-{os.geteuid()}").symlink_to(elsewhere, target_is_directory=True)

    code, lines = _crash(capsys)

    assert code == ExitCode.INTERNAL
    assert lines[1] == "hint: no crash file could be written; please report this error"
    assert list(elsewhere.iterdir()) == []


def test_a_directory_others_can_write_is_refused(tmp_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A ``rollup-<uid>`` folder open to others (made by someone else first) is not used."""
    planted = tmp_dir / f"rollup-{os.geteuid()}"
    planted.mkdir()
    planted.chmod(0o777)

    code, lines = _crash(capsys)

    assert code == ExitCode.INTERNAL
    assert lines[1] == "hint: no crash file could be written; please report this error"
    assert list(planted.iterdir()) == []
