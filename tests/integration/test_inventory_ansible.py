"""
Ansible inventories as operators keep them (tests/fixtures/ansible/), read by rollup and compared
with what Ansible's own ``ansible-inventory --list`` says: hosts, groups, connection settings.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rollup.credentials import EnvRef, KeyringRef, VaultRef, resolve_credentials
from rollup.errors import CredentialError, InventoryError
from rollup.model.inventory import Host, Inventory, load_inventory
from rollup.model.roles import Role

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "ansible"
BIN = Path(sys.executable).parent
STATIC = ["ini-hmc/hosts.ini", "yaml-sites/hosts.yml", "site-folder"]
WITHOUT_ANSIBLE = "/usr/bin:/bin"


@pytest.fixture(autouse=True)
def _ansible_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """ansible-core comes with the test extras, beside this Python."""
    monkeypatch.setenv("PATH", f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    assert shutil.which("ansible-inventory"), "ansible-core (the test extras) is not installed"


def ansible_list(source: str, *extra: str) -> dict[str, Any]:
    """``ansible-inventory -i SOURCE --list``, run in the fixtures' folder."""
    done = subprocess.run(
        ["ansible-inventory", "-i", source, "--list", *extra],
        cwd=FIXTURES,
        capture_output=True,
        check=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    listing: dict[str, Any] = json.loads(done.stdout)
    return listing


def ansible_groups(listing: dict[str, Any]) -> dict[str, set[str]]:
    """Every host's groups, through groups of groups, as Ansible lists them (``all`` left out)."""
    direct: dict[str, set[str]] = {}
    parents: dict[str, set[str]] = {}
    for group, body in listing.items():
        if group == "_meta":
            continue
        for host in body.get("hosts", []):
            direct.setdefault(host, set()).add(group)
        for child in body.get("children", []):
            parents.setdefault(child, set()).add(group)

    def above(group: str) -> set[str]:
        return {group}.union(*(above(parent) for parent in parents.get(group, ())))

    return {host: set().union(*(above(g) for g in groups)) - {"all"} for host, groups in direct.items()}


def expected_connection(name: str, hostvars: dict[str, Any], base: Path) -> dict[str, Any]:
    """The connection settings Ansible's variables give a host, with rollup's defaults where unset."""
    scheme = hostvars.get("ansible_winrm_scheme", "http")
    ca_trust = hostvars.get("ansible_winrm_ca_trust_path")
    return {
        "address": hostvars.get("ansible_host", name),
        "port": int(hostvars.get("ansible_port", 5986 if scheme == "https" else 5985)),
        "scheme": scheme,
        "transport": hostvars.get("ansible_winrm_transport", "ntlm"),
        "cert_validation": hostvars.get("ansible_winrm_server_cert_validation", "validate"),
        "ca_trust_path": None if ca_trust is None else str(base / ca_trust),
        "user": hostvars.get("ansible_user"),
        "operation_timeout_s": float(hostvars.get("ansible_winrm_operation_timeout_sec", 20)),
        "read_timeout_s": float(hostvars.get("ansible_winrm_read_timeout_sec", 30)),
    }


def connection(host: Host) -> dict[str, Any]:
    return {
        "address": host.address,
        "port": host.port,
        "scheme": host.scheme.value,
        "transport": host.transport.value,
        "cert_validation": host.cert_validation.value,
        "ca_trust_path": None if host.ca_trust_path is None else str(host.ca_trust_path),
        "user": host.user,
        "operation_timeout_s": host.operation_timeout_s,
        "read_timeout_s": host.read_timeout_s,
    }


def assert_same_as_ansible(inventory: Inventory, source: str) -> None:
    listing = ansible_list(source)
    hostvars = listing["_meta"]["hostvars"]
    groups = ansible_groups(listing)
    local = FIXTURES / source
    base = local if local.is_dir() else local.parent

    assert {h.name for h in inventory.hosts} == set(groups)
    for host in inventory.hosts:
        assert host.groups == groups[host.name], host.name
        assert connection(host) == expected_connection(host.name, hostvars.get(host.name, {}), base), (
            host.name
        )


@pytest.mark.parametrize("source", STATIC)
def test_rollup_reads_an_ansible_inventory_as_ansible_does(source: str) -> None:
    """INI, YAML and a folder of both: rollup's hosts, groups and connections are Ansible's."""
    inventory = load_inventory(source, base_dir=FIXTURES)

    assert_same_as_ansible(inventory, source)


@pytest.mark.parametrize("source", STATIC)
def test_through_ansible_inventory_the_same_inventory_comes_out(source: str) -> None:
    """``ansible:SOURCE`` (read by ansible-inventory) gives the hosts rollup reads itself, digest and all."""
    native = load_inventory(source, base_dir=FIXTURES)
    through = load_inventory(f"ansible:{source}", base_dir=FIXTURES)

    assert through.source == f"ansible:{source}"
    assert through.digest() == native.digest()
    assert [(h.name, h.roles, h.groups) for h in through.hosts] == [
        (h.name, h.roles, h.groups) for h in native.hosts
    ]
    assert_same_as_ansible(through, source)


def test_ini_values_are_typed_as_ansible_types_them() -> None:
    """hosts.ini: ``true`` is text read as a boolean, a dict literal is a reference, ports are numbers."""
    inventory = load_inventory("ini-hmc/hosts.ini", base_dir=FIXTURES)
    dns = inventory.host("DNS01")

    assert inventory.production is True
    assert (dns.scheme.value, dns.port) == ("http", 5985)  # DNS01:5985 and the host's own scheme
    assert inventory.host("MPS01").password == EnvRef("ROLLUP_PROD_PASSWORD")
    assert inventory.host("COLLAB03").operation_timeout_s == 60.0
    assert inventory.host("MPS02").read_timeout_s == 90.0  # group_vars/all beats [hmc:vars]


def test_roles_come_from_rollup_role_in_groups_of_any_name() -> None:
    """yaml-sites: sites and functions as groups; roles from rollup_role(s) given to groups and hosts."""
    inventory = load_inventory("yaml-sites/hosts.yml", base_dir=FIXTURES)

    assert inventory.host("MPS01.hosting.example").roles == {Role.DEPLOYMENT_TOOL, Role.MPS_ENGINE}
    assert inventory.host("PROV03.hosting.example").roles == {Role.WEB_SERVICES}
    assert inventory.host("DNS01.hosting.example").roles == {Role.DNS}
    assert inventory.host("COLLAB01.hosting.example").groups == {
        "datacenter",
        "dc_south",
        "frontends",
        "monitoring",
    }
    assert isinstance(inventory.host("MPSSQL01.hosting.example").password, KeyringRef)
    sql = inventory.host("MPSSQL01.hosting.example")
    # group_vars/datacenter.yml beats what hosts.yml gives sql_servers, as in Ansible
    assert (sql.transport.value, sql.read_timeout_s) == ("ntlm", 60.0)
    assert [u.name for u in inventory.unused] == ["winrm_https", "nagios_check", "iis_site"]


def test_a_folder_reads_every_inventory_file_and_skips_what_ansible_skips() -> None:
    """site-folder: an INI and a YAML file make one inventory; README.md is skipped; host_vars/DNS01 read."""
    inventory = load_inventory("site-folder", base_dir=FIXTURES)

    assert len(inventory.hosts) == 8
    assert inventory.host("DNS01").address == "192.0.2.21"
    assert inventory.host("COLLAB02").groups == {"collab", "sharepoint"}
    assert inventory.host("MPS02").groups == {"mps_engine", "hmc_core"}


def test_a_dynamic_inventory_script_is_read_through_ansible_inventory() -> None:
    """script-fleet: an executable script; rollup hands it to ansible-inventory and reads its answer."""
    source = "script-fleet/cmdb_inventory.py"
    inventory = load_inventory(source, base_dir=FIXTURES)

    assert_same_as_ansible(inventory, source)
    assert inventory.host("CMDBMPS01").roles == {Role.DEPLOYMENT_TOOL, Role.MPS_ENGINE}
    assert [(u.name, u.where) for u in inventory.unused] == [("cmdb_site", f"{source}: group hmc")]


def test_a_vaulted_password_is_decrypted_by_ansible_vault_when_needed() -> None:
    """vaulted: ansible_password is a !vault value; with the password file it is a vault reference."""
    source = "vaulted/hosts.yml"
    vault = FIXTURES / "vaulted" / "vault.pw"
    inventory = load_inventory(source, base_dir=FIXTURES, vault_password_file=vault)
    host = inventory.host("LABDNS01")

    assert_same_as_ansible(inventory, source)
    assert isinstance(host.password, VaultRef)
    assert resolve_credentials(host, prompt=None).password.reveal() == "Lab-Winrm-2011!"
    assert [u.name for u in inventory.unused] == ["vault_sql_sa_password"]


def test_a_wrong_vault_password_is_one_line_naming_the_host(tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.pw"
    wrong.write_text("not the passphrase\n", encoding="utf-8")
    inventory = load_inventory("vaulted/hosts.yml", base_dir=FIXTURES, vault_password_file=wrong)

    with pytest.raises(CredentialError) as caught:
        resolve_credentials(inventory.host("LABMPS01"), prompt=None)

    assert str(caught.value).startswith(
        f"LABMPS01: ansible-vault could not decrypt the password of LAB\\svc-rollup with {wrong}: "
    )
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("source", "without", "expected"),
    [
        (
            "vaulted/hosts.yml",
            True,
            "vaulted/group_vars/all/vault.yml: line 2: ansible_password: "
            "encrypted with Ansible Vault (!vault); "
            "reading it needs ansible-inventory (ansible-core) installed",
        ),
        (
            "vaulted/hosts.yml",
            False,
            "vaulted/group_vars/all/vault.yml: line 2: ansible_password: "
            "encrypted with Ansible Vault (!vault); "
            "give --vault-password-file FILE to read it",
        ),
        (
            "script-fleet/cmdb_inventory.py",
            True,
            "script-fleet/cmdb_inventory.py: a dynamic inventory script; "
            "reading it needs ansible-inventory (ansible-core) installed",
        ),
        (
            "templated/hosts.ini",
            False,
            "templated/hosts.ini: line 9: [all:vars] ansible_host: a Jinja template ({{ }}), "
            "which rollup does not evaluate; give the value itself",
        ),
    ],
)
def test_what_needs_ansible_is_refused_in_one_line(
    monkeypatch: pytest.MonkeyPatch, source: str, without: bool, expected: str
) -> None:
    """Without ansible-inventory (or a vault password), a source only Ansible reads is one line naming it."""
    if without:
        monkeypatch.setenv("PATH", WITHOUT_ANSIBLE)
        assert shutil.which("ansible-inventory") is None
    with pytest.raises(InventoryError) as caught:
        load_inventory(source, base_dir=FIXTURES)

    assert str(caught.value) == expected


def test_ansible_inventory_failing_is_one_line(tmp_path: Path) -> None:
    """A plugin configuration whose plugin is not installed: ansible-inventory's error, in one line."""
    (tmp_path / "cloud.yml").write_text("plugin: example.missing.cloud_hosts\n", encoding="utf-8")

    with pytest.raises(InventoryError) as caught:
        load_inventory("cloud.yml", base_dir=tmp_path)

    assert str(caught.value).startswith("cloud.yml: ansible-inventory failed: ")
    assert "\n" not in str(caught.value)


def test_a_mistake_read_through_ansible_inventory_names_the_host(tmp_path: Path) -> None:
    """From ansible-inventory, errors name the source and the host whose resolved variable is wrong."""
    (tmp_path / "hosts.ini").write_text(
        "[deployment_tool]\nMPS01\n[mps_engine]\nMPS01\n[hmc:children]\nmps_engine\n[hmc:vars]\nansible_port=70000\n",
        encoding="utf-8",
    )

    with pytest.raises(InventoryError) as caught:
        load_inventory("ansible:hosts.ini", base_dir=tmp_path)

    assert str(caught.value) == "ansible:hosts.ini: host MPS01.ansible_port: must be 1-65535"
