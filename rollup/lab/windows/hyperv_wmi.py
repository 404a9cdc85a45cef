"""
Hyper-V's WMI classes on the simulated host: ``root\\virtualization`` (v1, Windows Server 2008
and 2008 R2) and ``root\\virtualization\\v2`` (2012 and later), over ``rollup.lab.windows.hyperv``.

v1 is what ``hyperv.wmi_vm_action`` drives: ``Msvm_VirtualSystemManagementService``'s
``CreateVirtualSystemSnapshot``, ``ModifyVirtualSystem``, ``ApplyVirtualSystemSnapshot`` and
``RemoveVirtualSystemSnapshot``, and ``Msvm_ComputerSystem.RequestStateChange``. Each takes
references as object paths (``__PATH``) and answers an ``__PARAMETERS`` object: ``ReturnValue``
4096 and a ``Job`` path when a job started, or an error code (32773 a reference that names no
such instance or an embedded instance that is not CIM-XML, 32775 an invalid state: applying a
snapshot to a running VM, asking a VM for the state it is in). The VM itself is the
``Msvm_ComputerSystem`` whose ``Caption`` is ``Virtual Machine`` (the host is the
``Hosting Computer System``); its snapshots are ``Msvm_VirtualSystemSettingData`` with
``SettingType`` 5 (3 is the VM's own settings), whose ``GetText(1)`` is the CIM-XML text
``ModifyVirtualSystem`` takes to rename them.

v2 has the classes ``hyperv.probe`` reads (the service and the computer systems, with v2's
``EnabledState`` words: 6 for Saved); its snapshot service is not modelled.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rollup.lab.pwsh.net import NetException
from rollup.lab.pwsh.values import ConversionError, to_number, to_string
from rollup.lab.windows.hyperv import HyperV, HyperVError
from rollup.lab.windows.wmi import WmiObject, WmiOutParameters, instance_at, wmi_class
from rollup.ops.hyperv import V1_NAMESPACE, V2_NAMESPACE

if TYPE_CHECKING:
    from rollup.lab.hyperv import Power, SimVm
    from rollup.lab.windows.machine import Machine

ENABLED: dict[str, dict[str, int]] = {
    V1_NAMESPACE: {"Running": 2, "Off": 3, "Saved": 32769},
    V2_NAMESPACE: {"Running": 2, "Off": 3, "Saved": 6},
}
"""``EnabledState`` of each power state, per namespace."""

INVALID_PARAMETER = 32773
INVALID_STATE = 32775
NOT_SUPPORTED = 32770
JOB_STARTED = 4096


def _hyperv(machine: Machine) -> HyperV:
    hv: HyperV = machine.hyperv()
    return hv


def _resolve(machine: Machine, value: Any, wmi_class_name: str) -> WmiObject | None:
    """The instance a reference argument names, if it is one of ``wmi_class_name``."""
    path = value.path if isinstance(value, WmiObject) else to_string(value)
    try:
        found = instance_at(machine, path)
    except NetException:
        return None
    return found if found.wmi_class.lower() == wmi_class_name.lower() else None


def _uint16(value: Any) -> int:
    """A method argument converted to ``uint16`` as PowerShell converts it, or its cast error."""
    try:
        number = int(to_number(value))
    except (ConversionError, ValueError):
        number = -1
    if not 0 <= number <= 0xFFFF:
        raise NetException(
            "System.Management.Automation.PSInvalidCastException",
            f'Cannot convert value "{to_string(value)}" to type "System.UInt16".',
        )
    return number


def _job_path(machine: Machine, namespace: str, job_id: str) -> str:
    return f'\\\\{machine.computer_name()}\\{namespace}:Msvm_ConcreteJob.InstanceID="{job_id}"'


class ComputerSystem(WmiObject):
    """``Msvm_ComputerSystem``: the host, or a VM (``Name`` its GUID)."""

    def RequestStateChange(self, requested: Any, timeout: Any = None) -> WmiOutParameters:
        hv = _hyperv(self.machine)
        wanted = {v: k for k, v in ENABLED[self._ns()].items()}.get(_uint16(requested))
        if self.ps_dynamic_member("Caption")[1] != "Virtual Machine":
            return WmiOutParameters(NOT_SUPPORTED, Job=None)
        if wanted is None:
            return WmiOutParameters(INVALID_PARAMETER, Job=None)
        vm_id = to_string(self.ps_dynamic_member("Name")[1])
        power: Power = "Running" if wanted == "Running" else ("Off" if wanted == "Off" else "Saved")
        try:
            hv.set_power(vm_id, power)
        except HyperVError as exc:
            return WmiOutParameters(exc.code, Job=None)
        job = hv.start_job("Changing the state of the virtual machine")
        return WmiOutParameters(JOB_STARTED, Job=_job_path(self.machine, self.namespace, job.id))

    def _ns(self) -> str:
        return V2_NAMESPACE if self.namespace.lower() == V2_NAMESPACE.lower() else V1_NAMESPACE


class ManagementService(WmiObject):
    """``Msvm_VirtualSystemManagementService`` of WMI v1: snapshots and settings."""

    def _vm(self, value: Any) -> str | None:
        found = _resolve(self.machine, value, "Msvm_ComputerSystem")
        if found is None or found.ps_dynamic_member("Caption")[1] != "Virtual Machine":
            return None
        return to_string(found.ps_dynamic_member("Name")[1])

    def _snapshot(self, value: Any) -> tuple[str, str] | None:
        """(VM id, snapshot id) of a reference to a snapshot's settings."""
        found = _resolve(self.machine, value, "Msvm_VirtualSystemSettingData")
        if found is None or found.ps_dynamic_member("SettingType")[1] != 5:
            return None
        instance = to_string(found.ps_dynamic_member("InstanceID")[1])
        return to_string(found.ps_dynamic_member("SystemName")[1]), instance.removeprefix("Microsoft:")

    def _run(self, description: str, action: Any) -> WmiOutParameters:
        hv = _hyperv(self.machine)
        try:
            action()
        except HyperVError as exc:
            if exc.code in (INVALID_PARAMETER, INVALID_STATE):
                return WmiOutParameters(exc.code, Job=None)
            job = hv.start_job(description, exc)
        else:
            job = hv.start_job(description)
        return WmiOutParameters(JOB_STARTED, Job=_job_path(self.machine, self.namespace, job.id))

    def CreateVirtualSystemSnapshot(self, source: Any) -> WmiOutParameters:
        vm_id = self._vm(source)
        if vm_id is None:
            return WmiOutParameters(INVALID_PARAMETER, SnapshotSettingData=None, Job=None)
        hv = _hyperv(self.machine)
        out = self._run("Creating Snapshot", lambda: hv.create_checkpoint(vm_id, None))
        out.props["snapshotsettingdata"] = ("SnapshotSettingData", None)
        return out

    def ApplyVirtualSystemSnapshot(self, system: Any, snapshot: Any) -> WmiOutParameters:
        vm_id, found = self._vm(system), self._snapshot(snapshot)
        if vm_id is None or found is None or found[0].lower() != vm_id.lower():
            return WmiOutParameters(INVALID_PARAMETER, Job=None)
        hv = _hyperv(self.machine)
        return self._run("Applying Snapshot", lambda: hv.apply(vm_id, found[1]))

    def RemoveVirtualSystemSnapshot(self, snapshot: Any) -> WmiOutParameters:
        found = self._snapshot(snapshot)
        if found is None:
            return WmiOutParameters(INVALID_PARAMETER, Job=None)
        hv = _hyperv(self.machine)
        return self._run("Removing Snapshot", lambda: hv.remove(found[0], found[1]))

    def ModifyVirtualSystem(self, system: Any, settings: Any) -> WmiOutParameters:
        """Rename a VM or one of its snapshots from an embedded ``Msvm_VirtualSystemSettingData``."""
        vm_id = self._vm(system)
        props = _embedded(to_string(settings))
        if vm_id is None or props is None or "ElementName" not in props:
            return WmiOutParameters(INVALID_PARAMETER, Job=None, ModifiedSettingData=None)
        hv = _hyperv(self.machine)
        target = props.get("InstanceID", "").removeprefix("Microsoft:")
        try:
            if target.lower() == vm_id.lower():
                hv.rename_vm(vm_id, props["ElementName"])
            else:
                hv.rename_checkpoint(vm_id, target, props["ElementName"])
        except HyperVError as exc:
            return WmiOutParameters(exc.code, Job=None, ModifiedSettingData=None)
        path = f'\\\\{self.machine.computer_name()}\\{self.namespace}:Msvm_VirtualSystemSettingData.InstanceID="Microsoft:{target}"'
        return WmiOutParameters(0, Job=None, ModifiedSettingData=path)


