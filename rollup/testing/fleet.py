"""
A simulated HMC 4.0 fleet in memory, for engine tests: hosts, inventory, package, transports.

``memory_fleet`` builds the pre-rollup state of MPS01 (Deployment Tool, MPS engine and web
services), DNS01, MPSSQL and N COLLAB hosts from the manifest and the lab's real MSI files
(``rollup.lab.prerollup``), a ``LabRunner`` over it that finishes every operation at once, the
controller-side package (the rollup build of every MSI, checked by ``rollup.engine.package``),
an inventory of those hosts, and a transport registry of ``DirectLabTransport``s. Nothing
listens on a port; a whole rollup runs in-process in about a second.

``lab_manifest`` gives the manifest with its Deployment Tool steps switched to the simulated
lab's site command (``rollup.ops.deploytool.LAB_TEMPLATES``), so a run needs no operator there.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rollup.audit.redact import SecretRegistry
from rollup.credentials import CredentialCache, CredentialRef, EnvRef
from rollup.engine.events import EventSink, discard
from rollup.engine.options import AskGate, RunSetup
from rollup.engine.package import Package, load_package
from rollup.errors import ManifestError
from rollup.lab.prerollup import LAB_ADMIN, prerollup_states, rollup_package
from rollup.lab.runner import BeforeHook, LabRunner
from rollup.lab.state import HostState, MemoryBlobStore, MemoryStateStore
from rollup.load import read_yaml
from rollup.model.inventory import (
    AuthTransport,
    CertValidation,
    Host,
    Inventory,
    InventorySettings,
    Scheme,
)
from rollup.model.manifest import DEFAULT_MANIFEST, Manifest, parse_manifest
from rollup.model.roles import Role
from rollup.ops.deploytool import LAB_TEMPLATES
from rollup.planner import Plan, build_plan
from rollup.testing.transport import FaultPlan, direct_registry
from rollup.transport.base import TransportRegistry

PASSWORD_ENV = "ROLLUP_TEST_PASSWORD"  # noqa: S105 - the name of a variable, not a password
PASSWORD = "Fleet-Passw0rd!"  # noqa: S105 - the simulated fleet's own test password


def normalized(state: HostState) -> dict[str, Any]:
    """
    What a run must leave on a host, without what differs between two correct runs: run ids in
    log paths, timestamps in backup names (backups are counted per original name and SHA-256),
    Deployment Tool logs, process ids, counters.
    """
    kept: dict[str, str] = {}
    backups: dict[tuple[str, str], int] = {}
    for key, entry in state.files.items():
        if key.endswith(".bak"):
            original = (key.rsplit(".", 2)[0], entry.sha256)
            backups[original] = backups.get(original, 0) + 1
        elif not key.startswith(("c:\\temp\\rollup\\", "c:\\configshare\\log\\")) and not key.endswith(
            ".log"
        ):
            kept[key] = entry.sha256
    return {
        "files": kept,
        "backups": backups,
        "products": {code: p.display_version for code, p in state.products.items()},
        "iis": {k: (v.default_logon_domain, v.access_ssl, v.auth_basic) for k, v in state.iis.items()},
        "complus": {k: (v.enabled, v.running) for k, v in state.complus.items()},
        "databases": {k: sorted((o.type, o.name) for o in v.objects) for k, v in state.databases.items()},
        "services": {k: (v.status, v.start_mode) for k, v in state.services.items()},
        "pending_reboot": sorted(state.pending_reboot),
    }


def lab_manifest(path: Path = DEFAULT_MANIFEST, *, retry_waits_s: float | None = None) -> Manifest:
    """
    The manifest at ``path`` with every Deployment Tool step driven by the lab's site command.

    ``retry_waits_s`` replaces every step's retry waits (first and maximum), so that tests of
    retries do not wait for real.
    """
    data: Any = read_yaml(path, error=ManifestError)
    for step in data["steps"]:
        if step.get("kind") == "deployment_tool":
            step["strategy"] = "command"
            step["command_template"] = LAB_TEMPLATES[step["action"]]
        for target in (step, step.get("step") or {}):
            retry = target.get("retry")
            if retry_waits_s is not None and retry:
                retry["first_wait_s"] = retry["max_wait_s"] = retry_waits_s
    return parse_manifest(data, source=str(path))


def fleet_roles(collab: int) -> tuple[tuple[str, frozenset[Role]], ...]:
    """MPS01 (Deployment Tool, MPS engine, web services), DNS01, MPSSQL, COLLAB01..n."""
    return (
        ("MPS01", frozenset({Role.DEPLOYMENT_TOOL, Role.MPS_ENGINE, Role.WEB_SERVICES})),
        ("DNS01", frozenset({Role.DNS})),
        ("MPSSQL", frozenset({Role.MPSSQL})),
        *((f"COLLAB{n:02d}", frozenset({Role.COLLAB})) for n in range(1, collab + 1)),
    )


def lab_host(
    name: str,
    roles: frozenset[Role],
    *,
    address: str,
    port: int = 5985,
    user: str | None = LAB_ADMIN,
    password: CredentialRef | None = None,
) -> Host:
    """A lab host as an inventory describes it: NTLM over HTTP, with pywinrm's default timeouts."""
    return Host(
        name=name,
        address=address,
        port=port,
        scheme=Scheme.HTTP,
        transport=AuthTransport.NTLM,
        cert_validation=CertValidation.VALIDATE,
        ca_trust_path=None,
        user=user,
        password=password,
        roles=roles,
        insecure_lab=False,
        operation_timeout_s=20.0,
        read_timeout_s=30.0,
    )


