"""
``rollup preflight``: whether the fleet is ready for the rollup, read without changing anything.

Per host: WinRM reachable and authenticated, OS and service pack, PowerShell 2.0, free disk,
no pending reboot, Windows Installer idle, the account in Domain Admins, HMC 4.0 present, the
roles' services running, the Deployment Tool and a writable ``C:\\MSIShare`` on its host, the
COM+ application on the MPS engines; on the control host, the package folder. ``rollup apply``
runs the same checks first (``rollup.preflight.run_preflight``). Exit 0 when every check
passes, 1 otherwise; the report takes the same forms as verify's (docs/verify.md).
"""

from __future__ import annotations

from pathlib import Path

import click

from rollup.cli.options import inventory_option, limit_option, load_selected_inventory, manifest_option
from rollup.cli.report import finish, output_options, terminal_credentials


@click.command("preflight")
@inventory_option
@manifest_option
@limit_option
@output_options
@click.option(
    "--package-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="The extracted rollup package (default: the inventory's rollup_package_dir).",
)
@click.option(
    "--min-free-gb",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="Free space each host needs on C:, in GB.",
)
def command(
    *,
    inventory_ref: str | None,
    manifest_path: Path,
    limit: str | None,
    forks: int,
    as_json: bool,
    junit: Path | None,
    package_dir: Path | None,
    min_free_gb: float,
) -> int:
    """Check that every host is ready for the rollup (read-only): exit 0 ready, 1 not."""
    from rollup.model.manifest import load_manifest
    from rollup.preflight import GIB, run_preflight
    from rollup.transport.base import default_registry

    manifest = load_manifest(manifest_path)
    inventory = load_selected_inventory(inventory_ref, limit)
    report = run_preflight(
        manifest,
        inventory,
        transports=default_registry(),
        credentials=terminal_credentials(),
        package_dir=package_dir,
        forks=forks,
        min_free_bytes=int(min_free_gb * GIB),
    )
    return finish(report, as_json=as_json, junit=junit)
