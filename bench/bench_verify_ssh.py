"""
Benchmark of ``rollup verify`` through an SSH bastion against verify straight to the hosts.

The lab (50 hosts: MPS01, DNS01, MPSSQL and 47 COLLAB hosts) runs in a process of its own with
20 ms before every HTTP answer and no simulated time (``--latency-ms 20 --time-factor 0``); a
real OpenSSH server (Debian's ``/usr/sbin/sshd``, started on loopback with keys made here) is
the bastion. Verify runs in this process with a pinned manifest and 16 forks, over NTLM: once
with the lab's inventory, once with the same inventory plus ``rollup_ssh_bastion`` (every
host's WinRM through one SSH connection, a ``direct-tcpip`` channel per TCP connection). Each
is timed ``--repeat`` times (3 by default) after a warm-up pass; it prints the median wall time
(and the range), this process's CPU time, sshd's CPU time, and the ratio of the tunnel's median
to the direct one's, measured in the same run.

Run on demand (not a test): ``.venv/bin/python bench/bench_verify_ssh.py``.
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

from bench_verify import LATENCY_S, lab_cpu_s, pinned, rollup, verify_once

from rollup.model.inventory import load_inventory
from rollup.testing.sshd import Sshd, behind, descendants
from rollup.transport.tunnel import TUNNELS

FORKS = 16
COLLAB = 47


def _sshd_cpu_s(sshd: Sshd) -> float:
    """CPU time of sshd and of the live session processes below it."""
    assert sshd.process is not None
    total = 0
    for pid in (sshd.process.pid, *descendants(sshd.process.pid)):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rpartition(")")[2].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=3, help="Timed runs per configuration (default 3).")
    args: Any = parser.parse_args()
    one = os.getloadavg()[0]
    print(f"load average at start: {one:.2f} on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="rollup-bench-ssh-") as name:
        folder = Path(name)
        state_dir = folder / "lab"
        rollup("lab", "up", "--state-dir", str(state_dir), "--collab", str(COLLAB),
               "--latency-ms", str(LATENCY_S * 1000), "--time-factor", "0", "--detach")  # fmt: skip
        sshd = Sshd.start(folder / "ssh")
        try:
            lab_pid = int((state_dir / "lab.pid").read_text(encoding="ascii"))
            manifest = pinned(state_dir, folder)
            direct = state_dir / "inventory.yml"
            tunnelled = state_dir / "inventory-ssh.yml"  # beside it: its password file is relative
            tunnelled.write_text(direct.read_text(encoding="utf-8"), encoding="utf-8")
            behind(tunnelled, sshd)
            print(f"{COLLAB + 3} hosts, {FORKS} forks, {LATENCY_S * 1000:.0f} ms per HTTP answer, NTLM")
            medians: dict[str, float] = {}
            for label, path in (("direct", direct), ("SSH bastion", tunnelled)):
                inventory = load_inventory(str(path))
                verify_once(manifest, inventory, FORKS)  # warms imports, caches and the SSH connection
                walls, cpus, labs, sshds = [], [], [], []
                for _ in range(args.repeat):
                    cpu, lab, ssh, wall = (
                        time.process_time(), lab_cpu_s(lab_pid), _sshd_cpu_s(sshd), time.perf_counter()
                    )  # fmt: skip
                    verify_once(manifest, inventory, FORKS)
                    walls.append(time.perf_counter() - wall)
                    cpus.append(time.process_time() - cpu)
                    labs.append(lab_cpu_s(lab_pid) - lab)
                    sshds.append(_sshd_cpu_s(sshd) - ssh)
                medians[label] = statistics.median(walls)
                print(
                    f"  {label:12} wall {medians[label]:.2f} s ({min(walls):.2f}-{max(walls):.2f}), "
                    f"this process {statistics.median(cpus):.2f} s CPU, lab {statistics.median(labs):.2f} s, "
                    f"sshd {statistics.median(sshds):.2f} s"
                )
            print(f"  ratio, bastion to direct: {medians['SSH bastion'] / medians['direct']:.2f}")
            print(f"  channels sshd opened: {len(sshd.channels())}")
        finally:
            TUNNELS.close()
            sshd.stop()
            rollup("lab", "down", "--state-dir", str(state_dir))


if __name__ == "__main__":
    main()
