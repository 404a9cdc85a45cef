"""
The CLI as a process whose output is piped, as in ``rollup plan | grep`` and ``rollup manifest
show | head``: no identifier is wrapped onto two lines, and a reader that stops early is not an
error (exit 0, nothing on stderr).
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SMALLEST_PIPE = 4096
"""A pipe buffer of one page: any longer output meets a closed pipe once the reader has gone."""


def _env() -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for name in ("COLUMNS", "ROLLUP_INVENTORY", "ROLLUP_MANIFEST"):
        env.pop(name, None)
    return env


def rollup(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rollup", *args], cwd=ROOT, env=_env(), capture_output=True, text=True,
        check=False, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def test_piped_tables_keep_every_name_on_one_line() -> None:
    """Every file, component, step id and step title of ``manifest show`` can be grepped whole."""
    shown = rollup("manifest", "show")
    document = json.loads(rollup("manifest", "show", "--json").stdout)
    names = [f["name"] for f in document["package"]["files"]]
    names += [c["name"] for c in document["components"]]
    names += [s["id"] for s in document["steps"]] + [s["title"] for s in document["steps"]]

    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert [n for n in names if not any(n in line for line in lines)] == []


def test_plan_piped_to_grep_finds_each_step() -> None:
    plan = rollup("plan", "--inventory", "prod")
    document = json.loads(rollup("plan", "--inventory", "prod", "--json").stdout)

    assert plan.returncode == 0
    for step in document["steps"]:
        rows = [line for line in plan.stdout.splitlines() if step["step"] in line and step["host"] in line]
        assert rows, step["id"]


@pytest.mark.parametrize(
    "args",
    [("plan", "--inventory", "prod"), ("manifest", "show"), ("plan", "--inventory", "prod", "--json")],
)
def test_a_reader_that_stops_early_is_not_an_error(args: tuple[str, ...]) -> None:
    """As ``rollup ... | head -c 100``: exit 0 and a quiet stderr, with more output than the pipe holds."""
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, SMALLEST_PIPE)
    process = subprocess.Popen(
        [sys.executable, "-m", "rollup", *args], cwd=ROOT, env=_env(), stdout=write_end,
        stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    os.close(write_end)
    with os.fdopen(read_end, "rb") as reader:
        head = reader.read(100)
    _, stderr = process.communicate(timeout=60)

    assert len(head) == 100
    assert (process.returncode, stderr.decode()) == (0, "")
