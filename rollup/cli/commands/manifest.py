"""
``rollup manifest``: show a rollup manifest, check it (and a package folder) against itself, and
pin a package's identity in its lock file (``pin``, whose work is ``rollup.pin``).

``list`` shows the manifests shipped with rollup, which ``--manifest`` names by id. ``show --json``
and ``list --json`` print the stable documents described in docs/json.md. ``check`` validates the
manifest and, with ``--package-dir``, compares the folder's files with the KB's file table the
way Windows would find them (names compared case-insensitively). Errors are raised as
``rollup.errors`` classes; the CLI boundary prints them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from rollup.cli import jsondoc
from rollup.cli.console import console
from rollup.cli.options import inventory_option, manifest_option
from rollup.errors import ExitCode, UsageError
from rollup.model.fields import windows_key
from rollup.model.manifest import Manifest, load_manifest
from rollup.model.steps import ConditionalStep, DeploymentToolStep, Step


@click.group("manifest")
def command() -> None:
    """Show, check or pin a rollup manifest."""


"""``format`` of ``rollup manifest list --json`` (docs/json.md); a later format only adds fields."""


@command.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the stable JSON document (docs/json.md).")
def list_(as_json: bool) -> None:
    """List the manifests shipped with rollup: id (for --manifest), KB, title, file."""
    from rollup.model.catalog import shipped_manifests

    shipped = shipped_manifests()
    if as_json:
        rows = [{"id": m.id, "kb": m.kb, "title": m.title, "path": str(m.path)} for m in shipped]
        click.echo(jsondoc.dumps("manifest-list", {"manifests": rows}))
        return
    table = _table(f"Shipped manifests ({len(shipped)})", "Id", "KB", "Title", "Path")
    for m in shipped:
        table.add_row(Text(m.id), Text(m.kb), Text(m.title), Text(str(m.path)))
    _console().print(table)


@command.command("show")
@click.argument("manifest_ref", metavar="[ID|PATH]", required=False)
@manifest_option
@click.option("--json", "as_json", is_flag=True, help="Print the stable JSON document (docs/json.md).")
def show(manifest_ref: str | None, manifest_path: Path, as_json: bool) -> None:
    """Show files, components, Initialize nodes, SQL objects and steps (of ID|PATH, else --manifest)."""
    if manifest_ref is not None:
        manifest_path = _named_once(manifest_ref)
    manifest = load_manifest(manifest_path)
    if as_json:
        click.echo(jsondoc.dumps("manifest", manifest.to_json()))
        return
    console = _console()
    _show_summary(console, manifest, manifest_path)
    _show_files(console, manifest)
    _show_components(console, manifest)
    _show_initialize_and_sql(console, manifest)
    _show_steps(console, manifest)


@command.command("check")
@manifest_option
@click.option(
    "--package-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Also check that this folder holds every package file at its KB byte size.",
)
def check(manifest_path: Path, package_dir: Path | None) -> int:
    """
    Validate the manifest, and a package folder with --package-dir.

    With --package-dir, every package file must be in the folder (names compared as on
    Windows) at the KB's byte size, and at its SHA-256 when pinned; exit 1 otherwise.
    """
    manifest = load_manifest(manifest_path)
    counts = f"{len(manifest.package.files)} files, {len(manifest.components)} components"
    click.echo(f"{manifest_path}: valid: {counts}, {len(manifest.steps)} steps; digest {manifest.digest()}")
    if package_dir is None:
        return ExitCode.OK
    results = compare_package_dir(manifest, package_dir)
    table = _table(
        f"Package folder {package_dir}", "File", "Expected bytes", "Found", "Found bytes", "Result"
    )
    for r in results:
        table.add_row(
            Text(r.name),
            f"{r.expected_size:,}",
            Text(r.found_name or "-"),
            "-" if r.found_size is None else f"{r.found_size:,}",
            Text(r.problem or "ok", style="red" if r.problem else "green"),
        )
    _console().print(table)
    extra = unknown_files(manifest, package_dir)
    if extra:
        click.echo(f"not in the manifest (ignored): {', '.join(extra)}")
    problems = [r for r in results if r.problem]
    for r in problems:
        click.echo(f"{r.name}: {r.problem}", err=True)
    return ExitCode.RUN_FAILED if problems else ExitCode.OK


@command.command("pin")
@manifest_option
@click.option(
    "--package-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="The extracted package on this machine.",
)
@click.option("--from-host", metavar="HOST", help="Read the package on this inventory host (with --path).")
@inventory_option
@click.option("--path", "remote_path", metavar="WINPATH", help="The package folder on --from-host.")
@click.option("--force", is_flag=True, help="Replace a lock file that pins another package.")
def pin(
    *,
    manifest_path: Path,
    package_dir: Path | None,
    from_host: str | None,
    inventory_ref: str | None,
    remote_path: str | None,
    force: bool,
) -> None:
    """
    Pin the package's SHA-256, ProductCode and ProductVersion in <manifest>.lock.yml.

    Every file must be there at the KB's size and be a readable MSI; a package that differs
    from the one pinned already is refused unless --force. Nothing is written when refused.
    """
    from rollup.cli.report import terminal_credentials
    from rollup.pin import PinRefused, pin_from
    from rollup.transport.base import default_registry

    try:
        result = pin_from(
            manifest_path,
            package_dir=package_dir,
            from_host=from_host,
            inventory_ref=inventory_ref,
            remote_path=remote_path,
            force=force,
            transports=default_registry(),
            credentials=terminal_credentials(),
        )
    except PinRefused as exc:
        for problem in exc.problems:
            click.echo(f"  {problem}", err=True)
        raise
    table = _table(
        f"Pinned in {result.lock}", "File", "Bytes", "SHA-256", "ProductCode", "ProductVersion", "Installs"
    )
    for f in result.files:
        identity = (f.sha256 or "", f.product_code or "", f.product_version or "")
        installs = "not read" if f.installs is None else f"{len(f.installs)} files"
        table.add_row(Text(f.name), f"{f.size or 0:,}", *identity, installs)
    _console().print(table)
    for change in result.replaced:
        click.echo(f"replaced: {change}")
    state = "unchanged" if result.unchanged else ("replaced" if result.replaced else "written")
    click.echo(f"{result.lock}: {state}; digest {load_manifest(manifest_path).digest()}")


def _named_once(ref: str) -> Path:
    """The manifest named as an argument, unless ``--manifest`` was given on the command line too."""
    from rollup.model.catalog import manifest_file

    source = click.get_current_context().get_parameter_source("manifest_path")
    if source is click.core.ParameterSource.COMMANDLINE:
        raise UsageError("name the manifest once: as the argument or with --manifest")
    return manifest_file(ref)


@dataclass(frozen=True, slots=True, kw_only=True)
class FileCheck:
    """How one package file of the manifest was found in a folder; ``problem`` is None when it matches."""

    name: str
    expected_size: int
    found_name: str | None
    found_size: int | None
    problem: str | None


def compare_package_dir(manifest: Manifest, folder: Path) -> tuple[FileCheck, ...]:
    """
    Each package file looked up in ``folder`` as Windows would (case-insensitively), with its
    byte size, and its SHA-256 when the manifest pins one, compared with the manifest.
    """
    found: dict[str, list[Path]] = {}
    for entry in sorted(folder.iterdir()):
        if entry.is_file():
            found.setdefault(windows_key(entry.name), []).append(entry)
    results: list[FileCheck] = []
    for f in manifest.package.files:
        matches = found.get(windows_key(f.name), [])
        path = matches[0] if len(matches) == 1 else None
        size = path.stat().st_size if path else None
        problem: str | None = None
        if path is None:
            problem = "missing" if not matches else f"{len(matches)} files match it case-insensitively"
        elif size != f.size_bytes:
            problem = f"{size:,} byte{'' if size == 1 else 's'}, the KB says {f.size_bytes:,}"
        elif f.sha256 is not None and (digest := _sha256(path)) != f.sha256:
            problem = f"SHA-256 {digest} differs from the pinned {f.sha256}"
        results.append(
            FileCheck(
                name=f.name,
                expected_size=f.size_bytes,
                found_name=path.name if path else None,
                found_size=size,
                problem=problem,
            )
        )
    return tuple(results)


def unknown_files(manifest: Manifest, folder: Path) -> tuple[str, ...]:
    """Files in ``folder`` that are no package file of the manifest."""
    known = {windows_key(f.name) for f in manifest.package.files}
    return tuple(sorted(p.name for p in folder.iterdir() if p.is_file() and windows_key(p.name) not in known))


def _table(title: str, *headers: str) -> Table:
    """A table whose cells wrap or fold but never lose characters; byte counts right-aligned."""
    table = Table(title=title, title_justify="default")
    for header in headers:
        table.add_column(header, overflow="fold", justify="right" if "Bytes" in header.title() else "left")
    return table


def _console() -> Console:
    """A console on stdout (``rollup.cli.console``: piped, names are never wrapped)."""
    return console()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _show_summary(console: Console, m: Manifest, path: Path) -> None:
    meta = m.metadata
    dates = sorted(f.date for f in m.package.files)
    console.print(Text(f"{meta.title} ({meta.kb})", style="bold"))
    lines = [
        f"manifest   {path} (id {meta.id}, digest {m.digest()})",
        f"product    {meta.product}",
        f"released   {meta.release.dated}; file dates {dates[0]:%Y-%m-%d} to {dates[-1]:%Y-%m-%d} (UTC)",
        f"restart    {'reboot required' if meta.restart.reboot_required else 'no reboot'}"
        + ("; services are restarted" if meta.restart.services_restarted else ""),
        f"supersedes {', '.join(s.kb for s in meta.supersedes) or '-'}",
        f"package    extracted to {m.package.extract_to}; MSI share {m.package.msishare}",
    ]
    lines += [f"requires   {p.text}" for p in meta.prerequisites]
    for line in lines:
        console.print(Text(line))


def _show_files(console: Console, m: Manifest) -> None:
    headers = ("File", "KB table name", "Bytes", "Date (UTC)", "To MSIShare", "SHA-256")
    table = _table(f"Package files ({len(m.package.files)})", *headers)
    for f in m.package.files:
        table.add_row(
            Text(f.name),
            Text(f.kb_name),
            f"{f.size_bytes:,}",
            f"{f.date:%Y-%m-%d %H:%M}",
            "yes" if f.to_msishare else Text("no", style="yellow"),
            Text(f.sha256[:16] + "..." if f.sha256 else "not pinned"),
        )
    console.print(table)
    for f in m.package.files:
        if f.note:
            console.print(Text(f"  {f.name}: {f.note}"))


def _show_components(console: Console, m: Manifest) -> None:
    headers = ("Component", "MSI", "Managed by", "Uninstall", "Reinstall")
    table = _table(f"Components ({len(m.components)})", *headers)
    for c in m.components:
        table.add_row(
            Text(c.name), Text(c.msi), c.managed_by.replace("_", " "), _yes(c.uninstall), _yes(c.reinstall)
        )
    console.print(table)
    _show_installed_files(console, m)


def _show_installed_files(console: Console, m: Manifest) -> None:
    """The files each component's MSI installs (pinned), or one line saying they are not known."""
    unknown = [c.name for c in m.components if m.file(c.msi).installs is None]
    if unknown:
        console.print(
            f"Installed files: not pinned for {len(unknown)} of {len(m.components)} components "
            "(rollup manifest pin --package-dir DIR reads them from the MSIs)"
        )
    for c in m.components:
        installs = m.file(c.msi).installs
        if not installs:
            continue
        table = _table(f"Files {c.name} installs ({c.msi})", "Path", "Version", "Bytes", "SHA-256")
        for f in installs:
            table.add_row(Text(f.path), f.version or "-", f"{f.size_bytes:,}", f.sha256 or "-")
        console.print(table)


