"""
The run lock's marker (``rollup.ops.lock``): where it is, who takes it, and what it says.

The marker is one line of JSON, written by the result writer's ``ConvertTo-RollupJson`` (keys
sorted, printable ASCII); ``marker_text`` is that line as Python writes it, ``holder_of`` reads
one back, and ``run_id_member`` is the text by which the scripts recognise a run's own marker.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from rollup.ops.results import ResultModel
from rollup.ps.result import to_json

DEFAULT_PATH = "C:\\ConfigShare\\rollup.lock"
MARKER_VERSION = 1


def check_one_line(op: str, **values: str) -> None:
    """Each of ``values`` is non-blank text on one line; else ``ValueError`` naming ``op`` and the name."""
    for name, value in values.items():
        if not value.strip() or any(ord(c) < 32 for c in value):
            raise ValueError(f"{op}: {name} must be non-blank, on one line")


@dataclass(frozen=True, slots=True)
class LockReadParams:
    """Where the marker is."""

    path: str = DEFAULT_PATH

    def __post_init__(self) -> None:
        check_one_line("lock.read", path=self.path)


@dataclass(frozen=True, slots=True, kw_only=True)
class LockAcquireParams:
    """Who takes the lock: the run, the operator, the controller, the inventory, and when (UTC ISO 8601)."""

    path: str = DEFAULT_PATH
    run_id: str
    operator: str
    control_host: str
    inventory: str
    acquired_at: str

    def __post_init__(self) -> None:
        check_one_line(
            "lock.acquire",
            path=self.path,
            run_id=self.run_id,
            operator=self.operator,
            control_host=self.control_host,
            inventory=self.inventory,
            acquired_at=self.acquired_at,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class LockReleaseParams:
    """The run releasing its lock; ``force`` releases whoever holds it."""

    path: str = DEFAULT_PATH
    run_id: str
    force: bool = False

    def __post_init__(self) -> None:
        check_one_line("lock.release", path=self.path, run_id=self.run_id)


class LockHolder(ResultModel):
    """The content of a lock marker."""

    version: int
    run_id: str
    operator: str
    control_host: str
    inventory: str
    acquired_at: str

    def describe(self) -> str:
        """``run <id> of <operator> on <control host> since <time>``, for messages."""
        return f"run {self.run_id} of {self.operator} on {self.control_host} since {self.acquired_at}"


@dataclass(frozen=True, slots=True, kw_only=True)
class LockState:
    """
    The lock after an operation. ``held``: a marker exists; ``holder``: its content (``None``
    when there is no marker, or it is not rollup's JSON: then ``text`` shows what it is).
    """

    path: str
    held: bool
    holder: LockHolder | None
    text: str | None
    acquired: bool = False
    """``lock.acquire``: this run holds the lock now (created it, or already held it)."""
    created: bool = False
    """``lock.acquire``: this call created the marker."""
    released: bool = False
    """``lock.release``: this call deleted the marker."""


def marker_text(params: LockAcquireParams) -> str:
    """The marker ``lock.acquire`` writes, character for character as ``ConvertTo-RollupJson`` writes it."""
    return to_json(
        {
            "version": MARKER_VERSION,
            "run_id": params.run_id,
            "operator": params.operator,
            "control_host": params.control_host,
            "inventory": params.inventory,
            "acquired_at": params.acquired_at,
        }
    )


def run_id_member(run_id: str) -> str:
    """The text by which a marker names ``run_id``: its exact JSON member, as the writer prints it."""
    return '"run_id":' + to_json(run_id)


def holder_of(text: str | None) -> LockHolder | None:
    """The holder a marker's text names, or ``None`` when there is no marker or it is not rollup's JSON."""
    if text is None:
        return None
    try:
        return LockHolder.model_validate_json(text.strip())
    except ValidationError:
        return None
