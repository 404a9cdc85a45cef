"""
The Hyper-V module of Windows Server 2012 and later (PowerShell 3.0+), over
``rollup.lab.windows.hyperv``: ``Get-VM``, ``Get-VMSnapshot``, ``Checkpoint-VM``,
``Restore-VMSnapshot``, ``Remove-VMSnapshot``, ``Stop-VM`` and ``Start-VM``.

The machine offers these cmdlets only where the module loads (``HyperV.cmdlets_available``);
elsewhere a script calling them fails as PowerShell does ("The term 'Get-VM' is not
recognized..."). Their objects (``rollup.lab.windows.hyperv_objects``) are snapshots of the moment
a cmdlet returned them: ``State`` does not change under a script that holds one, so a script
reads it again with ``Get-VM``. Failures are non-terminating errors, as the module writes them
(terminating under ``$ErrorActionPreference = 'Stop'``). ``Restore-VMSnapshot`` asks for
confirmation unless ``-Confirm:$false``, which fails in the non-interactive shell WinRM runs.
``Start-VM`` of a running VM and ``Stop-VM`` of one that is off only warn;
``Restore-VMSnapshot`` of a running VM fails (the VM must be off or saved, as WMI's apply needs). ``-AsJob`` and
``-ComputerName`` are not modelled (a script using them fails to bind).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from rollup.lab.pwsh.cmdlets import Cmdlet, binding_error
from rollup.lab.pwsh.dotnet.guid import to_guid
from rollup.lab.pwsh.errors import ErrorRecord, ExceptionObject, runtime_error
from rollup.lab.pwsh.net import NetException, NetObject
from rollup.lab.pwsh.operators import like
from rollup.lab.pwsh.values import enumerate_value, to_string, type_name
from rollup.lab.windows.hyperv import HyperV, HyperVError
from rollup.lab.windows.hyperv_objects import VirtualMachine, VMSnapshot, guid_of

if TYPE_CHECKING:
    from rollup.lab.hyperv import Power, SimVm
    from rollup.lab.pwsh.commands import Bound
    from rollup.lab.pwsh.interp import Interpreter

IN_STATE = "The virtual machine is already in the specified state."
NON_INTERACTIVE = (
    "Windows PowerShell is in NonInteractive mode. Read and Prompt functionality is not available."
)


# ---- binding -------------------------------------------------------------------------------------


def _hv(interp: Interpreter) -> HyperV:
    hv: HyperV = interp.rt.machine.hyperv()
    return hv


def _fail(
    interp: Interpreter, cmdlet: str, message: str, target: Any = None, *, invalid: bool = False
) -> None:
    kind = "VirtualizationInvalidArgumentException" if invalid else "VirtualizationOperationFailedException"
    exc = ExceptionObject(f"Microsoft.HyperV.PowerShell.{kind}", message)
    command = f"Microsoft.HyperV.PowerShell.Commands.{cmdlet.replace('-', '')}Command"
    error_id = ("InvalidParameter" if invalid else "OperationFailed") + "," + command
    interp.rt.write_error(
        ErrorRecord(exc, error_id, "InvalidArgument" if invalid else "NotSpecified", target)
    )


def _objects(cmdlet: str, parameter: str, value: Any, cls: type[NetObject]) -> list[Any]:
    items = enumerate_value(value)
    out = [value] if items is None else list(items)
    for item in out:
        if not isinstance(item, cls):
            raise binding_error(
                cmdlet,
                f"Cannot bind parameter '{parameter}'. Cannot convert the \"{to_string(item)}\" value of type "
                f'"{type_name(item)}" to type "{cls.TYPE}".',
                "CannotConvertArgument",
            )
    return out


def _all_of(value: Any, cls: type[NetObject]) -> bool:
    """Whether a positional argument is one or more ``cls`` objects (and so binds to that parameter)."""
    items = enumerate_value(value)
    seq = [value] if items is None else list(items)
    return bool(seq) and all(isinstance(item, cls) for item in seq)


def _second(b: Bound, *first: str) -> int:
    """Where a cmdlet's second positional parameter is: first in line once the first is named."""
    return 0 if any(b.has(name) for name in first) else 1


def _names(value: Any) -> list[str]:
    items = enumerate_value(value)
    return [to_string(v) for v in ([value] if items is None else list(items))]


def _find_vms(interp: Interpreter, cmdlet: str, patterns: list[str]) -> list[SimVm]:
    vms = _hv(interp).vms()
    found: list[SimVm] = []
    for pattern in patterns:
        matched = [v for v in vms if like(v.name, pattern, False) and v not in found]
        if not matched and not any(c in pattern for c in "*?["):
            _fail(
                interp,
                cmdlet,
                f"Hyper-V was unable to find a virtual machine with name {pattern}.",
                pattern,
                invalid=True,
            )
        found.extend(matched)
    return found


