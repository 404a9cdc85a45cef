"""verify.facts is built from the single fact operations' own PowerShell functions, and a COLLAB
host's script still travels on the command line (docs/verify.md: no Send)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rollup.model.manifest import load_manifest
from rollup.ops import complus, files, iis, products, service, sql
from rollup.ops.verify import FACTS
from rollup.testing.fleet import fleet_roles
from rollup.verify import verify_params

MANIFEST = Path(__file__).resolve().parents[2] / "manifests" / "hmc40-rollup-2011-01.yml"

SOURCES = [
    (files.FILE_FACTS, files.STAT_BODY),
    (products.PRODUCT_FACTS, products.BODY),
    (iis.IIS_FACTS, iis.GET_BODY),
    (iis.IIS_FACTS, iis.SET_BODY),
    (sql.SQL_FACTS, sql.BODY),
    (complus.COMPLUS_FACTS, complus.STATE_BODY),
    (complus.COMPLUS_FACTS, complus.RESTART_BODY),
    (service.SERVICE_FACTS, service.BODY),
]


@pytest.mark.parametrize(
    ("facts", "body"), SOURCES, ids=lambda v: v.split("(")[0][:30] if isinstance(v, str) else ""
)
def test_each_fact_has_one_source(facts: str, body: str) -> None:
    """The single operation's body and verify.facts carry the very same function text."""
    assert body.startswith(facts)
    assert facts in FACTS.body


def test_verify_for_each_role_carries_only_the_functions_it_calls() -> None:
    manifest = load_manifest(MANIFEST)
    roles = dict(fleet_roles(1))
    collab = FACTS.command(verify_params(manifest, roles["COLLAB01"])).render()
    assert products.PRODUCT_FACTS in collab
    assert iis.IIS_FACTS not in collab
    assert sql.SQL_FACTS not in FACTS.command(verify_params(manifest, roles["DNS01"])).render()
