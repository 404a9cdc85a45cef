"""
``rollup plan``: the exact steps a run would take, per host, in the KB's order.

Nothing is contacted: the plan comes from the manifest and the inventory alone. ``--json``
prints the stable document described in docs/json.md.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import click

from rollup.cli import jsondoc
from rollup.cli.options import inventory_option, limit_option, load_selected_inventory, manifest_option
from rollup.model.manifest import load_manifest
from rollup.planner import Plan, build_plan


@click.command("plan")
@inventory_option
@manifest_option
@limit_option
@click.option(
    "--wave-size", type=click.IntRange(min=1), help="COLLAB hosts per wave (default: the inventory's)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the stable JSON document (docs/json.md).")
def command(
    inventory_ref: str | None, manifest_path: Path, limit: str | None, wave_size: int | None, as_json: bool
) -> None:
    """Show every step for every host, in order, without contacting any host."""
    manifest = load_manifest(manifest_path)
    inventory = load_selected_inventory(inventory_ref, limit)
    plan = build_plan(manifest, inventory, wave_size=wave_size)
    if as_json:
        click.echo(jsondoc.dumps("plan", plan.to_json()))
        return
    click.echo("\n".join(render(plan)))


COLUMNS = ("#", "step", "host", "wave", "kind", "after")


def render(plan: Plan) -> list[str]:
    """
    The plan as lines of text: a header, one aligned row per step, and a per-host summary.

    Plain text, with no table library: a fleet of 20,000 hosts has some 80,000 rows, which a
    rich table takes minutes to lay out (bench/bench_plan.py).
    """
    rows = [COLUMNS] + [
        (str(n), step.step, step.host, str(step.wave or ""), step.kind, compact_ids(step.after))
        for n, step in enumerate(plan.steps, 1)
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS) - 1)]
    lines = [
        f"Plan for {plan.manifest_id} on {plan.inventory_source}: "
        f"{len(plan.steps)} steps on {len(plan.hosts())} hosts",
        f"fingerprint {plan.fingerprint}",
    ]
    for row in rows:
        cells = [
            cell.rjust(widths[0]) if i == 0 else cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])
        ]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    per_host: dict[str, int] = defaultdict(int)
    for step in plan.steps:
        per_host[step.host] += 1
    lines.append("steps per host: " + ", ".join(f"{h} {n}" for h, n in per_host.items()))
    return lines


def compact_ids(ids: Iterable[str]) -> str:
    """``a@H1, a@H2, b@H1`` -> ``a@H1,H2; b@H1``: dependencies grouped by step."""
    hosts: dict[str, list[str]] = defaultdict(list)
    for pid in ids:
        step, _, host = pid.partition("@")
        hosts[step].append(host)
    return "; ".join(f"{step}@{','.join(h)}" for step, h in hosts.items())
