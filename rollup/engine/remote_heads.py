"""
The copy of a run's audit heads kept on the Deployment Tool host (``heads.read``), for
``rollup audit verify RUN --remote``.

The run's directory names the inventory it ran against (``run.json``); the Deployment Tool host
of that inventory (or of the one given instead) is asked, read-only, for the lines of the heads
file that name the run. Each head kept there must be in the run's chain: cutting records off
the end of the local log, and the journal's copies with them, is then noticed.
"""

from __future__ import annotations

from rollup.credentials import CredentialCache
from rollup.engine.rundir import RunDir
from rollup.errors import UsageError
from rollup.model.inventory import load_inventory
from rollup.model.roles import Role
from rollup.ops.heads import READ, KeptHeads, ReadParams
from rollup.survey import ReadSession, survey
from rollup.transport.base import TransportRegistry


def remote_heads(
    run: RunDir,
    *,
    inventory_ref: str | None,
    transports: TransportRegistry,
    credentials: CredentialCache,
) -> tuple[str, dict[str, str]]:
    """
    ``(host, {head: where it was kept})`` from the Deployment Tool host's heads file.

    Raises:
        UsageError: the run names no inventory and none is given, the inventory has no
            Deployment Tool host, or the host could not be read (its one-line reason), or the
            file holds a line naming the run that is not a head record.
    """
    ref = inventory_ref or run.read_facts().options.get("inventory")
    if not isinstance(ref, str) or not ref:
        raise UsageError(f"run {run.run_id}: its run.json names no inventory; give --inventory")
    inventory = load_inventory(ref)
    tools = inventory.hosts_in(Role.DEPLOYMENT_TOOL)
    if len(tools) != 1:
        raise UsageError(f"{inventory.source}: no single deployment_tool host to read the heads from")
    (tool,) = tools

    def read(host: object, session: ReadSession) -> KeptHeads:
        kept: KeptHeads = session.call(READ, ReadParams(run_id=run.run_id))
        return kept

    (reading,) = survey((tool,), read, transports=transports, credentials=credentials, forks=1)
    if reading.value is None:
        raise UsageError(f"{tool.name}: the heads could not be read: {reading.error}")
    kept = reading.value
    if kept.unreadable:
        raise UsageError(f"{tool.name}: {kept.path}: a line naming run {run.run_id} is not a head record")
    where = {h.audit_head: f"{tool.name} {kept.path} ({h.state}, {h.at})" for h in kept.heads}
    return tool.name, where
