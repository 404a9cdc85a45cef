"""Loading inventories: layout, roles, variables, precedence, and every refusal as one exact line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rollup.credentials import EnvRef, FileRef, KeyringRef, PromptRef
from rollup.errors import InventoryError
from rollup.model.inventory import (
    AuthTransport,
    CertValidation,
    Inventory,
    Scheme,
    SshBastion,
    load_inventory,
)
from rollup.model.roles import Role
from tests.unit.inventories import BASE

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str, name: str = "prod") -> Path:
    folder = tmp_path / "inventory"
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.yml"
    path.write_text(text, encoding="utf-8")
    return path


def load(tmp_path: Path, text: str) -> Inventory:
    write(tmp_path, text)
    return load_inventory("prod", base_dir=tmp_path)


def edit(old: str, new: str, text: str = BASE) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def test_the_example_inventory_loads_with_roles_and_defaults(tmp_path: Path) -> None:
    """The documented example gives hosts in file order, roles from groups, and connection defaults."""
    inventory = load(tmp_path, BASE)
    mps01 = inventory.host("MPS01")
    mps02 = inventory.host("mps02")

    assert [h.name for h in inventory.hosts] == ["MPS01", "MPS02", "DNS01", "COLLAB01"]
    assert inventory.source == "inventory/prod.yml"
    assert mps01.roles == {Role.DEPLOYMENT_TOOL, Role.MPS_ENGINE}
    assert inventory.roles_of("MPS02") == {Role.MPS_ENGINE}
    assert mps01.endpoint == "http://192.0.2.11:5985/wsman"
    assert mps02.address == "192.0.2.12"
    assert (mps01.scheme, mps01.transport, mps01.cert_validation) == (
        Scheme.HTTP,
        AuthTransport.NTLM,
        CertValidation.VALIDATE,
    )
    assert (mps01.operation_timeout_s, mps01.read_timeout_s) == (20.0, 30.0)
    assert mps01.user == "HOSTING\\svc-rollup"
    assert mps01.password == EnvRef("ROLLUP_PASSWORD")
    assert not inventory.production


def test_group_vars_apply_to_the_group_and_https_defaults_to_5986(tmp_path: Path) -> None:
    """Group vars reach the group's hosts only; the default port follows the scheme."""
    inventory = load(tmp_path, edit("{port: 5986, scheme: https}", "{scheme: https}"))

    assert inventory.host("COLLAB01").endpoint == "https://192.0.2.31:5986/wsman"
    assert inventory.host("DNS01").endpoint == "http://192.0.2.21:5985/wsman"


def test_hosts_in_keeps_file_order(tmp_path: Path) -> None:
    """hosts_in gives a role's hosts in the order of the file."""
    inventory = load(tmp_path, BASE)

    assert [h.name for h in inventory.hosts_in(Role.MPS_ENGINE)] == ["MPS01", "MPS02"]
    assert inventory.hosts_in(Role.WEB_SERVICES) == ()


def test_address_defaults_to_the_host_name(tmp_path: Path) -> None:
    """A host without address is reached by its own name."""
    inventory = load(tmp_path, edit("DNS01: {address: 192.0.2.21}", "dns01.hosting.example:"))

    assert inventory.host("DNS01.HOSTING.EXAMPLE").endpoint == "http://dns01.hosting.example:5985/wsman"


def test_ipv6_address_is_bracketed_in_the_endpoint(tmp_path: Path) -> None:
    """An IPv6 address is normalised and put in brackets in the URL."""
    inventory = load(tmp_path, edit("192.0.2.21", "'2001:db8:0::21'"))

    assert inventory.host("DNS01").endpoint == "http://[2001:db8::21]:5985/wsman"


def test_precedence_all_vars_then_group_then_host(tmp_path: Path) -> None:
    """all.vars < group vars < host vars."""
    text = edit("rollup_user:", "port: 1000\n    rollup_user:")
    text = edit(
        "COLLAB01: {address: 192.0.2.31}",
        "COLLAB01: {address: 192.0.2.31}\n        COLLAB02: {port: 3000}",
        text,
    )
    inventory = load(tmp_path, text)

    assert inventory.host("DNS01").port == 1000
    assert inventory.host("COLLAB01").port == 5986
    assert inventory.host("COLLAB02").port == 3000


