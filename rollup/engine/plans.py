"""
What a plan was made of, kept in ``run.json``, so a resume can say what changed, not just that it did.

The plan's fingerprint (``rollup.planner``) is a hash: it tells that a plan differs, never how.
A run records the material behind it (the manifest's digest, each host with its roles and
COLLAB wave, the settings that shape the plan, the tool's version, the step ids), and a resume
whose fingerprint differs compares the two and names each difference: "the manifest changed",
"hosts added: COLLAB05", "COLLAB03 moved from wave 2 to wave 1".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import JsonValue

from rollup.model.inventory import Inventory
from rollup.planner import Plan


def plan_material(plan: Plan, inventory: Inventory) -> dict[str, JsonValue]:
    """The inputs of ``plan`` that its fingerprint covers, as JSON data."""
    waves: dict[str, JsonValue] = {}
    for step in plan.steps:
        if step.wave is not None:
            waves[step.host] = step.wave
    hosts: dict[str, JsonValue] = {}
    for host in inventory.hosts:
        if host.name in plan.hosts():
            hosts[host.name] = [role.value for role in sorted(host.roles)]
    return {
        "manifest_id": plan.manifest_id,
        "manifest_digest": plan.manifest_digest,
        "tool_version": plan.tool_version,
        "hosts": hosts,
        "waves": waves,
        "deployment_tool_strategy": inventory.settings.deployment_tool_strategy,
        "shared_oab": inventory.settings.shared_oab,
        "steps": [s.id for s in plan.steps],
    }


def _listed(names: set[str]) -> str:
    return ", ".join(sorted(names))


def plan_differences(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """Each difference between two ``plan_material`` values, as a short phrase."""
    found: list[str] = []
    if before.get("manifest_digest") != after.get("manifest_digest"):
        found.append(
            f"the manifest changed ({before.get('manifest_id')} {str(before.get('manifest_digest'))[:12]} "
            f"-> {after.get('manifest_id')} {str(after.get('manifest_digest'))[:12]})"
        )
    if before.get("tool_version") != after.get("tool_version"):
        found.append(f"rollup {before.get('tool_version')} -> {after.get('tool_version')}")
    old_hosts, new_hosts = dict(before.get("hosts") or {}), dict(after.get("hosts") or {})
    if set(new_hosts) - set(old_hosts):
        found.append(f"hosts added: {_listed(set(new_hosts) - set(old_hosts))}")
    if set(old_hosts) - set(new_hosts):
        found.append(f"hosts removed: {_listed(set(old_hosts) - set(new_hosts))}")
    for name in sorted(set(old_hosts) & set(new_hosts)):
        if sorted(old_hosts[name]) != sorted(new_hosts[name]):
            found.append(f"roles of {name}: {', '.join(old_hosts[name])} -> {', '.join(new_hosts[name])}")
    old_waves, new_waves = dict(before.get("waves") or {}), dict(after.get("waves") or {})
    for name in sorted(set(old_waves) & set(new_waves)):
        if old_waves[name] != new_waves[name]:
            found.append(f"{name} moved from wave {old_waves[name]} to wave {new_waves[name]}")
    for key in ("deployment_tool_strategy", "shared_oab"):
        if before.get(key) != after.get(key):
            found.append(f"rollup_{key}: {before.get(key)} -> {after.get(key)}")
    old_steps, new_steps = set(before.get("steps") or ()), set(after.get("steps") or ())
    if not found and old_steps != new_steps:
        found.append(f"steps added: {len(new_steps - old_steps)}, removed: {len(old_steps - new_steps)}")
    return found
