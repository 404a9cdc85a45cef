"""A new operator points rollup at the Ansible inventory they have: `inventory show`, `plan`, in-process."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from rollup.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
FIX = "tests/fixtures/ansible"


@pytest.fixture(autouse=True)
def _in_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("ROLLUP_INVENTORY", raising=False)
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")


def test_show_an_ini_inventory_with_the_variables_rollup_does_not_use(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The table of an INI inventory, then every variable rollup does not use, once, with where it is set."""
    code = main(["inventory", "show", "-i", f"{FIX}/ini-hmc/hosts.ini"])
    out = capsys.readouterr().out.splitlines()

    assert code == 0
    assert out[0].startswith(f"{FIX}/ini-hmc/hosts.ini: 11 hosts, production, digest ")
    assert out[2].split() == [
        "MPS03", "mps_engine", "http://10.20.0.13:5985/wsman", "ntlm", "svc-rollup@hosting.local",
        "env", "ROLLUP_PROD_PASSWORD",
    ]  # fmt: skip
    assert out[-6:] == [
        "",
        "Variables rollup does not use (4):",
        f"  ansible_become_method  {FIX}/ini-hmc/group_vars/all.yml",
        f"  ntp_server             {FIX}/ini-hmc/group_vars/all.yml",
        f"  sharepoint_farm        {FIX}/ini-hmc/group_vars/collab/20-sharepoint.yml",
        f"  sql_instance           {FIX}/ini-hmc/host_vars/MPSSQL01.yml",
    ]


def test_show_json_has_groups_and_unused_variables(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["inventory", "show", "-i", f"{FIX}/yaml-sites/hosts.yml", "--json"])
    data = json.loads(capsys.readouterr().out)

    assert code == 0
    sql = next(h for h in data["hosts"] if h["name"] == "MPSSQL01.hosting.example")
    assert sql["groups"] == ["datacenter", "dc_north", "sql_servers"]
    assert sql["roles"] == ["mpssql"]
    assert data["unused"][1] == {
        "name": "nagios_check",
        "where": f"{FIX}/yaml-sites/hosts.yml: monitoring.vars",
    }


def test_plan_an_inventory_of_site_groups_and_note_unused_variables(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`rollup plan` reads roles from rollup_role(s) and says, on stderr, that some variables are not used."""
    code = main(["plan", "--inventory", f"{FIX}/yaml-sites/hosts.yml"])
    captured = capsys.readouterr()

    assert code == 0
    assert " on 10 hosts" in captured.out
    assert captured.err == (
        f"rollup: {FIX}/yaml-sites/hosts.yml: 3 variables rollup does not use "
        "(rollup inventory show lists them)\n"
    )


def test_plan_a_folder_limited_to_a_group_of_the_operators_own(capsys: pytest.CaptureFixture[str]) -> None:
    """--limit takes the inventory's own group names (`sharepoint`), not only roles."""
    code = main(["plan", "-i", f"{FIX}/site-folder", "--limit", "deployment_tool:sharepoint", "--json"])
    doc = json.loads(capsys.readouterr().out)

    assert code == 0
    assert {step["host"] for step in doc["steps"]} == {
        "MPS01",
        "COLLAB01",
        "COLLAB02",
        "COLLAB03",
        "MPSSQL01",
    }


def test_show_a_vaulted_inventory_with_the_vault_password_file(capsys: pytest.CaptureFixture[str]) -> None:
    """--vault-password-file: read through ansible-inventory; the password stays a vault reference."""
    vault = f"{FIX}/vaulted/vault.pw"
    code = main(
        ["inventory", "show", "-i", f"{FIX}/vaulted/hosts.yml", "--vault-password-file", vault, "--json"]
    )
    data = json.loads(capsys.readouterr().out)

    assert code == 0
    assert {h["credential"]["reference"] for h in data["hosts"]} == {"vault vault.pw"}
    assert "Lab-Winrm" not in json.dumps(data)


def test_show_a_dynamic_inventory_script(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["inventory", "show", "-i", f"ansible:{FIX}/script-fleet/cmdb_inventory.py"])
    out = capsys.readouterr().out

    assert code == 0
    assert out.startswith(f"ansible:{FIX}/script-fleet/cmdb_inventory.py: 4 hosts, not production")
    assert "https://203.0.113.31:5986/wsman" in out


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (
            ["-i", f"{FIX}/templated/hosts.ini"],
            f"{FIX}/templated/hosts.ini: line 9: [all:vars] ansible_host: a Jinja template ({{{{ }}}}), "
            "which rollup does not evaluate; give the value itself",
        ),
        (
            ["-i", f"{FIX}/vaulted/hosts.yml"],
            f"{FIX}/vaulted/group_vars/all/vault.yml: line 2: ansible_password: encrypted with Ansible Vault "
            "(!vault); give --vault-password-file FILE to read it",
        ),
        (
            ["-i", f"{FIX}/vaulted/hosts.yml", "--vault-password-file", "missing.pw"],
            f"--vault-password-file {ROOT}/missing.pw: no such file",
        ),
    ],
)
def test_what_rollup_cannot_read_exits_2_with_one_line(
    capsys: pytest.CaptureFixture[str], args: list[str], error: str
) -> None:
    code = main(["inventory", "show", *args])

    assert code == 2
    assert capsys.readouterr().err == f"rollup: {error}\n"


def test_an_inventory_name_finds_an_ini_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--inventory NAME` reads inventory/NAME.ini too; a bad line is one line naming the file and line."""
    (tmp_path / "inventory").mkdir()
    (tmp_path / "inventory" / "site.ini").write_text(
        "[deployment_tool]\nMPS01 ansible_host=192.0.2.11\n[mps_engine]\nMPS01\n", encoding="utf-8"
    )
    (tmp_path / "inventory" / "broken.ini").write_text("[mps_engine]\nMPS01 ansible_port\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)

    assert main(["inventory", "show", "-i", "site"]) == 0
    assert capsys.readouterr().out.startswith("inventory/site.ini: 1 host, not production")
    assert main(["inventory", "show", "-i", "broken"]) == 2
    assert capsys.readouterr().err == (
        "rollup: inventory/broken.ini: line 2: host MPS01: expected key=value, got 'ansible_port'\n"
    )
