"""
IIS, COM+ and SQL steps: ``iis_setting``, ``iis_restart``, ``complus_restart``, ``sql_objects_check``.

- ``iis_setting``: the guard reads the virtual directory (``iis.get_vdir``); ``iis.set_vdir``
  changes only what differs and reads it back.
- ``iis_restart`` and ``complus_restart`` are idempotent actions: running one again is safe, so
  a retry or a resume simply restarts again. They are needed when something they depend on
  acted in this run (the journal says so, across resumes); otherwise they are in effect when
  the service or application is running, so a second run of a finished rollup restarts
  nothing. A run that stopped after an install is finished with ``--resume``, which keeps
  that knowledge; a new run would not know the install happened.
- ``sql_objects_check`` is read-only: in effect when every object is there; otherwise it fails
  naming the missing objects and the near misses (``Selete`` versus ``Select``).
"""

from __future__ import annotations

from rollup.engine.retry import StepFailed
from rollup.engine.steps.context import Acted, Guard, StepContext, op
from rollup.ops import complus, iis, service, sql
from rollup.ops.iisreset import IisReset, ResetParams
from rollup.planner import PlanStep

_GET_VDIR = op("iis.get_vdir")
_SET_VDIR = op("iis.set_vdir")
_RESET = op("iis.reset")
_SERVICES = op("service.state")
_COMPLUS_STATE = op("complus.state")
_COMPLUS_RESTART = op("complus.restart")
_SQL = op("sql.objects")

CHANGED = "a step it depends on changed something in this run"
RESTARTED = "restart"
"""The unit a restart journals once it is done: a resume does not restart the service again."""


def wanted_vdir(ctx: StepContext) -> dict[str, object]:
    """The directory security an ``iis_setting`` step's parameters ask for, by ``VdirSecurity`` field."""
    wanted: dict[str, object] = {}
    if ctx.p.get("basic_auth_default_domain") is not None:
        # a default domain for Basic authentication means Basic authentication is on
        wanted["basic_auth"] = True
        wanted["default_logon_domain"] = ctx.p["basic_auth_default_domain"]
    if ctx.p.get("require_ssl") is not None:
        wanted["require_ssl"] = ctx.p["require_ssl"]
    return wanted


class IisSetting:
    """``iis_setting``: a virtual directory's Basic-auth default domain and SSL requirement."""

    def describe(self, step: PlanStep) -> str:
        what = []
        if step.params.get("basic_auth_default_domain") is not None:
            what.append("Basic authentication on")
            what.append(f"default logon domain {step.params['basic_auth_default_domain']!r}")
        if step.params.get("require_ssl") is not None:
            what.append(f"require SSL {step.params['require_ssl']}")
        return f"set {' and '.join(what)} on {step.params['site']}/{step.params['vdir']}"

    def check(self, ctx: StepContext) -> Guard:
        site, vdir = str(ctx.p["site"]), str(ctx.p["vdir"])
        found: iis.VdirSecurity = ctx.call(_GET_VDIR, iis.VdirParams(site, vdir))
        differ = [
            f"{name} is {getattr(found, name)!r}, wanted {value!r}"
            for name, value in wanted_vdir(ctx).items()
            if getattr(found, name) != value
        ]
        if not differ:
            return Guard(in_effect=True, reason=f"{site}/{vdir} already has these settings")
        return Guard(in_effect=False, reason=f"{site}/{vdir}: " + "; ".join(differ))

    def act(self, ctx: StepContext, guard: Guard) -> Acted:
        wanted = wanted_vdir(ctx)
        params = iis.SetVdirParams(
            str(ctx.p["site"]),
            str(ctx.p["vdir"]),
            default_logon_domain=wanted.get("default_logon_domain"),  # type: ignore[arg-type]
            require_ssl=wanted.get("require_ssl"),  # type: ignore[arg-type]
            basic_auth=wanted.get("basic_auth"),  # type: ignore[arg-type]
        )
        done: iis.VdirSecurity = ctx.call(_SET_VDIR, params)
        changed = ", ".join(done.changed) or "nothing"
        return Acted(summary=f"changed {changed} on {done.path}")


