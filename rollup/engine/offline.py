"""
Recording an operator's word into a run that is not running: ``rollup confirm`` and
``rollup decide``. ``stopped_run`` opens the run's journal under the run's local lock, so the
record never interleaves with a resume; ``one_step`` finds the plan step the operator named.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path

from rollup.audit.redact import SecretRegistry
from rollup.engine import locks, rundir
from rollup.engine.journal import Journal
from rollup.errors import UsageError


@contextlib.contextmanager
def stopped_run(
    runs_dir: Path, ref: str, *, operator: str, control_host: str, registry: SecretRegistry
) -> Iterator[tuple[rundir.RunDir, Journal]]:
    """
    Run ``ref`` and its open journal, the run's inventory lock held by this process for the block.

    Raises:
        UsageError: no such run.
        LockHeld: the run (or another of its inventory) is running now.
    """
    run_dir = rundir.resolve_run(runs_dir, ref)
    facts = run_dir.read_facts()
    holder = locks.LockHolder.of_this_process(
        run_dir.run_id, operator=operator, host=control_host, inventory=facts.inventory_source
    )
    with (
        locks.acquire_lock(runs_dir, facts.inventory_digest, holder),
        Journal.open(run_dir.journal_path, registry=registry) as journal,
    ):
        yield run_dir, journal


def one_step(run_id: str, step: str, open_steps: Sequence[str], *, state: str, needed: str) -> str:
    """
    The one step of ``open_steps`` that ``step`` names: a plan step id
    (``install-wss-web-service@COLLAB01``), or a manifest step id when exactly one open step has it.

    Raises:
        UsageError: ``step`` names none or several, e.g. ``run R: S is not waiting for a
            confirmation (waiting: ...)``; ``state`` names the open steps (``waiting``), ``needed``
            what they wait for (``is not waiting for a confirmation``).
    """
    chosen = [s for s in open_steps if s == step or s.split("@", 1)[0] == step]
    if len(chosen) != 1:
        shown = ", ".join(open_steps) or "none"
        why = f"matches several {state} steps" if chosen else needed
        raise UsageError(f"run {run_id}: {step} {why} ({state}: {shown})")
    return chosen[0]
