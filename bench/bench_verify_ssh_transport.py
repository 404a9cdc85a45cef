"""
Benchmark of ``rollup verify`` over the SSH transport against verify over WinRM, both straight
to the hosts.

The lab (50 hosts: MPS01, DNS01, MPSSQL and 47 COLLAB hosts) runs in a process of its own with
no simulated time and no added latency (``--time-factor 0``; the lab's ``--latency-ms`` delays
HTTP answers only, so it would favour SSH). Verify runs in this process with a pinned manifest
and 16 forks: once with the lab's inventory over WinRM (NTLM with message encryption), once with
every host over SSH (``lab up --ssh-hosts all``: the same lab, the inventory rewritten). Each is
timed ``--repeat`` times (1 by default) after a warm-up pass; it prints the wall time, this
process's and the lab's CPU time, and the ratio of SSH to WinRM, measured in the same run.

Run on demand (not a test): ``.venv/bin/python bench/bench_verify_ssh_transport.py``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_verify import lab_cpu_s, pinned, rollup, verify_once

from rollup.model.inventory import load_inventory

FORKS = 16
COLLAB = 47


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=1, help="Timed runs per transport (default 1).")
    args: Any = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="rollup-bench-ssh-transport-") as name:
        folder = Path(name)
        state_dir = folder / "lab"
        up = ("lab", "up", "--state-dir", str(state_dir), "--collab", str(COLLAB), "--time-factor", "0")
        rollup(*up, "--ssh-hosts", "all", "--detach")
        try:
            manifest = pinned(state_dir, folder)
            over_ssh = state_dir / "inventory-ssh.yml"  # beside it: its password file is relative
            over_ssh.write_text((state_dir / "inventory.yml").read_text(encoding="utf-8"), encoding="utf-8")
            rollup("lab", "down", "--state-dir", str(state_dir))
            rollup(*up, "--ssh-hosts", "none", "--detach")
            lab_pid = int((state_dir / "lab.pid").read_text(encoding="ascii"))
            print(f"{COLLAB + 3} hosts, {FORKS} forks, no added latency")
            medians: dict[str, float] = {}
            for label, path in (("WinRM", state_dir / "inventory.yml"), ("SSH", over_ssh)):
                inventory = load_inventory(str(path))
                verify_once(manifest, inventory, FORKS)  # warms imports and caches
                walls, cpus, labs = [], [], []
                for _ in range(args.repeat):
                    cpu, lab, wall = time.process_time(), lab_cpu_s(lab_pid), time.perf_counter()
                    verify_once(manifest, inventory, FORKS)
                    walls.append(time.perf_counter() - wall)
                    cpus.append(time.process_time() - cpu)
                    labs.append(lab_cpu_s(lab_pid) - lab)
                medians[label] = statistics.median(walls)
                print(
                    f"  {label:6} wall {medians[label]:.2f} s, this process {statistics.median(cpus):.2f} s CPU, "
                    f"lab {statistics.median(labs):.2f} s CPU"
                )
            print(f"  ratio, SSH to WinRM: {medians['SSH'] / medians['WinRM']:.2f}")
        finally:
            rollup("lab", "down", "--state-dir", str(state_dir))


if __name__ == "__main__":
    main()
