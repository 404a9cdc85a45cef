"""
Benchmark of the simulated WinRM server: many hosts in one process.

Starts N simulated hosts (default 500) on distinct 127.0.x.y addresses in this process, then
drives them from client processes with the unmodified pywinrm client, and prints what this
one run measured:

- memory per host: the growth of this process's resident set (VmRSS) divided by the number of
  hosts, after the listeners are up and again after every host has served an NTLM session;
- requests per second (HTTP requests answered by the server, authentication legs included)
  and commands per second, for pywinrm over NTLM with message encryption and over Basic.

Run on demand (not part of the test suite): ``.venv/bin/python bench/bench_lab_server.py``.
Every request goes to loopback; the loops are bounded by ``--commands``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import winrm

from rollup.lab.wsman import Credential, EndpointConfig, LabServer, ScriptOutcome, ScriptRun
from rollup.secret import Secret

USER = "HOSTING\\admin"
PASSWORD = "Bench-Passw0rd!"  # noqa: S105 - the account of simulated hosts on loopback


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def _runner(host: str, script: str) -> ScriptRun:
    return ScriptRun(0.0, lambda: ScriptOutcome(0, f"{host} ran {len(script)} characters\n", ""))


def _address(n: int) -> str:
    return f"127.0.{10 + n // 250}.{1 + n % 250}"


def _client(urls: list[str], transport: str, commands: int) -> int:
    """Run ``commands`` commands round-robin over ``urls``; returns how many succeeded."""
    done = 0
    for n in range(commands):
        session = winrm.Session(urls[n % len(urls)], auth=(USER, PASSWORD), transport=transport)
        result = session.run_cmd("hostname")
        done += result.status_code == 0
    return done


def _drive(server: LabServer, urls: list[str], transport: str, commands: int, clients: int) -> None:
    before = sum(e.stats().requests for e in server.endpoints.values())
    started = time.perf_counter()
    share = [urls[i::clients] for i in range(clients)]
    with ProcessPoolExecutor(max_workers=clients) as pool:
        done = sum(pool.map(_client, share, [transport] * clients, [commands // clients] * clients))
    elapsed = time.perf_counter() - started
    requests = sum(e.stats().requests for e in server.endpoints.values()) - before
    print(
        f"{transport:>5}: {done} commands, {requests} HTTP requests in {elapsed:.2f} s = "
        f"{requests / elapsed:.0f} requests/s, {done / elapsed:.0f} commands/s "
        f"({clients} client processes)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=500)
    parser.add_argument("--commands", type=int, default=600, help="commands per transport")
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    options = parser.parse_args()

    credentials = (Credential(USER, Secret(PASSWORD)),)
    configs = [
        EndpointConfig(f"HOST{n:04d}", _address(n), credentials, _runner, port=0)
        for n in range(options.hosts)
    ]
    with tempfile.TemporaryDirectory() as certs:
        baseline = _rss_kib()
        started = time.perf_counter()
        server = LabServer(configs, cert_dir=Path(certs))
        server.start()
        try:
            up = time.perf_counter() - started
            listening = _rss_kib() - baseline
            print(f"{options.hosts} hosts listening after {up:.2f} s")
            print(
                f"memory after start: {listening} KiB RSS growth = "
                f"{listening / options.hosts:.1f} KiB per host"
            )
            urls = [e.http_url for e in server.endpoints.values()]
            _drive(server, urls, "ntlm", max(options.commands, options.hosts), options.clients)
            served = _rss_kib() - baseline
            print(
                f"memory after every host served an NTLM session: {served} KiB RSS growth = "
                f"{served / options.hosts:.1f} KiB per host"
            )
            _drive(server, urls, "basic", options.commands, options.clients)
            print(f"simulation errors: {len(server.simulation_errors())}")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