def _targets(interp: Interpreter, b: Bound, cmdlet: str, name_key: str = "name") -> list[SimVm]:
    """The VMs a cmdlet acts on, current: from ``-VM``, ``-Name`` (wildcards) or the pipeline."""
    first = b.positional[0] if b.positional else None
    given: Any = b.get("vm")
    if given is None and first is not None and _all_of(first, VirtualMachine):
        given = first
    if given is None and not b.has(name_key) and first is None and b.input:
        given = b.input
    if given is not None:
        out = []
        for obj in _objects(cmdlet, "VM", given, VirtualMachine):
            vm = _hv(interp).vm_by_id(obj.vm_id)
            if vm is None:
                _fail(
                    interp, cmdlet, f"Hyper-V was unable to find a virtual machine with name {obj.name}.", obj
                )
            else:
                out.append(vm)
        return out
    names = b.get(name_key, 0)
    if names is None:
        raise binding_error(
            cmdlet,
            f"Cannot process command because of one or more missing mandatory parameters: {name_key.capitalize()}.",
            "MissingMandatoryParameter",
        )
    return _find_vms(interp, cmdlet, _names(names))


def _snapshots(interp: Interpreter, vm: SimVm, pattern: str | None = None) -> list[VMSnapshot]:
    host = interp.rt.machine.computer_name()
    return [
        VMSnapshot(host, vm, sid, c)
        for sid, c in _hv(interp).checkpoints(vm)
        if pattern is None or like(c.name, pattern, False)
    ]


def _chosen_snapshots(interp: Interpreter, b: Bound, cmdlet: str) -> list[VMSnapshot]:
    """``-VMSnapshot`` (or the pipeline), else ``-Name`` of ``-VMName``/``-VM``'s checkpoints."""
    given: Any = b.get("vmsnapshot")
    first = b.positional[0] if b.positional else None
    if given is None and first is not None and _all_of(first, VMSnapshot):
        given = first
    if given is None and not b.has("name") and not b.has("vmname") and not b.has("vm") and b.input:
        given = b.input
    if given is not None:
        return list(_objects(cmdlet, "VMSnapshot", given, VMSnapshot))
    name = b.get("name", _second(b, "vmname", "vm"))
    if name is None:
        raise binding_error(
            cmdlet,
            "Cannot process command because of one or more missing mandatory parameters: Name.",
            "MissingMandatoryParameter",
        )
    found: list[VMSnapshot] = []
    for vm in _targets(interp, b, cmdlet, "vmname"):
        found.extend(_snapshots(interp, vm, to_string(name)))
    return found


def _current(interp: Interpreter, cmdlet: str, snapshot: VMSnapshot) -> bool:
    vm = _hv(interp).vm_by_id(snapshot.vm_id)
    ids = [sid.lower() for sid, _ in _hv(interp).checkpoints(vm)] if vm is not None else []
    if snapshot.snapshot_id.lower() not in ids:
        _fail(interp, cmdlet, f"Hyper-V was unable to find the checkpoint {snapshot.name}.", snapshot)
        return False
    return True


# ---- the cmdlets ---------------------------------------------------------------------------------


def _get_vm(interp: Interpreter, b: Bound) -> Iterable[Any]:
    host = interp.rt.machine.computer_name()
    if b.has("id"):
        try:
            wanted = to_guid(b.get("id"))
        except NetException as exc:
            raise binding_error(
                "Get-VM",
                f"Cannot bind parameter 'Id'. Cannot convert value \"{to_string(b.get('id'))}\" to type "
                f'"System.Guid". Error: "{exc.message}"',
                "CannotConvertArgumentNoMessage",
            ) from None
        found = [v for v in _hv(interp).vms() if guid_of(v.id).Equals(wanted)]
        if not found:
            _fail(
                interp,
                "Get-VM",
                f"Hyper-V was unable to find a virtual machine with id {wanted.ToString()}.",
                invalid=True,
            )
        return [VirtualMachine(host, v) for v in found]
    names = b.get("name", 0)
    vms = _hv(interp).vms() if names is None else _find_vms(interp, "Get-VM", _names(names))
    return [VirtualMachine(host, v) for v in vms]


def _get_snapshot(interp: Interpreter, b: Bound) -> Iterable[Any]:
    name = b.get("name", _second(b, "vmname", "vm"))
    out: list[Any] = []
    for vm in _targets(interp, b, "Get-VMSnapshot", "vmname"):
        out.extend(_snapshots(interp, vm, None if name is None else to_string(name)))
    return out


def _checkpoint(interp: Interpreter, b: Bound) -> Iterable[Any]:
    name = b.get("snapshotname", _second(b, "name", "vm"))
    out: list[Any] = []
    host = interp.rt.machine.computer_name()
    for vm in _targets(interp, b, "Checkpoint-VM"):
        if not _confirmed(interp, b, "Checkpoint-VM", "medium", vm.name):
            continue
        try:
            made = _hv(interp).create_checkpoint(vm.id, None if name is None else to_string(name))
        except HyperVError as exc:
            _fail(
                interp,
                "Checkpoint-VM",
                f"Checkpoint operation for '{vm.name}' failed.\r\n{exc.message}",
                vm.name,
            )
            continue
        if b.get("passthru"):
            current = _hv(interp).vm_by_id(vm.id) or vm
            out.append(VMSnapshot(host, current, made.id, made))
    return out


