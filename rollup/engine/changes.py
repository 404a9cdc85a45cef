"""
Which earlier steps count as a change for a restart (``iis_restart``, ``complus_restart``).

A restart is needed on its host only when a step it depends on changed that host in this run
(across resumes: the journal's ``done`` outcomes). A confirmed ``manual_gate`` changes nothing.
A Deployment Tool step acts from the Deployment Tool host on the hosts of its components: it
changes the hosts whose roles its ``uninstall_entries`` checks name (the Provisioning Engine's
MPS engines, the web services servers). Any other step changes its own host only.
"""

from __future__ import annotations

from rollup.model.inventory import Inventory
from rollup.planner import PlanStep

NEVER_CHANGES = frozenset({"manual_gate"})
"""Kinds whose ``done`` is an operator's confirmation, not a change on a host."""


def component_roles(step: PlanStep) -> frozenset[str]:
    """The roles whose hosts a ``deployment_tool`` step installs or removes components on."""
    checks = step.params.get("checks") or ()
    return frozenset(
        str(role)
        for c in checks
        if isinstance(c, dict) and c.get("kind") == "uninstall_entries"
        for role in c.get("roles") or ()
    )


def changes(ancestor: PlanStep, restart: PlanStep, inventory: Inventory) -> bool:
    """Whether ``ancestor``, having acted in this run, makes ``restart`` necessary."""
    if ancestor.kind in NEVER_CHANGES:
        return False
    if ancestor.host.casefold() == restart.host.casefold():
        return True
    if ancestor.kind == "deployment_tool":
        roles = {role.value for role in inventory.roles_of(restart.host)}
        return bool(component_roles(ancestor) & roles)
    return False
