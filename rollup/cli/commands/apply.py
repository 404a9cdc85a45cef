"""
``rollup apply``: carry the rollup across the inventory, journaled, retried, audited, resumable.

The command gathers what a run needs (manifest, inventory narrowed by ``--limit``, plan, the
checked package, transports, credentials) and hands it to ``rollup.engine.run.apply_plan``, or
to ``rollup.engine.dryrun.preview_plan`` with ``--dry-run``. It prints the run id and the audit
log's path, shows progress (``rollup.cli.progress``), and ends with the documented exit code:
0 done, 1 failed, 5 waiting at a manual gate (``rollup confirm``, then ``--resume``) or for a
decision about a failed step (``--on-failure pause``: ``rollup decide``, then ``--resume``), 6 done
with exceptions (an operator skipped a step or excluded a host).

``--resume RUN_ID`` takes the manifest, inventory, ``--limit``, ``--wave-size`` and package
directory the run started with (kept in its ``run.json``) unless given again. docs/apply.md is
the operator's reference.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import click
from rich.console import Console

from rollup.cli.apply_end import conclude
from rollup.cli.apply_operator import asker, decider, prompter
from rollup.cli.console import console
from rollup.cli.options import (
    INVENTORY_ENV,
    MANIFEST_ENV,
    MANIFEST_HELP,
    RUNS_DIR_HELP,
    inventory_option,
    limit_option,
    quiet,
)
from rollup.cli.progress import ProgressRenderer, preview_table
from rollup.engine.events import Notice
from rollup.errors import RollupError, UsageError
from rollup.model.manifest import DEFAULT_MANIFEST, DEFAULT_MANIFEST_ID

if TYPE_CHECKING:
    from rollup.engine.options import RunSetup
    from rollup.engine.run import RunReport


def runs_dir_option(func: Any) -> Any:
    """``--runs-dir PATH`` (env ``ROLLUP_RUNS_DIR``)."""
    return click.option(
        "--runs-dir",
        "runs_dir",
        metavar="PATH",
        envvar="ROLLUP_RUNS_DIR",
        show_envvar=True,
        help=RUNS_DIR_HELP,
    )(func)


@click.command("apply")
@inventory_option
@click.option(
    "-m",
    "--manifest",
    "manifest_path",
    metavar="ID|PATH",
    envvar=MANIFEST_ENV,
    show_envvar=True,
    help=f"{MANIFEST_HELP} [default: {DEFAULT_MANIFEST_ID}]",
)
@limit_option
@click.option(
    "--package-dir",
    type=click.Path(path_type=Path),
    help="The extracted rollup package (default: the inventory's rollup_package_dir).",
)
@click.option(
    "--wave-size", type=click.IntRange(min=1), help="COLLAB hosts per wave (default: the inventory's)."
)
@click.option(
    "--forks", type=click.IntRange(min=1, max=256), default=None, help="Hosts worked on at once (default 8)."
)
@click.option(
    "--max-fail-percent",
    type=click.FloatRange(min=0, max=100),
    default=None,
    help="Share of a wave's hosts that may fail before later waves stop (default 0).",
)
@click.option(
    "--dry-run", is_flag=True, help="Read every step's facts and show what would run; change nothing."
)
@click.option("--resume", metavar="RUN_ID|last", help="Finish an interrupted, failed or waiting run.")
@click.option("--replan", is_flag=True, help="With --resume: continue even though the plan changed.")
@click.option(
    "--confirm",
    "confirm",
    multiple=True,
    metavar="STEP",
    help="Confirm this manual gate in advance (repeatable); recorded with your name.",
)
@click.option("--note", default="", help="A note recorded with confirmations given by --confirm.")
@click.option(
    "--on-failure",
    type=click.Choice(["stop", "pause"]),
    default=None,
    help="stop (default): a failed step stops its dependants; pause: an operator decides "
    "retry, skip, exclude (the host) or abort, on the terminal or with `rollup decide`.",
)
@click.option(
    "--break-remote-lock",
    is_flag=True,
    help="Remove another run's marker on the Deployment Tool host first (audited).",
)
@click.option(
    "--skip-rehearsal",
    is_flag=True,
    help="Production only: start without a passing rehearsal of this manifest (needs --reason; audited).",
)
@click.option(
    "--skip-preflight",
    is_flag=True,
    help="Start without the pre-flight checks (needs --reason; audited).",
)
@click.option(
    "--reason", metavar="TEXT", help="Why --skip-rehearsal or --skip-preflight; recorded in the audit log."
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print how the run ended as one JSON document on stdout (docs/json.md); progress goes to stderr.",
)
@click.option(
    "--junit",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the run as JUnit XML to this file (a suite per host, a case per step).",
)
@click.option(
    "--report",
    "html_report",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the run as a self-contained HTML report to this file, however it ends (docs/report.md).",
)
@runs_dir_option
def command(  # noqa: PLR0917 - click passes every option by keyword position
    inventory_ref: str | None,
    manifest_path: str | None,
    limit: str | None,
    package_dir: Path | None,
    wave_size: int | None,
    forks: int | None,
    max_fail_percent: float | None,
    dry_run: bool,
    resume: str | None,
    replan: bool,
    confirm: tuple[str, ...],
    note: str,
    on_failure: str | None,
    break_remote_lock: bool,
    skip_rehearsal: bool,
    skip_preflight: bool,
    reason: str | None,
    as_json: bool,
    junit: Path | None,
    html_report: Path | None,
    runs_dir: str | None,
) -> None:
    """Apply the rollup to the inventory's hosts, in the KB's order, safely."""
    from rollup.engine import rundir
    from rollup.model.catalog import manifest_file

    if replan and not resume:
        raise UsageError("--replan only makes sense with --resume RUN_ID")
    if dry_run and resume:
        raise UsageError("--dry-run and --resume cannot be combined")
    from rollup.cli.apply_preflight import skip_override

    skipped = skip_override(skip_preflight, reason)
    runs = rundir.resolve_runs_dir(runs_dir)
    earlier: dict[str, Any] = {}
    if resume:
        earlier = dict(rundir.resolve_run(runs, resume).read_facts().options)
        if earlier.get("kind") == "rollback":  # docs/rollback.md
            again = f"`rollup rollback --resume {resume}`"
            raise UsageError(f"run {resume} is a rollback: resume it with {again}")
        # a resumed run keeps what it recorded unless the command line itself says otherwise:
        # ROLLUP_INVENTORY and ROLLUP_MANIFEST name what a new run uses
        context = click.get_current_context()
        from_environment = click.core.ParameterSource.ENVIRONMENT
        if context.get_parameter_source("inventory_ref") is from_environment:
            inventory_ref = None
        if context.get_parameter_source("manifest_path") is from_environment:
            manifest_path = None
    chosen = _Choices(
        inventory=inventory_ref or earlier.get("inventory"),
        manifest=manifest_file(manifest_path)
        if manifest_path
        else _path(earlier.get("manifest")) or DEFAULT_MANIFEST,
        limit=limit if limit is not None else earlier.get("limit"),
        package_dir=package_dir or _path(earlier.get("package_dir")),
        wave_size=wave_size if wave_size is not None else earlier.get("wave_size"),
        forks=forks or int(earlier.get("forks") or 8),
        max_fail_percent=max_fail_percent
        if max_fail_percent is not None
        else float(earlier.get("max_fail_percent") or 0.0),
        on_failure=on_failure or str(earlier.get("on_failure") or "stop"),
    )
    if (as_json or junit or html_report) and dry_run:
        raise UsageError("--json, --junit and --report report a run; --dry-run does not make one")
    _run(
        chosen,
        console(soft_wrap=True, stderr=as_json, quiet=quiet()),
        runs=runs,
        dry_run=dry_run,
        resume=resume,
        replan=replan,
        confirm=confirm,
        note=note,
        break_remote_lock=break_remote_lock,
        skip_rehearsal=(reason or "") if skip_rehearsal else None,
        skipped=skipped,
        as_json=as_json,
        junit=junit,
        html_report=html_report,
    )


def _path(value: object) -> Path | None:
    return Path(value) if isinstance(value, str) and value else None


class _Choices:
    """The run's inputs after ``--resume`` filled in what was not given again."""

    def __init__(
        self,
        *,
        inventory: str | None,
        manifest: Path,
        limit: str | None,
        package_dir: Path | None,
        wave_size: int | None,
        forks: int,
        max_fail_percent: float,
        on_failure: str = "stop",
    ) -> None:
        if not inventory:
            raise UsageError(f"--inventory NAME|PATH is required, or set {INVENTORY_ENV}")
        self.inventory = inventory
        self.manifest = manifest
        self.limit = limit
        self.package_dir = package_dir
        self.wave_size = wave_size
        self.forks = forks
        self.max_fail_percent = max_fail_percent
        self.on_failure: Literal["stop", "pause"] = "pause" if on_failure == "pause" else "stop"


