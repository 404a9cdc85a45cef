"""
Benchmark of ``rollup plan``: how its cost grows with the number of hosts.

For each fleet size (MPS01, DNS01, MPSSQL and N-3 COLLAB hosts, written as an inventory file in
a temporary folder) it times, in this process, reading the inventory (``load_inventory``),
building the plan (``build_plan``) and rendering it as ``rollup plan`` prints it (the table and,
separately, ``--json``), then ``rollup plan`` as a process, end to end (Python start included).
Each figure is the median of ``--repeat`` runs (3 by default); the last column is the end-to-end
time per host. A cost that grows linearly keeps that column flat as the fleet grows.

Run on demand (not a test): ``.venv/bin/python bench/bench_plan.py`` (1,000, 5,000 and 20,000
hosts), or ``--hosts 500 2000`` for other sizes.

Measured on a shared 2-core machine (load average 4 to 6), ``rollup plan`` end to end: before
the change, 27.5 s for 1,000 hosts, 80.7 s for 5,000 and 295.6 s for 20,000 (the plan's
parameters were rebuilt for every host and step, a step's hosts were found by scanning a list
per dependency, PyYAML parsed in pure Python, and a rich table laid out 80,000 rows); after it,
0.73 s, 2.38 s and 4.20 s (0.21 ms per host at 20,000).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rollup.model.inventory import load_inventory  # noqa: E402
from rollup.model.manifest import DEFAULT_MANIFEST, load_manifest  # noqa: E402
from rollup.planner import build_plan  # noqa: E402


def inventory_text(hosts: int) -> str:
    """An inventory of ``hosts`` hosts: the three fixed ones and COLLAB hosts on 10.x addresses."""
    lines = [
        "all:",
        "  vars:",
        "    rollup_user: HOSTING\\svc-rollup",
        "    rollup_password: {env: ROLLUP_BENCH_PASSWORD}",
        "  children:",
        "    deployment_tool:",
        "      hosts:",
        "        MPS01: {address: 10.0.0.1}",
        "    mps_engine:",
        "      hosts:",
        "        MPS01:",
        "    dns:",
        "      hosts:",
        "        DNS01: {address: 10.0.0.2}",
        "    mpssql:",
        "      hosts:",
        "        MPSSQL: {address: 10.0.0.3}",
        "    collab:",
        "      hosts:",
    ]
    for n in range(1, hosts - 2):
        lines.append(f"        COLLAB{n:05d}: {{address: 10.{1 + n // 65536}.{n // 256 % 256}.{n % 256}}}")
    return "\n".join(lines) + "\n"


def _median(action: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure(hosts: int, repeat: int, work: Path) -> str:
    from rollup.cli.commands.plan import render

    path = work / f"inventory-{hosts}.yml"
    path.write_text(inventory_text(hosts), encoding="utf-8")
    manifest = load_manifest(ROOT / DEFAULT_MANIFEST)
    inventory = load_inventory(str(path))
    plan = build_plan(manifest, inventory)
    read = _median(lambda: load_inventory(str(path)), repeat)
    built = _median(lambda: build_plan(manifest, inventory), repeat)
    table = _median(lambda: render(plan), repeat)
    as_json = _median(lambda: json.dumps(plan.to_json(), indent=2), repeat)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def cli() -> None:
        subprocess.run(
            [sys.executable, "-m", "rollup", "plan", "--inventory", str(path)],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, check=True,
        )  # fmt: skip

    whole = _median(cli, repeat)
    return (
        f"{hosts:>6} hosts {len(plan.steps):>7} steps: read {read:6.2f} s  plan {built:6.2f} s  "
        f"table {table:6.2f} s  json {as_json:6.2f} s  `rollup plan` {whole:6.2f} s "
        f"= {1000 * whole / hosts:5.2f} ms/host"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, nargs="+", default=[1000, 5000, 20000])
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rollup-bench-plan-") as work:
        for hosts in options.hosts:
            print(measure(hosts, options.repeat, Path(work)), flush=True)


if __name__ == "__main__":
    main()
