"""
Benchmark of ``rollup lab up`` with 500 hosts: start time, NTLM throughput, memory per host.

Runs the real CLI: ``rollup lab up --collab 497 --detach`` in a temporary state directory,
then drives every host from client processes with the unmodified pywinrm client over NTLM
with message encryption, and prints what this one run measured:

- time to start: ``lab up`` creating the lab (hosts' states from the real MSIs, certificates)
  until every listener accepts connections, then a restart of the same lab (``down``, ``up``);
- requests per second: HTTP requests the clients sent (authentication legs included, counted
  in the clients' HTTP adapter) over the elapsed time, for ``hostname`` (the WinRM server and
  cmd.exe) and for ``products.list`` (a rollup operation through the host model, whose state
  file is read and rewritten with fsync on every run);
- memory per host: the lab process's resident set (VmRSS) minus that of a 4-host lab started
  the same way, divided by the 496 extra hosts, after start and after every host served.

Run on demand (not part of the test suite): ``.venv/bin/python bench/bench_lab_fleet.py``.
Every request goes to loopback (127.0.50.0 up); the MSI cache is the user's (``ROLLUP_CACHE_DIR``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import requests.adapters
import winrm

from rollup.lab.labdir import DEFAULT_USER, LabPaths, read_config, read_pid
from rollup.ops.registry import operation
from rollup.ps.delivery import command_line

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "manifests" / "hmc40-rollup-2011-01.yml"


def _rollup(*args: str) -> float:
    """Run the CLI; seconds it took. Stops the benchmark if it fails."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "rollup", *args], check=True, stdout=subprocess.DEVNULL, cwd=ROOT, env=_env()
    )
    return time.perf_counter() - started


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("ROLLUP_LAB_USER", "ROLLUP_LAB_PASSWORD")}


def _up(state_dir: Path, collab: int, first_address: str) -> float:
    return _rollup(
        "lab", "up", "--state-dir", str(state_dir), "--collab", str(collab), "--detach",
        "--first-address", first_address, "--time-factor", "0", "--manifest", str(MANIFEST),
    )  # fmt: skip


def _rss_kib(state_dir: Path) -> int:
    pid = read_pid(LabPaths(state_dir))
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS for the lab process")


def _client(urls: list[str], what: str, runs: int, password: str) -> tuple[int, int]:
    """``runs`` runs of ``what`` round-robin over ``urls``: (runs that exited 0, HTTP requests sent)."""
    sent = 0
    original = requests.adapters.HTTPAdapter.send

    def counting(self: requests.adapters.HTTPAdapter, *args: object, **kwargs: object) -> requests.Response:
        nonlocal sent
        sent += 1
        return original(self, *args, **kwargs)  # type: ignore[arg-type]

    requests.adapters.HTTPAdapter.send = counting  # type: ignore[method-assign]
    command: str = "hostname"
    arguments: tuple[str, ...] = ()
    if what != "hostname":
        op = operation(what)
        assert op is not None
        command, arguments = command_line(op.command(op.params()).render())
    done = 0
    for n in range(runs):
        session = winrm.Session(urls[n % len(urls)], auth=(DEFAULT_USER, password), transport="ntlm")
        done += session.run_cmd(command, list(arguments)).status_code == 0
    return done, sent


def _drive(urls: list[str], what: str, runs: int, clients: int, password: str) -> None:
    share = [urls[i::clients] for i in range(clients)]
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=clients) as pool:
        results = list(
            pool.map(_client, share, [what] * clients, [runs // clients] * clients, [password] * clients)
        )
    elapsed = time.perf_counter() - started
    done, sent = sum(r[0] for r in results), sum(r[1] for r in results)
    print(
        f"{what:>13}: {done} runs, {sent} HTTP requests in {elapsed:.2f} s = "
        f"{sent / elapsed:.0f} requests/s, {done / elapsed:.0f} runs/s "
        f"({clients} client processes, NTLM with encryption)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--collab", type=int, default=497, help="COLLAB hosts (500 hosts in all by default)")
    parser.add_argument("--runs", type=int, default=1000, help="runs per phase (at least one per host)")
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    options = parser.parse_args()
    hosts = options.collab + 3
    work = Path(tempfile.mkdtemp(prefix="rollup-bench-lab-"))
    small, big = work / "small", work / "big"
    try:
        _up(small, 1, "127.0.40.1")
        baseline = _rss_kib(small)
        _rollup("lab", "down", "--state-dir", str(small))

        created = _up(big, options.collab, "127.0.50.1")
        print(f"lab up, {hosts} hosts, new lab: every listener accepting after {created:.2f} s")
        _rollup("lab", "down", "--state-dir", str(big))
        restarted = _up(big, options.collab, "127.0.50.1")
        print(f"lab up, {hosts} hosts, existing lab: every listener accepting after {restarted:.2f} s")
        extra = hosts - 4
        started_rss = _rss_kib(big)
        print(
            f"memory after start: {started_rss} KiB RSS ({baseline} KiB with 4 hosts) = "
            f"{(started_rss - baseline) / extra:.1f} KiB per host"
        )
        urls = [f"http://{h.address}:{h.http_port}/wsman" for h in read_config(LabPaths(big)).hosts]
        runs = max(options.runs, hosts)
        password = LabPaths(big).password.read_text(encoding="utf-8").strip()
        _drive(urls, "hostname", runs, options.clients, password)
        _drive(urls, "products.list", runs, options.clients, password)
        served_rss = _rss_kib(big)
        print(
            f"memory after every host served NTLM sessions: {served_rss} KiB RSS = "
            f"{(served_rss - baseline) / extra:.1f} KiB per host"
        )
    finally:
        for state_dir in (small, big):
            if (state_dir / "lab.pid").exists():
                _rollup("lab", "down", "--state-dir", str(state_dir))
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
