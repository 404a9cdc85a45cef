"""
What the operation tests share: a simulation's context, the result a transport would hand a
parser, and a module's worth of pre-rollup hosts built from the real manifest and packages.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

from rollup.lab.prerollup import prerollup_states
from rollup.lab.state import HostState, MemoryBlobStore
from rollup.model.manifest import load_manifest
from rollup.model.roles import Role
from rollup.ops.base import CommandResult, SimContext, SimResult
from rollup.ps.result import format_result

MANIFEST = Path(__file__).resolve().parents[1] / "manifests" / "hmc40-rollup-2011-01.yml"
NOW = 1_300_000_000.0
"""The lab clock of a simulation that does not care what time it is."""


def sim_context(
    *,
    now: float = NOW,
    user: str = "HOSTING\\admin",
    stdin: bytes = b"",
    blobs: MemoryBlobStore | None = None,
) -> SimContext:
    """A simulation's context over ``blobs`` (a new, empty store when not given)."""
    store = MemoryBlobStore() if blobs is None else blobs
    return SimContext(now=now, user=user, read_blob=store.get, write_blob=store.put, stdin=stdin)


def command_result(
    host: str, op: str, stdout: str, exit_code: int = 0, *, stderr: str = "", duration_s: float = 1.0
) -> CommandResult:
    """What the transport hands a parser after ``op`` printed ``stdout`` on ``host``."""
    return CommandResult(
        host=host,
        op=op,
        command="",
        exit_code=exit_code,
        stdout=stdout,
        stderr=stderr,
        duration_s=duration_s,
    )


def answered(host: str, op: str, sim: SimResult, *, duration_s: float = 1.0) -> CommandResult:
    """What the transport hands a parser for the lab's answer ``sim``: its output, then its result line."""
    stdout = sim.stdout + format_result(sim.result) + "\r\n"
    return command_result(host, op, stdout, sim.exit_code, duration_s=duration_s)


@dataclass
class PrerollupLab:
    """Pre-rollup hosts, built once for a test module, and the blob store that holds their files."""

    blobs: MemoryBlobStore
    states: dict[str, HostState]
    now: float

    def host(self, name: str = "MPS01") -> HostState:
        """A private copy of a pre-rollup host."""
        return self.states[name].model_copy(deep=True)

    def ctx(self, stdin: bytes = b"", now: float | None = None) -> SimContext:
        """A simulation's context over the lab's blobs, at the lab's time unless ``now`` is given."""
        when = self.now if now is None else now
        return sim_context(now=when, user="HOSTING\\rollup-lab", stdin=stdin, blobs=self.blobs)


def prerollup_lab(
    tmp_path_factory: pytest.TempPathFactory, hosts: Iterable[tuple[str, frozenset[Role]]], *, now: float
) -> PrerollupLab:
    """The pre-rollup states of ``hosts`` (name and roles), their MSIs built once per test session."""
    blobs = MemoryBlobStore()
    cache = tmp_path_factory.getbasetemp() / "msi-cache"
    states = prerollup_states(load_manifest(MANIFEST), list(hosts), blobs=blobs, msi_cache_dir=cache)
    return PrerollupLab(blobs, {s.name: s for s in states}, now)
