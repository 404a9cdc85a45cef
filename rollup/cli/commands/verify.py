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
from typing import TYPE_CHECKING

import click

from rollup.cli.options import (
    inventory_option,
    limit_option,
    load_selected_inventory,
    manifest_option,
    runs_dir_option,
)
from rollup.cli.report import finish, output_options, terminal_credentials

if TYPE_CHECKING:
    from rollup.baseline import HostBaseline


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
    "--baseline",
    metavar="REHEARSAL|last",
    help="Also compare every file in the components' folders with what a passing rehearsal "
    "recorded (its id, or last: the latest of this manifest).",
)
@runs_dir_option
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
    baseline: str | None,
    runs_dir: str | None,
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
    golden = _baseline(baseline, runs_dir, manifest.digest()) if baseline else None
    report = run_verify(
        manifest,
        inventory,
        transports=default_registry(),
        credentials=terminal_credentials(),
        forks=forks,
        baseline=golden,
    )
    return finish(report, as_json=as_json, junit=junit, every_file=every_file)


def _baseline(wanted: str, runs_dir: str | None, digest: str) -> tuple[str, tuple[HostBaseline, ...]]:
    """The rehearsal baseline ``--baseline`` names, from the records beside the runs directory."""
    from rollup.baseline import chosen_baseline
    from rollup.engine.rundir import resolve_runs_dir
    from rollup.rehearsal.record import read_records, rehearsals_dir

    folder = rehearsals_dir(resolve_runs_dir(runs_dir))
    records, _ = read_records(folder)
    rows = [(r.rehearsal_id, r.result, r.manifest_digest, r.baseline) for _, r in records]
    return chosen_baseline(rows, wanted, digest=digest, where=str(folder))
