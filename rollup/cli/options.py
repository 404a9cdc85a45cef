"""Options several commands share, spelt once: the manifest, the inventory, ``--limit``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from rollup.engine.rundir import RUNS_DIR_ENV
from rollup.errors import UsageError
from rollup.model.manifest import DEFAULT_MANIFEST

if TYPE_CHECKING:
    from rollup.model.inventory import Inventory

F = TypeVar("F", bound=Callable[..., Any])

INVENTORY_ENV = "ROLLUP_INVENTORY"


def manifest_option(func: F) -> F:
    """``--manifest PATH`` (default ``manifests/hmc40-rollup-2011-01.yml``, env ``ROLLUP_MANIFEST``)."""
    return click.option(
        "-m",
        "--manifest",
        "manifest_path",
        type=click.Path(path_type=Path),
        default=str(DEFAULT_MANIFEST),
        envvar="ROLLUP_MANIFEST",
        show_default=True,
        show_envvar=True,
        help="The manifest file.",
    )(func)


def inventory_option(func: F) -> F:
    """``--inventory NAME|PATH`` (env ``ROLLUP_INVENTORY``)."""
    return click.option(
        "-i",
        "--inventory",
        "inventory_ref",
        metavar="NAME|PATH",
        envvar=INVENTORY_ENV,
        show_envvar=True,
        help="The inventory: NAME for inventory/NAME.yml, or a PATH.",
    )(func)


def limit_option(func: F) -> F:
    """``--limit PATTERN``: Ansible-style host and role patterns."""
    return click.option(
        "-l",
        "--limit",
        metavar="PATTERN",
        help="Only these hosts: names, roles, globs, !exclude, &intersect.",
    )(func)


def load_selected_inventory(ref: str | None, limit: str | None) -> Inventory:
    """The inventory named by ``--inventory``, narrowed by ``--limit``."""
    from rollup.model.inventory import load_inventory

    if not ref:
        raise UsageError(f"--inventory NAME|PATH is required, or set {INVENTORY_ENV}")
    return load_inventory(ref).select(limit)


def runs_dir_option(func: F) -> F:
    """``--runs-dir DIR`` (else ``ROLLUP_RUNS_DIR``, else ``.rollup/runs``)."""
    return click.option(
        "--runs-dir",
        "runs_dir",
        metavar="DIR",
        help=f"Where runs are kept [default: ${RUNS_DIR_ENV} or .rollup/runs].",
    )(func)


def quiet() -> bool:
    """Whether ``rollup -q`` asked for the result alone (no progress, tables or notes)."""
    context = click.get_current_context(silent=True)
    return bool(context is not None and context.find_root().params.get("quiet"))
