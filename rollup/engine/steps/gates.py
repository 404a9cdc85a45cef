"""
Steps that involve a person or a decision: ``manual_gate``, ``deployment_tool``, ``conditional``.

``manual_gate`` shows its checklist and waits for an operator's confirmation (on a terminal), or
stops the run in ``waiting`` (``rollup confirm`` records it later). It is needed only while some
step after it still has work to do: when every later step's guard holds (a finished rollup run
again) the gate is a no-op, so a second run needs nobody.

``deployment_tool`` drives the HMC Deployment Tool on the first MPS server. Its guard is the
outcome the KB wants on the hosts: after the uninstall, the 17 components gone (or already back
at the rollup's version); after the reinstall and Start Deployment, every component at the
rollup's version (docs/deployment-tool.md). When that holds the step is a no-op. Otherwise:

- ``manual`` (the default): the checklist, with the components or nodes, is shown to the
  operator, who does the work in the tool and confirms;
- ``command``: the site's command runs once per component or node that still needs it;

and then, either way, the step's automated checks run and must pass before anything after it
starts: every Deployment Tool log written since the action was last attempted (not those a
failed earlier attempt left) ends successfully (and there is at least one), and the
components' Uninstall entries are absent, or at the new version, on the hosts of the check's
roles. A confirmed step always runs its checks, even if its guard holds.

``conditional`` decides its condition (the inventory's override, else the count of offline
address books against the threshold); false makes it ``skipped``, true runs the wrapped step.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from rollup.engine.package import LocalFile
from rollup.engine.retry import StepFailed
from rollup.engine.steps.context import Acted, Executor, Guard, StepContext, op
from rollup.engine.steps.msi import entries_of_all, is_new
from rollup.errors import CommandFailed
from rollup.model.roles import Role
from rollup.ops import deploytool, host
from rollup.planner import PlanStep

_LOGS = op("deploytool.logs")
_COMMAND = op(deploytool.OP_COMMAND)
_FACTS = op("host.facts")

LOG_MARGIN = timedelta(seconds=5)
"""Logs written this long before the step began still count: host and control clocks differ a little."""


class ManualGate:
    """``manual_gate``: a checklist an operator confirms, needed while later steps have work to do."""

    def describe(self, step: PlanStep) -> str:
        return f"ask an operator to confirm {len(step.params['checklist'])} checklist items"

    def check(self, ctx: StepContext) -> Guard:
        if ctx.confirmation is not None:
            return Guard(in_effect=False, reason=f"confirmed by {ctx.confirmation.by}")
        needed, why = ctx.gate_needed()
        if not needed:
            return Guard(in_effect=True, reason=why)
        return Guard(in_effect=False, reason=why)

    def act(self, ctx: StepContext, guard: Guard) -> Acted:
        confirmation = ctx.confirmation or ctx.confirm(tuple(str(i) for i in ctx.p["checklist"]))
        note = f" ({confirmation.note})" if confirmation.note else ""
        return Acted(summary=f"confirmed by {confirmation.by}{note}")


@dataclass(frozen=True, slots=True)
class _Component:
    name: str
    package: LocalFile


@dataclass(frozen=True, slots=True)
class _Entries:
    """Per component, the hosts where its entries are new, old, or absent."""

    old: Mapping[str, tuple[str, ...]]
    """Component name -> ``HOST version`` of entries at another version than the package's."""
    new_somewhere: frozenset[str]
    """Components with an entry at the package's version on at least one host."""
    hosts: tuple[str, ...]


def _components(ctx: StepContext, names: Sequence[str]) -> tuple[_Component, ...]:
    by_name = {c.name: c for c in ctx.manifest.components}
    return tuple(_Component(n, ctx.package.file(by_name[n].msi)) for n in names)


def _hosts_of(ctx: StepContext, roles: Sequence[str]) -> tuple[str, ...]:
    wanted = {Role(r) for r in roles}
    return tuple(h.name for h in ctx.hosts.inventory.hosts if h.roles & wanted)


def _read_entries(ctx: StepContext, components: Sequence[_Component], roles: Sequence[str]) -> _Entries:
    old: dict[str, tuple[str, ...]] = {}
    new: set[str] = set()
    hosts = _hosts_of(ctx, roles)
    for name in hosts:
        found = entries_of_all(ctx, [c.package for c in components], host=name)
        for component in components:
            for entry in found[component.package.name]:
                if is_new(entry, component.package):
                    new.add(component.name)
                else:
                    old[component.name] = (*old.get(component.name, ()), f"{name} {entry.display_version}")
    return _Entries(old=old, new_somewhere=frozenset(new), hosts=hosts)


def _uninstall_checks(params: Mapping[str, Any], expect: str) -> tuple[Mapping[str, Any], ...]:
    return tuple(
        c
        for c in params.get("checks") or ()
        if c.get("kind") == "uninstall_entries" and c.get("expect") == expect
    )


