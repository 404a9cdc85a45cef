"""``rollup plan`` in-process: the table, the JSON contract, and its errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rollup.cli.main import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _in_project(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("ROLLUP_INVENTORY", raising=False)


def test_plan_shows_every_step_for_every_host(capsys: pytest.CaptureFixture[str]) -> None:
    """The lab plan lists all 29 plan steps, the hosts, and the fingerprint."""
    code = main(["plan", "--inventory", "lab"])

    out = capsys.readouterr().out
    assert code == 0
    assert "29 steps on 8 hosts" in out
    assert "fingerprint " in out
    for host in ("MPS01", "DNS01", "COLLAB01", "COLLAB02", "MPSSQL01"):
        assert host in out


def test_plan_json_is_the_documented_contract(capsys: pytest.CaptureFixture[str]) -> None:
    """--json prints fingerprint and steps[] with id, host, kind, after and params."""
    code = main(["plan", "--inventory", "prod", "--json"])

    doc = json.loads(capsys.readouterr().out)
    assert code == 0
    assert len(doc["fingerprint"]) == 64
    assert doc["steps"][0]["id"] == "confirm-prerequisites@MPS01"
    assert all({"id", "host", "kind", "after", "params"} <= set(s) for s in doc["steps"])


def test_plan_limit_and_wave_size(capsys: pytest.CaptureFixture[str]) -> None:
    """--limit narrows the hosts; --wave-size regroups the COLLAB hosts."""
    code = main(["plan", "-i", "prod", "--limit", "MPS01:COLLAB0*", "--wave-size", "1", "--json"])

    doc = json.loads(capsys.readouterr().out)
    assert code == 0
    assert {s["host"] for s in doc["steps"]} == {"MPS01", "COLLAB01", "COLLAB02", "COLLAB03", "COLLAB04"}
    assert max(s["wave"] or 0 for s in doc["steps"]) == 4


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["plan"], "--inventory NAME|PATH is required"),
        (["plan", "-i", "nosuch"], "inventory/nosuch.yml: no such file"),
        (["plan", "-i", "lab", "--limit", "ZZZ*"], "matches no host"),
        (["plan", "-i", "lab", "--manifest", "nope.yml"], "nope.yml: no such file"),
        (["plan", "-i", "lab", "--limit", "collab"], "deployment_tool"),
    ],
)
def test_plan_errors_are_one_line_and_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every bad input is one line on stderr naming what is wrong, with exit code 2."""
    code = main(args)

    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert "Traceback" not in err


def test_an_unknown_inventory_name_lists_the_ones_there(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["plan", "-i", "prdo"])

    assert code == 2
    assert capsys.readouterr().err.splitlines() == [
        "rollup: inventory/prdo.yml: no such file",
        "hint: inventories here: lab, prod",
    ]


def test_an_inventory_name_outside_a_project_directory_says_where_names_are_looked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = Path("manifests/hmc40-rollup-2011-01.yml").resolve()
    monkeypatch.chdir(tmp_path)

    code = main(["plan", "-i", "prod", "--manifest", str(manifest)])

    err = capsys.readouterr().err.splitlines()
    assert code == 2
    assert err[0] == "rollup: inventory/prod.yml: no such file"
    assert err[1].startswith("hint: an inventory NAME is inventory/NAME.yml under the current directory")


def test_the_reinstall_goes_in_the_kbs_order(capsys: pytest.CaptureFixture[str]) -> None:
    """The KB reinstalls ManagedHelpers.msi 11th (its uninstall list has Managed Helpers 15th)."""
    code = main(["plan", "--inventory", "lab", "--json"])
    steps = {s["id"]: s for s in json.loads(capsys.readouterr().out)["steps"]}

    def names(step: str) -> list[str]:
        return [c["name"] for c in steps[f"{step}@MPS01"]["params"]["components"]]

    assert code == 0
    assert names("reinstall-components").index("Managed Helpers") == 10
    assert names("uninstall-components").index("Managed Helpers") == 14
    assert sorted(names("reinstall-components")) == sorted(names("uninstall-components"))
