"""
Manifest x inventory -> plan: a DAG of concrete steps, one per (manifest step, host).

The planner is pure: it reads the two validated models and returns a value. Each manifest step
runs on every host of its roles ("all COLLAB0n", "each web services server" are expanded per
host). Dependencies are expanded with one rule:

- if the step it depends on also runs on the same host, depend on that host's instance only (a
  per-host chain, e.g. transfer -> uninstall -> install -> iisreset on each COLLAB host);
- otherwise depend on every instance of it (a barrier, e.g. every branch before the COM+
  restart);
- a step with no host in this inventory (say, no ``web_services`` host) is passed through: its
  dependents depend on what it depended on.

COLLAB hosts go in waves of ``collab_wave_size``: the first COLLAB step of a host in wave k+1
waits for every COLLAB step of wave k, so a bad build stops at the first wave.

The order of ``Plan.steps`` is the KB's: a topological order that prefers the manifest's order,
then the inventory's host order.
"""

from __future__ import annotations

import hashlib
import heapq
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rollup import __version__
from rollup.errors import PlanError
from rollup.model.inventory import Inventory
from rollup.model.manifest import Manifest
from rollup.model.roles import Role
from rollup.model.steps import (
    ConditionalStep,
    CopyStep,
    DeploymentToolStep,
    ExtractStep,
    Retry,
    SqlObjectsCheckStep,
    Step,
    TransferStep,
)

