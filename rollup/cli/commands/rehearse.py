"""
``rollup rehearse``: the rollup on the lab's VMs, with drills, then the lab put back as it was.

``--inventory LAB`` rehearses on a lab whose hosts are VMs (each host's ``vm`` and
``all.vars.rollup_hypervisors``, docs/rehearse.md): snapshot, preflight, ``rollup apply`` with the
drills asked for, verify, revert (or ``--keep``), remove the snapshots, and a rehearsal record,
which is what ``rollup apply`` on a production inventory asks for. ``--simulated`` does the same
against the simulated lab served in this process (MPS01, DNS01, MPSSQL, COLLAB01..03 and the
Hyper-V host HV01), with the kill-resume drill on unless ``--drill`` or ``--no-drills`` says
otherwise. The summary names the hosts, steps, retries, drills, verify's result, the run's audit
log and the record. Exit 0 when the rehearsal passed, 1 when it did not.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from rollup.cli import jsondoc
from rollup.cli.options import inventory_option, manifest_option, quiet, runs_dir_option
from rollup.errors import RunFailed, UsageError

if TYPE_CHECKING:
    from rollup.engine.journal_state import JournalEntry
    from rollup.model.inventory import Inventory
    from rollup.model.manifest import Manifest
    from rollup.rehearsal.drills import HostOutage
    from rollup.rehearsal.flow import CheckReport, RehearsalResult
    from rollup.rehearsal.record import DrillName

SIMULATED_COLLAB = 3
SIMULATED_TIME_FACTOR = 0.005
"""Operation durations in the simulated lab: a 15 s install takes 75 ms."""
DRILL_NAMES = ("kill-resume", "host-down")


@dataclass(frozen=True, slots=True, kw_only=True)
class _Choices:
    """What the command line asked for, beside the lab."""

    runs: Path
    package_dir: Path | None
    drills: tuple[DrillName, ...]
    keep: bool
    seed: int
    confirm: tuple[str, ...]
    emit: Callable[[str], None]


@click.command("rehearse")
@inventory_option
@manifest_option
@click.option("--simulated", is_flag=True, help="Rehearse on the simulated lab, served in this process.")
@click.option("--drill", "drills", multiple=True, type=click.Choice(DRILL_NAMES), help="A drill; repeatable.")
@click.option("--no-drills", is_flag=True, help="No drill, not even --simulated's kill-resume.")
@click.option("--keep", is_flag=True, help="Keep the lab as the rollup left it, and the snapshots.")
@click.option(
    "--confirm",
    "confirm",
    multiple=True,
    metavar="STEP",
    help="Confirm this manual gate of the lab's run in advance (repeatable; as rollup apply --confirm).",
)
@click.option("--seed", type=click.IntRange(0, 2**31 - 1), help="Seed of the drills (default: random).")
@click.option("--package-dir", type=click.Path(path_type=Path), help="The package (default: inventory's).")
@click.option(
    "--state-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="With --simulated: the lab's directory (default: rehearsal-lab beside the runs directory).",
)
@runs_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print the rehearsal record as JSON (docs/json.md).")
@click.option(
    "--junit",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the stages, drills and the run's steps as JUnit XML to this file.",
)
def command(  # noqa: PLR0917 - click passes every option by keyword position
    inventory_ref: str | None,
    manifest_path: Path,
    simulated: bool,
    drills: tuple[DrillName, ...],
    no_drills: bool,
    keep: bool,
    confirm: tuple[str, ...],
    seed: int | None,
    package_dir: Path | None,
    state_dir: Path | None,
    runs_dir: str | None,
    as_json: bool,
    junit: Path | None,
) -> None:
    """Rehearse the rollup on the lab's VMs (or the simulated lab), then revert them."""
    from rollup.engine.rundir import resolve_runs_dir

    if simulated == bool(inventory_ref):
        raise UsageError("give exactly one of --inventory LAB and --simulated")
    if no_drills and drills:
        raise UsageError("--no-drills and --drill cannot be combined")
    if state_dir is not None and not simulated:
        raise UsageError("--state-dir is for --simulated")
    chosen: tuple[DrillName, ...] = () if no_drills else tuple(dict.fromkeys(drills))
    if simulated and not drills and not no_drills:
        chosen = ("kill-resume",)
    runs = resolve_runs_dir(runs_dir)
    choices = _Choices(
        runs=runs,
        package_dir=package_dir,
        drills=chosen,
        keep=keep,
        seed=secrets.randbelow(2**31) if seed is None else seed,
        confirm=confirm,
        emit=(lambda _: None) if as_json or quiet() else click.echo,
    )
    if simulated:
        lab_dir = (state_dir or runs.parent / "rehearsal-lab").resolve()
        with _simulated(lab_dir, manifest_path) as (manifest, pinned, inventory, outage):
            gates = tuple(step.id for step in manifest.all_steps() if step.kind == "manual_gate")
            choices = replace(choices, confirm=tuple(dict.fromkeys((*confirm, *gates))))
            result = _rehearse(manifest, pinned, inventory, choices, outage=outage, simulated=True)
    else:
        from rollup.model.inventory import load_inventory
        from rollup.model.manifest import load_manifest

        inventory = load_inventory(str(inventory_ref))
        if inventory.production:
            raise UsageError(f"{inventory.source}: rollup_production is true; rehearse on a lab instead")
        manifest = load_manifest(manifest_path)
        path = manifest_path.resolve()
        result = _rehearse(manifest, path, inventory, choices, outage=None, simulated=False)
    from rollup.cli.rehearse_report import run_json, to_junit, write_junit

    entries = _journal(runs, result.record.run_id)
    if as_json:
        document = result.record.model_dump(mode="json", exclude={"format"})
        click.echo(jsondoc.dumps("rehearsal", document | {"run": run_json(result.record.run_id, entries)}))
    else:
        for line in summary(result)[: 1 if quiet() else None]:
            click.echo(line)
    if junit is not None:
        write_junit(to_junit(result.record, entries), junit)
    if not result.passed:
        failed = [str(s.name) for s in result.record.stages if s.result == "failed"]
        failed += [f"drill {d.name}" for d in result.record.drills if d.result == "failed"]
        raise RunFailed(
            f"rehearsal {result.record.rehearsal_id} failed: {', '.join(failed) or 'see the record'}",
            hint=f"the record is {result.path}",
        )


