"""The code stays ruff-clean and mypy-strict-clean: checked as part of the test suite."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, check=False, timeout=600
    )


def test_ruff_finds_nothing() -> None:
    """ruff reports no finding over the package, the tests and the benchmarks."""
    proc = _run("ruff", "check", "--no-cache", "rollup", "tests", "bench")

    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_strict_finds_nothing() -> None:
    """mypy in strict mode reports no error over the package."""
    proc = _run("mypy", "--no-incremental")

    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ruff_format_changes_nothing() -> None:
    """The code is laid out as ``ruff format`` lays it out."""
    proc = _run("ruff", "format", "--check", "--no-cache", "rollup", "tests", "bench")

    assert proc.returncode == 0, proc.stdout + proc.stderr
