"""
``rollup lab``: the simulated lab of Windows hosts (docs/lab.md).

``up`` creates the lab in a state directory (or reuses the one there) and serves it, in the
foreground until Ctrl-C or, with ``--detach``, in a background process; ``down`` stops it;
``state`` shows one host's simulated state, whether or not the lab is running; ``release``
lifts the faults a scenario left on a host. ``serve`` is the background process itself.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from rollup.cli import jsondoc
from rollup.cli.options import manifest_option
from rollup.errors import UsageError

if TYPE_CHECKING:
    from rollup.lab.labdir import LabConfig, LabPaths

_STATE_DIR_HELP = "The lab's state directory (created by lab up)."


def _state_dir(func: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--state-dir",
        "state_dir",
        required=True,
        metavar="DIR",
        type=click.Path(path_type=Path, file_okay=False),
        help=_STATE_DIR_HELP,
    )(func)


@click.group(name="lab")
def command() -> None:
    """Run the simulated lab: Windows hosts speaking WinRM on loopback addresses."""


@command.command(name="up")
@_state_dir
@click.option("--collab", type=click.IntRange(1, 997), help="COLLAB hosts in a new lab (default 2).")
@click.option(
    "--scenario", type=click.Path(path_type=Path, dir_okay=False), help="A fault scenario file (docs/lab.md)."
)
@manifest_option
@click.option("--first-address", metavar="ADDRESS", help="The first host's address (default: 127.0.2.1 up).")
@click.option("--time-factor", type=click.FloatRange(0, 1000), help="Scales operation durations.")
@click.option("--latency-ms", type=click.FloatRange(0, 60000), help="Latency before every HTTP answer.")
@click.option("--seed", type=click.IntRange(0), help="Seed of the scenario's probability triggers.")
@click.option(
    "--ssh-hosts",
    metavar="NAMES",
    help="Hosts the inventory reaches over SSH (comma-separated names, all, or none); every host serves SSH.",
)
@click.option("--detach", is_flag=True, help="Serve from a background process and return.")
def up(
    *,
    state_dir: Path,
    collab: int | None,
    scenario: Path | None,
    manifest_path: Path,
    first_address: str | None,
    time_factor: float | None,
    latency_ms: float | None,
    seed: int | None,
    ssh_hosts: str | None,
    detach: bool,
) -> None:
    """Create or reuse the lab in DIR and serve it (until Ctrl-C, or in the background with --detach)."""
    from rollup.lab.fleet import LabOptions, prepare_lab
    from rollup.lab.process import holding_lock, serve, start_detached

    paths = _writable(state_dir)
    options = LabOptions(
        collab=collab,
        scenario=scenario,
        manifest=manifest_path,
        first_address=first_address,
        time_factor=time_factor,
        latency_ms=latency_ms,
        seed=seed,
        ssh_hosts=_names(ssh_hosts),
    )
    with holding_lock(paths):
        config = prepare_lab(paths, options, os.environ)
    if detach:
        pid = start_detached(paths, os.environ)
        click.echo("\n".join(_table(config, paths)))
        click.echo(f"The lab runs in the background (pid {pid}), logging to {paths.log}.")
        click.echo(f"Stop it with: rollup lab down --state-dir {paths.root}")
        return

    def ready(_: object) -> None:
        click.echo("\n".join(_table(config, paths)))
        click.echo("Serving; Ctrl-C stops the lab.")

    serve(paths, os.environ, ready)
    click.echo("The lab has stopped.")


@command.command(name="down")
@_state_dir
def down(state_dir: Path) -> None:
    """Stop the lab served from DIR (its state stays in DIR)."""
    from rollup.lab.labdir import LabPaths
    from rollup.lab.process import Stopped, stop_lab

    paths = LabPaths(state_dir.resolve())
    outcome = stop_lab(paths)
    if outcome.result is Stopped.STOPPED:
        click.echo(f"Stopped the lab in {paths.root} (pid {outcome.pid}).")
    elif outcome.result is Stopped.STALE:
        which = f"pid {outcome.pid}" if outcome.pid else "no valid pid"
        click.echo(f"{paths.root}: the lab was not running; removed a stale pid file ({which}).")
    else:
        click.echo(f"{paths.root}: the lab is not running.")


@command.command(name="state")
@click.argument("host")
@_state_dir
@click.option("--json", "as_json", is_flag=True, help="Print JSON (docs/lab.md) instead of text.")
def state(host: str, state_dir: Path, as_json: bool) -> None:
    """Show HOST's simulated state: files, products, IIS, COM+, SQL, reboot, mutations, operations."""
    from rollup.lab.labdir import LabPaths, read_config
    from rollup.lab.report import host_report, report_lines
    from rollup.lab.store import FileBlobStore, FileStateStore

    paths = LabPaths(state_dir.resolve())
    config = read_config(paths)
    name = config.host(host).name
    store = FileStateStore(paths.hosts, [h.name for h in config.hosts])
    report = host_report(store.read(name), FileBlobStore(paths.blobs))
    click.echo(jsondoc.dumps("lab-host", report) if as_json else "\n".join(report_lines(report)))


