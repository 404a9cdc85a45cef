"""
``rollup rollback``: from the applied run's record to a ``RunSetup`` the engine runs like an apply.

``prepare`` reads the applied run (``rollup.rollback.record``), loads the manifest and the
inventory it recorded (or the inventory given), rebuilds the plan it applied, runs the rollback's
pre-flight on the Deployment Tool host (``rollup.rollback.check``: read-only; the previous MSIs
other hosts need are read back, except in a dry run), and builds the rollback plan
(``rollup.rollback.plan``). The command then hands the setup to ``rollup.engine.run.apply_plan``
(or ``preview_plan``), which journals, audits and resumes it as it does an apply; the rollback's
``run.json`` says ``options.kind: rollback`` and names the applied run in ``options.rolls_back``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import JsonValue

from rollup.audit.redact import PROCESS_SECRETS
from rollup.credentials import CredentialCache
from rollup.engine.events import EventSink, Notice
from rollup.engine.options import RunSetup
from rollup.engine.rundir import RunDir, counts_as_last, list_runs, resolve_run, runs_dir_arg
from rollup.engine.steps.context import Hosts
from rollup.errors import UsageError
from rollup.model.inventory import load_inventory
from rollup.model.manifest import load_manifest
from rollup.planner import build_plan
from rollup.rollback import check
from rollup.rollback.plan import build_rollback_plan
from rollup.rollback.record import KIND, AppliedRun, is_rollback, read_applied
from rollup.transport.base import TransportRegistry

CACHE = ".rollback"
"""Under the runs directory: ``<applied run>/``, the previous MSIs read back from the backups."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Prepared:
    """A rollback ready to run: the engine's setup, the applied run, and what ``run.json`` keeps."""

    setup: RunSetup
    applied: AppliedRun
    recorded: dict[str, JsonValue]


def resolve_rollback(runs_dir: Path, ref: str) -> RunDir:
    """
    The rollback run ``ref`` names (``last``: the latest rollback that may be resumed).

    Raises:
        UsageError: no such run, or it is not a rollback.
    """
    if ref == "last":
        for run in reversed(list_runs(runs_dir)):
            if counts_as_last(run) and run.facts_path.is_file() and is_rollback(run.read_facts()):
                return run
        raise UsageError(f"{runs_dir}: no rollback run to resume")
    run = resolve_run(runs_dir, ref)
    if not is_rollback(run.read_facts()):
        raise UsageError(
            f"run {run.run_id} is not a rollback",
            hint=f"resume an applied run with `rollup apply --resume {run.run_id}{runs_dir_arg(runs_dir)}`",
        )
    return run


def prepare(
    runs_dir: Path,
    applied_ref: str,
    *,
    inventory_ref: str | None,
    transports: TransportRegistry,
    credentials: CredentialCache,
    operator: str,
    control_host: str,
    emit: EventSink,
    dry_run: bool,
) -> Prepared:
    """
    Everything the rollback of ``applied_ref`` needs (see the module docstring).

    Raises:
        UsageError: the run named cannot be rolled back (not found, not ended, a rollback).
        RunFailed: its audit log does not verify, it kept no backup, or (``RollbackRefused``) a
            backup is missing or changed on the host.
    """
    applied = read_applied(runs_dir, applied_ref)
    options: dict[str, Any] = dict(applied.facts.options)
    inventory_source = inventory_ref or str(options.get("inventory") or applied.facts.inventory_source)
    manifest = load_manifest(Path(str(options.get("manifest"))))
    whole = load_inventory(inventory_source)
    limit = options.get("limit")
    inventory = whole.select(str(limit) if limit else None)
    wave_size = options.get("wave_size")
    applied_plan = build_plan(manifest, inventory, wave_size=int(wave_size) if wave_size else None)
    if applied.backup_host not in {h.name for h in inventory.hosts}:
        raise UsageError(
            f"{inventory.source}: {applied.backup_host}, where run {applied.run_id} kept its backups, "
            "is not selected"
        )
    folder = runs_dir / CACHE / applied.run_id
    hosts = Hosts(inventory, transports, credentials, PROCESS_SECRETS, read_only=True)
    try:
        found = check.check_backups(hosts, applied, manifest.package.msishare)
        previous = check.previous_package(found, folder)
        plan = build_rollback_plan(applied_plan, applied, manifest, inventory, previous)
        needed = sorted({str(s.params["file"]["name"]) for s in plan.steps if s.kind == "transfer"})
        if not dry_run:
            check.fetch(hosts, applied, found, needed, folder)
    finally:
        hosts.close()
    emit(
        Notice(
            text=f"rollback pre-flight passed: {len(found)} backup(s) of run {applied.run_id} "
            f"on {applied.backup_host} as recorded"
        )
    )
    for r in applied.replaced:
        local = previous.files.get(_file_of(r.step, applied_plan.steps))
        if local is not None and local.product_version not in (None, r.version):
            emit(
                Notice(
                    text=f"{r.host}: run {applied.run_id} replaced {r.product} {r.version}; "
                    f"the backup holds {local.product_version}"
                )
            )
    setup = RunSetup(
        manifest=manifest,
        inventory=inventory,
        inventory_digest=whole.digest(),
        plan=plan,
        package=previous,
        transports=transports,
        credentials=credentials,
        runs_dir=runs_dir,
        operator=operator,
        control_host=control_host,
        emit=emit,
    )
    recorded: dict[str, JsonValue] = {
        "kind": KIND,
        "rolls_back": applied.run_id,
        "rolls_back_audit_head": applied.audit_head,
        "inventory": str(Path(inventory_source).resolve())
        if Path(inventory_source).exists()
        else inventory_source,
        "manifest": str(options.get("manifest")),
        "limit": str(limit) if limit else None,
        "wave_size": int(wave_size) if wave_size else None,
    }
    return Prepared(setup=setup, applied=applied, recorded=recorded)


def _file_of(step_id: str, steps: Any) -> str:
    """The case-folded package file name an msi step of the applied plan installs ("" when none)."""
    for s in steps:
        if s.id == step_id:
            file = s.params.get("file") or s.params.get("product_of") or {}
            return str(file.get("name", "")).casefold()
    return ""
