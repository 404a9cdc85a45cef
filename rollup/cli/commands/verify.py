"""
``rollup verify``: whether every host carries the rollup, read without changing anything.

For each host of the inventory (narrowed by ``--limit``), one script reads every fact its roles
need (``verify.facts``), hosts in parallel (``--forks``); ``rollup.verify`` compares them with
the manifest, whose versions and hashes come from its lock file or, with ``--package-dir`` (or
the inventory's ``rollup_package_dir``), from the package itself. The report is a table per
host, JSON with ``--json``, and JUnit XML with ``--junit FILE``. Exit 0 when compliant, 3 on
drift (even if some hosts could not be checked), 1 when nothing drifted but something could not
be checked (docs/verify.md).
"""

from __future__ import annotations

from pathlib import Path

import click

from rollup.cli.options import inventory_option, limit_option, load_selected_inventory, manifest_option
from rollup.cli.report import finish, output_options, terminal_credentials


@click.command("verify")
@inventory_option
@manifest_option
@limit_option
@output_options
@click.option(
    "--package-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="The extracted rollup package: expected versions and hashes are read from it when the "
    "manifest is not pinned (default: the inventory's rollup_package_dir).",
)
@click.option(
    "--files",
    "every_file",
    is_flag=True,
    help="Show every installed file in the table (default: one line per component; JSON and "
    "JUnit always have every file).",
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
    every_file: bool,
) -> int:
    """Check every host against the manifest (read-only): exit 0 compliant, 3 drift, 1 not checked."""
    from rollup.model.manifest import load_manifest
    from rollup.pin import with_package
    from rollup.survey import run_verify
    from rollup.transport.base import default_registry
    from rollup.verify import is_pinned

    manifest = load_manifest(manifest_path)
    inventory = load_selected_inventory(inventory_ref, limit)
    folder = package_dir or inventory.settings.package_dir
    if folder is not None and not is_pinned(manifest):  # a lock already says what the files are
        manifest = with_package(manifest, folder)
    report = run_verify(
        manifest, inventory, transports=default_registry(), credentials=terminal_credentials(), forks=forks
    )
    return finish(report, as_json=as_json, junit=junit, every_file=every_file)
