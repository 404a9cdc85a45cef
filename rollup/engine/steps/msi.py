"""
Windows Installer steps: ``msi_install``, ``msi_uninstall``, ``msi_run_twice``.

The guard facts are the host's Uninstall entries (``products.list``, never ``Win32_Product``),
compared with the identity of the package as read on the control host (``rollup.engine.package``):

- ``msi_install`` is in effect when the package's ProductCode is installed, or an entry of its
  ProductName is at its ProductVersion;
- ``msi_uninstall`` is in effect when no entry of that product is at another version (the old
  build is gone; the new one may be there already, on a second run);
- ``msi_run_twice`` (the DNS Client, "run it two times") is in effect as ``msi_install`` is. It
  runs the package, looks again, and runs it a second time only when the first run removed the
  old build without installing the new one.

msiexec's exit code decides an attempt: a code the step lists in ``ok_exit_codes`` is success
(then the guard must hold, or the step fails: msiexec said yes but Windows disagrees); any
other code fails the attempt with msiexec's hint, the failed actions and the log's last lines,
and is retried when the step lists it in ``retry.on_exit_codes`` (1618).
"""

from __future__ import annotations

import ntpath
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rollup.engine.package import LocalFile
from rollup.engine.retry import StepFailed
from rollup.engine.steps.context import Acted, Guard, StepContext, op
from rollup.errors import TransportError
from rollup.ops import host, msi, products
from rollup.ops.msiexec import EXIT_CODES, MsiOutcome
from rollup.ops.products import InstalledEntry
from rollup.ops.restart import RestartParams, RestartScheduled
from rollup.planner import PlanStep

REBOOT_CODES = frozenset({1641, 3010})
RESTART_STARTED = 1641
"""msiexec started a restart of the host (ERROR_SUCCESS_REBOOT_INITIATED)."""
RESTART_PENDING = 3010
"""msiexec succeeded; a restart is needed to finish (ERROR_SUCCESS_REBOOT_REQUIRED)."""
RESTART_POLL_S = 5.0
"""How often a restarting host (msiexec's 1641, ``rollup_reboot_policy: reboot``) is looked at again."""
_LIST = op("products.list")
_INSTALL = op(msi.INSTALL)
_UNINSTALL = op(msi.UNINSTALL)
_FACTS = op("host.facts")
_RESTART = op("host.restart")


def version_key(text: str) -> tuple[int, ...]:
    """A ProductVersion as numbers, four fields (``4.0.2491`` equals ``4.0.2491.0``)."""
    parts = [int(p) if p.isdigit() else 0 for p in text.strip().split(".")]
    return tuple([*parts, 0, 0, 0, 0][:4])


def package_msi(ctx: StepContext, file: Mapping[str, Any]) -> LocalFile:
    """The control-host copy of the package file a step names (``{"name": ...}``), which must be an MSI."""
    local = ctx.package.file(str(file["name"]))
    if local.msi is None:
        raise StepFailed(f"{ctx.host}: {local.name} is not a Windows Installer package")
    return local


def entries_of(ctx: StepContext, local: LocalFile, *, host: str | None = None) -> tuple[InstalledEntry, ...]:
    """The Uninstall entries of the package's product: by its ProductName, or its ProductCode."""
    return entries_of_all(ctx, (local,), host=host)[local.name]


def entries_of_all(
    ctx: StepContext, packages: Sequence[LocalFile], *, host: str | None = None
) -> dict[str, tuple[InstalledEntry, ...]]:
    """
    The Uninstall entries of each package's product (by package name), read in one call: an
    entry belongs to a package whose ProductName or ProductCode it has.
    """
    infos = [(local.name, local.msi) for local in packages if local.msi is not None]
    names = tuple(dict.fromkeys(info.product_name for _, info in infos))
    codes = tuple(dict.fromkeys(info.product_code for _, info in infos))
    found: tuple[InstalledEntry, ...] = ctx.call(
        _LIST, products.ListParams(names=names, product_codes=codes), host=host
    )
    return {
        name: tuple(
            e
            for e in found
            if e.display_name.casefold() == info.product_name.casefold() or e.key.upper() == info.product_code
        )
        for name, info in infos
    }


def is_new(entry: InstalledEntry, local: LocalFile) -> bool:
    """Whether an Uninstall entry is the package's own build."""
    info = local.msi
    assert info is not None
    return entry.key.upper() == info.product_code or version_key(entry.display_version) == version_key(
        info.product_version
    )


