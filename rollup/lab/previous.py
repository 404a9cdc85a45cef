"""
The simulated lab's previous package: the build its hosts run before the rollup, as a package
folder and a manifest pinned to it, so ``rollup verify`` can check a rolled-back lab against it.

The manifest is the rollup's (same id, components, steps) with each package file at the previous
build: its size, its date (to the minute, as the KB's table gives dates) and its SHA-256,
ProductCode and ProductVersion, pinned inline. Written by ``rollup lab previous-package DIR``.
"""

from __future__ import annotations

import hashlib
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from rollup.errors import PackageError
from rollup.lab.prerollup import previous_package
from rollup.model.manifest import load_manifest
from rollup.msi import read_msi


def write_previous_package(target: Path, manifest_path: Path, cache_dir: Path) -> tuple[Path, Path]:
    """Write ``target/package/*.msi`` and ``target/manifest.yml``; return both paths."""
    manifest = load_manifest(manifest_path)
    built = previous_package(manifest, cache_dir)
    folder = target / "package"
    folder.mkdir(parents=True, exist_ok=True)
    data: dict[str, Any] = yaml.safe_load(manifest_path.read_text(encoding="utf-8"))
    for entry in data["package"]["files"]:
        source = built[entry["name"]]
        copy = folder / entry["name"]
        shutil.copy2(source, copy)
        info = read_msi(copy, error=PackageError)
        mtime = datetime.fromtimestamp(copy.stat().st_mtime, UTC).replace(second=0, microsecond=0)
        entry.update(
            size_bytes=copy.stat().st_size,
            date=mtime.strftime("%Y-%m-%dT%H:%M:%SZ"),
            sha256=hashlib.sha256(copy.read_bytes()).hexdigest(),
            product_code=info.product_code,
            product_version=info.product_version,
        )
    written = target / "manifest.yml"
    written.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=False), encoding="utf-8")
    return folder, written
