"""
Rehearsal records: one JSON file per ``rollup rehearse``, the evidence the production gate reads.

Records live in ``rehearsals/`` beside the runs directory (``<state dir>/rehearsals/`` for the
default ``<state dir>/runs/``, ``rollup.state``), one ``<REHEARSAL_ID>.json`` each, written once
and durably (a record is never edited afterwards), next to a ``<REHEARSAL_ID>/`` folder holding
the logs of the ``rollup apply`` processes the rehearsal ran. A REHEARSAL_ID has the form of a
run id (``20110321T093000Z-1a2b``), so records sort in start order.

A record says what was rehearsed (the manifest's digest, which covers the package files' pinned
SHA-256s, and the plan's shape), with which tool, how each stage and drill went, and which run
it was, with the hash of that run's audit log head, so an auditor can tie the record to a log
``rollup audit verify --expect-head`` vouches for. ``result`` is ``passed`` only when preflight,
apply, verify and every drill passed and the revert succeeded, or was skipped with ``--keep``.
docs/rehearse.md describes every field.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationError

from rollup.audit.durable import make_dirs, write_once
from rollup.baseline import HostBaseline
from rollup.engine.rundir import new_run_id

REHEARSALS_DIR = "rehearsals"
Outcome = Literal["passed", "failed", "skipped"]
StageName = Literal["snapshot", "preflight", "apply", "verify", "revert", "cleanup"]
DrillName = Literal["kill-resume", "host-down"]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PlanShape(_Frozen):
    """What was rehearsed, beside the manifest: the roles and how many hosts play each."""

    fingerprint: str
    roles: dict[str, int]
    hosts: int
    steps: int


class StageRecord(_Frozen):
    """One stage of the rehearsal (snapshot, preflight, apply, verify, revert, cleanup)."""

    name: StageName
    result: Outcome
    detail: str = ""
    duration_s: float = 0.0


class DrillRecord(_Frozen):
    """One drill: where and when it struck (from the seed), and how the run came through."""

    name: DrillName
    result: Outcome
    detail: str
    host: str | None = None
    after_steps: int
    """The drill struck once this many steps of the run had finished."""


class VmRecord(_Frozen):
    host: str
    vm: str
    hypervisor: str
    provider: str


class SnapshotRecord(_Frozen):
    """The rehearsal's snapshot of the lab, and what became of it."""

    name: str
    vms: tuple[VmRecord, ...]
    reverted: bool
    removed: bool
    kept: bool


class RehearsalRecord(_Frozen):
    """A whole record file (see the module docstring)."""

    format: Literal[1] = 1
    rehearsal_id: str
    result: Literal["passed", "failed"]
    started_at: AwareDatetime
    finished_at: AwareDatetime
    tool_version: str
    operator: str
    control_host: str
    simulated: bool
    seed: int
    inventory_source: str
    inventory_digest: str
    manifest_id: str
    manifest_digest: str
    plan: PlanShape
    stages: tuple[StageRecord, ...]
    drills: tuple[DrillRecord, ...]
    snapshot: SnapshotRecord | None
    run_id: str | None
    audit_head: str | None
    """The hash of the last record of the run's audit log when the rehearsal ended."""
    baseline: tuple[HostBaseline, ...] | None = None
    """
    The golden baseline: every file in each lab host's component folders once verify passed
    (``rollup.baseline``); ``None`` when verify did not pass or the folders could not be read.
    """

    def stage(self, name: StageName) -> StageRecord | None:
        return next((s for s in self.stages if s.name == name), None)


def rehearsal_passed(stages: Sequence[StageRecord], drills: Sequence[DrillRecord], *, keep: bool) -> bool:
    """
    The rule for ``result``: preflight, apply, verify and every drill passed, and the revert
    passed or, with ``--keep``, was skipped.
    """
    by_name = {stage.name: stage.result for stage in stages}
    needed = all(by_name.get(name) == "passed" for name in ("snapshot", "preflight", "apply", "verify"))
    revert = by_name.get("revert")
    reverted = revert == "passed" or (keep and revert == "skipped")
    return needed and reverted and all(drill.result == "passed" for drill in drills)


def rehearsals_dir(runs_dir: Path) -> Path:
    """Where records are kept: ``rehearsals/`` beside the runs directory."""
    return runs_dir.parent / REHEARSALS_DIR


def new_rehearsal_id(now: datetime) -> str:
    """A fresh id, like a run id: the UTC start time and a random suffix."""
    return new_run_id(now, secrets.token_hex(2))


def logs_dir(directory: Path, rehearsal_id: str) -> Path:
    """The folder of a rehearsal's process logs (created)."""
    folder = directory / rehearsal_id
    make_dirs(folder)
    return folder


def write_record(directory: Path, record: RehearsalRecord) -> Path:
    """
    Write ``record`` as ``<directory>/<rehearsal_id>.json``, once and durably.

    Raises:
        FileExistsError: a record with that id exists (records are never replaced).
    """
    make_dirs(directory)
    path = directory / f"{record.rehearsal_id}.json"
    write_once(path, record.model_dump_json(indent=2).encode("utf-8") + b"\n")
    return path


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A file in the records folder that is not a record (named, with why)."""

    path: Path
    problem: str


def read_records(directory: Path) -> tuple[list[tuple[Path, RehearsalRecord]], list[Unreadable]]:
    """
    Every record in ``directory``, oldest first, and the files there that are not records. A
    missing directory holds none.
    """
    records: list[tuple[Path, RehearsalRecord]] = []
    unreadable: list[Unreadable] = []
    if not directory.is_dir():
        return records, unreadable
    for path in sorted(directory.glob("*.json")):
        try:
            records.append((path, RehearsalRecord.model_validate_json(path.read_bytes())))
        except (OSError, ValidationError) as exc:
            first = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
            unreadable.append(Unreadable(path, first))
    return records, unreadable
