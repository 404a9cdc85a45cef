"""
Benchmark of the WinRM transport against one simulated pre-rollup host.

Starts the lab's WinRM server with the lab's runner (operations take no simulated time) on a
pre-rollup COLLAB host, drives it with ``rollup.transport.winrm.WinRMTransport`` over NTLM with
message encryption, and prints what this one run measured:

- HTTP requests per remote operation on a reused shell, for a script on the command line
  (``products.list``) and for one delivered on stdin (``files.stat`` of 300 paths), in steady
  state and including the shell recycling that WinRM 2.0's operations quota forces (one Delete
  and one Create every 14 commands);
- milliseconds per operation (client and server share this machine's cores);
- HTTP requests per file upload (``put`` of the largest rollup MSI, check included) and per
  skipped upload (the check alone), and the upload's milliseconds.

Run on demand (not part of the test suite): ``.venv/bin/python bench/bench_transport.py``.
Every request goes to loopback; the loops are bounded by ``--operations`` and ``--uploads``.
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from pathlib import Path

from rollup.credentials import Credentials
from rollup.lab.prerollup import prerollup_states, rollup_package
from rollup.lab.runner import LabRunner
from rollup.lab.state import MemoryBlobStore, MemoryStateStore
from rollup.lab.wsman import Credential, EndpointConfig, LabServer
from rollup.model.inventory import Host
from rollup.model.manifest import load_manifest
from rollup.model.roles import Role
from rollup.ops.files import StatParams
from rollup.ops.products import ListParams
from rollup.ops.registry import operation
from rollup.ps.command import RemoteCommand
from rollup.ps.delivery import fits_command_line
from rollup.secret import Secret
from rollup.testing.fleet import lab_host
from rollup.transport.base import PutResult
from rollup.transport.winrm import MAX_COMMANDS_PER_SHELL, WinRMTransport

USER = "HOSTING\\admin"
PASSWORD = "Bench-Passw0rd!"  # noqa: S105 - the account of a simulated host on loopback
MANIFEST = Path(__file__).resolve().parents[1] / "manifests" / "hmc40-rollup-2011-01.yml"
ADDRESS = "127.0.9.201"


def _host(port: int) -> Host:
    return lab_host("COLLAB01", frozenset({Role.COLLAB}), address=ADDRESS, port=port, user=USER)


def _command(op_id: str, params: object) -> RemoteCommand:
    found = operation(op_id)
    if found is None:
        raise SystemExit(f"operation {op_id} is not registered")
    return found.command(params)


def _measure(t: WinRMTransport, command: RemoteCommand, count: int) -> tuple[list[int], float]:
    """Run ``command`` ``count`` times; the requests of each run and the mean milliseconds."""
    costs = []
    started = time.perf_counter()
    for _ in range(count):
        before = t.requests
        result = t.run(command, timeout_s=60)
        if result.exit_code != 0:
            raise SystemExit(f"{command.op} failed: {result.stderr.strip()}")
        costs.append(t.requests - before)
    return costs, (time.perf_counter() - started) * 1000 / count


def _report(label: str, costs: list[int], ms: float) -> None:
    mean = sum(costs) / len(costs)
    print(f"{label}: {min(costs)} requests per operation on a reused shell; {mean:.2f} with recycling")
    print(f"    every {MAX_COMMANDS_PER_SHELL} commands (over {len(costs)} operations); {ms:.1f} ms each")


def _put(t: WinRMTransport, local: Path, target: str, data: bytes) -> tuple[PutResult, float]:
    """Put ``local`` (whose bytes are ``data``) at ``target``; the result and its milliseconds."""
    started = time.perf_counter()
    result = t.put(local, target, sha256=hashlib.sha256(data).hexdigest(), size=len(data))
    return result, (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--operations", type=int, default=140, help="operations per kind (default 140)")
    parser.add_argument("--uploads", type=int, default=5, help="uploads to time (default 5)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="rollup-bench-") as scratch:
        folder = Path(scratch)
        manifest = load_manifest(MANIFEST)
        blobs = MemoryBlobStore()
        (state,) = prerollup_states(
            manifest, [("COLLAB01", frozenset({Role.COLLAB}))], blobs=blobs, msi_cache_dir=folder / "msi"
        )
        package = rollup_package(manifest, folder / "msi")
        store = MemoryStateStore([state])
        runner = LabRunner(store, blobs, time_factor=0.0)
        config = EndpointConfig("COLLAB01", ADDRESS, (Credential(USER, Secret(PASSWORD)),), runner, port=0)
        with LabServer([config], cert_dir=folder / "certs") as server:
            host = _host(server.endpoint("COLLAB01").port)
            with WinRMTransport(host, Credentials(USER, Secret(PASSWORD))) as t:
                inline = _command("products.list", ListParams())
                paths = tuple(f"C:\\Inetpub\\wwwroot\\bin\\assembly{i:04d}.dll" for i in range(300))
                piped = _command("files.stat", StatParams(paths=paths))
                t.run(inline, timeout_s=60)  # the session's authentication and first shell
                print(
                    f"script on the command line ({len(inline.render())} characters, "
                    f"fits: {fits_command_line(inline.render())})"
                )
                _report("  products.list", *_measure(t, inline, args.operations))
                print(f"script on stdin ({len(piped.render())} characters)")
                _report("  files.stat x300", *_measure(t, piped, args.operations))

                name, local = max(package.items(), key=lambda item: item[1].stat().st_size)
                data = local.read_bytes()
                print(f"upload of {name} ({len(data):,} bytes)")
                for n in range(args.uploads):
                    sent, ms = _put(t, local, f"C:\\temp\\bench{n}\\{name}", data)
                    print(f"  put: {sent.requests} requests, {sent.bytes_sent:,} bytes, {ms:.0f} ms")
                skipped, ms = _put(t, local, f"C:\\temp\\bench0\\{name}", data)
                print(f"  put of a file already there: {skipped.requests} requests, {ms:.0f} ms")
                print(f"transport totals: {t.stats()}")


if __name__ == "__main__":
    main()
