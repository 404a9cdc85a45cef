"""
What reading the installed files costs ``rollup verify``: with the file checks against without them.

One lab of 50 hosts (MPS01, DNS01, MPSSQL and 47 COLLAB hosts) in a process of its own, with
20 ms before every HTTP answer (``rollup lab up --detach --latency-ms 20 --time-factor 0``), and
verify in this process with 16 forks, over NTLM and over Basic. The same pinned manifest is used
twice: as pinned (every MSI's installed files in the lock, so each host's ``verify.facts`` also
reads its components' files: the version resource of each DLL, the size and SHA-256 of each
configuration file) and with the installed files left out of it (the checks verify made before
they were read). The two alternate, ``--repeat`` times each after a warm-up pass, so a change in
the machine's load hits both alike.

It prints per configuration the median wall time (and the range), the HTTP requests per host,
this process's and the lab's CPU time, the checks per run, and the ratio of the two medians,
all measured in this one run. Run on demand (not a test):
``.venv/bin/python bench/bench_verify_files.py``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rollup.credentials import CredentialCache
from rollup.model.inventory import Inventory, load_inventory
from rollup.model.manifest import Manifest, load_manifest
from rollup.pin import pin, read_local
from rollup.survey import run_verify
from rollup.transport.base import default_registry

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "manifests" / "hmc40-rollup-2011-01.yml"
LATENCY_MS = 20
COLLAB = 47
FORKS = 16


def rollup(*args: str) -> None:
    """``python -m rollup ARGS``, failing loudly."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "rollup", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, check=False)  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"rollup {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")


def lab_cpu_s(pid: int) -> float:
    """The CPU time (user and system) the lab process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def manifests(state_dir: Path, folder: Path) -> dict[str, Manifest]:
    """The manifest pinned from the lab's package, with and without its installed files."""
    target = folder / MANIFEST.name
    shutil.copy(MANIFEST, target)
    package = state_dir / "package"
    pin(target, read_local(load_manifest(target), package), source=str(package))
    with_files = load_manifest(target)
    files = tuple(f.model_copy(update={"installs": None}) for f in with_files.package.files)
    without = with_files.model_copy(
        update={"package": with_files.package.model_copy(update={"files": files})}
    )
    return {"with file checks": with_files, "without": without}


def inventories(state_dir: Path) -> dict[str, Inventory]:
    """The lab's NTLM inventory, and a Basic one beside it."""
    ntlm = state_dir / "inventory.yml"
    data = yaml.safe_load(ntlm.read_text(encoding="utf-8"))
    data["all"]["vars"].update(transport="basic", insecure_lab=True)
    basic = state_dir / "inventory-basic.yml"
    basic.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return {"ntlm": load_inventory(str(ntlm)), "basic": load_inventory(str(basic))}


@dataclass
class Runs:
    """The timed runs of one configuration."""

    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)
    lab_cpus: list[float] = field(default_factory=list)
    requests: int = 0
    hosts: int = 0
    checks: int = 0


def once(manifest: Manifest, inventory: Inventory, runs: Runs | None, lab_pid: int) -> None:
    """One verify of the fleet, timed into ``runs`` (a warm-up when ``None``)."""
    cpu, lab, wall = time.process_time(), lab_cpu_s(lab_pid), time.perf_counter()
    report = run_verify(manifest, inventory, transports=default_registry(), credentials=CredentialCache(prompt=None),
                        forks=FORKS)  # fmt: skip
    elapsed = time.perf_counter() - wall
    if any(c.group == "session" for _, c in report.checks()):
        raise SystemExit("verify could not reach every host")
    if runs is None:
        return
    runs.walls.append(elapsed)
    runs.cpus.append(time.process_time() - cpu)
    runs.lab_cpus.append(lab_cpu_s(lab_pid) - lab)
    runs.requests = sum(h.requests or 0 for h in report.hosts)
    runs.hosts = len(report.hosts)
    runs.checks = sum(len(h.checks) for h in report.hosts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=5, help="Timed runs of each configuration (default 5).")
    args: Any = parser.parse_args()
    one, five, _ = os.getloadavg()
    print(f"load average at start: {one:.2f} {five:.2f} (1, 5 min) on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="rollup-bench-verify-files-") as name:
        folder = Path(name)
        state_dir = folder / "lab"
        rollup("lab", "up", "--state-dir", str(state_dir), "--collab", str(COLLAB),
               "--latency-ms", str(LATENCY_MS), "--time-factor", "0", "--detach")  # fmt: skip
        try:
            lab_pid = int((state_dir / "lab.pid").read_text(encoding="ascii"))
            kinds = manifests(state_dir, folder)
            print(
                f"{COLLAB + 3} hosts, {FORKS} forks, {LATENCY_MS} ms per HTTP answer, {args.repeat} runs each"
            )
            for auth, inventory in inventories(state_dir).items():
                runs = {kind: Runs() for kind in kinds}
                for manifest in kinds.values():
                    once(manifest, inventory, None, lab_pid)
                for _ in range(args.repeat):
                    for kind, manifest in kinds.items():
                        once(manifest, inventory, runs[kind], lab_pid)
                for kind, r in runs.items():
                    print(f"  {auth:<5} {kind:<17} wall {statistics.median(r.walls):5.2f} s "
                          f"({min(r.walls):.2f}-{max(r.walls):.2f})  requests/host {r.requests / r.hosts:4.2f}  "
                          f"CPU {statistics.median(r.cpus):4.2f} s, lab CPU {statistics.median(r.lab_cpus):4.2f} s  "
                          f"checks {r.checks}")  # fmt: skip
                with_files, without = (statistics.median(r.walls) for r in runs.values())
                cpu_with, cpu_without = (statistics.median(r.lab_cpus) for r in runs.values())
                print(f"  {auth:<5} ratio with/without: wall {with_files / without:4.2f}, "
                      f"lab CPU {cpu_with / cpu_without:4.2f}")  # fmt: skip
        finally:
            rollup("lab", "down", "--state-dir", str(state_dir))
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
