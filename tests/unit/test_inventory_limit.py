"""--limit patterns: Ansible's union, intersection and exclusion over host and role names."""

from __future__ import annotations

from pathlib import Path

import pytest

from rollup.errors import UsageError
from rollup.model.inventory import Inventory, load_inventory

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(name="prod", scope="module")
def _prod() -> Inventory:
    return load_inventory("prod", base_dir=ROOT)


def names(inventory: Inventory) -> list[str]:
    return [host.name for host in inventory.hosts]


@pytest.mark.parametrize(
    ("limit", "expected"),
    [
        ("MPS01", ["MPS01"]),
        ("mps01", ["MPS01"]),
        ("DNS01,MPS02", ["MPS02", "DNS01"]),
        ("DNS01:MPS02", ["MPS02", "DNS01"]),
        ("collab", ["COLLAB01", "COLLAB02", "COLLAB03", "COLLAB04"]),
        ("COLLAB", ["COLLAB01", "COLLAB02", "COLLAB03", "COLLAB04"]),
        ("COLLAB0*", ["COLLAB01", "COLLAB02", "COLLAB03", "COLLAB04"]),
        ("collab0[12]", ["COLLAB01", "COLLAB02"]),
        ("*_engine", ["MPS01", "MPS02"]),
        ("collab:!COLLAB02", ["COLLAB01", "COLLAB03", "COLLAB04"]),
        ("!collab:!mps0*", ["DNS01", "MPSSQL01", "PROV01", "PROV02"]),
        ("!collab:!mps*", ["DNS01", "PROV01", "PROV02"]),
        ("mps_engine:&deployment_tool", ["MPS01"]),
        ("all:&web_services", ["PROV01", "PROV02"]),
        (
            "*:!PROV0?",
            ["MPS01", "MPS02", "DNS01", "COLLAB01", "COLLAB02", "COLLAB03", "COLLAB04", "MPSSQL01"],
        ),
        ("!COLLAB01,collab", ["COLLAB02", "COLLAB03", "COLLAB04"]),
        (" MPS01 , ! MPS01 ,DNS01", ["DNS01"]),
        ("MPS01,,", ["MPS01"]),
    ],
)
def test_limit_selects_in_file_order(prod: Inventory, limit: str, expected: list[str]) -> None:
    """The pattern selects these hosts, kept in file order, whatever the order of its terms."""
    selected = prod.select(limit)

    assert names(selected) == expected


def test_no_limit_is_the_whole_inventory(prod: Inventory) -> None:
    """select(None) keeps every host."""
    assert prod.select(None) is prod


def test_selection_keeps_settings_and_source(prod: Inventory) -> None:
    """A selection is an inventory of the same file and settings, with a digest of what it keeps."""
    selected = prod.select("collab")

    assert (selected.source, selected.settings) == (prod.source, prod.settings)
    assert selected.digest() != prod.digest()
    assert selected.digest() == prod.select("COLLAB0*").digest()


@pytest.mark.parametrize(
    ("limit", "expected"),
    [
        ("COLAB*", '--limit "COLAB*": matches no host or group'),
        ("MPS01,MPS09", '--limit "MPS09": matches no host or group'),
        ("all:!MPS09", '--limit "MPS09": matches no host or group'),
        ("MPS01:!MPS01", '--limit "MPS01:!MPS01": selects no host'),
        ("dns:&collab", '--limit "dns:&collab": selects no host'),
        ("~COLLAB.*", '--limit "~COLLAB.*": regular expressions are not supported; use globs'),
        ("MPS01,!", "--limit: '!' and '&' must be followed by a name"),
        (" , :", "--limit: the pattern is empty"),
        ("MPS01;calc", '--limit "MPS01;calc": matches no host or group'),
        ("a\nb", '--limit "a\\nb": matches no host or group'),
    ],
)
def test_bad_limits_are_one_line_usage_errors(prod: Inventory, limit: str, expected: str) -> None:
    """A term that matches nothing, or a pattern that selects nothing, is named in one line."""
    with pytest.raises(UsageError) as caught:
        prod.select(limit)

    assert str(caught.value) == expected
