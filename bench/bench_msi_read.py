"""
What reading the lab's MSI files costs: rollup's pure-Python reader against msitools subprocesses.

The lab's package set (both builds, 44 MSIs at the KB's sizes, built into a temporary cache) is
read the way ``rollup manifest pin`` reads a package, two ways:

- ``python``: ``rollup.msi.read_msi`` (the Property table) and ``rollup.msifiles.read_msi_files``
  (the File, Component and Directory tables, and each unversioned file's SHA-256 from the cabinet);
- ``msitools``: what rollup ran before, ``msiinfo export`` of Property, File, Component and
  Directory, and ``msiextract`` of the cabinet into a temporary folder, five processes a package.

The two alternate, ``--repeat`` times each after a warm-up pass, so a change in the machine's
load hits both alike. It prints the median wall time of a pass over all the packages (and the
range), the time a package, and the ratio of the two medians, all measured in this one run. Run
on demand (not a test): ``.venv/bin/python bench/bench_msi_read.py``; msitools and wixl must be
installed (to build the packages, and for the comparison).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from rollup.lab.msi import BUILDS, ensure_built, load_products
from rollup.msi import read_msi
from rollup.msifiles import read_msi_files


def packages(cache: Path) -> list[Path]:
    table = load_products()
    return [
        path
        for build in BUILDS
        for path in ensure_built(
            cache, build=build, sizes=table.sizes(build), mtimes=table.mtimes(build)
        ).values()
    ]


def with_python(paths: list[Path]) -> None:
    for path in paths:
        read_msi(path)
        read_msi_files(path)


def with_msitools(paths: list[Path]) -> None:
    for path in paths:
        for table in ("Property", "File", "Component", "Directory"):
            subprocess.run(["msiinfo", "export", str(path), table], check=True, capture_output=True)
        with tempfile.TemporaryDirectory(prefix="bench-msi-") as folder:
            subprocess.run(["msiextract", "--directory", folder, str(path)], check=True, capture_output=True)


def timed(function: Callable[[list[Path]], None], paths: list[Path]) -> float:
    start = time.perf_counter()
    function(paths)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=5, help="timed passes of each reader (default 5)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-msi-cache-") as cache:
        paths = packages(Path(cache))
        readers = {"python": with_python, "msitools": with_msitools}
        for reader in readers.values():
            reader(paths)  # warm-up: the page cache, imports
        times: dict[str, list[float]] = {name: [] for name in readers}
        for _ in range(args.repeat):
            for name, reader in readers.items():
                times[name].append(timed(reader, paths))
    print(f"{len(paths)} MSIs, {args.repeat} passes each (properties, files, unversioned files' SHA-256)")
    medians = {}
    for name, measured in times.items():
        medians[name] = statistics.median(measured)
        print(
            f"{name:9} median {medians[name] * 1000:8.1f} ms a pass "
            f"(range {min(measured) * 1000:.1f}-{max(measured) * 1000:.1f}), "
            f"{medians[name] / len(paths) * 1000:.2f} ms a package"
        )
    print(f"msitools / python: {medians['msitools'] / medians['python']:.1f}x")


if __name__ == "__main__":
    main()
