"""
``rollup inventory``: look at an inventory the way rollup reads it.

``show`` prints each host's roles, WinRM endpoint, authentication and the kind of credential
reference it uses (never a password: nothing here resolves a reference). Errors are raised as
``rollup.errors`` classes; ``rollup.cli.main`` prints them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from rollup.cli import jsondoc
from rollup.cli.options import inventory_option, limit_option, load_selected_inventory

if TYPE_CHECKING:
    from rollup.model.inventory import Host, Inventory


@click.group(name="inventory")
def command() -> None:
    """Inspect inventories: which hosts play which roles, and how rollup reaches them."""


@command.command(name="show")
@inventory_option
@limit_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON (docs/inventory.md) instead of a table.")
def show(inventory_ref: str | None, limit: str | None, as_json: bool) -> None:
    """Show the hosts of an inventory, their roles, endpoints and credential references."""
    inventory = load_selected_inventory(inventory_ref, limit, note_unused=False)
    click.echo(jsondoc.dumps("inventory", to_json(inventory)) if as_json else "\n".join(table(inventory)))


def to_json(inventory: Inventory) -> dict[str, Any]:
    """The inventory as JSON-ready data; credential references appear as kind and target only."""
    return {
        "source": inventory.source,
        "production": inventory.production,
        "digest": inventory.digest(),
        "settings": {
            "collab_wave_size": inventory.settings.collab_wave_size,
            "deployment_tool_strategy": inventory.settings.deployment_tool_strategy,
            "deployment_tool_command": inventory.settings.deployment_tool_command,
            "shared_oab": inventory.settings.shared_oab,
        },
        "hosts": [_host_json(host) for host in inventory.hosts],
        "unused": [{"name": item.name, "where": item.where} for item in inventory.unused],
    }


def table(inventory: Inventory) -> list[str]:
    """Lines of a plain-text table, one row per host, columns aligned."""
    kind = "production" if inventory.production else "not production"
    count = f"{len(inventory.hosts)} host" + ("" if len(inventory.hosts) == 1 else "s")
    head = ("HOST", "ROLES", "ENDPOINT", "AUTH", "USER", "CREDENTIAL")
    rows = [head] + [
        (
            host.name,
            ",".join(_roles(host)),
            host.endpoint,
            host.transport.value + ("" if host.cert_validation == "validate" else " (cert not checked)"),
            host.user or "-",
            host.password.describe() if host.password else "-",
        )
        for host in inventory.hosts
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = [f"{inventory.source}: {count}, {kind}, digest {inventory.digest()[:12]}"]
    for row in rows:
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return lines + unused_lines(inventory)


def unused_lines(inventory: Inventory) -> list[str]:
    """The variables rollup does not use, one line per name with every place it is set."""
    if not inventory.unused:
        return []
    places: dict[str, list[str]] = {}
    for item in inventory.unused:
        places.setdefault(item.name, []).append(item.where)
    lines = ["", f"Variables rollup does not use ({len(places)}):"]
    width = max(len(name) for name in places)
    for name, where in places.items():
        lines.append(f"  {name.ljust(width)}  {'; '.join(where)}")
    return lines


def _roles(host: Host) -> list[str]:
    from rollup.model.roles import Role

    return [role.value for role in Role if role in host.roles]


def _host_json(host: Host) -> dict[str, Any]:
    ref = host.password
    return {
        "name": host.name,
        "roles": _roles(host),
        "groups": sorted(host.groups),
        "address": host.address,
        "port": host.port,
        "scheme": host.scheme.value,
        "endpoint": host.endpoint,
        "transport": host.transport.value,
        "cert_validation": host.cert_validation.value,
        "cert_validation_reason": host.cert_validation_reason,
        "ca_trust_path": None if host.ca_trust_path is None else str(host.ca_trust_path),
        "user": host.user,
        "credential": None if ref is None else {"kind": ref.kind, "reference": ref.describe()},
        "insecure_lab": host.insecure_lab,
        "operation_timeout_s": host.operation_timeout_s,
        "read_timeout_s": host.read_timeout_s,
    }
