"""`rollup inventory show`, run in-process through the CLI's single error boundary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rollup.cli.main import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _in_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("ROLLUP_INVENTORY", raising=False)


def test_show_prints_a_table_of_hosts(capsys: pytest.CaptureFixture[str]) -> None:
    """The table has one row per host with roles, endpoint, auth, user and the reference kind."""
    code = main(["inventory", "show", "--inventory", "prod"])
    out = capsys.readouterr().out.splitlines()

    assert code == 0
    assert out[0].startswith("inventory/prod.yml: 10 hosts, production, digest ")
    assert out[1].split() == ["HOST", "ROLES", "ENDPOINT", "AUTH", "USER", "CREDENTIAL"]
    assert out[2].split() == [
        "MPS01",
        "deployment_tool,mps_engine",
        "https://192.0.2.11:5986/wsman",
        "ntlm",
        "HOSTING\\svc-rollup",
        "env",
        "ROLLUP_PROD_PASSWORD",
    ]
    assert len(out) == 12


def test_show_limit_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    """--limit narrows the hosts; --json gives every connection field and the reference, not a value."""
    code = main(["inventory", "show", "-i", "inventory/lab.yml", "--limit", "COLLAB0*:!collab02", "--json"])
    data = json.loads(capsys.readouterr().out)

    assert code == 0
    assert data["source"] == "inventory/lab.yml"
    assert data["production"] is False
    assert [h["name"] for h in data["hosts"]] == ["COLLAB01"]
    assert data["hosts"][0]["endpoint"] == "http://198.51.100.31:5985/wsman"
    assert data["hosts"][0]["credential"] == {"kind": "env", "reference": "env ROLLUP_LAB_PASSWORD"}
    assert data["settings"]["collab_wave_size"] == 2
    assert len(data["digest"]) == 64


def test_inventory_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """ROLLUP_INVENTORY stands in for --inventory."""
    monkeypatch.setenv("ROLLUP_INVENTORY", "lab")

    code = main(["inventory", "show", "-l", "MPS01"])

    assert code == 0
    assert capsys.readouterr().out.startswith("inventory/lab.yml: 1 host, not production, digest ")


def test_missing_inventory_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """With neither --inventory nor ROLLUP_INVENTORY, the command stops with exit 2 and one line."""
    code = main(["inventory", "show"])

    assert code == 2
    assert capsys.readouterr().err == "rollup: --inventory NAME|PATH is required, or set ROLLUP_INVENTORY\n"


def test_bad_limit_exits_2_naming_the_pattern(capsys: pytest.CaptureFixture[str]) -> None:
    """A limit term that matches nothing exits 2 with one line naming it."""
    code = main(["inventory", "show", "-i", "prod", "--limit", "COLAB*"])

    assert code == 2
    assert capsys.readouterr().err == 'rollup: --limit "COLAB*": matches no host or group\n'


def test_bad_inventory_exits_2_with_one_line_and_no_secret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A literal password in the file exits 2 with one line that names the key and not the value."""
    text = (ROOT / "inventory" / "prod.yml").read_text(encoding="utf-8")
    bad = tmp_path / "bad.yml"
    bad.write_text(text.replace("{env: ROLLUP_PROD_PASSWORD}", "Tr0ub4dor&3"), encoding="utf-8")

    code = main(["inventory", "show", "-i", str(bad)])
    captured = capsys.readouterr()

    assert code == 2
    assert captured.out == ""
    assert captured.err == (
        f"rollup: {bad}: all.vars.rollup_password: a literal password is not allowed; "
        "use {env: NAME}, {keyring: SERVICE/USER}, {file: PATH} or {prompt: true}\n"
    )
    assert "Tr0ub4dor" not in captured.err


def test_show_reads_group_vars_and_host_vars_beside_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """As docs/inventory.md says: the files beside an inventory override it; an unusable one is refused."""
    folder = tmp_path / "inventory"
    (folder / "group_vars" / "collab").mkdir(parents=True)
    (folder / "host_vars").mkdir()
    (folder / "lab.yml").write_text(
        (ROOT / "inventory" / "lab.yml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    (folder / "group_vars" / "collab" / "connection.yml").write_text("port: 15985\n", encoding="utf-8")
    (folder / "host_vars" / "COLLAB01.yaml").write_text("ansible_host: 198.51.100.99\n", encoding="utf-8")

    code = main(["inventory", "show", "-i", str(folder / "lab.yml"), "--limit", "COLLAB01", "--json"])
    data = json.loads(capsys.readouterr().out)
    (folder / "group_vars" / "webfarm.yml").write_text("port: 1\n", encoding="utf-8")
    refused = main(["inventory", "show", "-i", str(folder / "lab.yml")])
    error = capsys.readouterr().err

    assert code == 0
    assert data["hosts"][0]["endpoint"] == "http://198.51.100.99:15985/wsman"
    assert refused == 2
    assert "group_vars/webfarm.yml: the inventory has no group webfarm" in error
