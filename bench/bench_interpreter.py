"""
What the lab's PowerShell interpreter costs per operation.

Runs every operation's scenarios (those of ``bench/script_mutations.py``, on the lab's
pre-rollup hosts) in the interpreter, ``--repeat`` times each, and prints per operation the
median CPU time of one run (``time.process_time``, so a busy machine does not inflate it), the
script's size, and the share spent parsing (a script's first run) against running (cached
syntax tree). One 600 KB ``files.upload`` (10,779 base64 lines on stdin) is measured on its own:
it is the costliest run of a rollup.

Run on demand: ``.venv/bin/python bench/bench_interpreter.py [--repeat N]``.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from script_mutations import lab_states, scenarios

from rollup.lab.mutation import Scenario
from rollup.lab.pwsh.host import run_powershell
from rollup.lab.pwsh.syntax import parse
from rollup.lab.state import MemoryBlobStore
from rollup.lab.windows.machine import Machine
from rollup.ops import files
from rollup.ops.registry import operation


def cpu_ms(fn: object, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.process_time()
        fn()  # type: ignore[operator]
        times.append((time.process_time() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    blobs = MemoryBlobStore()
    states = lab_states(blobs)
    table = scenarios(states, blobs)
    print(f"{'operation':22} {'scenarios':>9} {'chars':>6} {'parse ms':>9} {'run ms':>8}")
    total = 0.0
    for op_id in sorted(table):
        op = operation(op_id)
        assert op is not None
        runs = table[op_id]
        scripts = [op.command(s.params).render() for s in runs]
        parse.cache_clear()
        parse_ms = cpu_ms(lambda scripts=scripts: [parse(text) for text in scripts], 1) / len(runs)

        def run_all(runs: list[Scenario] = runs, scripts: list[str] = scripts) -> None:
            for scenario, text in zip(runs, scripts, strict=True):
                machine = Machine(scenario.state(), blobs, now=scenario.now, user=scenario.user)
                run_powershell(text, machine, list(scenario.stdin))

        run_ms = cpu_ms(run_all, args.repeat) / len(runs)
        total += run_ms
        print(f"{op_id:22} {len(runs):9} {len(scripts[0]):6} {parse_ms:9.2f} {run_ms:8.2f}")
    print(f"mean run over {len(table)} operations: {total / len(table):.2f} ms")

    data = bytes(range(256)) * 2400
    lines = files.upload_stdin(data).decode().split("\r\n")[:-1]
    upload = operation("files.upload")
    assert upload is not None
    script = upload.command(
        files.UploadParams(target="C:\\temp\\p.msi", size=len(data), sha256=hashlib.sha256(data).hexdigest())
    ).render()

    def one_upload() -> None:
        run_powershell(
            script, Machine(states["MPS01"].model_copy(deep=True), blobs, now=0.0, user="HOSTING\\x"), lines
        )

    ms = cpu_ms(one_upload, max(1, args.repeat // 2))
    print(
        f"files.upload of {len(data):,} bytes ({len(lines):,} lines): {ms:.0f} ms, {ms * 1000 / len(lines):.1f} us per line"
    )


if __name__ == "__main__":
    main()
