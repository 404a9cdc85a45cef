"""
The VMware provider at the pyVmomi boundary: fake ``vim`` objects stand in for vCenter, with the
task methods the provider calls (``CreateSnapshot_Task``, ``RevertToSnapshot_Task``,
``RemoveSnapshot_Task``, power) and ``WaitForTask``, which raises a task's fault as pyVmomi does.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from rollup.credentials import CredentialCache
from rollup.errors import CommandFailed, ConfigError
from rollup.model.inventory import Hypervisor, parse_inventory
from rollup.rehearsal.providers import ProviderContext, VmTarget
from rollup.rehearsal.vmware import VMwareProvider, VSphereApi, pyvmomi_api
from rollup.transport.base import TransportRegistry


class VirtualMachine:
    """Stands in for ``vim.VirtualMachine`` as the container view's type."""


class Fault(Exception):
    """A ``vmodl.MethodFault``: its text is in ``msg``."""

    def __init__(self, msg: str) -> None:
        super().__init__(msg)
        self.msg = msg


@dataclass
class Task:
    """A task that has already run: ``WaitForTask`` raises its fault, if any."""

    name: str
    fault: Fault | None = None


@dataclass
class Node:
    """``vim.vm.SnapshotTree``."""

    name: str
    snapshot: Snapshot
    childSnapshotList: list[Node] = field(default_factory=list)  # pyVmomi's spelling


@dataclass
class Snapshot:
    """``vim.vm.Snapshot``: revert brings the VM back to the power state it had, remove drops the node."""

    vm: FakeVm
    name: str
    power: str

    def RevertToSnapshot_Task(self) -> Task:  # pyVmomi's spelling
        self.vm.calls.append(f"revert {self.name}")
        self.vm.runtime.powerState = self.power if self.power == "poweredOn" else "poweredOff"
        return Task("revert")

    def RemoveSnapshot_Task(self, removeChildren: bool) -> Task:  # pyVmomi's spelling
        self.vm.calls.append(f"remove {self.name} children={removeChildren}")
        self.vm.nodes = [n for n in self.vm.nodes if n.snapshot is not self]
        return Task("remove")


@dataclass
class Runtime:
    powerState: str = "poweredOn"  # pyVmomi's spelling


@dataclass
class SnapshotInfo:
    rootSnapshotList: list[Node]  # pyVmomi's spelling


@dataclass
class FakeVm:
    name: str
    runtime: Runtime = field(default_factory=Runtime)
    nodes: list[Node] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    fail_create: str | None = None

    @property
    def snapshot(self) -> SnapshotInfo | None:
        return SnapshotInfo(self.nodes) if self.nodes else None

    def CreateSnapshot_Task(self, *, name: str, description: str, memory: bool, quiesce: bool) -> Task:
        self.calls.append(f"create {name} memory={memory} quiesce={quiesce}")
        if self.fail_create:
            return Task("create", Fault(self.fail_create))
        self.nodes.append(Node(name, Snapshot(self, name, self.runtime.powerState)))
        return Task("create")

    def PowerOffVM_Task(self) -> Task:  # pyVmomi's spelling
        self.calls.append("power off")
        self.runtime.powerState = "poweredOff"
        return Task("off")

    def PowerOnVM_Task(self) -> Task:  # pyVmomi's spelling
        self.calls.append("power on")
        self.runtime.powerState = "poweredOn"
        return Task("on")


@dataclass
class ContainerView:
    """A container view: its VMs, and ``Destroy``, which the provider must always call."""

    center: VCenter
    view: list[FakeVm]

    def Destroy(self) -> None:  # pyVmomi's spelling
        self.center.views_open -= 1


class VCenter:
    """The service instance: content, a view manager whose views list the VMs, and who logged on."""

    def __init__(self, vms: list[FakeVm]) -> None:
        self.vms = vms
        self.logons: list[dict[str, Any]] = []
        self.logged_off = False
        self.views_open = 0
        self.rootFolder = "root"

    def RetrieveContent(self) -> VCenter:  # pyVmomi's spelling
        return self

    @property
    def viewManager(self) -> VCenter:  # pyVmomi's spelling
        return self

    def CreateContainerView(self, root: str, types: list[type], recursive: bool) -> Any:
        assert (root, types, recursive) == ("root", [VirtualMachine], True)
        self.views_open += 1
        return ContainerView(self, list(self.vms))

    def api(self) -> VSphereApi:
        def connect(**kwargs: Any) -> VCenter:
            self.logons.append(kwargs)
            return self

        def disconnect(si: Any) -> None:
            self.logged_off = True

        def wait(task: Task) -> None:
            if task.fault is not None:
                raise task.fault

        return VSphereApi(connect=connect, disconnect=disconnect, wait_for_task=wait, vm_type=VirtualMachine)


def hypervisor(tmp_path: Path) -> Hypervisor:
    text = """
all:
  vars:
    rollup_hypervisors:
      vcenter.lab.example:
        provider: vmware
        user: LAB\\svc-vsphere
        password: {env: VSPHERE_PASSWORD}
        cert_validation: ignore
  children:
    deployment_tool: {hosts: {MPS01: {vm: {hypervisor: vcenter.lab.example, name: MPS01-LAB}}}}
"""
    inventory = parse_inventory(yaml.safe_load(text), source="lab.yml", base_dir=tmp_path)
    return inventory.hypervisor("vcenter.lab.example")