def installed_guard(ctx: StepContext, local: LocalFile) -> Guard:
    """In effect when the package's build is installed; otherwise says what is."""
    info = local.msi
    assert info is not None
    entries = entries_of(ctx, local)
    if any(is_new(e, local) for e in entries):
        return Guard(
            in_effect=True, reason=f"{info.product_name} {info.product_version} is installed", facts=entries
        )
    if entries:
        found = ", ".join(f"{e.display_version}" for e in entries)
        return Guard(
            in_effect=False,
            reason=f"{info.product_name} is at {found}, not {info.product_version}",
            facts=entries,
        )
    return Guard(in_effect=False, reason=f"{info.product_name} is not installed", facts=entries)


def replaced(entries: Sequence[InstalledEntry] | None) -> dict[str, str]:
    """What an msi step found installed before it acted: ``replaced.tsv`` (product, version, code)."""
    lines = "".join(f"{e.display_name}\t{e.display_version}\t{e.key}\n" for e in entries or ())
    return {"replaced.tsv": lines} if lines else {}


def _properties(params: Mapping[str, Any]) -> tuple[str, ...]:
    props = params.get("properties") or {}
    return tuple(f"{name}={value}" for name, value in sorted(dict(props).items()))


def _ok_codes(params: Mapping[str, Any], default: tuple[int, ...]) -> frozenset[int]:
    return frozenset(int(c) for c in params.get("ok_exit_codes") or default)


_ACTION_ENDED = re.compile(r"Action ended [0-9:]+: (?P<name>.+?)\. Return value 3\.")


def failed_action(lines: Sequence[str]) -> str:
    """
    The action that failed: the first ``Return value 3`` line of the log names it. Windows
    Installer then ends every enclosing action (the top-level ``INSTALL`` last) with return
    value 3 too, so the last such line never tells what went wrong. Empty when there is none.
    """
    if not lines:
        return ""
    first = lines[0].strip()
    found = _ACTION_ENDED.search(first)
    return found.group("name") if found else first


def judge(ctx: StepContext, outcome: MsiOutcome, ok_codes: frozenset[int], what: str) -> None:
    """Raise ``StepFailed`` (with msiexec's hint and log tail) unless the exit code is one of ``ok_codes``."""
    if outcome.exit_code in ok_codes:
        return
    name = EXIT_CODES.get(outcome.exit_code, "")
    label = f"{outcome.exit_code} ({name})" if name else str(outcome.exit_code)
    failed = failed_action(outcome.failed_actions)
    actions = f"; failed action: {failed}" if failed else ""
    raise StepFailed(
        f"{ctx.host}: {what}: msiexec exited {label}{actions}; log {outcome.log}",
        remote_code=outcome.exit_code,
        hint=outcome.hint,
        log_tail=outcome.log_tail,
    )


def _reboot_notice(ctx: StepContext, outcome: MsiOutcome) -> tuple[str, ...]:
    """
    The notice of a restart msiexec asked for (3010) or started (1641), journaled at once as a
    unit of the step, so a controller killed right after the install still leaves the record.
    """
    if outcome.exit_code not in REBOOT_CODES:
        return ()
    what = (
        "it started a restart of the host"
        if outcome.exit_code == RESTART_STARTED
        else "a restart of the host is pending"
    )
    text = f"{ctx.host}: msiexec exited {outcome.exit_code}: {what}"
    ctx.unit_done(f"msiexec exited {outcome.exit_code} ({outcome.log})")
    return (text,)


def reported_code(codes: Sequence[int]) -> int:
    """The exit code a step of several msiexec runs reports: a restart started (1641) or asked
    for (3010) by any run, else the last run's code."""
    for wanted in (RESTART_STARTED, RESTART_PENDING):
        if wanted in codes:
            return wanted
    return codes[-1] if codes else 0


RESTART_REASON = "rollup: a restart was pending before msiexec (rollup_reboot_policy: reboot)"
"""The comment ``host.restart`` leaves in the host's event log."""


@dataclass(frozen=True, slots=True)
class Ready:
    """What ``ready_for_msiexec`` found: the host's boot time (to tell a restart by) and notices."""

    boot_time: str | None
    notices: tuple[str, ...] = ()


