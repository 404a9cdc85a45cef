"""Options several commands share, spelt once: the manifest, the inventory, ``--limit``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from rollup.engine.rundir import RUNS_DIR_ENV
from rollup.errors import UsageError
from rollup.model.manifest import DEFAULT_MANIFEST_ID

if TYPE_CHECKING:
    from rollup.model.inventory import Inventory

F = TypeVar("F", bound=Callable[..., Any])

INVENTORY_ENV = "ROLLUP_INVENTORY"
MANIFEST_ENV = "ROLLUP_MANIFEST"
MANIFEST_HELP = "A shipped manifest's id (rollup manifest list), or a manifest file's path."


def _manifest_file(_ctx: click.Context, _param: click.Parameter, value: str) -> Path:
    """``--manifest ID|PATH`` as the manifest file (``rollup.model.catalog``)."""
    from rollup.model.catalog import manifest_file

    return manifest_file(value)


def manifest_option(func: F) -> F:
    """``--manifest ID|PATH`` (default ``hmc40-rollup-2011-01``, env ``ROLLUP_MANIFEST``)."""
    return click.option(
        "-m",
        "--manifest",
        "manifest_path",
        metavar="ID|PATH",
        default=DEFAULT_MANIFEST_ID,
        callback=_manifest_file,
        envvar=MANIFEST_ENV,
        show_default=True,
        show_envvar=True,
        help=MANIFEST_HELP,
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


RUNS_DIR_HELP = f"Where runs are kept [default: ${RUNS_DIR_ENV}, else runs/ in the state directory]."


def runs_dir_option(func: F) -> F:
    """``--runs-dir DIR`` (else ``ROLLUP_RUNS_DIR``, else ``runs`` in the state directory)."""
    return click.option("--runs-dir", "runs_dir", metavar="DIR", help=RUNS_DIR_HELP)(func)


def quiet() -> bool:
    """Whether ``rollup -q`` asked for the result alone (no progress, tables or notes)."""
    context = click.get_current_context(silent=True)
    return bool(context is not None and context.find_root().params.get("quiet"))