def _embedded(text: str) -> dict[str, str] | None:
    """The properties of an embedded ``Msvm_VirtualSystemSettingData`` in CIM-XML, or ``None``."""
    if "<!DOCTYPE" in text.upper():
        return None
    try:
        root = ET.fromstring(text)  # noqa: S314 - DOCTYPE refused above, so no entity can be declared
    except ET.ParseError:
        return None
    if root.tag != "INSTANCE" or root.get("CLASSNAME", "").lower() != "msvm_virtualsystemsettingdata":
        return None
    props: dict[str, str] = {}
    for prop in root.iter("PROPERTY"):
        value = prop.find("VALUE")
        if value is not None:
            props[prop.get("NAME", "")] = value.text or ""
    return props


# ---- the classes ---------------------------------------------------------------------------------


def _cim_time(moment: float) -> str:
    return datetime.fromtimestamp(moment, tz=UTC).strftime("%Y%m%d%H%M%S.000000-000")


def _systems(machine: Machine, namespace: str) -> list[WmiObject]:
    hv = _hyperv(machine)
    host = machine.computer_name()
    key = 'CreationClassName="Msvm_ComputerSystem",Name="{0}"'
    out: list[WmiObject] = [
        ComputerSystem(machine, namespace, "Msvm_ComputerSystem", {
            "Caption": "Hosting Computer System", "Description": "Microsoft Hosting Computer System",
            "ElementName": host, "Name": host, "CreationClassName": "Msvm_ComputerSystem",
            "EnabledState": 2, "HealthState": 5,
        }, key.format(host))
    ]  # fmt: skip
    for vm in hv.vms():
        props = {
            "Caption": "Virtual Machine", "Description": "Microsoft Virtual Machine",
            "ElementName": vm.name, "Name": vm.id, "CreationClassName": "Msvm_ComputerSystem",
            "EnabledState": ENABLED[namespace][vm.power], "HealthState": 5,
        }  # fmt: skip
        out.append(ComputerSystem(machine, namespace, "Msvm_ComputerSystem", props, key.format(vm.id)))
    return out