def _shown(items: Sequence[str], limit: int = 3) -> str:
    return ", ".join(items[:limit]) + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _key(log: deploytool.DeployLog) -> tuple[str, str, int]:
    """A log as it was: a log written again (a new last write or size) counts as new."""
    return (log.name.casefold(), log.last_write.isoformat(), log.size)


class DeploymentTool:
    """``deployment_tool``: an action of the HMC Deployment Tool, manual or by the site's command."""

    def describe(self, step: PlanStep) -> str:
        what = step.params.get("components") or step.params.get("nodes") or ()
        how = "the site command" if step.params.get("strategy") == "command" else "an operator"
        action = step.params["action"]
        return f"Deployment Tool {action} of {len(what) or 'all'} item(s) by {how}, then its checks"

    def _guard_checks(self, ctx: StepContext) -> tuple[Mapping[str, Any], ...]:
        """The uninstall-entry checks that tell whether this step's outcome is in place."""
        if ctx.p["action"] == "uninstall":
            return _uninstall_checks(ctx.p, "absent")
        found: list[Mapping[str, Any]] = []
        for other in ctx.plan.steps:
            if other.kind == "deployment_tool":
                found.extend(_uninstall_checks(other.params, "new_version"))
        return tuple(found)

    def check(self, ctx: StepContext) -> Guard:
        if ctx.confirmation is not None:
            return Guard(in_effect=False, reason=f"confirmed by {ctx.confirmation.by}; its checks run now")
        checks = self._guard_checks(ctx)
        if not checks:
            return Guard(in_effect=False, reason="no fact tells whether this action was done")
        pending: list[str] = []
        for check in checks:
            components = _components(ctx, check["components"])
            entries = _read_entries(ctx, components, check["roles"])
            for c in components:
                if c.name in entries.old:
                    pending.append(f"{c.name} ({_shown(entries.old[c.name])})")
                elif ctx.p["action"] != "uninstall" and c.name not in entries.new_somewhere:
                    pending.append(f"{c.name} (not installed)")
        if not pending:
            done = (
                "removed or at the package's version"
                if ctx.p["action"] == "uninstall"
                else "at the package's version"
            )
            return Guard(in_effect=True, reason=f"every component is {done}")
        return Guard(
            in_effect=False,
            reason=f"{len(pending)} component(s) to do: {_shown(pending)}",
            facts=tuple(p.split(" (")[0] for p in pending),
        )

    def act(self, ctx: StepContext, guard: Guard) -> Acted:
        earlier: frozenset[tuple[str, str, int]] = frozenset()
        if ctx.p.get("strategy") == "command" and ctx.confirmation is None:
            earlier = self._existing_logs(ctx)
            how = self._run_commands(ctx, guard)
        else:
            confirmation = ctx.confirmation or ctx.confirm(self._checklist(ctx))
            how = f"confirmed by {confirmation.by}"
        return Acted(summary=f"{how}; {self._run_checks(ctx, earlier)}")

    def _existing_logs(self, ctx: StepContext) -> frozenset[tuple[str, str, int]]:
        """
        The logs there before this attempt runs the site command (name, last write, size): they
        belong to an earlier attempt, and the checks judge only what this attempt wrote.
        """
        since = deploytool.since_text(ctx.started_at - LOG_MARGIN)
        found: set[tuple[str, str, int]] = set()
        for check in ctx.p.get("checks") or ():
            if check["kind"] == "deploy_logs":
                logs = ctx.call(_LOGS, deploytool.LogsParams(since=since, log_dir=check["log_dir"]))
                found.update(_key(log) for log in logs.logs)
        return frozenset(found)

    def _checklist(self, ctx: StepContext) -> tuple[str, ...]:
        items = [str(i) for i in ctx.p.get("checklist") or ()]
        names = [str(c["name"]) for c in ctx.p.get("components") or ()]
        nodes = [" > ".join(n["path"]) for n in ctx.p.get("nodes") or ()]
        if names:
            items.append(f"Components ({len(names)}): " + "; ".join(names))
        if nodes:
            items.append(f"Nodes ({len(nodes)}): " + "; ".join(nodes))
        return tuple(items)

    def _run_commands(self, ctx: StepContext, guard: Guard) -> str:
        action = ctx.p["action"]
        template = str(ctx.p["command_template"])
        todo = set(guard.facts or ())
        calls: list[tuple[str, deploytool.CommandParams]] = []
        for c in ctx.p.get("components") or ():
            if not todo or c["name"] in todo:
                params = deploytool.site_command(template, action=action, name=c["name"], msi=c["msi"])
                calls.append((f"{action} {c['name']}", params))
        for n in ctx.p.get("nodes") or ():
            calls.append(
                (f"{action} {n['name']}", deploytool.site_command(template, action=action, name=n["name"]))
            )
        if action == "start_deployment":
            calls.append((action, deploytool.site_command(template, action=action)))
        ran = 0
        for n, (unit, params) in enumerate(calls, 1):
            if unit in ctx.units_done:
                continue  # done by an earlier process of this run (journaled): never twice
            ctx.progress(f"{unit} ({n} of {len(calls)})")
            try:
                ctx.call(_COMMAND, params)
            except CommandFailed as exc:
                raise StepFailed(exc.message, hint=exc.hint) from None
            ctx.unit_done(unit)
            ran += 1
        skipped = len(calls) - ran
        earlier = f" ({skipped} done earlier in this run)" if skipped else ""
        return f"the site command ran {ran} time(s){earlier}"

    def _run_checks(self, ctx: StepContext, earlier: frozenset[tuple[str, str, int]] = frozenset()) -> str:
        passed: list[str] = []
        for check in ctx.p.get("checks") or ():
            if check["kind"] == "deploy_logs":
                passed.append(self._logs_check(ctx, check, earlier))
            else:
                passed.append(self._entries_check(ctx, check))
        return "; ".join(passed) if passed else "the manifest declares no check for this step"

    def _logs_check(
        self, ctx: StepContext, check: Mapping[str, Any], earlier: frozenset[tuple[str, str, int]]
    ) -> str:
        since = deploytool.since_text(ctx.started_at - LOG_MARGIN)
        read: deploytool.DeployLogs = ctx.call(
            _LOGS, deploytool.LogsParams(since=since, log_dir=check["log_dir"])
        )
        logs = read.model_copy(update={"logs": tuple(log for log in read.logs if _key(log) not in earlier)})
        if not logs.logs:
            raise StepFailed(
                f"{ctx.host}: no Deployment Tool log in {logs.log_dir} was written since {since}",
                hint="the action did not run: do it in the Deployment Tool, then confirm again and resume",
            )
        if logs.failed:
            bad = [f"{log.name} (returned {log.return_code})" for log in logs.failed]
            raise StepFailed(
                f"{ctx.host}: {len(bad)} of {len(logs.logs)} Deployment Tool logs did not succeed: "
                f"{_shown(bad)}",
                hint=f"read those logs in {logs.log_dir}; the failed action is marked 'Return value 3'",
            )
        return f"{len(logs.logs)} Deployment Tool log(s) succeeded"

    def _entries_check(self, ctx: StepContext, check: Mapping[str, Any]) -> str:
        components = _components(ctx, check["components"])
        entries = _read_entries(ctx, components, check["roles"])
        if check["expect"] == "absent":
            left = [f"{name} ({_shown(where)})" for name, where in entries.old.items()]
            new = sorted(entries.new_somewhere)
            if left or new:
                raise StepFailed(
                    f"{ctx.host}: still installed: {_shown(left + new)}",
                    hint="uninstall them in the Deployment Tool, then confirm the step again and resume",
                )
            return f"{len(components)} components absent on {len(entries.hosts)} host(s)"
        if entries.old:
            left = [f"{name} ({_shown(where)})" for name, where in entries.old.items()]
            raise StepFailed(
                f"{ctx.host}: not at the package's version: {_shown(left)}",
                hint="reinstall them in the Deployment Tool, Start Deployment, then confirm again and resume",
            )
        return f"{len(components)} components at the package's version on {len(entries.hosts)} host(s)"