def test_host_in_two_groups_with_agreeing_vars_is_accepted(tmp_path: Path) -> None:
    """Two groups setting the same value for a shared host is no conflict."""
    text = edit("    mps_engine:\n", "    mps_engine:\n      vars: {port: 5986}\n")
    text = edit("    deployment_tool:\n", "    deployment_tool:\n      vars: {port: 5986}\n", text)
    inventory = load(tmp_path, text)

    assert inventory.host("MPS01").port == 5986


def test_host_vars_decide_a_conflict_between_groups(tmp_path: Path) -> None:
    """A variable set on the host wins over two disagreeing groups."""
    text = edit("    mps_engine:\n", "    mps_engine:\n      vars: {port: 1111}\n")
    text = edit("    deployment_tool:\n", "    deployment_tool:\n      vars: {port: 2222}\n", text)
    text = edit("MPS01: {address: 192.0.2.11}", "MPS01: {address: 192.0.2.11, port: 3333}", text)
    inventory = load(tmp_path, text)

    assert inventory.host("MPS01").port == 3333


def test_child_group_hosts_belong_to_the_parent_and_child_vars_win(tmp_path: Path) -> None:
    """Nested children: the child's hosts get the parent role; the child's vars beat the parent's."""
    text = edit(
        "    mps_engine:\n      hosts:\n        MPS01:\n",
        "    mps_engine:\n      vars: {port: 1111}\n"
        "      children:\n        deployment_tool:\n      hosts:\n",
    )
    text = edit("    deployment_tool:\n", "    deployment_tool:\n      vars: {port: 2222}\n", text)
    inventory = load(tmp_path, text)

    assert inventory.host("MPS01").roles == {Role.DEPLOYMENT_TOOL, Role.MPS_ENGINE}
    assert inventory.host("MPS01").port == 2222
    assert inventory.host("MPS02").port == 1111


def test_all_hosts_may_carry_vars_for_hosts_listed_in_roles(tmp_path: Path) -> None:
    """Ansible's all.hosts holds host vars; the host still gets its roles from the groups."""
    inventory = load(tmp_path, edit("  children:", "  hosts:\n    DNS01: {read_timeout_s: 90}\n  children:"))

    assert inventory.host("DNS01").read_timeout_s == 90.0
    assert inventory.host("DNS01").roles == {Role.DNS}


def test_ansible_variables_map_onto_rollup_variables(tmp_path: Path) -> None:
    """Every understood Ansible name sets its rollup variable; checked-only names are accepted."""
    host_vars = (
        "{ansible_host: 192.0.2.99, ansible_port: 443, ansible_winrm_scheme: https, "
        "ansible_winrm_transport: kerberos, ansible_winrm_server_cert_validation: ignore, "
        "ansible_winrm_ca_trust_path: ca/bundle.pem, ansible_user: svc@hosting.example, "
        "ansible_password: {keyring: rollup}, ansible_winrm_operation_timeout_sec: 50, "
        "ansible_winrm_read_timeout_sec: 60, ansible_connection: psrp, "
        "ansible_winrm_message_encryption: always, ansible_winrm_path: /wsman, "
        "ansible_shell_type: powershell, ansible_winrm_kinit_mode: manual}"
    )
    inventory = load(tmp_path, edit("{address: 192.0.2.21}", host_vars))
    dns = inventory.host("DNS01")

    assert dns.endpoint == "https://192.0.2.99:443/wsman"
    assert dns.transport is AuthTransport.KERBEROS
    assert dns.cert_validation is CertValidation.IGNORE
    assert dns.ca_trust_path == tmp_path / "inventory" / "ca" / "bundle.pem"
    assert dns.user == "svc@hosting.example"
    assert dns.password == KeyringRef("rollup")
    assert (dns.operation_timeout_s, dns.read_timeout_s) == (50.0, 60.0)


def test_rollup_prefixed_and_other_ansible_spellings(tmp_path: Path) -> None:
    """rollup_<name>, ansible_winrm_host/port/user/pass are further spellings of the same variables."""
    host_vars = (
        "{ansible_winrm_host: 192.0.2.98, ansible_winrm_port: 9000, ansible_winrm_user: svc, "
        "ansible_winrm_pass: {prompt: true}, rollup_transport: credssp}"
    )
    dns = load(tmp_path, edit("{address: 192.0.2.21}", host_vars)).host("DNS01")

    assert dns.endpoint == "http://192.0.2.98:9000/wsman"
    assert (dns.user, dns.password, dns.transport) == ("svc", PromptRef(), AuthTransport.CREDSSP)