_COMMON_FIELDS = frozenset({"id", "kind", "title", "roles", "after", "timeout_s", "retry", "note"})


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanStep:
    """One manifest step on one host."""

    id: str
    """``<manifest step id>@<HOST>``."""
    step: str
    host: str
    kind: str
    title: str
    after: tuple[str, ...]
    params: Mapping[str, Any]
    """What the step needs, as JSON-compatible data (files with sizes and hashes, settings)."""
    wave: int | None
    """The COLLAB wave (1-based) for COLLAB steps, else ``None``."""
    timeout_s: int
    retry: Retry

    def to_json(self) -> dict[str, Any]:
        """The step as in ``rollup plan --json`` (docs/json.md)."""
        return {
            "id": self.id,
            "step": self.step,
            "host": self.host,
            "kind": self.kind,
            "title": self.title,
            "after": list(self.after),
            "params": _jsonable(self.params),
            "wave": self.wave,
            "timeout_s": self.timeout_s,
            "retry": self.retry.model_dump(mode="json"),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """The whole plan: what will run where, in which order, and its fingerprint."""

    manifest_id: str
    manifest_digest: str
    inventory_source: str
    tool_version: str
    fingerprint: str
    steps: tuple[PlanStep, ...]

    def step(self, plan_step_id: str) -> PlanStep:
        """The plan step with this id."""
        for s in self.steps:
            if s.id == plan_step_id:
                return s
        raise KeyError(plan_step_id)

    def hosts(self) -> tuple[str, ...]:
        """Hosts with at least one step, in plan order."""
        return tuple(dict.fromkeys(s.host for s in self.steps))

    def to_json(self) -> dict[str, Any]:
        """The ``rollup plan --json`` document (docs/json.md)."""
        return {
            "fingerprint": self.fingerprint,
            "manifest": {"id": self.manifest_id, "digest": self.manifest_digest},
            "inventory": self.inventory_source,
            "tool_version": self.tool_version,
            "steps": [s.to_json() for s in self.steps],
        }


def build_plan(
    manifest: Manifest,
    inventory: Inventory,
    *,
    wave_size: int | None = None,
    tool_version: str = __version__,
) -> Plan:
    """
    Expand ``manifest`` over ``inventory``.

    Raises:
        PlanError: a wave size below 1, or an inventory with no host for a step the KB cannot
            do without (the Deployment Tool host).
    """
    size = inventory.settings.collab_wave_size if wave_size is None else wave_size
    if size < 1:
        raise PlanError(f"the COLLAB wave size must be at least 1, not {size}")
    if not inventory.hosts_in(Role.DEPLOYMENT_TOOL):
        raise PlanError(f"{inventory.source}: no host in the deployment_tool role (MPS01) is selected")

    host_order = {h.name: i for i, h in enumerate(inventory.hosts)}
    collab = [h.name for h in inventory.hosts_in(Role.COLLAB)]
    waves = {name: i // size + 1 for i, name in enumerate(collab)}
    steps = {s.id: s for s in manifest.steps}
    manifest_order = {sid: i for i, sid in enumerate(manifest.step_order())}

    targets: dict[str, list[str]] = {sid: _hosts_of(s, inventory) for sid, s in steps.items()}
    target_sets = {sid: frozenset(on) for sid, on in targets.items()}

    def resolve(dep: str, host: str) -> set[str]:
        """Plan step ids standing for manifest step ``dep`` as seen from ``host``."""
        on = targets[dep]
        if host in target_sets[dep]:
            return {_pid(dep, host)}
        if on:
            return {_pid(dep, h) for h in on}
        found: set[str] = set()
        for upstream in steps[dep].after:
            found |= resolve(upstream, host)
        return found

    nodes: dict[str, PlanStep] = {}
    for sid, step in steps.items():
        params = _params(step, manifest, inventory)  # the same for every host of the step
        for host in targets[sid]:
            after: set[str] = set()
            for dep in step.after:
                after |= resolve(dep, host)
            wave = waves.get(host) if Role.COLLAB in step.roles else None
            nodes[_pid(sid, host)] = PlanStep(
                id=_pid(sid, host),
                step=sid,
                host=host,
                kind=step.kind,
                title=step.title,
                after=tuple(sorted(after)),
                params=params,
                wave=wave,
                timeout_s=step.timeout_s,
                retry=step.retry,
            )
    _chain_waves(nodes, waves)

    ordered = _kb_order(nodes, manifest_order, host_order)
    return Plan(
        manifest_id=manifest.metadata.id,
        manifest_digest=manifest.digest(),
        inventory_source=inventory.source,
        tool_version=tool_version,
        fingerprint=_fingerprint(manifest, inventory, size, tool_version),
        steps=ordered,
    )


def _pid(step_id: str, host: str) -> str:
    return f"{step_id}@{host}"


def _hosts_of(step: Step, inventory: Inventory) -> list[str]:
    chosen: dict[str, None] = {}
    wanted = set(step.roles)
    for host in inventory.hosts:
        if wanted & host.roles:
            chosen[host.name] = None
    return list(chosen)


def _chain_waves(nodes: dict[str, PlanStep], waves: Mapping[str, int]) -> None:
    """Make each COLLAB host's first COLLAB step in wave k+1 wait for the last steps of wave k."""
    by_wave: dict[int, list[str]] = {}
    for node in nodes.values():
        if node.wave is not None:
            by_wave.setdefault(node.wave, []).append(node.id)
    for wave in sorted(by_wave)[1:]:
        earlier = by_wave.get(wave - 1, [])
        depended_on = {a for pid in earlier for a in nodes[pid].after}
        previous = [pid for pid in earlier if pid not in depended_on]
        for pid in by_wave[wave]:
            node = nodes[pid]
            same_host_collab = [
                a
                for a in node.after
                if a in nodes and nodes[a].host == node.host and nodes[a].wave is not None
            ]
            if same_host_collab:
                continue
            nodes[pid] = PlanStep(
                **{**_fields(node), "after": tuple(sorted(set(node.after) | set(previous)))}
            )


def _fields(node: PlanStep) -> dict[str, Any]:
    return {name: getattr(node, name) for name in PlanStep.__slots__}


def _kb_order(
    nodes: Mapping[str, PlanStep], manifest_order: Mapping[str, int], host_order: Mapping[str, int]
) -> tuple[PlanStep, ...]:
    """Kahn's algorithm, always taking the ready step earliest in the manifest, then host order."""
    waiting = {pid: set(node.after) for pid, node in nodes.items()}
    dependents: dict[str, list[str]] = {pid: [] for pid in nodes}
    for pid, deps in waiting.items():
        for dep in deps:
            dependents[dep].append(pid)

    keys = {pid: (manifest_order[node.step], host_order[node.host], pid) for pid, node in nodes.items()}
    ready = [keys[pid] for pid, deps in waiting.items() if not deps]
    heapq.heapify(ready)
    out: list[PlanStep] = []
    while ready:
        pid = heapq.heappop(ready)[-1]
        out.append(nodes[pid])
        for child in dependents[pid]:
            left = waiting[child]
            left.discard(pid)
            if not left:
                heapq.heappush(ready, keys[child])
    if len(out) != len(nodes):
        stuck = sorted(pid for pid, deps in waiting.items() if deps)
        raise PlanError(f"the plan has a dependency cycle through {', '.join(stuck[:5])}")
    return tuple(out)


def _params(step: Step, manifest: Manifest, inventory: Inventory) -> dict[str, Any]:
    """The data a step needs at run time: its own fields, with names resolved to details."""
    params = step.model_dump(mode="json", exclude=set(_COMMON_FIELDS))
    settings = inventory.settings
    if isinstance(step, ExtractStep | CopyStep):
        names = [f.name for f in manifest.package.files] if isinstance(step, ExtractStep) else step.files
        params["files"] = [_file(manifest, n) for n in names]
        params["extract_to"] = manifest.package.extract_to
        params["msishare"] = manifest.package.msishare
    elif isinstance(step, TransferStep):
        params["file"] = _file(manifest, step.file)
    elif isinstance(step, DeploymentToolStep):
        params["components"] = [{"name": c, "msi": manifest.component(c).msi} for c in step.components]
        params["nodes"] = [
            {"name": n.name, "path": list(n.path)} for n in manifest.initialize if n.name in step.nodes
        ]
        if settings.deployment_tool_strategy == "command" and settings.deployment_tool_command:
            params["strategy"] = "command"
            params["command_template"] = settings.deployment_tool_command
    elif isinstance(step, SqlObjectsCheckStep) and manifest.sql is not None:
        params["sql"] = manifest.sql.model_dump(mode="json")
    elif isinstance(step, ConditionalStep):
        if settings.shared_oab != "auto":
            params["override"] = settings.shared_oab
        inner = _params(step.step, manifest, inventory)
        params["step"] = {"id": step.step.id, "kind": step.step.kind, "params": inner}
    for key in ("file", "product_of"):
        if isinstance(params.get(key), str):
            params[key] = _file(manifest, params[key])
    return params


def _file(manifest: Manifest, name: str) -> dict[str, Any]:
    f = manifest.file(name)
    return {
        "name": f.name,
        "size_bytes": f.size_bytes,
        "sha256": f.sha256,
        "product_version": f.product_version,
    }


def _fingerprint(manifest: Manifest, inventory: Inventory, wave_size: int, tool_version: str) -> str:
    """Digest of the manifest, the inventory's hosts and roles, plan-shaping settings, the tool."""
    settings = inventory.settings
    material = {
        "manifest": manifest.digest(),
        "hosts": [[h.name, sorted(r.value for r in h.roles)] for h in inventory.hosts],
        "wave_size": wave_size,
        "deployment_tool_strategy": settings.deployment_tool_strategy,
        "shared_oab": settings.shared_oab,
        "tool_version": tool_version,
    }
    text = json.dumps(material, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value
