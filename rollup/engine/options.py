"""
What a run works on (``RunSetup``) and how it runs (``RunOptions``): the inputs of ``rollup.engine.run``.

The CLI builds both: the loaded manifest and inventory, the plan, the checked package, the
transports and credentials, where runs are kept, who is running, and the callbacks through which
the engine shows progress (``emit``) and asks an operator to confirm a manual gate (``ask``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import JsonValue

from rollup.audit.redact import PROCESS_SECRETS, SecretRegistry
from rollup.credentials import CredentialCache
from rollup.engine.events import EventSink, discard
from rollup.engine.journal_state import Confirmation, Decision
from rollup.engine.package import Package
from rollup.model.inventory import Inventory
from rollup.model.manifest import Manifest
from rollup.planner import Plan, PlanStep
from rollup.transport.base import TransportRegistry

AskGate = Callable[[PlanStep, tuple[str, ...]], Confirmation | None]
"""Asks an operator on a terminal to confirm a checklist; ``None`` when they do not (yet)."""

AskDecision = Callable[[PlanStep], Decision]
"""Asks an operator on a terminal what becomes of a failed step (its details are shown already)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOptions:
    """How to run (the command line's choices)."""

    forks: int = 8
    max_fail_percent: float = 0.0
    resume: str | None = None
    """A run id, a unique prefix of one, or ``last``."""
    replan: bool = False
    confirm: tuple[str, ...] = ()
    """Manual gates confirmed in advance, by manifest step id or plan step id."""
    note: str = ""
    break_remote_lock: bool = False
    on_failure: Literal["stop", "pause"] = "stop"
    """``pause``: a failed step waits for an operator's decision (docs/apply.md, "Guided failure")."""
    recorded: Mapping[str, JsonValue] = field(default_factory=dict)
    """Options kept in ``run.json`` (paths, ``--limit``, ``--wave-size``) for a later resume."""
    overrides: tuple[tuple[str, str], ...] = ()
    """Checks the operator overrode, as ``(kind, reason)``: audited right after the run starts."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RunSetup:
    """What a run works on and with."""

    manifest: Manifest
    inventory: Inventory
    """As selected by ``--limit``."""
    inventory_digest: str
    """The digest of the whole inventory, which names its lock."""
    plan: Plan
    package: Package
    transports: TransportRegistry
    credentials: CredentialCache
    runs_dir: Path
    operator: str
    control_host: str
    emit: EventSink = discard
    ask: AskGate | None = None
    decide: AskDecision | None = None
    """Asks on a terminal about a failed step (``--on-failure pause``); ``None``: nobody to ask."""
    sleep: Callable[[float], None] = time.sleep
    registry: SecretRegistry = PROCESS_SECRETS