def _journal(runs: Path, run_id: str | None) -> tuple[JournalEntry, ...]:
    """The journal of the rehearsal's run (nothing if there is no run or it cannot be read)."""
    from rollup.engine.journal import read_journal
    from rollup.engine.rundir import resolve_run
    from rollup.errors import RollupError

    if run_id is None:
        return ()
    try:
        return tuple(read_journal(resolve_run(runs, run_id).journal_path).entries)
    except RollupError:
        return ()


def _rehearse(
    manifest: Manifest,
    manifest_path: Path,
    inventory: Inventory,
    choices: _Choices,
    *,
    outage: HostOutage | None,
    simulated: bool,
) -> RehearsalResult:
    """Build the rehearsal's providers, checks and apply command, and run it."""
    from rollup.baseline import HostBaseline
    from rollup.credentials import CredentialCache
    from rollup.engine.rundir import control_host_name, operator_name
    from rollup.preflight import run_preflight
    from rollup.rehearsal.applyrun import ApplyCommand
    from rollup.rehearsal.drills import ProviderOutage
    from rollup.rehearsal.flow import Rehearsal, rehearse
    from rollup.rehearsal.providers import ProviderContext, default_providers, lab_vms
    from rollup.survey import read_baseline, run_verify
    from rollup.transport.base import default_registry

    vms = lab_vms(inventory)
    transports = default_registry()
    credentials = CredentialCache(prompt=None)
    context = ProviderContext(transports=transports, credentials=credentials)
    registry = default_providers()
    providers = {name: registry.create(inventory.hypervisor(name), context) for name in vms}
    if outage is None:
        outage = ProviderOutage(
            {vm.host: (inventory.host(vm.host), providers[hv], vm) for hv, on in vms.items() for vm in on}
        )
    folder = choices.package_dir or inventory.settings.package_dir

    def preflight() -> CheckReport:
        return run_preflight(
            manifest, inventory, transports=transports, credentials=credentials, package_dir=folder
        )

    def verify() -> CheckReport:
        return run_verify(manifest, inventory, transports=transports, credentials=credentials)

    def baseline() -> tuple[HostBaseline, ...]:
        return read_baseline(manifest, inventory, transports=transports, credentials=credentials)

    apply = ApplyCommand(
        inventory=Path(inventory.source).resolve() if simulated else _inventory_path(inventory.source),
        manifest=manifest_path,
        runs_dir=choices.runs,
        package_dir=choices.package_dir,
        env=os.environ,
        confirm=choices.confirm,
        note="confirmed in advance for the rehearsal" + (" on the simulated lab" if simulated else ""),
    )
    rehearsal = Rehearsal(
        manifest=manifest,
        inventory=inventory,
        runs_dir=choices.runs,
        providers=providers,
        preflight=preflight,
        verify=verify,
        baseline=baseline,
        apply=apply,
        outage=outage,
        drills=choices.drills,
        keep=choices.keep,
        seed=choices.seed,
        simulated=simulated,
        operator=operator_name(),
        control_host=control_host_name(),
        emit=choices.emit,
    )
    return rehearse(rehearsal)