def test_file_reference_is_relative_to_the_inventory_file(tmp_path: Path) -> None:
    """{file: PATH} resolves against the inventory's directory, not the current one."""
    inventory = load(tmp_path, edit("{env: ROLLUP_PASSWORD}", "{file: ../secrets/prod.pw}"))

    assert inventory.host("MPS01").password == FileRef(
        tmp_path / "inventory" / "../secrets/prod.pw", "../secrets/prod.pw"
    )


def test_basic_over_http_is_allowed_in_a_lab(tmp_path: Path) -> None:
    """insecure_lab: true allows Basic over plain HTTP outside production."""
    inventory = load(tmp_path, edit("{port: 5986, scheme: https}", "{transport: basic, insecure_lab: true}"))

    assert inventory.host("COLLAB01").transport is AuthTransport.BASIC
    assert inventory.host("COLLAB01").insecure_lab


def test_basic_over_https_needs_no_lab_flag(tmp_path: Path) -> None:
    """Basic over HTTPS is encrypted by TLS and accepted."""
    inventory = load(tmp_path, edit("{port: 5986, scheme: https}", "{scheme: https, transport: basic}"))

    assert inventory.host("COLLAB01").transport is AuthTransport.BASIC


def test_settings_and_their_defaults(tmp_path: Path) -> None:
    """Inventory-wide settings come from all.vars; unset ones take their defaults."""
    default = load(tmp_path, BASE).settings
    text = edit(
        "rollup_user:",
        "rollup_production: true\n    rollup_collab_wave_size: 3\n    rollup_shared_oab: never\n"
        "    rollup_deployment_tool_strategy: command\n"
        "    rollup_deployment_tool_command: 'deploytool.cmd /run'\n    rollup_user:",
    )
    inventory = load(tmp_path, text)

    assert (default.production, default.collab_wave_size, default.shared_oab) == (False, 2, "auto")
    assert (default.deployment_tool_strategy, default.deployment_tool_command) == ("manual", None)
    assert inventory.production
    assert inventory.settings.collab_wave_size == 3
    assert inventory.settings.shared_oab == "never"
    assert inventory.settings.deployment_tool_command == "deploytool.cmd /run"


def test_ref_as_path_and_display(tmp_path: Path) -> None:
    """A ref with a slash or a .yml/.yaml suffix is a path; it is displayed as given."""
    write(tmp_path, BASE)
    (tmp_path / "site.yaml").write_text(BASE, encoding="utf-8")

    assert load_inventory("inventory/prod.yml", base_dir=tmp_path).source == "inventory/prod.yml"
    assert load_inventory("site.yaml", base_dir=tmp_path).source == "site.yaml"
    assert load_inventory(str(tmp_path / "site.yaml")).hosts[0].name == "MPS01"


def test_digest_ignores_order_and_secrets_but_not_connections(tmp_path: Path) -> None:
    """The digest is stable across file order and reference targets, and moves with a port."""
    first = load(tmp_path, BASE).digest()
    reordered = load(
        tmp_path,
        edit(
            "MPS01:\n        MPS02: {ansible_host: 192.0.2.12}",
            "MPS02: {ansible_host: 192.0.2.12}\n        MPS01:",
        ),
    ).digest()
    other_env = load(tmp_path, edit("ROLLUP_PASSWORD", "OTHER_PASSWORD")).digest()
    other_port = load(tmp_path, edit("port: 5986", "port: 5987")).digest()

    assert re.fullmatch(r"[0-9a-f]{64}", first)
    assert first == reordered == other_env
    assert first != other_port


def test_unknown_host_lookup_is_an_inventory_error(tmp_path: Path) -> None:
    """Asking for a host that is not there names the file and the host."""
    inventory = load(tmp_path, BASE)

    with pytest.raises(InventoryError) as caught:
        inventory.host("MPS09")

    assert str(caught.value) == 'inventory/prod.yml: no host named "MPS09"'


