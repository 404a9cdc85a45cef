"""
Every MSI of the lab's package set (both builds, built by ``rollup.lab.msi``) reads the same with
rollup's pure-Python reader as with msitools: each table rollup reads as ``msiinfo export`` gives
it, and each file's bytes as ``msiextract`` writes them (and with the MD5 its MsiFileHash row says).
"""

from __future__ import annotations

import hashlib
import struct
import subprocess
from pathlib import Path

import pytest

from rollup.lab.msi import BUILDS, ensure_built, load_products
from rollup.msidb import MsiDatabase
from rollup.msifiles import extract_msi_files, read_msi_files

TABLES = ("Property", "File", "Component", "Directory", "MsiFileHash", "Media")


@pytest.fixture(scope="module", name="packages")
def _packages(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Every package of both builds, at the KB's sizes and dates."""
    cache = tmp_path_factory.mktemp("msi-cache")
    table = load_products()
    return [
        path
        for build in BUILDS
        for path in ensure_built(
            cache, build=build, sizes=table.sizes(build), mtimes=table.mtimes(build)
        ).values()
    ]


def _export(path: Path, table: str) -> list[list[str]]:
    text = subprocess.run(["msiinfo", "export", str(path), table], check=True, capture_output=True,
                          text=True, timeout=120).stdout  # fmt: skip
    lines = text.splitlines()
    return [lines[0].split("\t"), *(line.split("\t") for line in lines[3:])]


def test_every_table_reads_as_msiinfo_exports_it(packages: list[Path]) -> None:
    """Column names, row order and every value (NULL as empty) of the tables rollup reads."""
    assert len(packages) == 44
    for path in packages:
        with MsiDatabase(path) as db:
            for name in TABLES:
                table = db.table(name)
                ours = [[c.name for c in table.columns]]
                ours += [["" if v is None else str(v) for v in row] for row in table.rows]
                assert ours == _export(path, name), f"{path.name}: {name}"


def test_the_table_list_is_the_one_msiinfo_gives(packages: list[Path]) -> None:
    for path in packages:
        listed = subprocess.run(["msiinfo", "tables", str(path)], check=True, capture_output=True,
                                text=True, timeout=120).stdout.split()  # fmt: skip
        with MsiDatabase(path) as db:
            assert sorted(db.tables) == sorted(t for t in listed if not t.startswith("_")), path.name


def test_every_file_comes_out_of_the_cabinet_as_msiextract_writes_it(
    packages: list[Path], tmp_path: Path
) -> None:
    """Byte for byte, and each unversioned file with the MD5 of its MsiFileHash row."""
    for n, path in enumerate(packages):
        rows = read_msi_files(path, hashes=False)
        ours = extract_msi_files(path, rows)
        out = tmp_path / str(n)
        listed = subprocess.run(["msiextract", "--directory", str(out), str(path)], check=True,
                                capture_output=True, text=True, timeout=120).stdout.splitlines()  # fmt: skip
        by_name = {Path(p).name: (out / p).read_bytes() for p in listed}
        for row in rows:
            assert ours[row.file_id] == by_name[row.path.rsplit("\\", 1)[1]], f"{path.name}: {row.file_id}"
        with MsiDatabase(path) as db:
            for file_id, _options, *parts in db.table("MsiFileHash").rows:
                assert hashlib.md5(ours[str(file_id)]).digest() == struct.pack("<4i", *parts)  # noqa: S324
        hashed = {f.file_id: f.sha256 for f in read_msi_files(path)}
        assert all(
            hashed[r.file_id] == hashlib.sha256(ours[r.file_id]).hexdigest() for r in rows if not r.version
        )
