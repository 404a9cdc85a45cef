"""
The Hyper-V snapshot provider: ``rollup.ops.hyperv``'s scripts, run over WinRM on the Hyper-V host.

The hypervisor is reached like any host (``Hypervisor.connection``: the inventory's WinRM
settings, credentials by reference). Which script drives it follows ``hyperv_api``: ``cmdlets``
(Windows Server 2012 and later), ``wmi`` (2008 and 2008 R2), or ``auto``, which asks
``hyperv.probe`` once and takes the cmdlets where the Hyper-V module and PowerShell 3.0 are, else
WMI v1. Each call acts on all the VMs of this hypervisor at once, so a lab is snapshotted and
reverted as one set, as windows-ops §4 advises.

Nothing is retried here: a snapshot that may have been taken before a connection broke must not
be taken twice. A failure is one ``CommandFailed`` naming the hypervisor and every failed VM.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rollup.errors import CommandFailed
from rollup.model.inventory import HyperVApi, Hypervisor
from rollup.ops.base import Operation
from rollup.ops.hyperv import PROBE, VM_ACTION, Action, HyperVHost, ProbeParams, VmActionParams
from rollup.ops.hyperv_wmi import WMI_VM_ACTION
from rollup.rehearsal.providers import ProviderContext, VmTarget
from rollup.transport.base import Transport

_VERBS: dict[Action, str] = {
    "create": "checkpoint",
    "restore": "restore",
    "remove": "checkpoint removal",
    "stop": "turning off",
    "start": "start",
}


class HyperVProvider:
    """A ``SnapshotProvider`` for one Hyper-V host (see the module docstring)."""

    def __init__(self, hypervisor: Hypervisor, context: ProviderContext) -> None:
        self.hypervisor = hypervisor.name
        self._config = hypervisor
        self._context = context
        self._transport: Transport | None = None
        chosen = hypervisor.hyperv_api
        self._api: str | None = None if chosen is HyperVApi.AUTO else chosen.value

    def probe(self, vms: Sequence[VmTarget] = ()) -> HyperVHost:
        """The host's versions, interfaces and, for each VM, how many VMs carry its name."""
        params = ProbeParams(vms=tuple(vm.vm for vm in vms))
        found: HyperVHost = self._run(PROBE, params)
        return found

    def api(self) -> str:
        """
        ``cmdlets`` or ``wmi``: the inventory's choice, else what ``hyperv.probe`` finds.

        Raises:
            CommandFailed: the host has neither the Hyper-V module nor WMI ``root\\virtualization``.
        """
        if self._api is None:
            self._api = self._choose(self.probe())
        return self._api

    def _choose(self, found: HyperVHost) -> str:
        api = found.api()
        if api is None:
            raise CommandFailed(
                f"{self.hypervisor}: no Hyper-V found (neither the Hyper-V module with PowerShell 3.0 "
                "nor WMI root\\virtualization)",
                hint="check the hypervisor's address, or set hyperv_api in rollup_hypervisors",
            )
        return api

    def check(self, vms: Sequence[VmTarget]) -> None:
        """
        Raises:
            CommandFailed: a VM is missing or its name is shared, naming each such VM and its host.
        """
        found = self.probe(vms)
        if self._api is None:
            self._api = self._choose(found)
        problems = [
            f"{vm.vm} (host {vm.host}): "
            + ("no such VM" if entry.matches == 0 else f"{entry.matches} VMs have this name")
            for vm, entry in zip(vms, found.vms, strict=True)
            if entry.matches != 1
        ]
        if problems:
            raise CommandFailed(
                f"{self.hypervisor}: " + "; ".join(problems),
                hint="each host's vm.name in the inventory must name exactly one VM on its hypervisor",
            )

    def snapshot(self, vms: Sequence[VmTarget], name: str) -> None:
        self._act("create", vms, name)

    def revert(self, vms: Sequence[VmTarget], name: str) -> None:
        self._act("restore", vms, name)

    def remove(self, vms: Sequence[VmTarget], name: str) -> None:
        self._act("remove", vms, name)

    def power_off(self, vm: VmTarget) -> None:
        self._act("stop", (vm,), "")

    def power_on(self, vm: VmTarget) -> None:
        self._act("start", (vm,), "")

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def _act(self, action: Action, vms: Sequence[VmTarget], snapshot: str) -> None:
        if not vms:
            return
        op = VM_ACTION if self.api() == "cmdlets" else WMI_VM_ACTION
        params = VmActionParams(action=action, vms=tuple(vm.vm for vm in vms), snapshot=snapshot)
        outcomes = self._run(op, params)
        failed = [o for o in outcomes if not o.ok]
        if failed:
            what = f"{_VERBS[action]} of {snapshot}" if snapshot else _VERBS[action]
            raise CommandFailed(
                f"{self.hypervisor}: {what} failed: " + "; ".join(f"{o.vm}: {o.detail}" for o in failed)
            )

    def _run(self, op: Operation[Any, Any], params: object) -> Any:
        if self._transport is None:
            connection = self._config.connection
            transport = self._context.transports.create(connection, self._context.credentials.get(connection))
            transport.open()
            self._transport = transport
        result = self._transport.run(op.command(params), timeout_s=op.timeout_s)
        return op.parse(result, params)
