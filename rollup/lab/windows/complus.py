"""
COM+ on the simulated host: ``COMAdmin.COMAdminCatalog`` over ``HostState.complus``.

The catalog's collections (``GetCollection('Applications' | 'ApplicationInstances')``) are empty
until ``Populate()``, which reads the host's applications as they are at that moment: a
collection populated before a shutdown still lists the old instance, as on Windows. Items are
``ICatalogObject``s: ``Name``, ``Key`` and ``Value(property)``.

- ``Applications``: ``Key`` is the AppID (``{GUID}``); ``Value`` knows ``ID``, ``Name`` and
  ``IsEnabled``;
- ``ApplicationInstances``: one item per running server process, ``Key`` the instance id;
  ``Value`` knows ``InstanceID``, ``Application`` (the AppID), ``ProcessID``, ``IsPaused`` and
  ``HasRecycled``.

``ShutdownApplication(nameOrAppID)`` stops the application's process (nothing to do when it is
not running); ``StartApplication(nameOrAppID)`` starts it in a new process, with a new process
id. A name or AppID the catalog does not hold fails with ``COMADMIN_E_OBJECT_DOES_NOT_EXIST``;
starting a disabled application with ``COMADMIN_E_START_APP_DISABLED``; an AppID is recognised
only in braces.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from rollup.lab.pwsh.net import NetException
from rollup.lab.pwsh.values import to_string
from rollup.lab.windows.com import ComObject

if TYPE_CHECKING:
    from rollup.lab.state import ComPlusApplication
    from rollup.lab.windows.machine import Machine

COM_EXCEPTION = "System.Runtime.InteropServices.COMException"
DOES_NOT_EXIST = "One of the specified objects cannot be found. (Exception from HRESULT: 0x80110809)"
APP_DISABLED = "You cannot start an application that has been disabled. (Exception from HRESULT: 0x80110451)"
INVALID_ARG = "The parameter is incorrect. (Exception from HRESULT: 0x80070057 (E_INVALIDARG))"
FIRST_PID = 2000
"""Process ids the model hands out are above this one, 4 apart as Windows' are."""


def _instance_id(app: ComPlusApplication) -> str:
    """The id of the application's running instance: stable for one process."""
    name = f"{app.app_id}:{app.process_id}"
    return "{" + str(uuid.uuid5(uuid.NAMESPACE_OID, name)).upper() + "}"


class CatalogObject(ComObject):
    """An ``ICatalogObject``: an item of a catalog collection."""

    def __init__(self, name: str, key: str, values: dict[str, Any]) -> None:
        self._name = name
        self._key = key
        self._values = {k.lower(): v for k, v in values.items()}

    @property
    def Name(self) -> str:
        return self._name

    @property
    def Key(self) -> str:
        return self._key

    @property
    def Valid(self) -> bool:
        return True

    def Value(self, name: Any) -> Any:
        key = to_string(name).lower()
        if key not in self._values:
            raise NetException(COM_EXCEPTION, INVALID_ARG)
        return self._values[key]

    def IsPropertyReadOnly(self, name: Any) -> bool:
        self.Value(name)
        return to_string(name).lower() in ("id", "instanceid", "application", "processid")


class CatalogCollection(ComObject):
    """An ``ICatalogCollection``: empty until ``Populate()``."""

    def __init__(self, machine: Machine, name: str) -> None:
        self.machine = machine
        self._name = name
        self._items: list[CatalogObject] = []

    @property
    def Name(self) -> str:
        return self._name

    @property
    def Count(self) -> int:
        return len(self._items)

    def Item(self, index: Any) -> CatalogObject:
        i = int(index)
        if not 0 <= i < len(self._items):
            raise NetException(COM_EXCEPTION, INVALID_ARG)
        return self._items[i]

    def Populate(self) -> None:
        apps = sorted(self.machine.state.complus.values(), key=lambda a: a.name.lower())
        if self._name == "Applications":
            self._items = [
                CatalogObject(a.name, a.app_id, {"ID": a.app_id, "Name": a.name, "IsEnabled": a.enabled})
                for a in apps
            ]
            return
        self._items = []
        for a in apps:
            if not (a.running and a.process_id is not None):
                continue
            instance = _instance_id(a)
            values = {
                "InstanceID": instance,
                "Application": a.app_id,
                "ProcessID": a.process_id,
                "IsPaused": False,
                "HasRecycled": False,
            }
            self._items.append(CatalogObject(instance, instance, values))

    def SaveChanges(self) -> int:
        return 0

    def ps_enumerate(self) -> Iterator[Any]:
        return iter(list(self._items))


class ComAdminCatalog(ComObject):
    """``COMAdmin.COMAdminCatalog`` on the local computer."""

    COLLECTIONS = ("Applications", "ApplicationInstances")

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self._previous: dict[str, int] = {}

    def GetCollection(self, name: Any) -> CatalogCollection:
        text = to_string(name)
        found = next((c for c in self.COLLECTIONS if c.lower() == text.lower()), None)
        if found is None:
            raise NetException(COM_EXCEPTION, DOES_NOT_EXIST)
        return CatalogCollection(self.machine, found)

    def _app(self, name_or_id: Any) -> ComPlusApplication:
        text = to_string(name_or_id)
        for app in self.machine.state.complus.values():
            if app.name.lower() == text.lower() or app.app_id.lower() == text.lower():
                return app
        raise NetException(COM_EXCEPTION, DOES_NOT_EXIST)

    def ShutdownApplication(self, name_or_id: Any) -> None:
        app = self._app(name_or_id)
        if app.process_id is not None:
            self._previous[app.app_id] = app.process_id
        app.running = False
        app.process_id = None

    def StartApplication(self, name_or_id: Any) -> None:
        app = self._app(name_or_id)
        if not app.enabled:
            raise NetException(COM_EXCEPTION, APP_DISABLED)
        if app.running and app.process_id is not None:
            return
        used = [a.process_id for a in self.machine.state.complus.values() if a.process_id is not None]
        last = self._previous.get(app.app_id, FIRST_PID)
        app.process_id = max([last, *used]) + 4
        app.running = True
