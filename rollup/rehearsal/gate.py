"""
The rehearsal gate: a production apply needs a passing rehearsal of the very manifest it applies.

Deployment tools gate on environments ("it went to staging first"); this gate is on artifacts.
``rollup apply`` on an inventory that declares itself production (``rollup_production: true``)
calls ``check_gate`` before any host is contacted. It reads the rehearsal records
(``rollup.rehearsal.record``) and wants one that passed, of the same manifest digest (which covers
every package file's pinned SHA-256), against a lab rather than the simulated one, finished no more
than the inventory's ``rollup_rehearsal_max_age_days`` ago (default 14). Otherwise it refuses with
one line saying what it found instead:

- no rehearsal at all;
- rehearsals of this manifest, all failed;
- passing rehearsals of this manifest, all too old;
- passing rehearsals of other manifests only (their digests are named beside this one's).

``--skip-rehearsal --reason TEXT`` lets the run start anyway: ``check_gate`` returns a ``SKIPPED``
decision, which the apply command keeps in the run's facts (``run.json``, and so in the
``run_started`` audit record, as it keeps the accepted rehearsal's id) and records in the run's
audit log (``override_recorded``, kind ``rehearsal_gate_skipped``, the
reason and the operator). Lab and simulated inventories are exempt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path

from pydantic import JsonValue

from rollup.errors import RehearsalRequired, UsageError
from rollup.model.inventory import Inventory
from rollup.rehearsal.record import RehearsalRecord, read_records, rehearsals_dir

OVERRIDE_KIND = "rehearsal_gate_skipped"
SHOWN_OTHERS = 3


class Verdict(StrEnum):
    PASSED = "passed"
    EXEMPT = "exempt"
    """Not a production inventory."""
    SKIPPED = "skipped"
    """Overridden with ``--skip-rehearsal --reason``."""
    NO_REHEARSAL = "no_rehearsal"
    ONLY_FAILED = "only_failed"
    TOO_OLD = "too_old"
    OTHER_DIGEST = "other_digest"


@dataclass(frozen=True, slots=True, kw_only=True)
class GateDecision:
    """What the gate decided, and why, in one line."""

    verdict: Verdict
    message: str
    rehearsal_id: str | None = None
    """The passing rehearsal the gate accepted."""
    reason: str | None = None
    """The operator's reason for an override."""

    @property
    def allows(self) -> bool:
        return self.verdict in (Verdict.PASSED, Verdict.EXEMPT, Verdict.SKIPPED)

    def facts(self) -> dict[str, JsonValue]:
        """What the run's ``run.json`` (and its ``run_started`` audit record) keep of the decision."""
        return {"verdict": self.verdict.value, "rehearsal_id": self.rehearsal_id, "reason": self.reason}


def evaluate(
    records: Sequence[RehearsalRecord], *, manifest_digest: str, max_age_days: int, now: datetime
) -> GateDecision:
    """The gate's decision over ``records`` (pure; simulated rehearsals are not counted)."""
    real = [r for r in records if not r.simulated]
    same = [r for r in real if r.manifest_digest == manifest_digest]
    passing = sorted((r for r in same if r.result == "passed"), key=lambda r: r.finished_at)
    limit = timedelta(days=max_age_days)
    fresh = [r for r in passing if now - r.finished_at <= limit]
    if fresh:
        chosen = fresh[-1]
        return GateDecision(
            verdict=Verdict.PASSED,
            message=f"rehearsal {chosen.rehearsal_id} passed with manifest {manifest_digest} "
            f"on {chosen.finished_at:%Y-%m-%d %H:%M} UTC",
            rehearsal_id=chosen.rehearsal_id,
        )
    if passing:
        newest = passing[-1]
        age = (now - newest.finished_at).days
        return GateDecision(
            verdict=Verdict.TOO_OLD,
            message=f"the newest passing rehearsal of manifest {manifest_digest} ({newest.rehearsal_id}) "
            f"finished {age} days ago; the limit is {max_age_days} days (rollup_rehearsal_max_age_days)",
        )
    if same:
        ids = ", ".join(r.rehearsal_id for r in same[-SHOWN_OTHERS:])
        return GateDecision(
            verdict=Verdict.ONLY_FAILED,
            message=f"every rehearsal of manifest {manifest_digest} failed ({len(same)}: {ids})",
        )
    others = [r for r in real if r.result == "passed"]
    if others:
        shown = ", ".join(f"{r.manifest_digest} ({r.rehearsal_id})" for r in others[-SHOWN_OTHERS:])
        return GateDecision(
            verdict=Verdict.OTHER_DIGEST,
            message=f"no rehearsal of manifest {manifest_digest}; the passing rehearsals are of "
            f"other manifests: {shown}",
        )
    found = f" ({len(records) - len(real)} simulated ones do not count)" if len(real) < len(records) else ""
    return GateDecision(
        verdict=Verdict.NO_REHEARSAL,
        message=f"no rehearsal of manifest {manifest_digest} has been recorded{found}",
    )


def check_gate(
    inventory: Inventory,
    *,
    manifest_digest: str,
    runs_dir: Path,
    skip_reason: str | None = None,
    now: datetime | None = None,
) -> GateDecision:
    """
    The gate for applying the manifest of ``manifest_digest`` to ``inventory`` (see the module
    docstring). Reads files only; contacts no host.

    Args:
        runs_dir: the runs directory; the records are in ``rehearsals/`` beside it.
        skip_reason: the ``--reason`` given with ``--skip-rehearsal``; ``None`` without it.

    Raises:
        RehearsalRequired: no passing, recent rehearsal of this manifest (the line says what was found),
            or an override without a reason.
    """
    if not inventory.production:
        return GateDecision(verdict=Verdict.EXEMPT, message=f"{inventory.source} is not for production")
    if skip_reason is not None:
        if not skip_reason.strip():
            raise UsageError("--skip-rehearsal needs --reason TEXT: why this goes to production unrehearsed")
        return GateDecision(
            verdict=Verdict.SKIPPED,
            message=f"the rehearsal gate was skipped: {skip_reason.strip()}",
            reason=skip_reason.strip(),
        )
    directory = rehearsals_dir(runs_dir)
    records, _ = read_records(directory)
    decision = evaluate(
        [record for _, record in records],
        manifest_digest=manifest_digest,
        max_age_days=inventory.settings.rehearsal_max_age_days,
        now=now or datetime.now(UTC),
    )
    if not decision.allows:
        raise RehearsalRequired(
            f"{inventory.source}: production needs a passing rehearsal: {decision.message} (in {directory})",
            hint="rehearse this manifest on the lab (`rollup rehearse --inventory lab`), or start anyway "
            'with --skip-rehearsal --reason "..." (recorded in the audit log)',
        )
    return decision
