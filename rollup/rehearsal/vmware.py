"""
The VMware vSphere snapshot provider, through pyVmomi (the optional extra ``rollup[vmware]``).

pyVmomi is imported only when a vSphere hypervisor is first used, so rollup runs without it and
an inventory without vSphere never needs it. The provider logs on to vCenter (or an ESXi host)
with the hypervisor's connection (``Hypervisor.connection``: address, port 443, user, password
reference, certificate validation and CA bundle), finds each VM by its exact name in a container
view, and uses the task methods of windows-ops §4, each awaited with ``pyVim.task.WaitForTask``:

- ``vm.CreateSnapshot_Task(name, description, memory, quiesce)``, with ``memory`` for a VM that
  is powered on (so a revert brings it back running) and no quiescing (the VMs' memory is kept);
- ``snapshot.RevertToSnapshot_Task()`` on the node found by name in ``vm.snapshot``'s tree, then
  ``vm.PowerOnVM_Task()`` if the VM ran before and the revert left it off;
- ``snapshot.RemoveSnapshot_Task(removeChildren=False)``;
- ``vm.PowerOffVM_Task()`` and ``vm.PowerOnVM_Task()`` for the host-down drill.

Everything pyVmomi is reached through ``VSphereApi``, so tests stand fake ``vim`` objects in for
vCenter. A fault raised by pyVmomi becomes a ``CommandFailed`` naming the hypervisor and the VM.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from rollup.errors import CommandFailed, ConfigError
from rollup.model.inventory import CertValidation, Hypervisor
from rollup.rehearsal.providers import ProviderContext, VmTarget

DESCRIPTION = "rollup rehearsal: the lab before the rollup"
POWERED_ON = "poweredOn"


@dataclass(frozen=True, slots=True, kw_only=True)
class VSphereApi:
    """The pyVmomi entry points the provider calls."""

    connect: Callable[..., Any]
    """``pyVim.connect.SmartConnect(host=, user=, pwd=, port=, sslContext=)``: a service instance."""
    disconnect: Callable[[Any], None]
    """``pyVim.connect.Disconnect(si)``."""
    wait_for_task: Callable[[Any], Any]
    """``pyVim.task.WaitForTask(task)``: raises the task's fault if it fails."""
    vm_type: Any
    """``pyVmomi.vim.VirtualMachine``, the type a container view lists."""


def pyvmomi_api(hypervisor: str) -> VSphereApi:
    """
    The real entry points.

    Raises:
        ConfigError: pyVmomi is not installed.
    """
    try:
        from pyVim.connect import Disconnect, SmartConnect
        from pyVim.task import WaitForTask
        from pyVmomi import vim
    except ImportError:
        raise ConfigError(
            f"{hypervisor}: the vmware provider needs pyVmomi: pip install 'rollup[vmware]'"
        ) from None
    return VSphereApi(
        connect=SmartConnect, disconnect=Disconnect, wait_for_task=WaitForTask, vm_type=vim.VirtualMachine
    )


def walk(nodes: Sequence[Any]) -> Iterator[Any]:
    """Every node of a snapshot tree (``vim.vm.SnapshotTree``), depth first."""
    for node in nodes:
        yield node
        yield from walk(node.childSnapshotList or ())