@command.command(name="previous-package")
@click.argument("target", metavar="DIR", type=click.Path(path_type=Path, file_okay=False))
@manifest_option
def previous_package(target: Path, manifest_path: Path) -> None:
    """Write the lab's previous build as DIR/package and a manifest pinned to it, DIR/manifest.yml."""
    import os

    from rollup.lab.fleet import msi_cache_dir
    from rollup.lab.previous import write_previous_package

    folder, written = write_previous_package(target, manifest_path, msi_cache_dir(os.environ))
    click.echo(f"{folder}: the previous build of every package file")
    click.echo(
        f"{written}: the manifest pinned to it (rollup verify --manifest {written} --package-dir {folder})"
    )


@command.command(name="release")
@click.argument("host")
@_state_dir
@click.option("--path", "path", help="Only this locked file or full disk path (default: all).")
def release(host: str, state_dir: Path, path: str | None) -> None:
    """Lift a scenario's faults on HOST: locked files, full disks and the held installer mutex."""
    from rollup.lab.labdir import LabPaths, read_config
    from rollup.lab.state import path_key
    from rollup.lab.store import FileStateStore

    paths = LabPaths(state_dir.resolve())
    config = read_config(paths)
    name = config.host(host).name
    lifted: list[str] = []
    with FileStateStore(paths.hosts, [h.name for h in config.hosts]).update(name) as current:
        for field in ("locked_files", "disk_full_paths"):
            held: list[str] = getattr(current, field)
            gone = [p for p in held if path is None or path_key(p) == path_key(path)]
            setattr(current, field, [p for p in held if p not in gone])
            lifted += [f"{field.replace('_', ' ')}: {p}" for p in gone]
        if path is None and current.installer_busy_until is not None:
            current.installer_busy_until = None
            lifted.append("the installer mutex")
    if path is not None and not lifted:
        raise UsageError(f"{name}: {path} is neither locked nor on a full disk")
    click.echo(f"{name}: released " + ("; ".join(lifted) if lifted else "nothing (no fault was held)"))


@command.command(name="serve", hidden=True)
@_state_dir
def serve_command(state_dir: Path) -> None:
    """Serve the lab in DIR in this process (what lab up --detach runs in the background)."""
    from rollup.lab.labdir import LabPaths
    from rollup.lab.process import serve

    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    serve(LabPaths(state_dir.resolve()), os.environ, lambda _: None)


def _names(text: str | None) -> tuple[str, ...] | None:
    """``--ssh-hosts``: ``None`` when not given (the lab keeps its choice), ``()`` for ``none``."""
    if text is None:
        return None
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    return () if [n.casefold() for n in names] == ["none"] else names


def _writable(state_dir: Path) -> LabPaths:
    """The lab's paths, with its directory created and checked writable (one-line errors)."""
    from rollup.lab.labdir import LabPaths

    root = state_dir.resolve()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{root}: cannot create the lab's directory: {exc.strerror}") from None
    probe = root / ".write-probe"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise UsageError(f"{root}: the lab's directory is not writable: {exc.strerror}") from None
    return LabPaths(root)


def _table(config: LabConfig, paths: LabPaths) -> list[str]:
    """The endpoint table, then where the inventory and the password are."""
    head = ("HOST", "ROLES", "ADDRESS", "HTTP", "HTTPS")
    rows = [head] + [
        (h.name, ",".join(h.roles), h.address, str(h.http_port), str(h.https_port or "-"))
        for h in config.hosts
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    where = "ROLLUP_LAB_PASSWORD" if config.credential_source == "env" else str(paths.password)
    lines.append(f"Inventory: {paths.inventory} (user {config.user}, password from {where})")
    over_ssh = ", ".join(config.ssh_hosts) or "none"
    lines.append(
        f"SSH: port 2222 on every address, known_hosts {paths.ssh / 'known_hosts'}; over SSH: {over_ssh}"
    )
    return lines
