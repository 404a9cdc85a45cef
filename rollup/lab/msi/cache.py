"""
A content-addressed cache of built MSI sets, so the lab starts fast after its first start.

An entry is a directory named after a digest of everything the bytes depend on: the build
(``previous`` or ``rollup``), the sizes and dates asked for, the versions of wixl and msitools,
and the sources (``products.yml``, ``template.wxs``, ``build.py``). A hit needs no tool at all
beyond the version check.

Concurrent callers (two lab processes starting at once) never see a half-written entry: a set
is built in a private temporary directory inside the cache and renamed into place in one step.
When two callers build the same entry, the first rename wins and the other discards its own
copy, which has the same bytes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from rollup.lab.msi import build as msi_build
from rollup.lab.msi.products import TABLE_RESOURCE, Build, load_products

CACHE_FORMAT = 1
"""Bumped when the layout of a cache entry changes."""

_DIGEST_SOURCES = (TABLE_RESOURCE, msi_build.TEMPLATE_RESOURCE, "build.py", "files.py", "pe.py")


def ensure_built(
    cache_dir: Path,
    *,
    build: Build,
    sizes: Mapping[str, int] | None = None,
    mtimes: Mapping[str, datetime] | None = None,
) -> dict[str, Path]:
    """
    The MSI set for ``build`` at these sizes and dates: from ``cache_dir`` if built before, else built now.

    Arguments are those of ``build_msis``. The returned files belong to the cache and must be
    copied, not modified or moved. An entry whose files are missing or have another size or
    modification time than asked is rebuilt.

    Returns:
        File name (as in the table) -> path inside ``cache_dir``, in the table's order.

    Raises:
        The errors of ``build_msis``.
    """
    table = load_products()
    wanted_sizes = msi_build.normalize_sizes(table, sizes)
    wanted_mtimes = msi_build.normalize_mtimes(table, mtimes)
    entry = cache_dir / f"{build}-{build_digest(build, wanted_sizes, wanted_mtimes)[:32]}"
    paths = {name: entry / name for name in table.files}
    if entry.is_dir():
        if _is_complete(paths, wanted_sizes, wanted_mtimes):
            return paths
        _discard(entry)
    cache_dir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{build}-", dir=cache_dir))
    try:
        msi_build.build_msis(scratch, build=build, sizes=wanted_sizes, mtimes=wanted_mtimes)
        scratch.chmod(0o755)  # mkdtemp makes it private; the entry is as readable as its files
        try:
            scratch.rename(entry)
        except OSError:
            # Another caller renamed the same entry into place first; its bytes are ours.
            if not entry.is_dir():
                raise
    finally:
        if scratch.exists():
            shutil.rmtree(scratch, ignore_errors=True)
    return paths


def build_digest(build: Build, sizes: Mapping[str, int], mtimes: Mapping[str, datetime]) -> str:
    """The hex SHA-256 that names a cache entry; ``sizes`` and ``mtimes`` as normalized by ``build``."""
    document = {
        "format": CACHE_FORMAT,
        "build": build,
        "tools": msi_build.tool_versions(),
        "sources": {name: _sha256(msi_build.source_bytes(name)) for name in _DIGEST_SOURCES},
        "sizes": dict(sorted(sizes.items())),
        "mtimes": {name: when.isoformat() for name, when in sorted(mtimes.items())},
    }
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode("utf-8")).hexdigest()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _is_complete(paths: Mapping[str, Path], sizes: Mapping[str, int], mtimes: Mapping[str, datetime]) -> bool:
    """Every file is there, with the size and modification time asked for."""
    for name, path in paths.items():
        try:
            stat = path.stat()
        except OSError:
            return False
        if name in sizes and stat.st_size != sizes[name]:
            return False
        if name in mtimes and stat.st_mtime_ns != msi_build.epoch_ns(mtimes[name]):
            return False
    return True


def _discard(entry: Path) -> None:
    """Move a damaged entry out of the way in one step, then delete it."""
    doomed = Path(tempfile.mkdtemp(prefix=".discard-", dir=entry.parent))
    with contextlib.suppress(FileNotFoundError):  # another caller discarded it first
        os.replace(entry, doomed / entry.name)
    shutil.rmtree(doomed, ignore_errors=True)