class VMwareProvider:
    """A ``SnapshotProvider`` for one vCenter or ESXi host (see the module docstring)."""

    def __init__(
        self, hypervisor: Hypervisor, context: ProviderContext, api: VSphereApi | None = None
    ) -> None:
        self.hypervisor = hypervisor.name
        self._config = hypervisor
        self._context = context
        self._api = api
        self._si: Any = None

    def check(self, vms: Sequence[VmTarget]) -> None:
        """
        Raises:
            CommandFailed: a VM is missing or its name is shared, naming each such VM and its host.
        """
        problems = []
        for vm in vms:
            found = self._find(vm.vm)
            if len(found) != 1:
                count = "no such VM" if not found else f"{len(found)} VMs have this name"
                problems.append(f"{vm.vm} (host {vm.host}): {count}")
        if problems:
            raise CommandFailed(
                f"{self.hypervisor}: " + "; ".join(problems),
                hint="each host's vm.name in the inventory must name exactly one VM on its hypervisor",
            )

    def snapshot(self, vms: Sequence[VmTarget], name: str) -> None:
        def take(vm: Any) -> None:
            if self._node(vm, name, required=False) is not None:
                raise CommandFailed(f"a snapshot named {name} already exists")
            memory = vm.runtime.powerState == POWERED_ON
            task = vm.CreateSnapshot_Task(name=name, description=DESCRIPTION, memory=memory, quiesce=False)
            self._wait(task)

        self._each(vms, f"snapshot {name}", take)

    def revert(self, vms: Sequence[VmTarget], name: str) -> None:
        def back(vm: Any) -> None:
            running = vm.runtime.powerState == POWERED_ON
            self._wait(self._node(vm, name).snapshot.RevertToSnapshot_Task())
            if running and vm.runtime.powerState != POWERED_ON:
                self._wait(vm.PowerOnVM_Task())

        self._each(vms, f"revert to {name}", back)

    def remove(self, vms: Sequence[VmTarget], name: str) -> None:
        def drop(vm: Any) -> None:
            self._wait(self._node(vm, name).snapshot.RemoveSnapshot_Task(removeChildren=False))

        self._each(vms, f"removal of {name}", drop)

    def power_off(self, vm: VmTarget) -> None:
        def off(found: Any) -> None:
            if found.runtime.powerState == POWERED_ON:
                self._wait(found.PowerOffVM_Task())

        self._each((vm,), "power off", off)

    def power_on(self, vm: VmTarget) -> None:
        def on(found: Any) -> None:
            if found.runtime.powerState != POWERED_ON:
                self._wait(found.PowerOnVM_Task())

        self._each((vm,), "power on", on)

    def close(self) -> None:
        if self._si is not None and self._api is not None:
            si, self._si = self._si, None
            with contextlib.suppress(Exception):  # logging off a vCenter that went away changes nothing
                self._api.disconnect(si)

    # ---- the session and its VMs

    def _vsphere(self) -> tuple[VSphereApi, Any]:
        if self._api is None:
            self._api = pyvmomi_api(self.hypervisor)
        if self._si is None:
            connection = self._config.connection
            credentials = self._context.credentials.get(connection)
            try:
                self._si = self._api.connect(
                    host=connection.address,
                    user=credentials.user,
                    pwd=credentials.password.reveal(),
                    port=connection.port,
                    sslContext=_ssl_context(self._config),
                )
            except Exception as exc:
                raise CommandFailed(f"{self.hypervisor}: cannot log on to vSphere: {_message(exc)}") from None
        return self._api, self._si

    def _find(self, name: str) -> list[Any]:
        api, si = self._vsphere()
        content = si.RetrieveContent()
        view = content.viewManager.CreateContainerView(content.rootFolder, [api.vm_type], True)
        try:
            return [vm for vm in view.view if vm.name == name]
        finally:
            view.Destroy()

    def _node(self, vm: Any, name: str, *, required: bool = True) -> Any:
        tree = vm.snapshot.rootSnapshotList if vm.snapshot is not None else ()
        found = [node for node in walk(tree) if node.name == name]
        if len(found) == 1 or (not found and not required):
            return found[0] if found else None
        raise CommandFailed(f"{len(found)} snapshots are named {name}")

    def _wait(self, task: Any) -> None:
        api, _ = self._vsphere()
        api.wait_for_task(task)

    def _each(self, vms: Sequence[VmTarget], what: str, act: Callable[[Any], None]) -> None:
        """``act`` on each VM, all of them even when some fail; then one error naming the failures."""
        failed = []
        for target in vms:
            try:
                found = self._find(target.vm)
                if len(found) != 1:
                    raise CommandFailed("no such VM" if not found else f"{len(found)} VMs have this name")
                act(found[0])
            except ConfigError:
                raise
            except CommandFailed as exc:
                failed.append(f"{target.vm}: {exc.message}")
            except Exception as exc:
                failed.append(f"{target.vm}: {_message(exc)}")
        if failed:
            raise CommandFailed(f"{self.hypervisor}: {what} failed: " + "; ".join(failed))


def _ssl_context(hypervisor: Hypervisor) -> ssl.SSLContext:
    """Certificate validation as the inventory says (with its CA bundle, if one is given)."""
    connection = hypervisor.connection
    cafile = str(connection.ca_trust_path) if connection.ca_trust_path is not None else None
    context = ssl.create_default_context(cafile=cafile)
    if connection.cert_validation is CertValidation.IGNORE:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _message(exc: BaseException) -> str:
    """A pyVmomi fault's ``msg`` (its readable text), else the exception's own, on one line."""
    text = getattr(exc, "msg", None) or str(exc) or type(exc).__name__
    return " ".join(str(text).split())