@pytest.mark.parametrize("name", ["prod", "lab"])
def test_shipped_inventories_load(name: str) -> None:
    """inventory/prod.yml and inventory/lab.yml load, with every role and one Deployment Tool host."""
    inventory = load_inventory(name, base_dir=ROOT)

    assert inventory.source == f"inventory/{name}.yml"
    assert {role for host in inventory.hosts for role in host.roles} == set(Role)
    assert [h.name for h in inventory.hosts_in(Role.DEPLOYMENT_TOOL)] == ["MPS01"]
    assert [h.name for h in inventory.hosts_in(Role.MPS_ENGINE)] == ["MPS01", "MPS02"]
    assert all(isinstance(h.password, EnvRef) for h in inventory.hosts)
    assert all(h.transport is AuthTransport.NTLM for h in inventory.hosts)


def test_shipped_production_inventory_uses_https_with_validation() -> None:
    """prod.yml: production, four COLLAB servers, HTTPS 5986 with validation, documentation addresses."""
    inventory = load_inventory("prod", base_dir=ROOT)

    assert inventory.production
    assert [h.name for h in inventory.hosts_in(Role.COLLAB)] == [f"COLLAB0{i}" for i in range(1, 5)]
    assert all(h.endpoint.startswith("https://192.0.2.") and h.port == 5986 for h in inventory.hosts)
    assert all(h.cert_validation is CertValidation.VALIDATE for h in inventory.hosts)


def test_shipped_lab_inventory_uses_http_ntlm() -> None:
    """lab.yml: not production, two COLLAB servers, HTTP 5985 with NTLM, documentation addresses."""
    inventory = load_inventory("lab", base_dir=ROOT)

    assert not inventory.production
    assert [h.name for h in inventory.hosts_in(Role.COLLAB)] == ["COLLAB01", "COLLAB02"]
    assert all(h.endpoint.startswith("http://198.51.100.") and h.port == 5985 for h in inventory.hosts)


def test_a_bastion_applies_to_the_hosts_it_is_set_for(tmp_path: Path) -> None:
    """``ssh_bastion`` on a group: its hosts go through it (key and known_hosts relative to the file)."""
    text = edit(
        "{port: 5986, scheme: https}",
        "{port: 5986, scheme: https, ssh_bastion: 'ops@[2001:db8::7]:2222', ssh_key_file: keys/ops, "
        "ssh_known_hosts: keys/known_hosts}",
    )

    inventory = load(tmp_path, text)

    bastion = inventory.host("COLLAB01").ssh_bastion
    keys = tmp_path / "inventory" / "keys"
    assert bastion == SshBastion(
        user="ops", host="2001:db8::7", port=2222, key_file=keys / "ops", known_hosts=keys / "known_hosts"
    )
    assert inventory.host("MPS01").ssh_bastion is None


MERGED = """\
all:
  vars:
    rollup_user: HOSTING\\svc-rollup
    rollup_password: {env: ROLLUP_PASSWORD}
  children:
    deployment_tool:
      hosts:
        MPS01: &common {address: 192.0.2.11, transport: ntlm, port: 5985}
    mps_engine:
      hosts:
        MPS01:
    dns:
      hosts:
        DNS01:
          <<: *common
          address: 192.0.2.21
    collab:
      hosts:
        COLLAB01:
          <<: *common
          address: 192.0.2.31
          port: 5986
          scheme: https
"""


def test_yaml_merge_keys_are_read_as_ansible_reads_them(tmp_path: Path) -> None:
    """``<<: *common`` merges the anchor's keys; a key the host spells itself overrides a merged one."""
    inventory = load(tmp_path, MERGED)

    assert (inventory.host("DNS01").port, inventory.host("DNS01").address) == (5985, "192.0.2.21")
    assert (inventory.host("COLLAB01").port, inventory.host("COLLAB01").scheme) == (5986, Scheme.HTTPS)


def test_a_key_spelt_twice_beside_a_merge_is_still_refused(tmp_path: Path) -> None:
    text = MERGED.replace(
        "          address: 192.0.2.21\n", "          address: 192.0.2.21\n          address: 192.0.2.22\n"
    )

    with pytest.raises(InventoryError, match=r"duplicate key 'address'"):
        load(tmp_path, text)


