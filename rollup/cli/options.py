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
    """``--inventory NAME|PATH`` (env ``ROLLUP_INVENTORY``) and ``--vault-password-file FILE``."""
    with_vault = click.option(
        "--vault-password-file",
        metavar="FILE",
        type=click.Path(path_type=Path),
        expose_value=False,
        callback=_vault_password_file,
        help="Read the inventory through ansible-inventory, which decrypts Ansible Vault with FILE.",
    )(func)
    return click.option(
        "-i",
        "--inventory",
        "inventory_ref",
        metavar="NAME|PATH",
        envvar=INVENTORY_ENV,
        show_envvar=True,
        help="The inventory: NAME (inventory/NAME.yml, .ini or folder), a file or folder, or ansible:SOURCE.",
    )(with_vault)


def _vault_password_file(ctx: click.Context, _param: click.Parameter, value: Path | None) -> None:
    """Keep ``--vault-password-file`` for every inventory this command loads, until it ends."""
    from rollup.model.inventory_sources import VAULT_PASSWORD_FILE

    token = VAULT_PASSWORD_FILE.set(value)
    ctx.call_on_close(lambda: VAULT_PASSWORD_FILE.reset(token))


def limit_option(func: F) -> F:
    """``--limit PATTERN``: Ansible-style host and role patterns."""
    return click.option(
        "-l",
        "--limit",
        metavar="PATTERN",
        help="Only these hosts: names, roles, globs, !exclude, &intersect.",
    )(func)


def load_selected_inventory(ref: str | None, limit: str | None, *, note_unused: bool = True) -> Inventory:
    """
    The inventory named by ``--inventory``, narrowed by ``--limit``. ``note_unused``: say on
    stderr, in one line, how many variables rollup does not use (``rollup inventory show`` lists them).
    """
    from rollup.model.inventory import load_inventory

    if not ref:
        raise UsageError(f"--inventory NAME|PATH is required, or set {INVENTORY_ENV}")
    inventory = load_inventory(ref)
    if note_unused and inventory.unused:
        count = len({item.name for item in inventory.unused})
        click.echo(
            f"rollup: {inventory.source}: {count} variable{'s' if count != 1 else ''} rollup does not use "
            "(rollup inventory show lists them)",
            err=True,
        )
    return inventory.select(limit)


RUNS_DIR_HELP = f"Where runs are kept [default: ${RUNS_DIR_ENV}, else runs/ in the state directory]."


def runs_dir_option(func: F) -> F:
    """``--runs-dir DIR`` (else ``ROLLUP_RUNS_DIR``, else ``runs`` in the state directory)."""
    return click.option("--runs-dir", "runs_dir", metavar="DIR", help=RUNS_DIR_HELP)(func)


def quiet() -> bool:
    """Whether ``rollup -q`` asked for the result alone (no progress, tables or notes)."""
    context = click.get_current_context(silent=True)
    return bool(context is not None and context.find_root().params.get("quiet"))