def provider(tmp_path: Path, center: VCenter) -> VMwareProvider:
    context = ProviderContext(
        transports=TransportRegistry(),
        credentials=CredentialCache(prompt=None, env={"VSPHERE_PASSWORD": "pw"}),
    )
    return VMwareProvider(hypervisor(tmp_path), context, api=center.api())


TARGETS = (VmTarget(host="MPS01", vm="MPS01-LAB"), VmTarget(host="DNS01", vm="DNS01-LAB"))


def test_snapshot_revert_and_remove_go_through_the_task_methods(tmp_path: Path) -> None:
    """A running VM is snapshotted with its memory, reverted running, and its snapshot removed alone."""
    mps, dns = FakeVm("MPS01-LAB"), FakeVm("DNS01-LAB", runtime=Runtime("poweredOff"))
    center = VCenter([mps, dns, FakeVm("OTHER")])
    vsphere = provider(tmp_path, center)

    vsphere.check(TARGETS)
    vsphere.snapshot(TARGETS, "rollup-r1")
    mps.runtime.powerState = "poweredOff"
    vsphere.revert(TARGETS, "rollup-r1")
    vsphere.remove(TARGETS, "rollup-r1")
    vsphere.close()

    assert mps.calls == [
        "create rollup-r1 memory=True quiesce=False",
        "revert rollup-r1",
        "remove rollup-r1 children=False",
    ]
    assert dns.calls[0] == "create rollup-r1 memory=False quiesce=False"
    assert mps.runtime.powerState == "poweredOn"
    assert dns.runtime.powerState == "poweredOff"
    assert mps.nodes == dns.nodes == []
    (logon,) = center.logons
    assert {k: v for k, v in logon.items() if k != "sslContext"} == {
        "host": "vcenter.lab.example",
        "user": "LAB\\svc-vsphere",
        "pwd": "pw",
        "port": 443,
    }
    assert logon["sslContext"].check_hostname is False
    assert center.logged_off
    assert center.views_open == 0


def test_a_snapshot_is_found_anywhere_in_the_tree(tmp_path: Path) -> None:
    """Reverting finds the named snapshot below another one (``childSnapshotList``)."""
    vm = FakeVm("MPS01-LAB")
    older = Node("older", Snapshot(vm, "older", "poweredOn"))
    vm.nodes = [older]
    vsphere = provider(tmp_path, VCenter([vm]))

    vsphere.snapshot(TARGETS[:1], "rollup-r2")
    older.childSnapshotList.append(vm.nodes.pop())
    vsphere.revert(TARGETS[:1], "rollup-r2")

    assert vm.calls[-1] == "revert rollup-r2"


def test_faults_name_the_hypervisor_and_each_vm_and_every_vm_is_tried(tmp_path: Path) -> None:
    """A task's fault, a missing VM and a missing snapshot are each named; the other VMs still act."""
    mps = FakeVm("MPS01-LAB", fail_create="Insufficient disk space on datastore 'lab1'.")
    dns = FakeVm("DNS01-LAB")
    vsphere = provider(tmp_path, VCenter([mps, dns]))

    with pytest.raises(CommandFailed) as snapshot:
        vsphere.snapshot((*TARGETS, VmTarget(host="COLLAB01", vm="COLLAB01-LAB")), "r3")
    with pytest.raises(CommandFailed) as revert:
        vsphere.revert(TARGETS[:1], "r3")

    assert str(snapshot.value) == (
        "vcenter.lab.example: snapshot r3 failed: MPS01-LAB: Insufficient disk space on datastore 'lab1'.; "
        "COLLAB01-LAB: no such VM"
    )
    assert [n.name for n in dns.nodes] == ["r3"]
    assert str(revert.value) == (
        "vcenter.lab.example: revert to r3 failed: MPS01-LAB: 0 snapshots are named r3"
    )


def test_check_refuses_missing_and_shared_names(tmp_path: Path) -> None:
    """Two VMs with one name, or none, are refused before anything changes."""
    vsphere = provider(tmp_path, VCenter([FakeVm("MPS01-LAB"), FakeVm("MPS01-LAB")]))

    with pytest.raises(CommandFailed) as caught:
        vsphere.check(TARGETS)

    assert str(caught.value) == (
        "vcenter.lab.example: MPS01-LAB (host MPS01): 2 VMs have this name; "
        "DNS01-LAB (host DNS01): no such VM"
    )


def test_power_off_and_on_for_the_host_down_drill(tmp_path: Path) -> None:
    """Off turns a running VM off; on starts it; neither acts when the VM is already so."""
    vm = FakeVm("MPS01-LAB")
    vsphere = provider(tmp_path, VCenter([vm]))

    vsphere.power_off(TARGETS[0])
    vsphere.power_off(TARGETS[0])
    vsphere.power_on(TARGETS[0])

    assert vm.calls == ["power off", "power on"]


def test_without_pyvmomi_the_provider_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """The optional extra is named when pyVmomi cannot be imported."""
    monkeypatch.setitem(sys.modules, "pyVmomi", None)
    monkeypatch.setitem(sys.modules, "pyVim", None)

    with pytest.raises(ConfigError) as caught:
        pyvmomi_api("vcenter.lab.example")

    assert str(caught.value) == (
        "vcenter.lab.example: the vmware provider needs pyVmomi: pip install 'rollup[vmware]'"
    )
