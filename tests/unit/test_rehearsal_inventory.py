"""The inventory's VM settings: each host's ``vm``, ``rollup_hypervisors``, and the gate's maximum age."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from rollup.errors import InventoryError
from rollup.model.inventory import HyperVApi, Inventory, Scheme, VmProvider, VmRef, parse_inventory

F = "inventory/lab.yml"
LAB = """\
all:
  vars:
    rollup_user: LAB\\svc-rollup
    rollup_password: {env: ROLLUP_LAB_PASSWORD}
    scheme: http
    rollup_hypervisors:
      HV01: {provider: hyperv, address: 198.51.100.5}
      vcenter.lab.example: {provider: vmware, user: LAB\\svc-vsphere, password: {env: VSPHERE_PW}}
  children:
    deployment_tool:
      hosts:
        MPS01: {address: 198.51.100.11, vm: {provider: hyperv, hypervisor: HV01, name: MPS01-LAB}}
    dns:
      hosts:
        DNS01: {address: 198.51.100.21, vm: {hypervisor: vcenter.lab.example, name: DNS01 (lab)}}
"""


def load(text: str, base: Path) -> Inventory:
    return parse_inventory(yaml.safe_load(text), source=F, base_dir=base)


def edited(old: str, new: str) -> str:
    assert old in LAB, old
    return LAB.replace(old, new, 1)


def test_hosts_name_their_vm_and_hypervisors_their_provider_and_connection(tmp_path: Path) -> None:
    """``vm`` becomes a VmRef; a Hyper-V host inherits all.vars' WinRM settings, vSphere gets https:443."""
    inventory = load(LAB, tmp_path)

    hyperv = inventory.hypervisor("hv01")
    vsphere = inventory.hypervisor("vcenter.lab.example")

    assert inventory.host("MPS01").vm == VmRef(hypervisor="HV01", name="MPS01-LAB")
    assert inventory.host("DNS01").vm == VmRef(hypervisor="vcenter.lab.example", name="DNS01 (lab)")
    assert hyperv.provider is VmProvider.HYPERV
    assert hyperv.hyperv_api is HyperVApi.AUTO
    assert hyperv.connection.endpoint == "http://198.51.100.5:5985/wsman"
    assert hyperv.connection.user == "LAB\\svc-rollup"
    assert hyperv.connection.roles == frozenset()
    assert vsphere.provider is VmProvider.VMWARE
    assert (vsphere.connection.scheme, vsphere.connection.port) == (Scheme.HTTPS, 443)
    assert vsphere.connection.user == "LAB\\svc-vsphere"
    assert inventory.settings.rehearsal_max_age_days == 14


def test_the_vm_of_a_host_does_not_change_the_inventory_digest(tmp_path: Path) -> None:
    """Where a lab VM runs is not how rollup connects to it, so the digest (and the run lock) ignores it."""
    without = edited(", vm: {provider: hyperv, hypervisor: HV01, name: MPS01-LAB}", "")

    assert load(LAB, tmp_path).digest() == load(without, tmp_path).digest()


def test_the_gate_age_and_the_hyperv_api_can_be_set(tmp_path: Path) -> None:
    """``rollup_rehearsal_max_age_days`` and a hypervisor's ``hyperv_api`` are read."""
    text = edited("    scheme: http\n", "    scheme: http\n    rollup_rehearsal_max_age_days: 3\n")
    text = text.replace("{provider: hyperv, address:", "{provider: hyperv, hyperv_api: wmi, address:")

    inventory = load(text, tmp_path)

    assert inventory.settings.rehearsal_max_age_days == 3
    assert inventory.hypervisor("HV01").hyperv_api is HyperVApi.WMI


