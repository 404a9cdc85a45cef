"""
Every value that reaches a remote script or a command line is checked when the manifest and the
inventory are read: ``rollup manifest check`` and ``rollup plan`` refuse it with one line naming
the file and the key (exit 2), and ``rollup apply`` refuses it before any host is contacted and
without creating a run. None of them waits for the step that uses the value.

Also here, through the same commands: a YAML integer of thousands of digits and an invisible
text-direction character are refused with one line, not an internal error.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from rollup.testing.labproc import ROOT
from tests.integration.test_hostile_values import INVENTORY

MANIFEST = ROOT / "manifests" / "hmc40-rollup-2011-01.yml"
ORIGINAL: dict[str, Any] = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
STEPS = {step["id"]: n for n, step in enumerate(ORIGINAL["steps"])}
IIS = STEPS["dnsprovider-directory-security"]
INIT = next(n for n, step in enumerate(ORIGINAL["steps"]) if step.get("nodes"))

CASES: list[tuple[str, str, Any, str]] = [
    # (what, key path to set, value, the key and problem rollup names)
    ("a quote in an IIS site name", f"steps.{IIS}.site", 'Default "Web" Site',
     f'steps[{IIS}].site: must not contain ": IIS scripts receive the site name literally'),
    ("a slash in an IIS site name", f"steps.{IIS}.site", "Default/Web Site",
     f"steps[{IIS}].site: must not contain / or \\: it is a web site's name, not a path"),
    ("a quote in a logon domain", f"steps.{IIS}.basic_auth_default_domain", 'HOST"ING',
     f'steps[{IIS}].basic_auth_default_domain: must not contain ": the IIS scripts set it literally'),
    ("a percent sign in a component name", "components.0.name", "Hosted %PATH% Namespace",
     "components[0].name: must not contain %: the value reaches a command line literally"),
    ("a quote in a component name", "components.0.name", 'Hosted "SharePoint" Namespace',
     'components[0].name: must not contain ": the value reaches a command line literally'),
    ("a percent sign in a component's package", "components.0.msi", "Hosted%1.msi",
     "components[0].msi: must not contain %: the value reaches a command line literally"),
    ("a percent sign in an Initialize node", f"steps.{INIT}.nodes.0", "Hosted %USERNAME%",
     f"steps[{INIT}].nodes[0]: must not contain %: the value reaches a command line literally"),
    ("an invisible text-direction character in a title", f"steps.{IIS}.title", "Set \u202edomain",
     f"steps[{IIS}].title: contains an invisible text-direction character (U+202E)"),
]  # fmt: skip


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ROLLUP_HOSTILE_PASSWORD": "x", "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "rollup", *args],
        cwd=ROOT, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def _set(data: Any, dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for key in parents:
        data = data[int(key)] if isinstance(data, list) else data[key]
    data[int(last) if isinstance(data, list) else last] = value


def _outcome(done: subprocess.CompletedProcess[str]) -> tuple[int, str, str]:
    return done.returncode, done.stdout, done.stderr


def test_values_for_scripts_and_command_lines_are_refused_by_check_plan_and_apply(tmp_path: Path) -> None:
    """Each case: `manifest check`, `plan` and `apply` all exit 2 with the same one line; no run."""
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(INVENTORY, encoding="utf-8")
    runs = tmp_path / "runs"
    got, wanted = [], []
    for n, (name, dotted, value, problem) in enumerate(CASES):
        data = copy.deepcopy(ORIGINAL)
        _set(data, dotted, value)
        path = tmp_path / f"manifest{n}.yml"
        path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
        line = f"rollup: {path}: {problem}\n"
        for args in (
            ("manifest", "check", "--manifest", str(path)),
            ("plan", "--inventory", str(inventory), "--manifest", str(path)),
            ("apply", "--inventory", str(inventory), "--manifest", str(path), "--runs-dir", str(runs)),
        ):
            got.append((name, args[0], _outcome(_cli(*args))))
            wanted.append((name, args[0], (2, "", line)))

    assert got == wanted
    assert not runs.exists()


def test_a_huge_integer_in_the_manifest_is_one_line(tmp_path: Path) -> None:
    """An integer of 5000 digits (beyond Python's 4300-digit conversion limit): exit 2, one line."""
    text = MANIFEST.read_text(encoding="utf-8").replace("timeout_s: 300", "timeout_s: " + "7" * 5000, 1)
    path = tmp_path / "manifest.yml"
    path.write_text(text, encoding="utf-8")
    line = next(n for n, t in enumerate(text.splitlines()) if t.strip().startswith("timeout_s: 777")) + 1

    done = _cli("manifest", "check", "--manifest", str(path))

    assert _outcome(done) == (
        2,
        "",
        f"rollup: {path}: an integer of 5000 characters; at most 64 are accepted (line {line}, column 16)\n",
    )


def test_a_deployment_tool_command_with_an_unknown_placeholder_is_refused_by_plan(tmp_path: Path) -> None:
    """The inventory's ``rollup_deployment_tool_command`` is checked when the inventory is read."""
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(
        INVENTORY.replace(
            "    rollup_package_dir: package\n",
            "    rollup_package_dir: package\n"
            "    rollup_deployment_tool_strategy: command\n"
            "    rollup_deployment_tool_command: 'site.cmd {action} {component}'\n",
        ),
        encoding="utf-8",
    )

    done = _cli("plan", "--inventory", str(inventory))

    assert _outcome(done) == (
        2,
        "",
        f"rollup: {inventory}: all.vars.rollup_deployment_tool_command: "
        "{component} is not a placeholder; use {action}, {name} or {msi}\n",
    )
