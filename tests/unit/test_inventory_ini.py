"""INI inventories as Ansible's ini plugin reads them; roles from rollup_role(s); unused variables."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rollup.errors import InventoryError
from rollup.model.inventory import Inventory, load_inventory
from rollup.model.inventory_ini import parse_ini
from rollup.model.roles import Role

F = "inventory/site.ini"
HEAD = "[deployment_tool]\nMPS01\n[mps_engine]\nMPS01\n"


def load_ini(tmp_path: Path, text: str) -> Inventory:
    (tmp_path / "inventory").mkdir(exist_ok=True)
    (tmp_path / "inventory" / "site.ini").write_text(text, encoding="utf-8")
    return load_inventory("site", base_dir=tmp_path)


def test_values_are_typed_as_ansible_types_them() -> None:
    """Host lines are split as a shell would; every value is a Python literal if it is one, else text."""
    text = (
        "; a comment\n[web]\n"
        "WEB01 a=5986 b=\"'5986'\" c=true d=True e=[1,2] f='two words' g={'env':'PW'} "
        "h=\"{'env': 'PW'}\" # the rest is a comment\n"
        '[web:vars]\np="5986"\nq = 5986\nr=yes\n'
    )
    data = parse_ini(text, display=F).data["all"]["children"]["web"]

    assert data["hosts"]["WEB01"] == {
        "a": 5986, "b": "5986", "c": "true", "d": True, "e": [1, 2], "f": "two words", "g": "{env:PW}",
        "h": {"env": "PW"},
    }  # fmt: skip
    assert data["vars"] == {"p": "5986", "q": 5986, "r": "yes"}


def test_ranges_ports_ungrouped_and_children(tmp_path: Path) -> None:
    """COLLAB[01:02], HOST:PORT, hosts before any section (ungrouped), groups of groups at any depth."""
    inventory = load_ini(
        tmp_path,
        "DNS01 rollup_role=dns\n" + HEAD + "[frontends]\nCOLLAB[01:02]:5986 ansible_winrm_scheme=https\n"
        "[sharepoint:children]\nfrontends\n[hmc:children]\nsharepoint\n"
        "[hmc:vars]\nrollup_roles=collab\ninsecure_lab=no\n",
    )

    assert [h.name for h in inventory.hosts] == ["DNS01", "MPS01", "COLLAB01", "COLLAB02"]
    assert inventory.host("DNS01").groups == {"ungrouped"}
    collab = inventory.host("COLLAB02")
    assert collab.endpoint == "https://COLLAB02:5986/wsman"
    assert collab.groups == {"frontends", "sharepoint", "hmc"}
    assert collab.roles == {Role.COLLAB}
    assert collab.insecure_lab is False


def test_roles_add_up_from_every_group_and_the_host(tmp_path: Path) -> None:
    """rollup_role(s) given to several groups of a host, and to the host, all count."""
    inventory = load_ini(
        tmp_path,
        "[core]\nMPS01 rollup_role=deployment_tool\n[engines]\nMPS01\n[dns]\nMPS01\n"
        "[core:vars]\nrollup_roles=['mps_engine']\n[engines:vars]\nrollup_role=mps_engine\n",
    )

    assert inventory.host("MPS01").roles == {Role.DEPLOYMENT_TOOL, Role.MPS_ENGINE, Role.DNS}


def test_every_unused_variable_is_reported_once_where_it_is_set(tmp_path: Path) -> None:
    inventory = load_ini(
        tmp_path,
        HEAD
        + "[farm]\nCOLLAB[01:03] rollup_role=collab backup_window=02:00\n[farm:vars]\nansible_become=true\n",
    )

    assert [(u.name, u.where) for u in inventory.unused] == [
        ("ansible_become", f"{F}: line 8: [farm:vars]"),
        ("backup_window", f"{F}: line 6: COLLAB01"),
        ("backup_window", f"{F}: line 6: COLLAB02"),
        ("backup_window", f"{F}: line 6: COLLAB03"),
    ]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("[web:hosts2]\n", f"{F}: line 1: section [web:hosts2] has an unknown type; expected [web], "
         "[web:vars] or [web:children]"),
        ("[web servers]\n", f"{F}: line 1: [web servers]: not a valid section header (a group name without "
         "spaces, then :vars or :children)"),
        (HEAD + "[web:vars]\nx=1\n", f"{F}: line 5: section [web:vars] is for group web, which the file does "
         "not define (no [web] or [web:children] section)"),
        (HEAD + "[hmc:children]\nweb\n", f"{F}: line 6: section [hmc:children] names group web, which the "
         "file does not define (no [web] or [web:children] section)"),
        ("[web]\nWEB01:\n", f"{F}: line 2: host WEB01:: a host pattern may not end in ':' "
         "(it introduces a port)"),
        ("[web]\nWEB01 a=1\nWEB01 a=2\n", f"{F}: line 3: WEB01 a: set again, to another value "
         "(line 2: WEB01 a)"),
        ("[web]\nWEB[01:x]\n", f"{F}: line 2: host WEB[01:x]: a host range is [first:last] or "
         "[first:last:step], both numbers or both letters"),
        (HEAD + "[mps_engine:vars]\nansible_port=70000\n", f"{F}: line 6: [mps_engine:vars] ansible_port: "
         "must be 1-65535"),
        (HEAD.replace("MPS01\n[mps", "MPS01 ansible_winrm_scheme=ftp\n[mps"), f"{F}: line 2: MPS01 "
         "ansible_winrm_scheme: must be one of http, https"),
        (HEAD + "[mps_engine:vars]\nrollup_colab_wave_size=2\n", f"{F}: line 6: [mps_engine:vars] "
         "rollup_colab_wave_size: unknown rollup variable (did you mean rollup_collab_wave_size?)"),
        ("[web]\nWEB01\n", f"{F}: line 2: WEB01: the host has no role: list it in a group named after a role "
         "(collab, deployment_tool, dns, mps_engine, mpssql, web_services) or give it rollup_role"),
    ],
)  # fmt: skip
def test_each_mistake_is_one_line_naming_the_file_and_line(tmp_path: Path, text: str, error: str) -> None:
    with pytest.raises(InventoryError) as caught:
        load_ini(tmp_path, text)

    assert str(caught.value) == error


def test_a_yaml_host_with_a_port_and_a_top_level_group(tmp_path: Path) -> None:
    """As Ansible's yaml plugin: `HOST:PORT` keys give ansible_port; top-level groups are groups of all."""
    folder = tmp_path / "inventory"
    folder.mkdir()
    (folder / "site.yml").write_text(
        "all:\n  hosts:\n    MPS01:5986: {rollup_roles: [deployment_tool, mps_engine]}\n"
        "frontends:\n  vars: {rollup_role: collab}\n  hosts:\n    COLLAB01:\n",
        encoding="utf-8",
    )
    inventory = load_inventory("site", base_dir=tmp_path)

    assert inventory.host("MPS01").port == 5986
    assert inventory.host("COLLAB01").groups == {"frontends"}
    assert inventory.host("COLLAB01").roles == {Role.COLLAB}