ERRORS: list[tuple[str, str, str, str]] = [
    (
        "unknown hypervisor",
        "hypervisor: HV01, name: MPS01-LAB",
        "hypervisor: HV02, name: MPS01-LAB",
        f"{F}: all.children.deployment_tool.hosts.MPS01.vm.hypervisor: no hypervisor HV02 in "
        "all.vars.rollup_hypervisors (listed: HV01, vcenter.lab.example)",
    ),
    (
        "provider mismatch",
        "{hypervisor: vcenter.lab.example,",
        "{provider: hyperv, hypervisor: vcenter.lab.example,",
        f"{F}: all.children.dns.hosts.DNS01.vm.provider: vcenter.lab.example is a vmware hypervisor",
    ),
    (
        "unknown key in vm",
        "name: MPS01-LAB}",
        "name: MPS01-LAB, snapshot: x}",
        f"{F}: all.children.deployment_tool.hosts.MPS01.vm.snapshot: unknown key; expected one of "
        "hypervisor, name, provider",
    ),
    (
        "vm without a name",
        ", name: MPS01-LAB}",
        "}",
        f"{F}: all.children.deployment_tool.hosts.MPS01.vm: name is required",
    ),
    (
        "vm not a mapping",
        "vm: {provider: hyperv, hypervisor: HV01, name: MPS01-LAB}",
        "vm: MPS01-LAB",
        f"{F}: all.children.deployment_tool.hosts.MPS01.vm: must be a mapping: "
        "{hypervisor: NAME, name: VM NAME} (provider optional)",
    ),
    (
        "two hosts on one VM",
        "vm: {hypervisor: vcenter.lab.example, name: DNS01 (lab)}",
        "vm: {hypervisor: HV01, name: mps01-lab}",
        f'{F}: all.children.dns.hosts.DNS01.vm: VM "mps01-lab" on HV01 is MPS01\'s too',
    ),
    (
        "hypervisor without provider",
        "HV01: {provider: hyperv, address: 198.51.100.5}",
        "HV01: {address: 198.51.100.5}",
        f"{F}: all.vars.rollup_hypervisors.HV01: must be a mapping with provider (hyperv or vmware) "
        "and connection variables",
    ),
    (
        "unknown provider",
        "HV01: {provider: hyperv,",
        "HV01: {provider: xen,",
        f"{F}: all.vars.rollup_hypervisors.HV01.provider: must be one of hyperv, vmware",
    ),
    (
        "vSphere over http",
        "{provider: vmware, user:",
        "{provider: vmware, scheme: http, user:",
        f"{F}: all.vars.rollup_hypervisors.vcenter.lab.example.scheme: vSphere is reached over https only",
    ),
    (
        "hyperv_api on vSphere",
        "{provider: vmware, user:",
        "{provider: vmware, hyperv_api: wmi, user:",
        f"{F}: all.vars.rollup_hypervisors.vcenter.lab.example.hyperv_api: only for provider hyperv",
    ),
    (
        "bad connection variable",
        "HV01: {provider: hyperv, address: 198.51.100.5}",
        "HV01: {provider: hyperv, address: 198.51.100.5, port: 0}",
        f"{F}: all.vars.rollup_hypervisors.HV01.port: must be 1-65535",
    ),
    (
        "literal password",
        "password: {env: VSPHERE_PW}",
        "password: hunter2",
        f"{F}: all.vars.rollup_hypervisors.vcenter.lab.example.password: a literal password is not allowed; "
        "use {env: NAME}, {keyring: SERVICE/USER}, {file: PATH} or {prompt: true}",
    ),
    (
        "hypervisors outside all.vars",
        "    dns:\n      hosts:",
        "    dns:\n      vars: {rollup_hypervisors: {HV02: {provider: hyperv}}}\n      hosts:",
        f"{F}: all.children.dns.vars.rollup_hypervisors: an inventory-wide setting: "
        "only allowed under all.vars",
    ),
]


@pytest.mark.parametrize(("old", "new", "message"), [pytest.param(*c[1:], id=c[0]) for c in ERRORS])
def test_every_mistake_is_one_line_naming_the_key_path(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    """Each wrong VM setting is refused with the file and the YAML key path of the mistake."""
    with pytest.raises(InventoryError) as caught:
        load(edited(old, new), tmp_path)

    assert str(caught.value) == message
    assert "hunter2" not in str(caught.value)


def test_the_shipped_inventories_still_load_without_vm_settings() -> None:
    """Inventories without VM settings have no hypervisors and hosts without ``vm``."""
    root = Path(__file__).resolve().parents[2]
    data: Any = yaml.safe_load((root / "inventory" / "prod.yml").read_text(encoding="utf-8"))

    inventory = parse_inventory(data, source="inventory/prod.yml", base_dir=root / "inventory")

    assert inventory.settings.hypervisors == ()
    assert all(host.vm is None for host in inventory.hosts)
    assert inventory.production