def _inventory_path(ref: str) -> Path:
    """The file an inventory reference names (as ``load_inventory`` resolves it), made absolute."""
    from rollup.model.inventory_sources import ANSIBLE_PREFIX, locate

    if ref.startswith(ANSIBLE_PREFIX):
        return Path(ref.removeprefix(ANSIBLE_PREFIX)).resolve()
    return locate(ref, Path.cwd())[1].resolve()


def _run(
    chosen: _Choices,
    console: Console,
    *,
    runs: Path,
    dry_run: bool,
    resume: str | None,
    replan: bool,
    confirm: tuple[str, ...],
    note: str,
    break_remote_lock: bool,
    skip_rehearsal: str | None = None,
    skipped: tuple[tuple[str, str], ...] = (),
    as_json: bool = False,
    junit: Path | None = None,
    html_report: Path | None = None,
) -> None:
    from rollup.cli.apply_preflight import delete_stale_shells, preflight_gate
    from rollup.engine import rundir
    from rollup.engine.dryrun import preview_plan
    from rollup.engine.options import RunOptions
    from rollup.engine.run import apply_plan
    from rollup.rehearsal.gate import OVERRIDE_KIND, Verdict, check_gate

    renderer = ProgressRenderer(console, live=console.is_terminal, quiet=console.quiet)
    setup, folder = _setup(chosen, renderer, runs)
    try:
        gate = None  # a production run needs a passing rehearsal of this manifest (docs/rehearse.md)
        if not dry_run and not resume:
            digest, skip = setup.manifest.digest(), skip_rehearsal
            gate = check_gate(setup.inventory, manifest_digest=digest, runs_dir=runs, skip_reason=skip)
        gated = {} if gate is None or gate.verdict is Verdict.EXEMPT else {"rehearsal_gate": gate.facts()}
        overrides: tuple[tuple[str, str], ...] = ()
        if gate is not None and gate.verdict is Verdict.SKIPPED and gate.reason:
            overrides = ((OVERRIDE_KIND, gate.reason),)
        overrides += skipped
        earlier = rundir.resolve_run(runs, resume) if resume else None
        if earlier is not None:
            delete_stale_shells(setup, earlier, console)
        if not skipped:
            renderer.stop()
            preflight_gate(setup, folder, console, forks=chosen.forks, run=earlier, dry_run=dry_run)
        if dry_run:
            previews = preview_plan(setup, forks=chosen.forks)
            renderer.stop()
            console.print(preview_table(previews))
            return
        options = RunOptions(
            forks=chosen.forks,
            max_fail_percent=chosen.max_fail_percent,
            resume=resume,
            replan=replan,
            confirm=confirm,
            note=note,
            break_remote_lock=break_remote_lock,
            on_failure=chosen.on_failure,
            overrides=overrides,
            recorded={
                "on_failure": chosen.on_failure,
                "inventory": str(_inventory_path(chosen.inventory)),
                "manifest": str(chosen.manifest.resolve()),
                "limit": chosen.limit,
                "wave_size": chosen.wave_size,
                "package_dir": str(folder.resolve()),
                **gated,
            },
        )
        report = apply_plan(setup, options)
    except KeyboardInterrupt:
        renderer.stop()
        if renderer.run_id is not None:
            from rollup.engine.rundir import runs_dir_arg

            resume_with = f"rollup apply --resume {renderer.run_id}{runs_dir_arg(runs)}"
            stopped = f"interrupted: run {renderer.run_id} stopped; resume it with: {resume_with}"
            (click.echo if console.quiet else console.print)(stopped)
        _report_anyway(html_report, runs, renderer.run_id, console)
        raise
    except RollupError:
        renderer.stop()
        _report_anyway(html_report, runs, renderer.run_id, console)
        raise
    finally:
        renderer.stop()
    _outputs(report, console, runs=runs, as_json=as_json, junit=junit, html_report=html_report)
    conclude(console, report, runs)