ROLES_EXAMPLE = """\
[web]
PROV[01:02].hosting.example

[sql_servers]
MPSSQL01.hosting.example

[mps]
MPS01.hosting.example rollup_roles="['deployment_tool', 'mps_engine']"

[web:vars]
rollup_role=web_services

[sql_servers:vars]
rollup_role=mpssql
"""


def test_the_roles_example_of_the_docs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """docs/inventory.md's Roles example, through `rollup inventory show`."""
    from rollup.cli.main import main

    assert ROLES_EXAMPLE in (Path(__file__).parents[2] / "docs" / "inventory.md").read_text(encoding="utf-8")
    (tmp_path / "hosts.ini").write_text(ROLES_EXAMPLE, encoding="utf-8")
    monkeypatch.chdir(tmp_path)

    assert main(["inventory", "show", "-i", "hosts.ini", "--json"]) == 0
    hosts = {h["name"]: h["roles"] for h in json.loads(capsys.readouterr().out)["hosts"]}
    assert hosts == {
        "PROV01.hosting.example": ["web_services"],
        "PROV02.hosting.example": ["web_services"],
        "MPSSQL01.hosting.example": ["mpssql"],
        "MPS01.hosting.example": ["deployment_tool", "mps_engine"],
    }


def test_a_folder_tells_yaml_from_ini_as_ansible_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No extension: YAML if a YAML mapping, else INI; .txt skipped; NAME finds the folder inventory/NAME."""
    from rollup.cli.main import main

    site = tmp_path / "inventory" / "site"
    (site / "more").mkdir(parents=True)
    (site / "hosts").write_text(HEAD, encoding="utf-8")
    (site / "more" / "extra").write_text("dns:\n  hosts:\n    DNS01:\n", encoding="utf-8")
    (site / "notes.txt").write_text("[not read\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)

    assert main(["inventory", "show", "-i", "site", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["source"] == "inventory/site"
    assert [h["name"] for h in data["hosts"]] == ["MPS01", "DNS01"]


def test_a_toml_inventory_needs_ansible(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    (tmp_path / "hosts.toml").write_text("[web]\n", encoding="utf-8")

    with pytest.raises(InventoryError) as caught:
        load_inventory("hosts.toml", base_dir=tmp_path)

    assert str(caught.value) == (
        "hosts.toml: an inventory in Ansible's TOML format; "
        "reading it needs ansible-inventory (ansible-core) installed"
    )
