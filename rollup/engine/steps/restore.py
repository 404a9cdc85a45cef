"""
The steps only a rollback has (``rollup.rollback``): ``restore``, ``sql_objects_left`` and
``iis_setting_left``.

- ``restore`` puts the files of the MSI share back as they were before an applied run, from the
  backups that run kept (``files.restore``). Its guard compares the share with the SHA-256 the
  run recorded for each backup: in effect when every file holds those bytes (and a file that
  was not there before is gone). Its evidence lists what each file became.
- ``sql_objects_left`` is read-only and never acts: the KB gives no way to remove the objects
  the database MSI added, so the rollback reports the ones present as left in place, a ``noop``
  whose summary names them (audited, journaled and shown like every step's).
- ``iis_setting_left`` is read-only too: the KB gives no previous value of the directory
  security it sets (DNSProvider's Basic-auth default domain and Require SSL), so the rollback
  reads the virtual directory and reports the settings as left in place, or as changed since.
"""

from __future__ import annotations

import ntpath
from collections.abc import Mapping, Sequence
from typing import Any

from rollup.engine.retry import StepFailed
from rollup.engine.steps.context import Acted, Guard, StepContext, op
from rollup.engine.steps.services import sql_params, wanted_vdir
from rollup.ops import files, iis, sql
from rollup.ops.filecopy import FileAction
from rollup.ops.filerestore import RestoreParams
from rollup.planner import PlanStep

_STAT = op("files.stat")
_RESTORE = op("files.restore")
_SQL = op("sql.objects")
_GET_VDIR = op("iis.get_vdir")
KB_GIVES_NO_REMOVAL = "the KB gives no removal"
KB_GIVES_NO_PREVIOUS = "the KB gives no previous value"


def _entries(ctx: StepContext) -> tuple[Mapping[str, Any], ...]:
    return tuple(ctx.p["files"])


def _pending(ctx: StepContext, entries: Sequence[Mapping[str, Any]]) -> tuple[Mapping[str, Any], ...]:
    """The entries whose file in the share does not hold the recorded bytes (or should be gone)."""
    share = str(ctx.p["share"])
    paths = tuple(ntpath.join(share, str(e["name"])) for e in entries)
    stats: tuple[files.FileStat, ...] = ctx.call(_STAT, files.StatParams(paths=paths))
    pending = []
    for entry, stat in zip(entries, stats, strict=True):
        if entry["backup"]:
            if not (stat.exists and (stat.sha256 or "").lower() == str(entry["sha256"]).lower()):
                pending.append(entry)
        elif stat.exists:
            pending.append(entry)
    return tuple(pending)


class Restore:
    """``restore``: the MSI share's files back from the backups an applied run kept."""

    def describe(self, step: PlanStep) -> str:
        return f"restore {len(step.params['files'])} files of {step.params['share']} from their backups"

    def check(self, ctx: StepContext) -> Guard:
        entries = _entries(ctx)
        pending = _pending(ctx, entries)
        share = ctx.p["share"]
        if not pending:
            return Guard(in_effect=True, reason=f"all {len(entries)} files of {share} are as before the run")
        shown = ", ".join(str(e["name"]) for e in pending[:3]) + (" ..." if len(pending) > 3 else "")
        return Guard(
            in_effect=False,
            reason=f"{len(pending)} of {len(entries)} files of {share} to restore: {shown}",
            facts=pending,
        )

    def act(self, ctx: StepContext, guard: Guard) -> Acted:
        todo: tuple[Mapping[str, Any], ...] = guard.facts
        share = str(ctx.p["share"])
        params = RestoreParams(
            share=share,
            names=tuple(str(e["name"]) for e in todo),
            backups=tuple(str(e["backup"] or "") for e in todo),
            sha256=tuple(str(e["sha256"] or "") for e in todo),
        )
        ctx.progress(f"restore {len(todo)} file(s) of {share}")
        done: tuple[FileAction, ...] = ctx.call(_RESTORE, params)
        evidence = {
            "restored.tsv": "".join(
                f"{a.name}\t{a.action}\t{a.backup or ''}\t{a.sha256 or ''}\n" for a in done
            )
        }
        failed = [a for a in done if a.action == "failed"]
        if failed:
            raise StepFailed(
                f"{ctx.host}: could not restore {len(failed)} file(s) of {share}: "
                + "; ".join(f"{a.name}: {a.error}" for a in failed),
                hint="look at the share and the backups named, then resume the rollback",
            )
        left = _pending(ctx, _entries(ctx))
        if left:
            raise StepFailed(f"{ctx.host}: after the restore, {len(left)} file(s) of {share} still differ")
        restored = sum(a.action == "restored" for a in done)
        removed = sum(a.action == "removed" for a in done)
        extra = f", removed {removed} the run had added" if removed else ""
        return Acted(
            summary=f"restored {restored} file(s) of {share} from their backups{extra}", evidence=evidence
        )


class SqlObjectsLeft:
    """``sql_objects_left``: report the objects the database MSI added as left in place (read-only)."""

    def describe(self, step: PlanStep) -> str:
        return f"report the database objects the rollup added as left in place ({KB_GIVES_NO_REMOVAL})"

    def check(self, ctx: StepContext) -> Guard:
        report: sql.SqlObjectsReport = ctx.call(_SQL, sql_params(ctx))
        present = [o for o in report.objects if o.present]
        if not present:
            return Guard(in_effect=True, reason=f"none of the rollup's objects is in {report.database}")
        names = ", ".join(f"{o.kind} {o.name}" for o in present)
        return Guard(
            in_effect=True,
            reason=f"left in place ({KB_GIVES_NO_REMOVAL}): "
            f"{len(present)} objects in {report.database}: {names}",
        )

    def act(self, ctx: StepContext, guard: Guard) -> Acted:  # pragma: no cover - its guard always holds
        return Acted(summary=guard.reason)


class IisSettingLeft:
    """``iis_setting_left``: report the directory security the rollup set as left in place (read-only)."""

    def describe(self, step: PlanStep) -> str:
        return (
            f"report the settings of {step.params['site']}/{step.params['vdir']} as left in place "
            f"({KB_GIVES_NO_PREVIOUS})"
        )

    def check(self, ctx: StepContext) -> Guard:
        site, vdir = str(ctx.p["site"]), str(ctx.p["vdir"])
        found: iis.VdirSecurity = ctx.call(_GET_VDIR, iis.VdirParams(site, vdir))
        wanted = wanted_vdir(ctx)
        same = {name: getattr(found, name) == value for name, value in wanted.items()}
        kept = ", ".join(f"{name} {_shown(value)}" for name, value in wanted.items() if same[name])
        differ = ", ".join(f"{name} {_shown(getattr(found, name))}" for name in wanted if not same[name])
        reason = f"{site}/{vdir}: left in place ({KB_GIVES_NO_PREVIOUS})"
        reason += f": {kept}" if kept else ": none of the rollup's settings remains"
        return Guard(in_effect=True, reason=reason + (f"; changed since: {differ}" if differ else ""))

    def act(self, ctx: StepContext, guard: Guard) -> Acted:  # pragma: no cover - its guard always holds
        return Acted(summary=guard.reason)


def _shown(value: object) -> str:
    """A setting as IIS Manager shows it: text in quotes as it is (``'\\'``), else the value."""
    return f"'{value}'" if isinstance(value, str) else str(value)