def _service(machine: Machine, namespace: str, cls: type[WmiObject]) -> list[WmiObject]:
    host = machine.computer_name()
    props = {
        "Caption": "Hyper-V Virtual System Management Service", "ElementName": "Hyper-V Virtual System Management Service",
        "Name": "vmms", "SystemName": host, "CreationClassName": "Msvm_VirtualSystemManagementService",
        "SystemCreationClassName": "Msvm_ComputerSystem", "Started": True, "EnabledState": 2,
    }  # fmt: skip
    key = (
        'CreationClassName="Msvm_VirtualSystemManagementService",Name="vmms",'
        f'SystemCreationClassName="Msvm_ComputerSystem",SystemName="{host}"'
    )
    return [cls(machine, namespace, "Msvm_VirtualSystemManagementService", props, key)]


def _settings(machine: Machine, vm: SimVm) -> list[WmiObject]:
    hv = _hyperv(machine)

    def setting(instance: str, name: str, kind: int, created: float) -> WmiObject:
        props = {
            "Caption": "Virtual Machine Settings" if kind == 3 else "Snapshot Settings",
            "ElementName": name, "InstanceID": f"Microsoft:{instance}", "SettingType": kind,
            "SystemName": vm.id, "CreationTime": _cim_time(created),
        }  # fmt: skip
        key = f'InstanceID="Microsoft:{instance}"'
        return WmiObject(machine, V1_NAMESPACE, "Msvm_VirtualSystemSettingData", props, key)

    out = [setting(vm.id, vm.name, 3, 0.0)]
    out += [setting(cid, c.name, 5, c.created) for cid, c in hv.checkpoints(vm)]
    return out


def _jobs(machine: Machine, namespace: str) -> list[WmiObject]:
    hv = _hyperv(machine)
    out: list[WmiObject] = []
    for job in hv.jobs.values():
        state = hv.job_state(job)
        props = {
            "InstanceID": job.id, "Caption": job.description, "Description": job.description,
            "JobState": state, "PercentComplete": 100 if state != 4 else 50,
            "ErrorCode": job.error_code if state != 4 else 0,
            "ErrorDescription": job.error if state != 4 and job.error else None,
        }  # fmt: skip
        out.append(WmiObject(machine, namespace, "Msvm_ConcreteJob", props, f'InstanceID="{job.id}"'))
    return out


@wmi_class(V1_NAMESPACE, "Msvm_ComputerSystem")
def _v1_systems(machine: Machine) -> list[WmiObject]:
    return _systems(machine, V1_NAMESPACE)


@wmi_class(V2_NAMESPACE, "Msvm_ComputerSystem")
def _v2_systems(machine: Machine) -> list[WmiObject]:
    return _systems(machine, V2_NAMESPACE)


@wmi_class(V1_NAMESPACE, "Msvm_VirtualSystemManagementService")
def _v1_service(machine: Machine) -> list[WmiObject]:
    return _service(machine, V1_NAMESPACE, ManagementService)


@wmi_class(V2_NAMESPACE, "Msvm_VirtualSystemManagementService")
def _v2_service(machine: Machine) -> list[WmiObject]:
    return _service(machine, V2_NAMESPACE, WmiObject)


@wmi_class(V1_NAMESPACE, "Msvm_VirtualSystemSettingData")
def _v1_settings(machine: Machine) -> list[WmiObject]:
    return [s for vm in _hyperv(machine).vms() for s in _settings(machine, vm)]


@wmi_class(V1_NAMESPACE, "Msvm_ConcreteJob")
def _v1_jobs(machine: Machine) -> list[WmiObject]:
    return _jobs(machine, V1_NAMESPACE)


@wmi_class(V2_NAMESPACE, "Msvm_ConcreteJob")
def _v2_jobs(machine: Machine) -> list[WmiObject]:
    return _jobs(machine, V2_NAMESPACE)