def _show_initialize_and_sql(console: Console, m: Manifest) -> None:
    table = _table(f"Initialize nodes ({len(m.initialize)})", "Node", "Deployment Tool tree path")
    for n in m.initialize:
        table.add_row(Text(n.name), Text(" > ".join(n.path)))
    console.print(table)
    if m.sql is None:
        return
    table = _table(f"SQL objects in database {m.sql.database}", "Object", "Type")
    for index in m.sql.indexes:
        table.add_row(Text(index.name), Text(f"index on [{index.table}]"))
    for procedure in m.sql.procedures:
        table.add_row(Text(procedure), "stored procedure")
    for function in m.sql.functions:
        table.add_row(Text(function.name), f"{function.type.replace('_', '-')} function")
    console.print(table)


def _show_steps(console: Console, m: Manifest) -> None:
    table = _table(
        f"Steps ({len(m.steps)}, in dependency order)", "#", "Step", "Kind", "Roles", "After", "Title"
    )
    for number, step_id in enumerate(m.step_order(), start=1):
        step = m.step(step_id)
        table.add_row(
            str(number),
            Text(step.id),
            Text(_kind(step)),
            Text(", ".join(step.roles)),
            Text(", ".join(step.after) or "-"),
            Text(step.title),
        )
    console.print(table)


def _kind(step: Step) -> str:
    if isinstance(step, DeploymentToolStep):
        return f"deployment_tool {step.action} ({step.strategy})"
    if isinstance(step, ConditionalStep):
        return f"conditional {step.step.kind} (override {step.override})"
    return step.kind


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"
