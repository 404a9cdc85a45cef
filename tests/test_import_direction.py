"""The product never depends on its simulated lab: ``rollup.ops`` and the layers under ``rollup.cli``
import neither ``rollup.lab`` nor ``rollup.testing``, not even inside a function; the lab imports ops."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "rollup"
PRODUCT = [
    "ops",
    "ps",
    "model",
    "engine",
    "transport",
    "audit",
    "runreport",
    "planner.py",
    "verify.py",
    "preflight.py",
    "survey.py",
    "pin.py",
    "checks.py",
    "msi.py",
    "msiformat.py",
    "msidb.py",
    "msicab.py",
    "msifiles.py",
]
FORBIDDEN = ("rollup.lab", "rollup.testing")


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.lineno, node.module))
    return found


def _files() -> list[Path]:
    out: list[Path] = []
    for name in PRODUCT:
        target = ROOT / name
        out += sorted(target.rglob("*.py")) if target.is_dir() else [target]
    return out


@pytest.mark.parametrize("path", _files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_product_does_not_import_the_lab(path: Path) -> None:
    bad = [f"{path.name}:{line}: {name}" for line, name in _imports(path) if name.startswith(FORBIDDEN)]
    assert bad == []


def test_the_lab_runs_the_operations_scripts() -> None:
    """The lab side imports ops (to read headers) and nothing under ops imports it back."""
    runner = _imports(ROOT / "lab" / "runner.py")
    assert any(name.startswith("rollup.ops") for _, name in runner)
    assert not (ROOT / "ops" / "labfs.py").exists()
    assert not (ROOT / "ops" / "msisim.py").exists()