def test_host_ranges_name_every_host_as_ansible_expands_them(tmp_path: Path) -> None:
    """``COLLAB[01:04]`` is COLLAB01..COLLAB04 (zeros kept), with a step, letters, and vars for each."""
    text = edit(
        "        COLLAB01: {address: 192.0.2.31}",
        "        COLLAB[01:04]: {transport: ntlm}\n        WEB[a:c]:\n        SP[1:9:4]:",
    )

    inventory = load(tmp_path, text)

    collab = [h.name for h in inventory.hosts_in(Role.COLLAB)]
    assert collab == [
        "COLLAB01",
        "COLLAB02",
        "COLLAB03",
        "COLLAB04",
        "WEBa",
        "WEBb",
        "WEBc",
        "SP1",
        "SP5",
        "SP9",
    ]
    assert inventory.host("COLLAB03").transport is AuthTransport.NTLM


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("COLLAB[01:x]", "a host range is [first:last] or [first:last:step], both numbers or both letters"),
        ("COLLAB[5:1]", "a host range names 1 to 10000 hosts"),
        ("COLLAB[1:20000]", "a host range names 1 to 10000 hosts"),
    ],
)
def test_a_bad_host_range_is_refused_naming_it(tmp_path: Path, key: str, reason: str) -> None:
    text = edit("        COLLAB01: {address: 192.0.2.31}", f"        {key}:")

    with pytest.raises(InventoryError) as refused:
        load(tmp_path, text)

    assert str(refused.value) == f'inventory/prod.yml: all.children.collab.hosts."{key}": {reason}'


def _beside(tmp_path: Path, files: dict[str, str]) -> None:
    """Files beside ``inventory/prod.yml`` (``group_vars/...``, ``host_vars/...``)."""
    for name, text in files.items():
        path = tmp_path / "inventory" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_group_vars_and_host_vars_beside_the_file_are_read_and_override_it(tmp_path: Path) -> None:
    """As Ansible: files and folders of files, ``all`` for every host, host files over group files."""
    _beside(
        tmp_path,
        {
            "group_vars/all.yml": "rollup_collab_wave_size: 3\nread_timeout_s: 90\n",
            "group_vars/collab/10-connection.yml": "port: 15986\n",
            "group_vars/collab/20-auth.yaml": "transport: kerberos\n",
            "group_vars/dns.json": '{"ansible_port": 5999}',
            "host_vars/COLLAB01": "ansible_host: 192.0.2.99\n",
            "host_vars/.hidden.yml": "this is not read: [",
            "group_vars/collab/notes.yml~": "an editor's backup, skipped",
        },
    )
    text = edit("    rollup_user:", "    rollup_collab_wave_size: 2\n    rollup_user:")

    inventory = load(tmp_path, text)

    collab = inventory.host("COLLAB01")
    assert (collab.address, collab.port, collab.transport) == ("192.0.2.99", 15986, AuthTransport.KERBEROS)
    assert inventory.host("DNS01").port == 5999
    assert inventory.host("MPS01").read_timeout_s == 90
    assert inventory.settings.collab_wave_size == 3


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (
            {"group_vars/webfarm.yml": "port: 1\n"},
            "inventory/group_vars/webfarm.yml: the inventory has no group webfarm",
        ),
        (
            {"host_vars/COLLAB09.yml": "port: 1\n"},
            "inventory/host_vars/COLLAB09.yml: the inventory has no host COLLAB09",
        ),
        ({"group_vars/collab.ini": "port=1\n"}, "inventory/group_vars/collab.ini: not a variables file"),
        (
            {"host_vars/DNS01.yml": "$ANSIBLE_VAULT;1.1;AES256\n3031\n"},
            "inventory/host_vars/DNS01.yml: encrypted with Ansible Vault",
        ),
        ({"group_vars/collab.yml": "port: many\n"}, "inventory/group_vars/collab.yml: port: must be 1-65535"),
    ],
)
def test_a_side_file_rollup_cannot_use_is_refused_naming_it(
    tmp_path: Path, files: dict[str, str], expected: str
) -> None:
    _beside(tmp_path, files)

    with pytest.raises(InventoryError) as refused:
        load(tmp_path, BASE)

    assert expected in str(refused.value)
