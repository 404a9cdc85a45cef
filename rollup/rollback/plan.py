"""
The rollback of an applied run as a plan: the applied run's plan, undone in the KB's own order.

Built from the plan the run applied (rebuilt from its manifest and inventory, as recorded in its
``run.json``), the backups it kept and the previous builds found in them (``rollup.rollback.check``),
so the same scheduler, journal and audit log run it (``rollup.engine.run.apply_plan``):

1. on the Deployment Tool host, as the KB does it, with the Deployment Tool step strategy in use
   (manual or the site's command): uninstall the components (the rollup's build), restore
   ``C:\\MSIShare`` from the backups (``restore``), reinstall the components (now the previous
   build, from the restored share), run the Initialize commands again and Start Deployment. The
   Start Deployment check then wants every component at the previous package's version;
2. on each other host where the run installed an MSI (DNS01, the COLLAB hosts in their waves,
   MPSSQL), after step 1: send the previous MSI (read from its backup through the controller)
   to ``ROLLBACK_DIR``, ``msiexec /x`` the rollup's build, ``msiexec /i`` the previous one, then
   the restarts the KB does on that host (IIS); on a host where the run checked the SQL objects,
   a read-only step reports them as left in place (the KB gives no removal), and where it set a
   virtual directory's security (DNSProvider on DNS01), a read-only step reports the settings
   as left in place (the KB gives no previous value);
3. the restarts the KB does at the end (the Provisioning Engine on the MPS engines, IIS on the
   web services servers), after everything else.

What the run changed that the KB gives no way back from stays, and the plan says so: the SQL
objects and the DNSProvider directory security (Basic authentication's default domain, Require
SSL), both reported by a step (step 2), and the extracted package in ``C:\\temp\\QFERollupPackage``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from rollup import __version__
from rollup.engine.package import LocalFile, Package
from rollup.model.inventory import Inventory
from rollup.model.manifest import Manifest
from rollup.model.steps import Retry
from rollup.planner import Plan, PlanStep
from rollup.rollback.record import AppliedRun

ROLLBACK_DIR = "C:\\temp\\RollupRollback"
"""Where the previous MSIs are sent on the hosts that install them again."""
MSI_KINDS = frozenset({"msi_install", "msi_run_twice"})
RESTART_KINDS = frozenset({"iis_restart", "complus_restart"})
LEFT_IN_PLACE = frozenset({"sql_objects_left", "iis_setting_left"})
"""The kinds of the read-only steps that report what the rollback leaves in place."""


class _Builder:
    def __init__(self) -> None:
        self.steps: list[PlanStep] = []

    def add(self, base: PlanStep | None, **fields: Any) -> str:
        defaults: dict[str, Any] = {"wave": None, "timeout_s": 1800, "retry": Retry()}
        if base is not None:
            defaults.update(wave=base.wave, timeout_s=base.timeout_s, retry=base.retry)
        values = {**defaults, **fields}
        values["id"] = f"{values['step']}@{values['host']}"
        values["after"] = tuple(sorted(set(values["after"])))
        self.steps.append(PlanStep(**values))
        return str(values["id"])


def _slug(name: str) -> str:
    return name.rsplit(".", 1)[0].lower()


def _file(local: LocalFile) -> dict[str, Any]:
    return {
        "name": local.name,
        "size_bytes": local.size,
        "sha256": local.sha256,
        "product_version": local.product_version,
    }


def build_rollback_plan(
    applied_plan: Plan, applied: AppliedRun, manifest: Manifest, inventory: Inventory, previous: Package
) -> Plan:
    """The rollback plan (see the module docstring); ``previous`` holds the previous build of each file."""
    b = _Builder()
    deploy = applied.backup_host
    tool = [s for s in applied_plan.steps if s.host == deploy and s.kind == "deployment_tool"]
    last: list[str] = []
    for s in sorted(tool, key=lambda s: s.params["action"] != "uninstall"):
        title = s.title
        if s.params["action"] == "uninstall":
            count = len(s.params["components"])
            title = f"Uninstall the rollup's build of the {count} components with the Deployment Tool"
        elif s.params["action"] == "reinstall":
            count = len(s.params["components"])
            title = f"Reinstall the previous build of the {count} components from the restored share"
        last = [
            b.add(
                s,
                step=f"rollback-{s.step}",
                host=deploy,
                kind=s.kind,
                title=title,
                after=last,
                params=s.params,
            )
        ]
        if s.params["action"] == "uninstall":
            share = manifest.package.msishare
            files = [{"name": k.name, "backup": k.backup, "sha256": k.sha256} for k in applied.backups]
            last = [
                b.add(
                    None, step="restore-msishare", host=deploy, kind="restore", timeout_s=1800,
                    title=f"Restore the files of {share} from the backups run {applied.run_id} kept",
                    after=last, params={"share": share, "files": files, "rolls_back": applied.run_id},
                )
            ]  # fmt: skip
    deploy_end = list(last)
    ends = _host_chains(b, applied_plan, previous, deploy, deploy_end)
    finals: dict[str, str] = {}
    for s in applied_plan.steps:
        if s.kind in RESTART_KINDS and s.step not in {x.step.removeprefix("rollback-") for x in b.steps}:
            extra = [finals[a] for a in s.after if a in finals]
            finals[s.id] = b.add(
                s, step=f"rollback-{s.step}", host=s.host, kind=s.kind, title=s.title,
                after=[*deploy_end, *ends, *extra], params=s.params,
            )  # fmt: skip
    return Plan(
        manifest_id=manifest.metadata.id,
        manifest_digest=manifest.digest(),
        inventory_source=inventory.source,
        tool_version=__version__,
        fingerprint=_fingerprint(applied, b.steps),
        steps=tuple(b.steps),
    )


def _host_chains(
    b: _Builder, applied_plan: Plan, previous: Package, deploy: str, start: Sequence[str]
) -> list[str]:
    """Step 2 of the module docstring, host by host (COLLAB hosts in their waves); the last step of each."""
    ends: list[str] = []
    by_wave: dict[int, list[str]] = {}
    for host in applied_plan.hosts():
        steps = [s for s in applied_plan.steps if s.host == host]
        if host == deploy or not any(s.kind in MSI_KINDS for s in steps):
            continue
        wave = next((s.wave for s in steps if s.wave is not None), None)
        last = [*start, *(by_wave.get(wave - 1, []) if wave else [])]
        for s in steps:
            if s.kind in MSI_KINDS:
                local = previous.file(str(s.params["file"]["name"]))
                slug, file = _slug(local.name), _file(local)
                sent = next(
                    (t for t in steps if t.kind == "transfer" and t.params["file"]["name"] == local.name), s
                )
                last = [
                    b.add(sent, step=f"send-previous-{slug}", host=host, kind="transfer", after=last,
                          title=f"Send the previous {local.name} to {ROLLBACK_DIR}",
                          params={"file": file, "to_dir": ROLLBACK_DIR})
                ]  # fmt: skip
                last = [
                    b.add(s, step=f"remove-rollup-{slug}", host=host, kind="msi_uninstall", after=last,
                          title=f"Uninstall the rollup's build of {local.name}", params={"product_of": file})
                ]  # fmt: skip
                params = {"file": file, "from_dir": ROLLBACK_DIR, **_msi_options(s.params)}
                last = [
                    b.add(s, step=f"reinstall-previous-{slug}", host=host, kind="msi_install", after=last,
                          title=f"Install the previous {local.name} ({local.product_version})", params=params)
                ]  # fmt: skip
            elif s.kind in RESTART_KINDS:
                last = [
                    b.add(
                        s,
                        step=f"rollback-{s.step}",
                        host=host,
                        kind=s.kind,
                        title=s.title,
                        after=last,
                        params=s.params,
                    )
                ]
            elif s.kind == "iis_setting":
                vdir = str(s.params["vdir"])
                title = f"Report the settings of {s.params['site']}/{vdir} as left in place"
                last = [
                    b.add(s, step=f"iis-settings-left-{_slug(vdir)}", host=host, kind="iis_setting_left",
                          after=last, title=title, params=dict(s.params))
                ]  # fmt: skip
            elif s.kind == "sql_objects_check":
                last = [
                    b.add(s, step="sql-objects-left", host=host, kind="sql_objects_left", after=last,
                          title="Report the SQL objects the database MSI added as left in place", params={})
                ]  # fmt: skip
        ends += last
        if wave is not None:
            by_wave.setdefault(wave, []).extend(last)
    return ends


def _msi_options(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: params[k] for k in ("properties", "ok_exit_codes") if params.get(k) is not None}


def _fingerprint(applied: AppliedRun, steps: Sequence[PlanStep]) -> str:
    material = {
        "rolls_back": applied.run_id,
        "applied_fingerprint": applied.facts.plan_fingerprint,
        "tool_version": __version__,
        "steps": [s.to_json() for s in steps],
    }
    text = json.dumps(material, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