def ready_for_msiexec(ctx: StepContext) -> Ready:
    """
    Before msiexec runs on a host: read its facts once. A restart already pending there (a file
    rename, Windows Update, CBS, an earlier msiexec's 3010) follows the inventory's
    ``rollup_reboot_policy``: ``stop`` (the default) fails the step with the reasons, ``ignore``
    goes on, ``reboot`` restarts the host through WinRM, waits until it has booted again (within
    the step's timeout) and goes on if no restart is pending any more.
    """
    facts: host.HostFacts = ctx.call(_FACTS, host.FactsParams())
    policy = ctx.hosts.inventory.settings.reboot_policy
    if not facts.pending_reboot or policy == "ignore":
        return Ready(facts.boot_time)
    reasons = ", ".join(facts.pending_reboot)
    if policy == "stop":
        raise StepFailed(
            f"{ctx.host}: a restart is pending ({reasons}): "
            "rollup_reboot_policy is stop, so msiexec does not run",
            hint="restart the host, then resume the run; or set rollup_reboot_policy: reboot (rollup "
            "restarts it) or ignore (install with the restart pending) in the inventory",
        )
    scheduled: RestartScheduled = ctx.call(_RESTART, RestartParams(reason=RESTART_REASON))
    ctx.unit_done(f"restart of {ctx.host} scheduled: a restart was pending ({reasons})")
    booted = wait_for_boot(ctx, scheduled.boot_time)
    if booted.pending_reboot:
        raise StepFailed(
            f"{ctx.host}: restarted, and a restart is still pending ({', '.join(booted.pending_reboot)})",
            hint="look at the host (an update that asks for one restart after another); "
            "resume the run once no restart is pending",
        )
    return Ready(booted.boot_time, (f"{ctx.host}: restarted by rollup: a restart was pending ({reasons})",))


def after_msiexec(ctx: StepContext, code: int, boot_time: str | None) -> str | None:
    """
    After msiexec exited ``code``: with 1641 the installer is restarting the host, so wait until
    it has booted again and give its new boot time; any other code: ``boot_time`` as it was.
    """
    if code != RESTART_STARTED:
        return boot_time
    return wait_for_boot(ctx, boot_time).boot_time


def wait_for_boot(ctx: StepContext, before: str | None) -> host.HostFacts:
    """
    The host's facts once it answers after a restart: its boot time is not ``before`` any more
    (when ``before`` is unknown: it answers after having not answered). While it does not answer
    (a transient transport error) or has not restarted yet, look again every ``RESTART_POLL_S``,
    within the step's timeout.

    Raises:
        StepFailed: it did not come back, restarted, within the step's timeout.
        TransportError: an error that is not transient (refused credentials).
    """
    deadline = time.monotonic() + ctx.step.timeout_s
    went_down = False
    ctx.progress(f"waiting for {ctx.host} to restart")
    while True:
        try:
            facts: host.HostFacts = ctx.call(_FACTS, host.FactsParams())
        except TransportError as exc:
            if not exc.transient:
                raise
            went_down = True
        else:
            if facts.boot_time != before if before is not None else went_down:
                return facts
        if time.monotonic() + RESTART_POLL_S > deadline:
            raise StepFailed(
                f"{ctx.host}: did not come back restarted within {ctx.step.timeout_s:.0f} s",
                hint="look at the host's console; resume the run once it answers",
            )
        time.sleep(RESTART_POLL_S)


def install(ctx: StepContext, local: LocalFile, *, what: str, of: str = "") -> MsiOutcome:
    """``msiexec /i`` of the package as it lies in the step's ``from_dir`` on the host (``of``: which run)."""
    path = ntpath.join(str(ctx.p["from_dir"]), local.name)
    params = msi.InstallParams(path=path, log=ctx.log_path(what), properties=_properties(ctx.p))
    ctx.progress(f"msiexec /i {local.name}" + (f" ({of})" if of else ""))
    outcome: MsiOutcome = ctx.call(_INSTALL, params)
    return outcome


