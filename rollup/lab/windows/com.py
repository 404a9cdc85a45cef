"""
COM objects of the simulated host, created by ``New-Object -ComObject``.

``WindowsInstaller.Installer`` opens a package read-only and answers ``SELECT `Property`,`Value`
FROM `Property``` from the real MSI's properties, through ``Type.InvokeMember`` as the scripts
call it; ``COMAdmin.COMAdminCatalog`` is COM+'s catalog (``rollup.lab.windows.complus``). A ProgID
the host does not register fails as COM does (class not registered).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from rollup.lab.pwsh.net import NetException, NetObject
from rollup.lab.pwsh.values import to_string

if TYPE_CHECKING:
    from rollup.lab.windows.machine import Machine

NOT_REGISTERED = "80040154 Class not registered (Exception from HRESULT: 0x80040154 (REGDB_E_CLASSNOTREG))."


class ComObject(NetObject):
    """A COM object: its members are reached late-bound, also through ``GetType().InvokeMember``."""

    TYPE: ClassVar[str] = "System.__ComObject"

    def GetType(self) -> Any:
        return ComType(self)


class ComType(NetObject):
    TYPE: ClassVar[str] = "System.RuntimeType"

    def __init__(self, target: ComObject) -> None:
        self.target = target

    def InvokeMember(self, name: Any, flags: Any, binder: Any, target: Any, args: Any) -> Any:
        obj = target if isinstance(target, ComObject) else self.target
        member = to_string(name)
        attr = obj.member_names().get(member.lower())
        if attr is None:
            raise NetException(
                "System.Runtime.InteropServices.COMException",
                "Unknown name. (Exception from HRESULT: 0x80020006 (DISP_E_UNKNOWNNAME))",
            )
        arguments = [] if args is None else (list(args) if isinstance(args, list) else [args])
        value = getattr(obj, attr)
        return value(*arguments) if callable(value) else value


class Installer(ComObject):
    def __init__(self, machine: Machine) -> None:
        self.machine = machine

    def OpenDatabase(self, path: Any, mode: Any) -> Database:
        from rollup.lab.windows.hostfiles import msi_properties

        entry = self.machine.fs.entry(to_string(path))
        props = None if entry is None else msi_properties(entry, self.machine.sim_context())
        if props is None:
            raise NetException(
                "System.Runtime.InteropServices.COMException", "OpenDatabase,DatabasePath,OpenMode"
            )
        rows = {
            "ProductCode": props.product_code,
            "ProductName": props.product_name,
            "ProductVersion": props.product_version,
            "Manufacturer": props.manufacturer,
        }
        if props.upgrade_code:
            rows["UpgradeCode"] = props.upgrade_code
        return Database(rows)


class Database(ComObject):
    def __init__(self, rows: dict[str, str]) -> None:
        self.rows = rows

    def OpenView(self, query: Any) -> View:
        text = " ".join(to_string(query).split())
        if text != "SELECT `Property`,`Value` FROM `Property`":
            raise NetException("System.Runtime.InteropServices.COMException", "OpenView,Sql")
        return View(list(self.rows.items()))


class View(ComObject):
    def __init__(self, rows: list[tuple[str, str]]) -> None:
        self.rows = rows
        self.pos = -1

    def Execute(self, *args: Any) -> None:
        self.pos = 0

    def Fetch(self) -> Record | None:
        if self.pos < 0:
            raise NetException("System.Runtime.InteropServices.COMException", "Fetch")
        if self.pos >= len(self.rows):
            return None
        row = self.rows[self.pos]
        self.pos += 1
        return Record(row)

    def Close(self) -> None:
        return None


class Record(ComObject):
    def __init__(self, row: tuple[str, str]) -> None:
        self.row = row

    def StringData(self, field: Any) -> str:
        return self.row[int(field) - 1]


def create(machine: Machine, progid: str) -> Any:
    from rollup.lab.windows.complus import ComAdminCatalog

    factories: dict[str, Any] = {
        "windowsinstaller.installer": Installer,
        "comadmin.comadmincatalog": ComAdminCatalog,
    }
    factory = factories.get(progid.lower())
    if factory is None:
        raise NetException("System.Runtime.InteropServices.COMException", NOT_REGISTERED)
    return factory(machine)
