"""
What the operation tests share: an operation's real script run in the lab's PowerShell on a
host's state, the result a transport would hand a parser, and a module's worth of pre-rollup
hosts built from the real manifest and packages.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from rollup.lab.prerollup import prerollup_states
from rollup.lab.pwsh.host import run_powershell
from rollup.lab.state import HostState, MemoryBlobStore, StateStore
from rollup.lab.windows.machine import Machine
from rollup.model.manifest import load_manifest
from rollup.model.roles import Role
from rollup.ops.base import CommandResult, Operation
from rollup.ops.registry import operation
from rollup.ps.result import read_result

MANIFEST = Path(__file__).resolve().parents[1] / "manifests" / "hmc40-rollup-2011-01.yml"
NOW = 1_300_000_000.0
"""The lab clock of a run that does not care what time it is."""

USER = "HOSTING\\admin"


@dataclass(frozen=True, slots=True)
class Ran:
    """What an operation's script did on a host: exit code, output, errors and its result line."""

    exit_code: int
    stdout: str
    stderr: str
    result: Any
    """The decoded ``#rollup-result`` line, or ``None`` when the script printed none."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RunContext:
    """Where a script runs besides its host: the clock, the caller, the blobs, the other hosts, stdin."""

    now: float = NOW
    user: str = USER
    stdin: bytes = b""
    blobs: MemoryBlobStore = field(default_factory=MemoryBlobStore)
    peers: StateStore | None = None


def run_context(
    *,
    now: float = NOW,
    user: str = USER,
    stdin: bytes = b"",
    blobs: MemoryBlobStore | None = None,
    peers: StateStore | None = None,
) -> RunContext:
    """A run's context over ``blobs`` (a new, empty store when not given)."""
    store = MemoryBlobStore() if blobs is None else blobs
    return RunContext(now=now, user=user, stdin=stdin, blobs=store, peers=peers)


def run_op(
    state: HostState, op: str | Operation[Any, Any], params: Any, ctx: RunContext | None = None
) -> Ran:
    """Run ``op``'s real script for ``params`` in the lab's PowerShell on ``state`` (changed in place)."""
    found = operation(op) if isinstance(op, str) else op
    assert found is not None, f"no operation {op!r}"
    context = RunContext() if ctx is None else ctx
    script = found.command(params).render()
    machine = Machine(state, context.blobs, now=context.now, user=context.user, peers=context.peers)
    lines = context.stdin.decode("utf-8", "replace").splitlines() if context.stdin else []
    run = run_powershell(script, machine, lines)
    return Ran(run.exit_code, run.stdout, run.stderr, read_result(run.stdout))


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


def answered(host: str, op: str, ran: Ran, *, duration_s: float = 1.0) -> CommandResult:
    """What the transport hands a parser after the script's run ``ran`` on ``host``."""
    return command_result(host, op, ran.stdout, ran.exit_code, stderr=ran.stderr, duration_s=duration_s)


@dataclass
class PrerollupLab:
    """Pre-rollup hosts, built once for a test module, and the blob store that holds their files."""

    blobs: MemoryBlobStore
    states: dict[str, HostState]
    now: float

    def host(self, name: str = "MPS01") -> HostState:
        """A private copy of a pre-rollup host."""
        return self.states[name].model_copy(deep=True)

    def ctx(self, stdin: bytes = b"", now: float | None = None) -> RunContext:
        """A run's context over the lab's blobs, at the lab's time unless ``now`` is given."""
        when = self.now if now is None else now
        return run_context(now=when, user="HOSTING\\rollup-lab", stdin=stdin, blobs=self.blobs)


def prerollup_lab(
    tmp_path_factory: pytest.TempPathFactory, hosts: Iterable[tuple[str, frozenset[Role]]], *, now: float
) -> PrerollupLab:
    """The pre-rollup states of ``hosts`` (name and roles), their MSIs built once per test session."""
    blobs = MemoryBlobStore()
    cache = tmp_path_factory.getbasetemp() / "msi-cache"
    states = prerollup_states(load_manifest(MANIFEST), list(hosts), blobs=blobs, msi_cache_dir=cache)
    return PrerollupLab(blobs, {s.name: s for s in states}, now)