class MsiInstall:
    """``msi_install``: install the package unless its build is installed."""

    def describe(self, step: PlanStep) -> str:
        return f"msiexec /i {ntpath.join(str(step.params['from_dir']), str(step.params['file']['name']))}"

    def check(self, ctx: StepContext) -> Guard:
        return installed_guard(ctx, package_msi(ctx, ctx.p["file"]))

    def act(self, ctx: StepContext, guard: Guard) -> Acted:
        local = package_msi(ctx, ctx.p["file"])
        ready = ready_for_msiexec(ctx)
        outcome = install(ctx, local, what="install")
        judge(ctx, outcome, _ok_codes(ctx.p, (0, 1641, 3010)), f"installing {local.name}")
        notices = (*ready.notices, *_reboot_notice(ctx, outcome))
        after_msiexec(ctx, outcome.exit_code, ready.boot_time)
        after = installed_guard(ctx, local)
        if not after.in_effect:
            raise StepFailed(
                f"{ctx.host}: msiexec exited {outcome.exit_code} but {after.reason}",
                remote_code=outcome.exit_code,
            )
        return Acted(
            summary=f"installed {after.reason.removesuffix(' is installed')}",
            remote_code=outcome.exit_code,
            notices=notices,
            evidence=replaced(guard.facts),
        )


class MsiUninstall:
    """``msi_uninstall``: remove every installed build of the product other than the package's own."""

    def describe(self, step: PlanStep) -> str:
        return f"msiexec /x the installed product that {step.params['product_of']['name']} replaces"

    def check(self, ctx: StepContext) -> Guard:
        local = package_msi(ctx, ctx.p["product_of"])
        info = local.msi
        assert info is not None
        entries = entries_of(ctx, local)
        old = tuple(e for e in entries if not is_new(e, local))
        if not old:
            return Guard(in_effect=True, reason=f"no older {info.product_name} is installed", facts=old)
        versions = ", ".join(e.display_version for e in old)
        return Guard(in_effect=False, reason=f"{info.product_name} {versions} is installed", facts=old)

    def act(self, ctx: StepContext, guard: Guard) -> Acted:
        ok = _ok_codes(ctx.p, (0, 1605, 1641, 3010))
        removed: list[str] = []
        notices: list[str] = []
        codes: list[int] = []
        ready = ready_for_msiexec(ctx)
        notices.extend(ready.notices)
        boot = ready.boot_time
        for entry in guard.facts:
            params = msi.UninstallParams(
                target=entry.key, log=ctx.log_path(f"uninstall-{entry.display_version}")
            )
            ctx.progress(f"msiexec /x {entry.display_name} {entry.display_version}")
            outcome = ctx.call(_UNINSTALL, params)
            judge(ctx, outcome, ok, f"removing {entry.display_name} {entry.display_version}")
            removed.append(f"{entry.display_name} {entry.display_version} ({entry.key})")
            notices.extend(_reboot_notice(ctx, outcome))
            codes.append(outcome.exit_code)
            boot = after_msiexec(ctx, outcome.exit_code, boot)
        code = reported_code(codes)
        after = self.check(ctx)
        if not after.in_effect:
            raise StepFailed(f"{ctx.host}: after msiexec /x, {after.reason}", remote_code=code)
        return Acted(
            summary="removed " + "; ".join(removed),
            remote_code=code,
            notices=tuple(notices),
            evidence=replaced(guard.facts),
        )


class MsiRunTwice:
    """``msi_run_twice``: run the package, and once more if the first run only removed the old build."""

    def describe(self, step: PlanStep) -> str:
        path = ntpath.join(str(step.params["from_dir"]), str(step.params["file"]["name"]))
        return f"msiexec /i {path}, two times"

    def check(self, ctx: StepContext) -> Guard:
        return installed_guard(ctx, package_msi(ctx, ctx.p["file"]))

    def act(self, ctx: StepContext, guard: Guard) -> Acted:
        local = package_msi(ctx, ctx.p["file"])
        ok = _ok_codes(ctx.p, (0, 1641, 3010))
        notices: list[str] = []
        codes: list[int] = []
        ready = ready_for_msiexec(ctx)
        notices.extend(ready.notices)
        boot = ready.boot_time
        for run in (1, 2):
            outcome = install(ctx, local, what=f"run{run}", of=f"run {run} of 2")
            judge(ctx, outcome, ok, f"run {run} of {local.name}")
            notices.extend(_reboot_notice(ctx, outcome))
            codes.append(outcome.exit_code)
            boot = after_msiexec(ctx, outcome.exit_code, boot)
            after = installed_guard(ctx, local)
            if after.in_effect:
                runs = "one run" if run == 1 else "two runs"
                return Acted(
                    summary=f"{after.reason} after {runs}",
                    remote_code=reported_code(codes),
                    notices=tuple(notices),
                    evidence=replaced(guard.facts),
                )
        raise StepFailed(
            f"{ctx.host}: after two runs of {local.name}, {after.reason}", remote_code=reported_code(codes)
        )
