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
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar
from xml.sax.saxutils import escape

from rollup.lab.pwsh.errors import ErrorRecord, ExceptionObject
from rollup.lab.pwsh.net import NetException, NetObject
from rollup.lab.pwsh.values import Int64, UInt32, UInt64, equals, to_number, to_string

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

    def GetText(self, text_format: Any) -> str:
        """The instance as MOF (``[Management.TextFormat]::Mof``, 0) or CIM-XML (1, 2)."""
        names = {"mof": 0, "cimdtd20": 1, "wmidtd20": 2}
        raw = getattr(text_format, "value", text_format)
        kind = (
            names.get(raw.lower(), -1) if isinstance(raw, str) and not raw.isdigit() else int(to_number(raw))
        )
        if kind not in (0, 1, 2):
            raise NetException("System.ArgumentException", "Value does not fall within the expected range.")
        values = [(name, value) for name, value in self.props.values()]
        if kind == 0:
            lines = ["", f"instance of {self.wmi_class}", "{"]
            lines += [f"\t{name} = {_mof(value)};" for name, value in values if value is not None]
            return "\n".join(lines) + "\n};\n"
        parts = [f'<INSTANCE CLASSNAME="{self.wmi_class}">']
        for name, value in values:
            cim = "uint16" if isinstance(value, int) and not isinstance(value, bool) else "string"
            cim = "boolean" if isinstance(value, bool) else cim
            inner = "" if value is None else f"<VALUE>{escape(_text(value))}</VALUE>"
            parts.append(f'<PROPERTY NAME="{name}" TYPE="{cim}">{inner}</PROPERTY>')
        return "".join(parts) + "</INSTANCE>"


class WmiOutParameters(NetObject):
    """What a WMI method call returns: an ``__PARAMETERS`` object with ``ReturnValue`` and the outs."""

    TYPE: ClassVar[str] = "System.Management.ManagementBaseObject"

    def __init__(self, return_value: int, **outs: Any) -> None:
        self.props: dict[str, tuple[str, Any]] = {"returnvalue": ("ReturnValue", UInt32(return_value))}
        self.props.update({k.lower(): (k, v) for k, v in outs.items()})

    def ps_dynamic_member(self, name: str) -> tuple[bool, Any]:
        if name.lower() == "__class":
            return True, "__PARAMETERS"
        entry = self.props.get(name.lower())
        return (True, entry[1]) if entry else (False, None)

    def ToString(self, *args: Any) -> str:
        return "System.Management.ManagementBaseObject"


def _text(value: Any) -> str:
    return ("TRUE" if value else "FALSE") if isinstance(value, bool) else to_string(value)


def _mof(value: Any) -> str:
    if isinstance(value, int):
        return _text(value)
    return '"' + to_string(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


InstanceSource = Callable[["Machine"], list[WmiObject]]
CLASSES: dict[tuple[str, str], InstanceSource] = {}
"""(namespace, class), both lower-case -> its instances on a machine."""


def wmi_class(namespace: str, name: str) -> Callable[[InstanceSource], InstanceSource]:
    def add(fn: InstanceSource) -> InstanceSource:
        CLASSES[(namespace.lower(), name.lower())] = fn
        return fn

    return add


def wmi_datetime(seconds: float) -> str:
    """A CIM_DATETIME as WMI gives it (``yyyymmddHHMMSS.mmmmmm+UUU``), in UTC."""
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.strftime("%Y%m%d%H%M%S.%f") + "+000"


@wmi_class(CIMV2, "Win32_OperatingSystem")
def _operating_system(machine: Machine) -> list[WmiObject]:
    s = machine.state
    props = {
        "Caption": s.os_caption,
        "Version": s.os_version,
        "ServicePackMajorVersion": s.service_pack,
        "CSName": machine.computer_name(),
        "OSArchitecture": "64-bit" if s.arch == "AMD64" else "32-bit",
        "LastBootUpTime": wmi_datetime(s.booted_at),
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


@wmi_class(CIMV2, "Win32_ComputerSystem")
def _computer_system(machine: Machine) -> list[WmiObject]:
    """The computer, a member of the lab's domain: the session account's domain, ``<name>.local``."""
    from rollup.lab.windows.ldap import domain_dn

    dns = ".".join(part.split("=", 1)[1] for part in domain_dn(machine).split(","))
    props = {
        "Name": machine.computer_name(),
        "Domain": dns,
        "PartOfDomain": True,
        "Manufacturer": "Microsoft Corporation",
        "Model": "Virtual Machine",
    }
    return [WmiObject(machine, CIMV2, "Win32_ComputerSystem", props, f'Name="{machine.computer_name()}"')]


@wmi_class(CIMV2, "Win32_UserAccount")
def _user_accounts(machine: Machine) -> list[WmiObject]:
    """The local Administrator and Guest: their SIDs are the machine SID and RIDs 500 and 501."""
    from rollup.lab.windows.security import domain_sid

    sid = machine.state.machine_sid or domain_sid(machine.computer_name())
    name = machine.computer_name()
    out = []
    for account, rid in (("Administrator", 500), ("Guest", 501)):
        props = {
            "Name": account,
            "Domain": name,
            "Caption": f"{name}\\{account}",
            "SID": f"{sid}-{rid}",
            "LocalAccount": True,
            "Disabled": rid == 501,
        }
        out.append(WmiObject(machine, CIMV2, "Win32_UserAccount", props, f'Domain="{name}",Name="{account}"'))
    return out


_CONDITION = re.compile(
    r"\s*(\w+)\s*=\s*(?:'((?:[^']|'')*)'|\"([^\"]*)\"|(-?\d+)|(true|false))\s*", re.IGNORECASE
)


def matches(obj: WmiObject, where: str) -> bool:
    """Whether an instance passes a WQL condition of ``Prop='value'``, ``Prop=n`` or ``Prop=True`` terms joined by AND."""
    for term in re.split(r"\s+AND\s+", where.strip(), flags=re.IGNORECASE):
        m = _CONDITION.fullmatch(term)
        if not m:
            raise ValueError(term)
        found, value = obj.ps_dynamic_member(m.group(1))
        if m.group(5) is not None:
            if not found or bool(value) != (m.group(5).lower() == "true"):
                return False
            continue
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


_PATH = re.compile(r"^(?:\\\\([^\\]+)\\)?(?:([^:]+):)?(\w+)\.(.+)$")


def instance_at(machine: Machine, path: str) -> WmiObject:
    """
    The instance a WMI object path names (``[wmi]'\\\\HOST\\root\\ns:Class.Key="v"'``).

    Raises:
        NetException: a path that does not parse, a namespace the host lacks, no such instance.
    """
    m = _PATH.match(path.strip())
    server = (m.group(1) or ".").lower() if m else ""
    if m is None or server not in (".", "localhost", machine.computer_name().lower()):
        raise NetException("System.Management.ManagementException", "Invalid object path ")
    namespace = (m.group(2) or CIMV2).lower()
    if not machine.has_wmi_namespace(namespace):
        raise NetException("System.Management.ManagementException", "Invalid namespace ")
    source = CLASSES.get((namespace, m.group(3).lower()))
    if source is None:
        raise NetException("System.Management.ManagementException", "Not found ")
    found = next((i for i in source(machine) if i.key.lower() == m.group(4).lower()), None)
    if found is None:
        raise NetException("System.Management.ManagementException", "Not found ")
    return found