def _confirmed(interp: Interpreter, b: Bound, cmdlet: str, impact: str, target: str) -> bool:
    """ShouldProcess: ``-WhatIf`` says what it would do; a prompt fails without a console."""
    if b.get("whatif"):
        interp.rt.write_host(f'What if: Performing operation "{cmdlet}" on Target "{target}".')
        return False
    preference = to_string(interp.rt.get("ConfirmPreference")[1] or "High").lower()
    levels = {"none": 4, "high": 3, "medium": 2, "low": 1}
    asked = bool(b.get("confirm")) if b.has("confirm") else levels.get(impact, 3) >= levels.get(preference, 3)
    if asked:
        raise runtime_error(
            NON_INTERACTIVE,
            f"HostFunctionNotImplemented,Microsoft.HyperV.PowerShell.Commands.{cmdlet.replace('-', '')}Command",
            "System.Management.Automation.Host.HostException",
        )
    return True


def _restore(interp: Interpreter, b: Bound) -> Iterable[Any]:
    for snapshot in _chosen_snapshots(interp, b, "Restore-VMSnapshot"):
        if not _confirmed(interp, b, "Restore-VMSnapshot", "high", snapshot.name) or not _current(
            interp, "Restore-VMSnapshot", snapshot
        ):
            continue
        try:
            _hv(interp).apply(snapshot.vm_id, snapshot.snapshot_id)
        except HyperVError as exc:
            _fail(
                interp,
                "Restore-VMSnapshot",
                f"'{snapshot.vm_name}' failed to apply checkpoint.\r\n{exc.message}",
                snapshot,
            )
    return []


def _remove(interp: Interpreter, b: Bound) -> Iterable[Any]:
    for snapshot in _chosen_snapshots(interp, b, "Remove-VMSnapshot"):
        if not _confirmed(interp, b, "Remove-VMSnapshot", "medium", snapshot.name) or not _current(
            interp, "Remove-VMSnapshot", snapshot
        ):
            continue
        _hv(interp).remove(snapshot.vm_id, snapshot.snapshot_id)
    return []


def _power(cmdlet: str) -> Callable[[Interpreter, Bound], Iterable[Any]]:
    def run(interp: Interpreter, b: Bound) -> Iterable[Any]:
        out: list[Any] = []
        host = interp.rt.machine.computer_name()
        for vm in _targets(interp, b, cmdlet):
            want: Power = "Running" if cmdlet == "Start-VM" else ("Saved" if b.get("save") else "Off")
            if not _confirmed(interp, b, cmdlet, "medium", vm.name):
                continue
            if vm.power == want:
                interp.rt.write_host(f"WARNING: {IN_STATE}")
            else:
                try:
                    _hv(interp).set_power(vm.id, want)
                except HyperVError as exc:
                    _fail(interp, cmdlet, f"'{vm.name}' failed to change state.\r\n{exc.message}", vm.name)
            if b.get("passthru"):
                out.append(VirtualMachine(host, _hv(interp).vm_by_id(vm.id) or vm))
        return out

    return run


def _loading(
    run: Callable[[Interpreter, Bound], Iterable[Any]],
) -> Callable[[Interpreter, Bound], Iterable[Any]]:
    """PowerShell 3.0 loads the module the first time a script uses one of its cmdlets."""

    def loaded(interp: Interpreter, b: Bound) -> Iterable[Any]:
        interp.rt.machine.imported_modules.add("hyper-v")
        return list(run(interp, b))

    return loaded


_SHOULD = ("whatif", "confirm")
CMDLETS: dict[str, Cmdlet] = {
    c.name.lower(): c
    for c in (
        Cmdlet("Get-VM", ("name", "id"), _loading(_get_vm)),
        Cmdlet("Get-VMSnapshot", ("vmname", "vm", "name", "snapshottype"), _loading(_get_snapshot)),
        Cmdlet(
            "Checkpoint-VM",
            ("name", "vm", "snapshotname", "passthru", *_SHOULD),
            _loading(_checkpoint),
            frozenset({"passthru", *_SHOULD}),
        ),
        Cmdlet(
            "Restore-VMSnapshot",
            ("vmsnapshot", "name", "vmname", "vm", "passthru", *_SHOULD),
            _loading(_restore),
            frozenset({"passthru", *_SHOULD}),
        ),
        Cmdlet(
            "Remove-VMSnapshot",
            ("vmsnapshot", "vmname", "vm", "name", "includeallchildsnapshots", "passthru", *_SHOULD),
            _loading(_remove),
            frozenset({"includeallchildsnapshots", "passthru", *_SHOULD}),
        ),
        Cmdlet(
            "Stop-VM",
            ("name", "vm", "save", "turnoff", "force", "passthru", *_SHOULD),
            _loading(_power("Stop-VM")),
            frozenset({"save", "turnoff", "force", "passthru", *_SHOULD}),
        ),
        Cmdlet(
            "Start-VM",
            ("name", "vm", "passthru", *_SHOULD),
            _loading(_power("Start-VM")),
            frozenset({"passthru", *_SHOULD}),
        ),
    )
}
"""The Hyper-V module's cmdlets the lab has, with the parameters it models."""
