"""
The simulated lab's throughput before and after a change, measured in one run.

Checks out ``--before`` (by default the last commit whose lab answered from Python twins instead
of running the scripts, 3287bab) into a temporary git worktree, then runs
``bench/bench_lab_fleet.py`` (500 hosts by default: ``rollup lab up``, pywinrm over NTLM with
encryption, ``hostname`` and ``products.list`` runs) once with that tree's code and once with
this one's, one after the other, and prints both outputs and the ratio of their requests per
second for each phase.

Run on demand: ``.venv/bin/python bench/bench_lab_before_after.py [--before REV] [--collab N] [--runs N]``.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RATE = re.compile(r"^\s*(\S+): .*= (\d+) requests/s", re.MULTILINE)


def fleet(tree: Path, options: argparse.Namespace) -> str:
    env = dict(os.environ, PYTHONPATH=str(tree))
    args = ["--collab", str(options.collab), "--runs", str(options.runs)]
    done = subprocess.run(
        [sys.executable, str(tree / "bench" / "bench_lab_fleet.py"), *args],
        check=True,
        capture_output=True,
        text=True,
        cwd=tree,
        env=env,
    )
    return done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", default="3287bab", help="the revision to compare with")
    parser.add_argument("--collab", type=int, default=497)
    parser.add_argument("--runs", type=int, default=1000)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rollup-before-") as folder:
        old = Path(folder) / "tree"
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(old), options.before],
            check=True,
            cwd=ROOT,
            capture_output=True,
        )
        try:
            before = fleet(old, options)
            after = fleet(ROOT, options)
        finally:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(old)], check=False, cwd=ROOT, capture_output=True
            )
    print(f"--- before ({options.before}) ---\n{before}--- after (this tree) ---\n{after}")
    rates_before = dict(RATE.findall(before))
    for what, rate in RATE.findall(after):
        if what in rates_before:
            print(
                f"{what}: {rate} requests/s after, {rates_before[what]} before: ratio {int(rate) / int(rates_before[what]):.2f}"
            )


if __name__ == "__main__":
    main()
