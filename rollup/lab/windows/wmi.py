"""
WMI on the simulated host: ``Get-WmiObject -Class X [-Namespace N] [-Filter "..."]``.

A class is a function of the machine giving its instances (``WmiObject``: properties by name,
ignoring case, plus ``__PATH``, ``__CLASS``, ``__NAMESPACE`` and methods a subclass defines). A
filter is WQL's ``WHERE`` clause for what the scripts use: ``Prop='text'`` or ``Prop=number``
joined by ``AND``. An unknown class is WMI's "Invalid class" error, an unknown namespace
"Invalid namespace", each a non-terminating error as in PowerShell 2.0.

Classes: ``Win32_OperatingSystem``, ``Win32_LogicalDisk``, ``Win32_Service`` in ``root\\cimv2``;
other modules add theirs to ``CLASSES`` (the Hyper-V host's ``root\\virtualization`` classes).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from rollup.lab.pwsh.errors import ErrorRecord, ExceptionObject
from rollup.lab.pwsh.net import NetObject
from rollup.lab.pwsh.values import Int64, UInt64, equals, to_string

if TYPE_CHECKING:
    from rollup.lab.pwsh.commands import Bound
    from rollup.lab.pwsh.interp import Interpreter
    from rollup.lab.windows.machine import Machine

CIMV2 = "root\\cimv2"


class WmiObject(NetObject):
    """A ``System.Management.ManagementObject``: a WMI instance."""

    TYPE: ClassVar[str] = "System.Management.ManagementObject"
    BASES: ClassVar[tuple[str, ...]] = ("System.Management.ManagementBaseObject",)

    def __init__(
        self, machine: Machine, namespace: str, wmi_class: str, props: dict[str, Any], key: str
    ) -> None:
        self.machine = machine
        self.namespace = namespace
        self.wmi_class = wmi_class
        self.props = {k.lower(): (k, v) for k, v in props.items()}
        self.key = key

    def ps_dynamic_member(self, name: str) -> tuple[bool, Any]:
        low = name.lower()
        if low == "__path":
            return True, self.path
        if low == "__class":
            return True, self.wmi_class
        if low == "__namespace":
            return True, self.namespace
        if low == "__server":
            return True, self.machine.computer_name()
        entry = self.props.get(low)
        return (True, entry[1]) if entry else (False, None)

    def ps_set_dynamic(self, name: str, value: Any) -> bool:
        entry = self.props.get(name.lower())
        if entry is None:
            return False
        self.props[name.lower()] = (entry[0], value)
        return True

    @property
    def path(self) -> str:
        return f"\\\\{self.machine.computer_name()}\\{self.namespace}:{self.wmi_class}.{self.key}"

    def ToString(self, *args: Any) -> str:
        return self.path


InstanceSource = Callable[["Machine"], list[WmiObject]]
CLASSES: dict[tuple[str, str], InstanceSource] = {}
"""(namespace, class), both lower-case -> its instances on a machine."""


def wmi_class(namespace: str, name: str) -> Callable[[InstanceSource], InstanceSource]:
    def add(fn: InstanceSource) -> InstanceSource:
        CLASSES[(namespace.lower(), name.lower())] = fn
        return fn

    return add


@wmi_class(CIMV2, "Win32_OperatingSystem")
def _operating_system(machine: Machine) -> list[WmiObject]:
    s = machine.state
    props = {
        "Caption": s.os_caption,
        "Version": s.os_version,
        "ServicePackMajorVersion": s.service_pack,
        "CSName": machine.computer_name(),
        "OSArchitecture": "64-bit" if s.arch == "AMD64" else "32-bit",
    }
    return [WmiObject(machine, CIMV2, "Win32_OperatingSystem", props, "@")]


@wmi_class(CIMV2, "Win32_LogicalDisk")
def _logical_disk(machine: Machine) -> list[WmiObject]:
    props = {
        "DeviceID": "C:",
        "DriveType": 3,
        "FreeSpace": UInt64(machine.state.disk_free_bytes),
        "Size": UInt64(80 * 1024**3),
    }
    return [WmiObject(machine, CIMV2, "Win32_LogicalDisk", props, 'DeviceID="C:"')]


@wmi_class(CIMV2, "Win32_Service")
def _services(machine: Machine) -> list[WmiObject]:
    out = []
    for service in machine.state.services.values():
        props = {
            "Name": service.name,
            "DisplayName": service.display_name,
            "State": service.status.replace("Pending", " Pending"),
            "StartMode": service.start_mode,
            "Started": service.status == "Running",
            "ProcessId": Int64(0),
        }
        out.append(WmiObject(machine, CIMV2, "Win32_Service", props, f'Name="{service.name}"'))
    return out


_CONDITION = re.compile(r"\s*(\w+)\s*=\s*(?:'((?:[^']|'')*)'|\"([^\"]*)\"|(-?\d+))\s*")


def matches(obj: WmiObject, where: str) -> bool:
    """Whether an instance passes a WQL condition of ``Prop='value'`` terms joined by AND."""
    for term in re.split(r"\s+AND\s+", where.strip(), flags=re.IGNORECASE):
        m = _CONDITION.fullmatch(term)
        if not m:
            raise ValueError(term)
        found, value = obj.ps_dynamic_member(m.group(1))
        wanted: Any = (
            m.group(4) if m.group(4) is not None else (m.group(2) if m.group(2) is not None else m.group(3))
        )
        if m.group(2) is not None:
            wanted = wanted.replace("''", "'")
        if not found or not equals(to_string(value) if not isinstance(value, int) else value, wanted):
            return False
    return True


def _error(message: str, error_id: str) -> ErrorRecord:
    exc = ExceptionObject("System.Management.ManagementException", message)
    return ErrorRecord(
        exc, f"{error_id},Microsoft.PowerShell.Commands.GetWmiObjectCommand", "InvalidOperation"
    )


def query(machine: Machine, interp: Interpreter, b: Bound) -> Iterable[Any]:
    """``Get-WmiObject``'s answer."""
    name = to_string(b.get("class", 0))
    namespace = to_string(b.get("namespace") or CIMV2)
    namespaces = {ns for ns, _ in CLASSES if machine.has_wmi_namespace(ns)}
    if namespace.lower() not in namespaces:
        interp.rt.write_error(_error("Invalid namespace ", "GetWMIManagementException"))
        return []
    source = CLASSES.get((namespace.lower(), name.lower()))
    if source is None:
        interp.rt.write_error(_error("Invalid class ", "GetWMIManagementException"))
        return []
    instances = source(machine)
    where = b.get("filter")
    if where is not None:
        try:
            instances = [i for i in instances if matches(i, to_string(where))]
        except ValueError:
            interp.rt.write_error(_error("Invalid query ", "GetWMIManagementException"))
            return []
    return instances
