"""
``System.Management``: the ``[wmi]`` accelerator (``ManagementObject``) and ``TextFormat``.

``[wmi]'\\\\HOST\\root\\ns:Class.Key="v"'`` binds to the instance that path names on the
machine (``Machine.wmi_instance``), failing as WMI fails ("Not found ", "Invalid namespace ").
The instances themselves are ``rollup.lab.windows.wmi.WmiObject``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rollup.lab.pwsh.net import NetObject, register
from rollup.lab.pwsh.values import to_string

if TYPE_CHECKING:
    from rollup.lab.pwsh.runtime import Runtime


def _cast(rt: Runtime, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, NetObject) and value.TYPE == "System.Management.ManagementObject":
        return value
    return rt.machine.wmi_instance(to_string(value))


register("System.Management.ManagementObject", aliases=("wmi",), cast=_cast)
register("System.Management.TextFormat", enum_values={"Mof": 0, "CimDtd20": 1, "WmiDtd20": 2})
