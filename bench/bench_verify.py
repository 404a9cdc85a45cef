"""
Benchmark of ``rollup verify`` against the simulated lab, with 20 ms before every HTTP answer.

Two fleets, each over NTLM (message encryption) and over Basic (HTTP, ``insecure_lab``):

- 50 hosts (MPS01, DNS01, MPSSQL and 47 COLLAB hosts) with 16 forks;
- MPS01, DNS01, MPSSQL and 200 COLLAB hosts with the default forks (16).

The lab runs in a process of its own (``rollup lab up --detach --latency-ms 20 --time-factor 0``,
so operations take no simulated time and the wait is the network's), and verify runs in this
process with a pinned manifest. Each configuration is timed ``--repeat`` times (3 by default)
after a warm-up pass; it prints the median wall time (and the range), the HTTP requests per
host (authentication legs included), this process's CPU time and the lab process's (the two
share the machine's cores), the peak memory (Python heap, and at the end the process's maximum
resident set), the 1-minute load average before the run, and the ratio of the median wall time
to the lower bound ``requests per host x latency x hosts / forks``. The aim is at most 1.5.

Both processes need CPU for every request, so the figures hold for an otherwise idle machine
only: the load average is printed at the start and on every line, and a run taken while other
work kept the cores busy says so.

For comparison, in the same run and with the same forks, the same checks are made the way a
hand-written script makes them: one pywinrm ``Session.run_ps`` per check (a shell opened and
deleted for each), each check one single operation (a file, a component, an IIS setting, a SQL
object, a COM+ application). A script too long for cmd.exe's line goes the same way with the
script on stdin. Run on demand (not a test): ``.venv/bin/python bench/bench_verify.py``;
``--quick`` runs the 50-host fleet only.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import winrm
import yaml

from rollup.credentials import CredentialCache
from rollup.model.inventory import Host, Inventory, load_inventory
from rollup.model.manifest import Manifest, load_manifest
from rollup.ops.complus import ComPlusParams
from rollup.ops.files import StatParams
from rollup.ops.iis import VdirParams
from rollup.ops.products import ListParams
from rollup.ops.registry import operation
from rollup.ops.sql import SqlObjectsParams
from rollup.pin import pin, read_local
from rollup.ps.command import RemoteCommand
from rollup.ps.delivery import fits_command_line, stdin_command, stdin_payload
from rollup.survey import DEFAULT_FORKS, run_verify
from rollup.transport.base import default_registry
from rollup.transport.connect import RequestCounter, build_protocol
from rollup.verify import components_on, verify_params

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "manifests" / "hmc40-rollup-2011-01.yml"
LATENCY_S = 0.020
IDLE_LOAD = 0.5
"""A 1-minute load average above this at the start means other work is using the cores."""


def rollup(*args: str) -> None:
    """``python -m rollup ARGS``, failing loudly."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "rollup", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"rollup {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")


def inventories(state_dir: Path) -> dict[str, Path]:
    """The lab's NTLM inventory, and a Basic one beside it (same hosts, same password file)."""
    ntlm = state_dir / "inventory.yml"
    data = yaml.safe_load(ntlm.read_text(encoding="utf-8"))
    data["all"]["vars"].update(transport="basic", insecure_lab=True)
    basic = state_dir / "inventory-basic.yml"
    basic.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return {"ntlm": ntlm, "basic": basic}


def pinned(state_dir: Path, folder: Path) -> Manifest:
    """A copy of the manifest pinned from the lab's package folder."""
    target = folder / MANIFEST.name
    shutil.copy(MANIFEST, target)
    package = state_dir / "package"
    pin(target, read_local(load_manifest(target), package), source=str(package))
    return load_manifest(target)


@dataclass(frozen=True)
class Measure:
    """The timed runs of one configuration (medians of ``repeat`` runs)."""

    walls_s: tuple[float, ...]
    cpu_s: float
    lab_cpu_s: float
    heap_mb: float
    requests_per_host: float
    hosts: int
    load: float
    """The 1-minute load average just before the first timed run."""

    @property
    def wall_s(self) -> float:
        return statistics.median(self.walls_s)


def lab_cpu_s(pid: int) -> float:
    """The CPU time (user and system) the lab process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured(
    run: Callable[[Manifest, Inventory, int], tuple[int, int]],
    manifest: Manifest,
    inventory: Inventory,
    forks: int,
    *,
    lab_pid: int,
    repeat: int,
) -> Measure:
    """
    ``run(manifest, inventory, forks)``, which returns the requests it sent and the hosts, timed
    ``repeat`` times in wall time and in this process's and the lab's CPU time; then once more
    under ``tracemalloc`` for its peak heap (tracing slows Python down, so that run is not timed).
    """
    load = os.getloadavg()[0]
    walls, cpus, lab_cpus = [], [], []
    requests = hosts = 0
    for _ in range(repeat):
        cpu, lab, wall = time.process_time(), lab_cpu_s(lab_pid), time.perf_counter()
        requests, hosts = run(manifest, inventory, forks)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
        lab_cpus.append(lab_cpu_s(lab_pid) - lab)
    tracemalloc.start()
    run(manifest, inventory, forks)
    heap = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return Measure(
        walls_s=tuple(walls),
        cpu_s=statistics.median(cpus),
        lab_cpu_s=statistics.median(lab_cpus),
        heap_mb=heap,
        requests_per_host=requests / hosts,
        hosts=hosts,
        load=load,
    )


def verify_once(manifest: Manifest, inventory: Inventory, forks: int) -> tuple[int, int]:
    """``rollup verify``'s work: one ``verify.facts`` per host."""
    report = run_verify(
        manifest,
        inventory,
        transports=default_registry(),
        credentials=CredentialCache(prompt=None),
        forks=forks,
    )
    unreached = [h.host for h in report.hosts if any(c.group == "session" for c in h.checks)]
    if unreached:
        raise SystemExit(f"verify could not reach {unreached[:3]}: {report.hosts[0].checks[0].actual}")
    return sum(h.requests or 0 for h in report.hosts), len(report.hosts)


def hand_written_checks(manifest: Manifest, host: Host) -> list[RemoteCommand]:
    """The same checks as verify's, one single-operation script per check."""
    params = verify_params(manifest, host.roles)

    def command(op_id: str, op_params: object) -> RemoteCommand:
        found = operation(op_id)
        if found is None:
            raise SystemExit(f"operation {op_id} is not registered")
        return found.command(op_params)

    identity = params.file_identity
    scripts = [
        command("files.stat", StatParams(paths=(p,), sha256=identity, msi=identity)) for p in params.files
    ]
    scripts += [
        command("products.list", ListParams(names=(c.name,))) for c in components_on(manifest, host.roles)
    ]
    for query in params.vdirs:
        site, _, vdir = query.partition("/")
        scripts += [command("iis.get_vdir", VdirParams(site=site, vdir=vdir))] * 2  # default domain, SSL
    objects = params.sql_objects()
    if objects is not None:
        for name in (
            *objects.indexes,
            *objects.procedures,
            *objects.scalar_functions,
            *objects.table_functions,
        ):
            one = SqlObjectsParams(
                instance=objects.instance,
                database=objects.database,
                indexes=(name,) if "." in name else (),
                procedures=() if "." in name else (name,),
            )
            scripts.append(command("sql.objects", one))  # fmt: skip
    scripts += [command("complus.state", ComPlusParams(application=a)) for a in params.complus]
    return scripts


def run_ps_like(session: winrm.Session, script: str) -> None:
    """``Session.run_ps``; a script too long for cmd.exe takes the same shell-per-command path on stdin."""
    if fits_command_line(script):
        session.run_ps(script)
        return
    protocol = session.protocol
    program, arguments = stdin_command()
    shell = protocol.open_shell()
    command = protocol.run_command(shell, program, arguments)
    protocol.send_command_input(shell, command, stdin_payload(script), True)
    protocol.get_command_output(shell, command)
    protocol.cleanup_command(shell, command)
    protocol.close_shell(shell)


def hand_written_once(manifest: Manifest, inventory: Inventory, forks: int) -> tuple[int, int]:
    """The same checks through pywinrm Sessions, one ``run_ps`` per check, hosts in parallel."""
    cache = CredentialCache(prompt=None)
    total = RequestCounter()
    lock = threading.Lock()

    def one(host: Host) -> None:
        credentials = cache.get(host)
        counter = RequestCounter()
        session = winrm.Session(host.endpoint, auth=(credentials.user, credentials.password.reveal()))
        session.protocol = build_protocol(host, credentials, counter)
        scripts = hand_written_checks(manifest, host)
        for script in scripts:
            run_ps_like(session, script.render())
        session.protocol.transport.close_session()
        with lock:
            for _ in range(counter.total):
                total.add()

    with ThreadPoolExecutor(max_workers=forks) as pool:
        list(pool.map(one, inventory.hosts))
    return total.total, len(inventory.hosts)


def lower_bound_s(requests_per_host: float, hosts: int, forks: int) -> float:
    """The issue's lower bound: requests per host x latency x hosts / forks."""
    return requests_per_host * LATENCY_S * hosts / forks


def report(label: str, m: Measure, forks: int) -> None:
    """Two lines; ``whole rounds`` counts the bound in rounds of ``forks`` hosts (ceil(hosts / forks))."""
    bound = lower_bound_s(m.requests_per_host, m.hosts, forks)
    waves = m.requests_per_host * LATENCY_S * -(-m.hosts // forks)
    print(
        f"  {label:<24} wall {m.wall_s:6.2f} s ({min(m.walls_s):.2f}-{max(m.walls_s):.2f})  "
        f"requests/host {m.requests_per_host:5.2f}  bound {bound:5.2f} s  ratio {m.wall_s / bound:5.2f}  "
        f"(whole rounds: {m.wall_s / waves:4.2f})"
    )
    print(
        f"  {'':<24} CPU {m.cpu_s:5.2f} s, lab CPU {m.lab_cpu_s:5.2f} s  heap peak {m.heap_mb:5.1f} MB  "
        f"load average before {m.load:4.2f}"
    )


def fleet(folder: Path, collab: int, forks: int, *, hand_written: bool, repeat: int) -> None:
    """Start a lab of ``collab`` COLLAB hosts, measure verify (and the hand-written way), stop it."""
    state_dir = folder / f"lab-{collab}"
    rollup("lab", "up", "--state-dir", str(state_dir), "--collab", str(collab),
           "--latency-ms", str(LATENCY_S * 1000), "--time-factor", "0", "--detach")  # fmt: skip
    try:
        lab_pid = int((state_dir / "lab.pid").read_text(encoding="ascii"))
        manifest = pinned(state_dir, folder)
        print(f"{collab + 3} hosts, {forks} forks, {LATENCY_S * 1000:.0f} ms per HTTP answer")
        for auth, path in inventories(state_dir).items():
            inventory = load_inventory(str(path))
            verify_once(manifest, inventory, forks)  # a first pass warms imports and caches
            run = measured(verify_once, manifest, inventory, forks, lab_pid=lab_pid, repeat=repeat)
            report(f"verify ({auth})", run, forks)
            if hand_written:
                run = measured(hand_written_once, manifest, inventory, forks, lab_pid=lab_pid, repeat=repeat)
                report(f"run_ps per check ({auth})", run, forks)
                calls = sum(len(hand_written_checks(manifest, host)) for host in inventory.hosts)
                print(
                    f"    ({calls} run_ps calls, one per check, against {len(inventory.hosts)} verify.facts)"
                )
    finally:
        rollup("lab", "down", "--state-dir", str(state_dir))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="Only the 50-host fleet.")
    parser.add_argument("--no-hand-written", action="store_true", help="Skip the run_ps comparison.")
    parser.add_argument("--repeat", type=int, default=3, help="Timed runs per configuration (default 3).")
    args: Any = parser.parse_args()
    one, five, fifteen = os.getloadavg()
    cpus = os.cpu_count() or 1
    print(f"load average at start: {one:.2f} {five:.2f} {fifteen:.2f} (1, 5, 15 min) on {cpus} CPUs")
    if one > IDLE_LOAD:
        print("  the machine is not idle: other work shares the cores; the ratios below overstate verify's")
    hand_written = not args.no_hand_written
    with tempfile.TemporaryDirectory(prefix="rollup-bench-verify-") as folder:
        fleet(Path(folder), 47, 16, hand_written=hand_written, repeat=args.repeat)
        if not args.quick:
            fleet(Path(folder), 200, DEFAULT_FORKS, hand_written=hand_written, repeat=args.repeat)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"maximum resident set of this process: {peak:.0f} MB")


if __name__ == "__main__":
    main()
