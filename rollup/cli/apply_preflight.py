"""
The pre-flight ``rollup apply`` and ``rollup rollback`` run before their first change
(docs/verify.md, docs/apply.md, docs/rollback.md).

``preflight_gate`` runs ``rollup.preflight.run_preflight`` on the hosts the run will work on
(for ``--resume``, the hosts that still have steps to do), prints every check that did not pass,
and refuses the run (``RunFailed``, exit 1, nothing changed) unless every check passed.
``--skip-preflight --reason TEXT`` starts without it; the override is audited by the run.
With ``--dry-run`` the result is shown and nothing is refused.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from rollup.errors import UsageError

if TYPE_CHECKING:
    from rollup.checks import Check, HostReport, Report
    from rollup.engine.options import RunSetup
    from rollup.engine.rundir import RunDir

OVERRIDE_KIND = "preflight_skipped"
"""The audit log's ``override_recorded`` kind of ``--skip-preflight``."""

RESUME_IGNORES = frozenset({"products"})
"""Check groups a resume does not hold against a host: HMC 4.0's components are absent half-way
through the rollup (uninstalled by the run, not yet reinstalled)."""

KEPT = frozenset({"done", "noop", "skipped", "skipped-by-operator", "excluded"})
"""Journal statuses of steps a resume keeps: their hosts have nothing left to do for them."""


def skip_override(skip: bool, reason: str | None) -> tuple[tuple[str, str], ...]:
    """The override ``--skip-preflight --reason TEXT`` records; a usage error without a reason."""
    if not skip:
        return ()
    if not reason or not reason.strip():
        raise UsageError("--skip-preflight needs --reason TEXT: why the run starts without its pre-flight")
    return ((OVERRIDE_KIND, reason.strip()),)


def hosts_with_work(setup: RunSetup, run: RunDir | None) -> tuple[str, ...]:
    """
    Every host of the plan; for a resume, the hosts with a step not yet done, a no-op or skipped
    (by its condition or an operator), except the hosts an operator excluded from the run.
    """
    if run is None:
        return setup.plan.hosts()
    from rollup.engine.journal import read_journal
    from rollup.engine.journal_state import replay

    state = replay(read_journal(run.journal_path).entries, is_live=False)
    open_hosts = {s.host for s in setup.plan.steps if state.status(s.id).value not in KEPT}
    open_hosts -= set(state.excluded)
    return tuple(h for h in setup.plan.hosts() if h in open_hosts)


def delete_stale_shells(setup: RunSetup, run: RunDir, console: Console) -> None:
    """Before a resume contacts its hosts: delete the shells earlier processes of the run left open."""
    from rollup.engine.shells import delete_stale_shells as delete
    from rollup.engine.steps.context import Hosts

    hosts = Hosts(setup.inventory, setup.transports, setup.credentials, setup.registry)
    try:
        delete(run, hosts, lambda text: console.print(text, markup=False))
    finally:
        hosts.close()


def preflight_gate(
    setup: RunSetup,
    folder: Path | None,
    console: Console,
    *,
    forks: int,
    run: RunDir | None,
    dry_run: bool,
    reinstalls: bool = False,
) -> Report | None:
    """
    Pre-flight of the hosts the run will change, and of the package in ``folder``; prints what
    failed. ``folder`` ``None``: the run's package is not a folder (a rollback's comes from the
    backups, checked by the rollback itself), so the control host is not checked. A resume, and
    a run that ``reinstalls`` every component it finds (a rollback), do not hold HMC 4.0's
    components being absent against a host: an earlier run may have uninstalled them.

    Returns:
        The report (``None`` when no host has work left).

    Raises:
        RunFailed: a check did not pass (not with ``dry_run``).
    """
    from rollup.errors import RunFailed
    from rollup.preflight import preflight_failed, run_preflight

    names = hosts_with_work(setup, run)
    if not names:
        return None
    chosen = {n.casefold() for n in names}
    inventory = dataclasses.replace(
        setup.inventory, hosts=tuple(h for h in setup.inventory.hosts if h.name.casefold() in chosen)
    )
    report = run_preflight(
        setup.manifest,
        inventory,
        transports=setup.transports,
        credentials=setup.credentials,
        package_dir=folder,
        forks=forks,
        check_package=folder is not None,
    )
    failures = report.failures()
    if setup.inventory.settings.reboot_policy != "stop":  # the run restarts the host, or installs anyway
        failures = tuple((host, c) for host, c in failures if c.name != "pending reboot")
    if run is not None or reinstalls:  # the run itself uninstalls components before it installs them again
        failures = tuple((host, c) for host, c in failures if c.group not in RESUME_IGNORES)
    if not failures:
        ignored = len(report.failures())
        aside = f" ({ignored} about HMC 4.0's components, which the run reinstalls)" if ignored else ""
        console.print(f"pre-flight passed: {report.summary()}{aside}", markup=False)
        return report
    console.print(f"pre-flight failed: {len(failures)} check(s) did not pass:")
    for host, c in failures:
        detail = f" ({c.detail})" if c.detail else ""
        console.print(f"  {host}: {c.name}: {c.actual} [{c.status.value}]{detail}", markup=False)
    if dry_run:
        console.print("the run would refuse to start (or give --skip-preflight --reason TEXT)")
        return report
    refused = preflight_failed(dataclasses.replace(report, hosts=_only(report, failures)))
    raise RunFailed(
        str(refused),
        hint=f"`rollup preflight --inventory {inventory.source}` shows every check; fix them and run again, "
        'or start anyway with --skip-preflight --reason "..." (audited)',
    )


def _only(report: Report, failures: tuple[tuple[str, Check], ...]) -> tuple[HostReport, ...]:
    """The report's hosts holding only ``failures`` (what refuses the run)."""
    from rollup.checks import HostReport

    kept = [(h, tuple(c for name, c in failures if name == h.host)) for h in report.hosts]
    return tuple(HostReport(host=h.host, roles=h.roles, checks=checks) for h, checks in kept if checks)