def _inventory_path(ref: str) -> Path:
    """The file an inventory reference names, as ``load_inventory`` resolves it, made absolute."""
    from rollup.model.inventory_sources import ANSIBLE_PREFIX, locate

    if ref.startswith(ANSIBLE_PREFIX):
        return Path(ref.removeprefix(ANSIBLE_PREFIX)).resolve()
    return locate(ref, Path.cwd())[1].resolve()


@contextmanager
def _simulated(lab_dir: Path, manifest_path: Path) -> Iterator[tuple[Manifest, Path, Inventory, HostOutage]]:
    """
    Serve the simulated lab with its Hyper-V host, and the manifest as the lab runs it: a copy
    whose retry waits run on the lab's clock (scaled as operations are), pinned to the lab's
    package (the simulated lab's MSIs are its own builds), so verify can compare hosts with it.
    """
    from rollup.lab.rehearsal_lab import LabOutage, serving_rehearsal_lab
    from rollup.model.inventory import load_inventory
    from rollup.model.lock import lock_path
    from rollup.model.manifest import load_manifest
    from rollup.pin import pin, read_local

    served = serving_rehearsal_lab(
        lab_dir,
        manifest=manifest_path,
        collab=SIMULATED_COLLAB,
        time_factor=SIMULATED_TIME_FACTOR,
        seed=0,
        env=os.environ,
    )
    with served as lab:
        copy = lab_dir / "manifest" / manifest_path.name
        copy.parent.mkdir(parents=True, exist_ok=True)
        lock_path(copy).unlink(missing_ok=True)
        _scaled_copy(manifest_path, copy, SIMULATED_TIME_FACTOR)
        unpinned = load_manifest(copy)
        pin(copy, read_local(unpinned, lab.paths.package), source=str(lab.paths.package), force=True)
        yield load_manifest(copy), copy, load_inventory(str(lab.inventory)), LabOutage(lab.running)


def _scaled_copy(source: Path, target: Path, factor: float) -> None:
    """Write ``source`` to ``target`` with each step's retry waits times ``factor`` (whole seconds)."""
    import yaml

    from rollup.errors import ManifestError
    from rollup.load import read_yaml

    data: Any = read_yaml(source, error=ManifestError)
    for step in data.get("steps") or ():
        for target_step in (step, step.get("step") or {}):
            retry = target_step.get("retry")
            if isinstance(retry, dict):
                first = round(float(retry.get("first_wait_s", 0)) * factor)
                retry["first_wait_s"] = first
                retry["max_wait_s"] = max(first, round(float(retry.get("max_wait_s", 0)) * factor))
    head = f"# {source.name} as the simulated lab runs it: retry waits scaled by {factor:g}.\n"
    target.write_text(head + yaml.safe_dump(data, sort_keys=False, width=1000), encoding="utf-8")


def summary(result: RehearsalResult) -> list[str]:
    """The readable summary: result, lab, stages, steps and retries, drills, where things are."""
    record = result.record
    took = (record.finished_at - record.started_at).total_seconds()
    vms = record.snapshot.vms if record.snapshot else ()
    hosts = ", ".join(vm.host for vm in vms)
    hypervisors = sorted({f"{vm.hypervisor} ({vm.provider})" for vm in vms})
    lines = [
        f"Rehearsal {record.rehearsal_id}: {record.result.upper()} in {took:.1f} s"
        + (" (simulated lab)" if record.simulated else ""),
        f"  manifest   {record.manifest_id} {record.manifest_digest[:16]}",
        f"  lab        {record.plan.hosts} hosts ({hosts}) as VMs on {', '.join(hypervisors)}",
    ]
    lines += [f"  {stage.name:<10} {stage.result:<7} {stage.detail}" for stage in record.stages]
    applied = result.apply
    if applied is not None:
        counts = ", ".join(f"{n} {state}" for state, n in sorted(applied.step_counts.items()))
        lines.append(f"  steps      {sum(applied.step_counts.values())} of {record.plan.steps} ({counts}); "
                     f"retries {applied.retries}; apply processes {applied.processes}")  # fmt: skip
    lines += [f"  drill      {drill.name}: {drill.result}: {drill.detail}" for drill in record.drills]
    if not record.drills:
        lines.append("  drills     none")
    if result.audit_log is not None:
        head = (record.audit_head or "unreadable")[:16]
        lines.append(f"  audit log  {result.audit_log} (run {record.run_id}, head {head})")
    lines.append(f"  record     {result.path}")
    return lines