def _outputs(
    report: RunReport,
    console: Console,
    *,
    runs: Path,
    as_json: bool,
    junit: Path | None,
    html_report: Path | None,
) -> None:
    """``--junit FILE``, ``--report FILE`` and ``--json``, for a run that ended (done, failed or waiting)."""
    from rollup.cli.apply_report import dumps, write_junit

    if junit is not None:
        write_junit(report, junit)
    if html_report is not None:
        from rollup.engine.rundir import RunDir
        from rollup.runreport.write import write_report

        written = write_report(RunDir(runs / report.run_id), html_report, runs_dir=runs)
        console.print(f"report: {written}", markup=False, highlight=False)
    if as_json:
        click.echo(dumps(report))


def _report_anyway(out: Path | None, runs: Path, run_id: str | None, console: Console) -> None:
    """``--report`` of a run that stopped on an error: written if the run's files allow it."""
    if out is None or run_id is None:
        return
    from rollup.engine.rundir import RunDir
    from rollup.runreport.write import write_report

    try:
        written = write_report(RunDir(runs / run_id), out, runs_dir=runs)
        console.print(f"report: {written}", markup=False, highlight=False)
    except (RollupError, OSError) as exc:
        console.print(f"report: not written: {exc}", markup=False)


def _setup(chosen: _Choices, renderer: ProgressRenderer, runs: Path) -> tuple[RunSetup, Path]:
    """Load and check everything the run needs, before any host is contacted."""
    from rollup.credentials import CredentialCache
    from rollup.engine.options import RunSetup
    from rollup.engine.package import load_package
    from rollup.engine.rundir import control_host_name, operator_name
    from rollup.model.inventory import load_inventory
    from rollup.model.manifest import load_manifest
    from rollup.planner import build_plan
    from rollup.transport.base import default_registry

    manifest = load_manifest(chosen.manifest)
    whole = load_inventory(chosen.inventory)
    inventory = whole.select(chosen.limit)
    plan = build_plan(manifest, inventory, wave_size=chosen.wave_size)
    folder = chosen.package_dir or inventory.settings.package_dir
    if folder is None:
        raise UsageError(
            "no package directory: give --package-dir, or set rollup_package_dir in the inventory"
        )
    package = load_package(folder, manifest)
    terminal = sys.stdin.isatty() and sys.stdout.isatty()
    operator = operator_name()
    setup = RunSetup(
        manifest=manifest,
        inventory=inventory,
        inventory_digest=whole.digest(),
        plan=plan,
        package=package,
        transports=default_registry(),
        credentials=CredentialCache(prompt=prompter(renderer) if terminal else None),
        runs_dir=runs,
        operator=operator,
        control_host=control_host_name(),
        emit=renderer,
        ask=asker(renderer, operator) if terminal else None,
        decide=decider(renderer, operator) if terminal else None,
    )
    unpinned = package.unpinned()
    if unpinned and inventory.production:
        raise UsageError(
            f"{inventory.source}: a production run needs a pinned manifest; {chosen.manifest} pins no "
            f"SHA-256 for {len(unpinned)} package file(s) ({unpinned[0]}, ...)",
            hint=f"pin it first: rollup manifest pin --manifest {chosen.manifest} --package-dir {folder}",
        )
    if unpinned:
        renderer(
            Notice(
                text=f"the manifest pins no SHA-256 for {len(unpinned)} package file(s) "
                f"({unpinned[0]}, ...): their hashes were taken from {folder}"
            )
        )
    return setup, Path(folder)