class IisRestart:
    """``iis_restart``: ``iisreset /restart`` when something before it changed, then the services checked."""

    def describe(self, step: PlanStep) -> str:
        return "iisreset /restart"

    def check(self, ctx: StepContext) -> Guard:
        if ctx.upstream_changed and RESTARTED not in ctx.units_done:
            return Guard(in_effect=False, reason=CHANGED)
        states: service.ServiceStates = ctx.call(_SERVICES, service.ServiceParams(names=("W3SVC",)))
        w3svc = states.get("W3SVC")
        if w3svc is not None and w3svc.running:
            return Guard(in_effect=True, reason="nothing it depends on changed in this run; W3SVC is running")
        state = "absent" if w3svc is None or not w3svc.found else w3svc.state
        return Guard(in_effect=False, reason=f"W3SVC is {state}")

    def act(self, ctx: StepContext, guard: Guard) -> Acted:
        timeout = max(1, min(3600, ctx.step.timeout_s // 2))
        done: IisReset = ctx.call(_RESET, ResetParams(timeout_s=timeout))
        ctx.unit_done(RESTARTED)
        states = ", ".join(f"{name} {state}" for name, state in sorted(done.services.items()))
        return Acted(summary=f"IIS restarted (IIS {done.iis_version}); {states}", remote_code=done.exit_code)


class ComplusRestart:
    """``complus_restart``: shut down and start a COM+ application when something before it changed."""

    def describe(self, step: PlanStep) -> str:
        return f"shut down and start the COM+ application {step.params['application']!r}"

    def check(self, ctx: StepContext) -> Guard:
        name = str(ctx.p["application"])
        if ctx.upstream_changed and RESTARTED not in ctx.units_done:
            return Guard(in_effect=False, reason=CHANGED)
        found: complus.ComPlusState = ctx.call(_COMPLUS_STATE, complus.ComPlusParams(name))
        if found.found and found.enabled and found.running:
            return Guard(
                in_effect=True, reason=f"nothing it depends on changed in this run; {name!r} is running"
            )
        if not found.found:
            return Guard(in_effect=False, reason=f"{name!r} does not exist")
        return Guard(in_effect=False, reason=f"{name!r} is not running")

    def act(self, ctx: StepContext, guard: Guard) -> Acted:
        params = complus.RestartParams(str(ctx.p["application"]), int(ctx.p.get("settle_s", 5)))
        done: complus.ComPlusState = ctx.call(_COMPLUS_RESTART, params)
        ctx.unit_done(RESTARTED)
        before = ", ".join(str(p) for p in done.previous_process_ids or ()) or "none"
        after = ", ".join(str(p) for p in done.process_ids)
        return Acted(summary=f"{done.application!r} restarted (process {before} -> {after})")


def sql_params(ctx: StepContext) -> sql.SqlObjectsParams:
    """The ``sql.objects`` parameters of the manifest's ``sql`` section, on the host's default instance."""
    if ctx.manifest.sql is None:
        raise StepFailed(f"{ctx.host}: the manifest has no sql section to check")
    return sql.params_for(ctx.manifest.sql)


class SqlObjectsCheck:
    """``sql_objects_check``: every object of the manifest's ``sql`` section exists (read-only)."""

    def describe(self, step: PlanStep) -> str:
        return "check the database objects of the manifest's sql section"

    def check(self, ctx: StepContext) -> Guard:
        report: sql.SqlObjectsReport = ctx.call(_SQL, sql_params(ctx))
        if not report.missing:
            return Guard(in_effect=True, reason=f"all {len(report.objects)} objects are in {report.database}")
        return Guard(in_effect=False, reason=f"{len(report.missing)} objects are missing", facts=report)

    def act(self, ctx: StepContext, guard: Guard) -> Acted:
        report: sql.SqlObjectsReport = guard.facts
        parts = []
        for missing in report.missing:
            near = f" (near miss: {', '.join(missing.near_miss)})" if missing.near_miss else ""
            parts.append(f"{missing.kind} {missing.name}{near}")
        raise StepFailed(
            f"{ctx.host}: {report.database} lacks " + "; ".join(parts),
            hint="the database MSI did not add them: read its log, or run it again",
        )
