"""
The rehearsal gate: a production apply wants a passing, recent rehearsal of the very manifest it
applies; it names what it found instead, and an override with a reason goes to the audit log.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from rollup.errors import UsageError
from rollup.model.inventory import Inventory, parse_inventory
from rollup.rehearsal.gate import (
    Verdict,
    check_gate,
    evaluate,
)
from rollup.rehearsal.record import PlanShape, RehearsalRecord, StageRecord, rehearsals_dir, write_record

NOW = datetime(2011, 3, 21, 9, 30, tzinfo=UTC)
DIGEST = "a" * 64
OTHER = "b" * 64


def rehearsal(n: int, *, result: str = "passed", digest: str = DIGEST, days_ago: float = 1.0,
              simulated: bool = False) -> RehearsalRecord:  # fmt: skip
    finished = NOW - timedelta(days=days_ago)
    return RehearsalRecord(
        rehearsal_id=f"20110320T0000{n:02d}Z-000{n % 10}",
        result=result,  # type: ignore[arg-type]
        started_at=finished - timedelta(minutes=40),
        finished_at=finished,
        tool_version="0.1.0",
        operator="op",
        control_host="ctl",
        simulated=simulated,
        seed=n,
        inventory_source="inventory/lab.yml",
        inventory_digest="c" * 64,
        manifest_id="hmc40-rollup-2011-01",
        manifest_digest=digest,
        plan=PlanShape(fingerprint="f" * 64, roles={"collab": 2}, hosts=7, steps=40),
        stages=(StageRecord(name="apply", result="passed"),),
        drills=(),
        snapshot=None,
        run_id="20110320T000000Z-0000",
        audit_head="d" * 64,
    )


def test_a_recent_passing_rehearsal_of_the_same_manifest_lets_production_through() -> None:
    """The newest fresh passing rehearsal of this digest is the one the gate names."""
    decision = evaluate([rehearsal(1, days_ago=3), rehearsal(2, days_ago=1), rehearsal(3, digest=OTHER)],
                        manifest_digest=DIGEST, max_age_days=14, now=NOW)  # fmt: skip

    assert decision.verdict is Verdict.PASSED
    assert decision.allows
    assert decision.rehearsal_id == rehearsal(2).rehearsal_id


REFUSALS = [
    pytest.param([], Verdict.NO_REHEARSAL, f"no rehearsal of manifest {DIGEST} has been recorded", id="none"),
    pytest.param(
        [rehearsal(1, result="failed"), rehearsal(2, result="failed")],
        Verdict.ONLY_FAILED,
        f"every rehearsal of manifest {DIGEST} failed (2: 20110320T000001Z-0001, 20110320T000002Z-0002)",
        id="only-failed",
    ),
    pytest.param(
        [rehearsal(1, days_ago=30), rehearsal(2, days_ago=15)],
        Verdict.TOO_OLD,
        f"the newest passing rehearsal of manifest {DIGEST} (20110320T000002Z-0002) finished 15 days ago; "
        "the limit is 14 days (rollup_rehearsal_max_age_days)",
        id="too-old",
    ),
    pytest.param(
        [rehearsal(1, digest=OTHER)],
        Verdict.OTHER_DIGEST,
        f"no rehearsal of manifest {DIGEST}; the passing rehearsals are of other manifests: "
        f"{OTHER} (20110320T000001Z-0001)",
        id="other-digest",
    ),
    pytest.param(
        [rehearsal(1, simulated=True)],
        Verdict.NO_REHEARSAL,
        f"no rehearsal of manifest {DIGEST} has been recorded (1 simulated ones do not count)",
        id="simulated-only",
    ),
]


@pytest.mark.parametrize(("records", "verdict", "message"), REFUSALS)
def test_each_refusal_says_what_was_found(
    records: list[RehearsalRecord], verdict: Verdict, message: str
) -> None:
    """No rehearsal, only failed ones, too old ones, other digests: each is its own one-line reason."""
    decision = evaluate(records, manifest_digest=DIGEST, max_age_days=14, now=NOW)

    assert decision.verdict is verdict
    assert not decision.allows
    assert decision.message == message


def inventory(tmp_path: Path, *, production: bool, extra: str = "") -> Inventory:
    text = f"""
all:
  vars: {{rollup_production: {str(production).lower()}{extra}}}
  children:
    deployment_tool: {{hosts: {{MPS01: {{scheme: https}}}}}}
"""
    return parse_inventory(yaml.safe_load(text), source="inventory/prod.yml", base_dir=tmp_path)


def test_production_is_refused_before_anything_without_a_rehearsal(tmp_path: Path) -> None:
    """The refusal names the inventory, the reason, the records folder, and the override."""
    runs = tmp_path / ".rollup" / "runs"
    write_record(rehearsals_dir(runs), rehearsal(1, result="failed"))

    with pytest.raises(UsageError) as caught:
        check_gate(inventory(tmp_path, production=True), manifest_digest=DIGEST, runs_dir=runs, now=NOW)

    assert str(caught.value) == (
        f"inventory/prod.yml: production needs a passing rehearsal: every rehearsal of manifest {DIGEST} "
        f"failed (1: 20110320T000001Z-0001) (in {tmp_path / '.rollup' / 'rehearsals'})"
    )
    assert caught.value.hint is not None
    assert "--skip-rehearsal --reason" in caught.value.hint


def test_production_passes_with_a_record_and_the_inventory_sets_the_age(tmp_path: Path) -> None:
    """A record 2 days old passes at the default 14 days, not at ``rollup_rehearsal_max_age_days: 1``."""
    runs = tmp_path / "runs"
    write_record(rehearsals_dir(runs), rehearsal(1, days_ago=2))

    prod = inventory(tmp_path, production=True)
    accepted = check_gate(prod, manifest_digest=DIGEST, runs_dir=runs, now=NOW)
    strict = inventory(tmp_path, production=True, extra=", rollup_rehearsal_max_age_days: 1")

    assert accepted.verdict is Verdict.PASSED
    with pytest.raises(UsageError, match="finished 2 days ago; the limit is 1 days"):
        check_gate(strict, manifest_digest=DIGEST, runs_dir=runs, now=NOW)


def test_lab_inventories_are_exempt(tmp_path: Path) -> None:
    """Without ``rollup_production: true`` nothing is read and nothing is refused."""
    decision = check_gate(inventory(tmp_path, production=False), manifest_digest=DIGEST, runs_dir=tmp_path)

    assert decision.verdict is Verdict.EXEMPT
