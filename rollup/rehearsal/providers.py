"""
Snapshot providers: what takes, reverts and removes the lab VMs' snapshots, one per hypervisor.

A rehearsal touches its lab's VMs only through a ``SnapshotProvider``: one object per hypervisor
named in the inventory (``all.vars.rollup_hypervisors``), made by a ``ProviderRegistry`` from the
hypervisor's ``provider``: ``hyperv`` (``rollup.rehearsal.hyperv``, PowerShell over WinRM on the
Hyper-V host) or ``vmware`` (``rollup.rehearsal.vmware``, pyVmomi, imported only when used). Tests
and other hypervisors register factories on a registry of their own instead of patching anything,
as transports do (``rollup.transport.base``).

Every method acts on all the VMs it is given before it returns, and raises ``CommandFailed``
naming the hypervisor and each VM that failed; the others keep what was done to them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from rollup.credentials import CredentialCache
from rollup.errors import ConfigError, InventoryError
from rollup.model.inventory import Hypervisor, Inventory, VmProvider
from rollup.transport.base import TransportRegistry


@dataclass(frozen=True, slots=True, kw_only=True)
class VmTarget:
    """One lab VM: the inventory host it is, and its name on its hypervisor."""

    host: str
    vm: str


class SnapshotProvider(Protocol):
    """
    The snapshot operations of one hypervisor. Not thread-safe: one caller at a time.
    ``close`` releases the session and never raises for a hypervisor that has gone away.
    """

    hypervisor: str
    """The hypervisor's inventory name, as every error names it."""

    def check(self, vms: Sequence[VmTarget]) -> None:
        """Make sure each VM exists exactly once, before anything is changed."""
        ...

    def snapshot(self, vms: Sequence[VmTarget], name: str) -> None:
        """Take snapshot ``name`` of each VM (running VMs with their memory)."""
        ...

    def revert(self, vms: Sequence[VmTarget], name: str) -> None:
        """Put each VM back to snapshot ``name``; a VM that was running is running afterwards."""
        ...

    def remove(self, vms: Sequence[VmTarget], name: str) -> None:
        """Delete snapshot ``name`` of each VM (the VM keeps its current state)."""
        ...

    def power_off(self, vm: VmTarget) -> None:
        """Turn the VM off at once, as pulling its plug would."""
        ...

    def power_on(self, vm: VmTarget) -> None:
        """Start the VM (nothing happens if it runs)."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderContext:
    """What a provider may use to reach its hypervisor."""

    transports: TransportRegistry
    credentials: CredentialCache


ProviderFactory = Callable[[Hypervisor, ProviderContext], SnapshotProvider]
"""Makes the (not yet connected) provider of a hypervisor."""


class ProviderRegistry:
    """Provider factories by provider kind (``Hypervisor.provider``)."""

    def __init__(self, factories: Mapping[str, ProviderFactory] | None = None) -> None:
        self._factories: dict[str, ProviderFactory] = dict(factories or {})

    def register(self, kind: str, factory: ProviderFactory) -> None:
        """Use ``factory`` for hypervisors whose provider is ``kind`` (replacing any earlier one)."""
        self._factories[str(kind)] = factory

    def create(self, hypervisor: Hypervisor, context: ProviderContext) -> SnapshotProvider:
        """
        The provider for ``hypervisor``.

        Raises:
            ConfigError: no provider is registered for its kind.
        """
        factory = self._factories.get(str(hypervisor.provider))
        if factory is None:
            known = ", ".join(sorted(self._factories)) or "none"
            kind = str(hypervisor.provider)
            raise ConfigError(f"{hypervisor.name}: no snapshot provider {kind} (known: {known})")
        return factory(hypervisor, context)

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._factories))


def _hyperv(hypervisor: Hypervisor, context: ProviderContext) -> SnapshotProvider:
    from rollup.rehearsal.hyperv import HyperVProvider

    return HyperVProvider(hypervisor, context)


def _vmware(hypervisor: Hypervisor, context: ProviderContext) -> SnapshotProvider:
    from rollup.rehearsal.vmware import VMwareProvider

    return VMwareProvider(hypervisor, context)


def default_providers() -> ProviderRegistry:
    """Hyper-V and VMware vSphere."""
    return ProviderRegistry({VmProvider.HYPERV.value: _hyperv, VmProvider.VMWARE.value: _vmware})


def lab_vms(inventory: Inventory) -> dict[str, tuple[VmTarget, ...]]:
    """
    The inventory's VMs grouped by hypervisor name, hypervisors and VMs in file order.

    Raises:
        InventoryError: a host has no ``vm``: a rehearsal must be able to put every host back.
    """
    missing = [host.name for host in inventory.hosts if host.vm is None]
    if missing:
        shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise InventoryError(
            f"{inventory.source}: {shown}: no vm; a rehearsal snapshots every host, so each needs "
            "vm: {hypervisor: NAME, name: VM} (docs/rehearse.md)"
        )
    grouped: dict[str, list[VmTarget]] = {}
    for hypervisor in inventory.settings.hypervisors:
        grouped[hypervisor.name] = []
    for host in inventory.hosts:
        if host.vm is not None:
            grouped[host.vm.hypervisor].append(VmTarget(host=host.name, vm=host.vm.name))
    return {name: tuple(vms) for name, vms in grouped.items() if vms}