def fleet_inventory(
    roles: tuple[tuple[str, frozenset[Role]], ...], settings: InventorySettings | None = None
) -> Inventory:
    """An inventory of ``roles``' hosts (addresses are never used by the direct transport)."""
    hosts = tuple(
        lab_host(name, host_roles, address=f"127.0.200.{n}", password=EnvRef(PASSWORD_ENV))
        for n, (name, host_roles) in enumerate(roles, 1)
    )
    return Inventory("inventory/memory.yml", hosts, settings or InventorySettings(collab_wave_size=2))


def _no_sleep(seconds: float) -> None:
    """Retries in tests wait for nothing."""


@dataclass(slots=True)
class MemoryFleet:
    """See the module docstring."""

    manifest: Manifest
    inventory: Inventory
    store: MemoryStateStore
    blobs: MemoryBlobStore
    runner: LabRunner
    package: Package
    initial: tuple[HostState, ...] = ()
    """The pre-rollup states, kept so that ``fresh`` needs no MSI reading."""
    faults: FaultPlan | None = None
    env: Mapping[str, str] = field(default_factory=lambda: {PASSWORD_ENV: PASSWORD})

    def fresh(self, *, before: BeforeHook | None = None, faults: FaultPlan | None = None) -> MemoryFleet:
        """Another fleet in the pre-rollup state, with its own hosts, hooks and fault plan."""
        store = MemoryStateStore([state.model_copy(deep=True) for state in self.initial])
        return MemoryFleet(
            manifest=self.manifest,
            inventory=self.inventory,
            store=store,
            blobs=self.blobs,
            runner=_runner(self.manifest, self.package, store, self.blobs, before),
            package=self.package,
            initial=self.initial,
            faults=faults,
        )

    def without_faults(self) -> MemoryFleet:
        """The same hosts, as they are now, reached without the fault plan (a restarted controller)."""
        return dataclasses.replace(self, faults=None)

    def registry(self) -> TransportRegistry:
        """Transports to the fleet's hosts, with this fleet's fault plan."""
        return direct_registry(self.runner, faults=self.faults)

    def credentials(self) -> CredentialCache:
        return CredentialCache(prompt=None, env=self.env)

    def setup(
        self,
        runs_dir: Path,
        *,
        plan: Plan | None = None,
        emit: EventSink = discard,
        ask: AskGate | None = None,
        sleep: Callable[[float], None] = _no_sleep,
        registry: SecretRegistry | None = None,
    ) -> RunSetup:
        """A ``RunSetup`` for this fleet (the whole plan unless ``plan`` is given); sleeping is instant."""
        return RunSetup(
            manifest=self.manifest,
            inventory=self.inventory,
            inventory_digest=self.inventory.digest(),
            plan=plan or build_plan(self.manifest, self.inventory),
            package=self.package,
            transports=self.registry(),
            credentials=self.credentials(),
            runs_dir=runs_dir,
            operator="tester",
            control_host="control01",
            emit=emit,
            ask=ask,
            sleep=sleep,
            registry=registry or SecretRegistry(),
        )

    def state(self, host: str) -> HostState:
        return self.store.read(host)

    def mutations(self) -> dict[str, int]:
        """Each host's count of changes made through operations."""
        return {name: self.store.read(name).mutations for name in self.store.names()}


def memory_fleet(
    manifest: Manifest,
    *,
    cache_dir: Path,
    collab: int = 2,
    settings: InventorySettings | None = None,
    before: BeforeHook | None = None,
    faults: FaultPlan | None = None,
) -> MemoryFleet:
    """A pre-rollup fleet of MPS01, DNS01, MPSSQL and ``collab`` COLLAB hosts (see the module docstring)."""
    roles = fleet_roles(collab)
    blobs = MemoryBlobStore()
    states = prerollup_states(manifest, roles, blobs=blobs, msi_cache_dir=cache_dir)
    store = MemoryStateStore(states)
    files = rollup_package(manifest, cache_dir)
    package = load_package(next(iter(files.values())).parent, manifest)
    return MemoryFleet(
        manifest=manifest,
        inventory=fleet_inventory(roles, settings),
        store=store,
        blobs=blobs,
        runner=_runner(manifest, package, store, blobs, before),
        package=package,
        initial=tuple(state.model_copy(deep=True) for state in states),
        faults=faults,
    )


def _runner(
    manifest: Manifest,
    package: Package,
    store: MemoryStateStore,
    blobs: MemoryBlobStore,
    before: BeforeHook | None,
) -> LabRunner:
    return LabRunner(store, blobs, time_factor=0.0, before=before)