class Conditional:
    """``conditional``: the wrapped step, when the inventory's override or the OAB count says so."""

    def __init__(self, lookup: Callable[[str], Executor]) -> None:
        self._lookup = lookup

    def _inner(self, ctx: StepContext) -> tuple[Executor, StepContext]:
        inner = ctx.p["step"]
        return self._lookup(str(inner["kind"])), replace(ctx, params=inner["params"])

    def describe(self, step: PlanStep) -> str:
        when = step.params["when"]
        inner = step.params["step"]
        return f"{inner['kind']} {inner['id']} when {when['fact']} >= {when['at_least']}"

    def check(self, ctx: StepContext) -> Guard:
        when = ctx.p["when"]
        override = str(ctx.p.get("override") or "auto")
        if override == "never":
            return Guard(in_effect=True, skipped=True, reason="the override says never")
        if override == "auto":
            facts: host.HostFacts = ctx.call(_FACTS, host.FactsParams(oab=True))
            count = facts.oab_count
            if count is None:
                why = facts.errors.get("oab_count", "unknown error")
                raise StepFailed(
                    f"{ctx.host}: cannot count the offline address books: {why}",
                    hint="set rollup_shared_oab: always or never in the inventory to decide without counting",
                )
            if count < int(when["at_least"]):
                return Guard(
                    in_effect=True,
                    skipped=True,
                    reason=f"{count} offline address books, below {when['at_least']} (limit {when['limit']})",
                )
        executor, inner = self._inner(ctx)
        return executor.check(inner)

    def act(self, ctx: StepContext, guard: Guard) -> Acted:
        executor, inner = self._inner(ctx)
        return executor.act(inner, guard)
