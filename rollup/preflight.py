"""
Pre-flight: whether a fleet is ready for the rollup, read without changing anything.

The checks operators run before a change window (reachability, free disk, required software,
services: docs/verify.md has the table), adapted to KB2492954. Per host, through one session
and two read-only scripts (``host.facts`` and ``verify.facts``):

- WinRM reachable and authenticated (a failure is this check's result, with the error's text);
- the operating system (Windows Server 2003 or 2008) and its service pack (WMF 2.0, which
  brings PowerShell 2.0 and WinRM 2.0 to 2003, needs SP2), PowerShell 2.0 or later;
- free space on C: (at least 1 GB unless told otherwise), no pending reboot, Windows
  Installer not busy, the account a member of Domain Admins (a KB prerequisite);
- HMC 4.0 present: the Uninstall entries of the components the host's roles carry;
- the services its roles run (IIS, SQL Server, MSDTC), running;
- on the Deployment Tool host: the Deployment Tool installed, ``C:\\MSIShare`` writable by the
  account (read from its ACL: nothing is written);
- on MPS engines: each COM+ application the rollup restarts, present and enabled.

And on the control host: the package folder holds every file at the KB's size, and at the
pinned SHA-256, ProductCode and ProductVersion when the manifest is pinned.

``run_preflight`` returns the ``Report``; ``rollup apply`` calls it first and stops, changing
nothing, unless ``report.passed`` (``preflight_failed`` makes the error to raise).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path

from rollup.checks import CONTROL_HOST, Check, HostReport, Report, Status, check
from rollup.credentials import CredentialCache
from rollup.errors import PackageError, RunFailed
from rollup.identity import expected_computer, mismatch
from rollup.model.inventory import Host, Inventory
from rollup.model.manifest import Manifest
from rollup.model.roles import Role
from rollup.model.steps import ComplusRestartStep
from rollup.ops.host import FactsParams, HostFacts
from rollup.ops.registry import operation
from rollup.ops.verify import FACTS, Unreadable, VerifyFacts, VerifyParams
from rollup.pin import mismatches, read_local
from rollup.survey import DEFAULT_FORKS, ReadSession, survey
from rollup.transport.base import TransportRegistry
from rollup.verify import components_on, entries_of, is_pinned, product_filter, steps_on

GIB = 1024**3
DEFAULT_MIN_FREE_BYTES = GIB

SERVICES: Mapping[Role, tuple[str, ...]] = {
    Role.DNS: ("W3SVC",),
    Role.COLLAB: ("W3SVC",),
    Role.WEB_SERVICES: ("W3SVC",),
    Role.MPSSQL: ("MSSQLSERVER",),
    Role.MPS_ENGINE: ("MSDTC",),
}
"""The services a role's host must be running: IIS where the rollup restarts it, SQL Server where
its objects are checked, MSDTC where the Provisioning Engine runs."""

OPERATING_SYSTEMS: Mapping[str, tuple[str, int]] = {
    "5.2": ("Windows Server 2003", 2),
    "6.0": ("Windows Server 2008", 1),
    "6.1": ("Windows Server 2008 R2", 0),
}
"""Windows versions HMC 4.0 runs on, with the service pack WMF 2.0 (PowerShell 2.0) needs there."""


def preflight_params(manifest: Manifest, roles: Iterable[Role]) -> VerifyParams:
    """What ``verify.facts`` reads for pre-flight: the roles' components, COM+ applications, services."""
    wanted = frozenset(roles)
    names, codes = product_filter(manifest, [c for c in components_on(manifest, wanted) if not c.conditional])
    return VerifyParams(
        product_names=names,
        product_codes=codes,
        complus=tuple(dict.fromkeys(s.application for s in steps_on(manifest, ComplusRestartStep, wanted))),
        services=tuple(dict.fromkeys(name for role in sorted(wanted) for name in SERVICES.get(role, ()))),
    )


def host_checks(
    manifest: Manifest, host: Host, facts: HostFacts, more: VerifyFacts, *, min_free_bytes: int
) -> tuple[Check, ...]:
    """The pre-flight checks of one host that answered (see the module docstring)."""
    checks = [check("session", host.session_name, "reachable and authenticated", "answered", Status.OK)]
    problem = mismatch(host, facts)
    expected = f"computer {expected_computer(host)}"
    if problem is not None:
        checks.append(check("session", "identity", expected, problem[0], Status.FAIL, problem[1]))
        return tuple(checks)
    checks.append(check("session", "identity", expected, f"computer {facts.computer.upper()}", Status.OK))
    checks += _system(facts, min_free_bytes)
    checks += _hmc(manifest, host, more)
    checks += _services(more)
    if Role.DEPLOYMENT_TOOL in host.roles:
        checks += _deployment_tool(manifest, facts)
    checks += _complus(more)
    return tuple(checks)


def _system(facts: HostFacts, min_free_bytes: int) -> list[Check]:
    checks: list[Check] = []

    def add(
        name: str, expected: str, actual: str, passed: bool, why: str, *, read: object = "", key: str = ""
    ) -> None:
        if read is None:
            unread = facts.errors.get(key, "not read")
            checks.append(check("host", name, expected, unread, Status.ERROR, "the fact could not be read"))
        else:
            checks.append(check("host", name, expected, actual, _ok(passed), "" if passed else why))

    version = ".".join((facts.os_version or "").split(".")[:2])
    os_name, needed = OPERATING_SYSTEMS.get(version, ("", 0))
    known = "Windows Server 2003, 2008 or 2008 R2"
    add(
        "operating system",
        known,
        f"{facts.os_caption} ({facts.os_version})",
        bool(os_name),
        "HMC 4.0 runs on Windows Server 2003 or 2008",
        read=facts.os_version,
        key="os",
    )
    pack = f"SP{needed} or later on {os_name}" if os_name else "a supported Windows version"
    add(
        "service pack",
        pack,
        f"SP{facts.service_pack}",
        bool(os_name) and (facts.service_pack or 0) >= needed,
        "WMF 2.0 (PowerShell 2.0 and WinRM 2.0) needs it",
        read=facts.service_pack,
        key="os",
    )
    add(
        "PowerShell",
        "2.0 or later",
        facts.ps_version,
        _major(facts.ps_version) >= 2,
        "rollup's scripts need it",
    )
    free = facts.free_bytes or 0
    add(
        "free space on C:",
        f"at least {min_free_bytes / GIB:g} GB",
        f"{free / GIB:.1f} GB",
        free >= min_free_bytes,
        "the rollup's files, backups and logs need room",
        read=facts.free_bytes,
        key="free_bytes",
    )
    add(
        "pending reboot",
        "none",
        ", ".join(facts.pending_reboot or ()) or "none",
        not facts.pending_reboot,
        "restart the host before the rollup",
        read=facts.pending_reboot,
        key="pending_reboot",
    )
    add(
        "Windows Installer",
        "idle",
        "busy" if facts.msi_busy else "idle",
        not facts.msi_busy,
        "another installation holds the _MSIExecute mutex: msiexec would exit 1618",
        read=facts.msi_busy,
        key="msi_busy",
    )
    member = f"member of {facts.admin_group}" if facts.domain_admin else "not a member"
    add(
        "Domain Admins",
        "member",
        f"{facts.identity}: {member}",
        bool(facts.domain_admin),
        "the KB requires a member of Domain Admins",
        read=facts.domain_admin,
        key="identity",
    )
    return checks


def _major(version: str) -> int:
    head = version.split(".", maxsplit=1)[0]
    return int(head) if head.isdigit() else 0


def _ok(passed: bool) -> Status:
    return Status.OK if passed else Status.FAIL


def _hmc(manifest: Manifest, host: Host, more: VerifyFacts) -> list[Check]:
    components = [c for c in components_on(manifest, host.roles) if not c.conditional]
    if not components or more.products is None:
        return []
    expected = f"the Uninstall entries of its {len(components)} HMC 4.0 component(s)"
    if isinstance(more.products, Unreadable):
        return [check("products", "HMC 4.0", expected, more.products.message, Status.ERROR, "not read")]
    listed = more.products
    missing = [c.name for c in components if not entries_of(c, manifest.file(c.msi).product_code, listed)]
    found = len(components) - len(missing)
    detail = f"not installed: {', '.join(missing)}" if missing else ""
    actual = f"{found} of {len(components)} installed"
    return [check("products", "HMC 4.0", expected, actual, _ok(found > 0), detail)]


def _services(more: VerifyFacts) -> list[Check]:
    if more.services is None:
        return []
    if isinstance(more.services, Unreadable):
        return [check("services", "services", "running", more.services.message, Status.ERROR, "not read")]
    states = more.services.services
    return [
        check("services", f"service {s.query}", "running", (s.state or "?") if s.found else "not installed",
              _ok(s.running))
        for s in states
    ]  # fmt: skip


def _deployment_tool(manifest: Manifest, facts: HostFacts) -> list[Check]:
    checks = []
    found = [
        w for w in ("MpsConfig.xml" if facts.deploytool_config else "", facts.deploytool_entry or "") if w
    ]
    if facts.deploytool_config is None:
        unread = facts.errors.get("deploytool", "not read")
        checks.append(check("deploytool", "Deployment Tool", "installed", unread, Status.ERROR, "not read"))
    else:
        installed = facts.deploytool_installed
        actual = f"installed ({', '.join(found)})" if installed else "not found"
        why = "" if installed else "a KB prerequisite: install the HMC Deployment Tool on this host"
        checks.append(check("deploytool", "Deployment Tool", "installed", actual, _ok(installed), why))
    share, state = manifest.package.msishare, facts.msishare
    expected = "exists, and its ACL lets the account create files"
    if state is None:
        checks.append(
            check("deploytool", share, expected, facts.errors.get("msishare", "not read"), Status.ERROR)
        )
    else:
        actual = "writable" if state.writable else ("not writable" if state.exists else "missing")
        passed = state.exists and state.writable
        why = "" if passed else "the rollup backs up and copies the MSI files there"
        checks.append(check("deploytool", share, expected, actual, _ok(passed), why))
    return checks


def _complus(more: VerifyFacts) -> list[Check]:
    checks = []
    for name, state in more.complus.items():
        label = f"COM+ {name}"
        if isinstance(state, Unreadable):
            checks.append(check("complus", label, "present and enabled", state.message, Status.ERROR))
        elif not state.found:
            checks.append(check("complus", label, "present and enabled", "not found", Status.FAIL))
        else:
            actual = ("enabled" if state.enabled else "disabled") + (
                ", running" if state.running else ", stopped"
            )
            detail = "" if state.enabled else "enable it first: the rollup restarts it"
            checks.append(
                check("complus", label, "present and enabled", actual, _ok(bool(state.enabled)), detail)
            )
    return checks


def package_checks(manifest: Manifest, folder: Path | None) -> HostReport:
    """The control host's checks: the package folder holds the manifest's files (see the module docstring)."""
    if folder is None:
        why = "give --package-dir, or set rollup_package_dir in the inventory"
        only = check("package", "package folder", "a folder", "none given", Status.FAIL, why)
        return HostReport(host=CONTROL_HOST, roles=(), checks=(only,))
    pinned = is_pinned(manifest)
    try:
        found = read_local(manifest, folder, identity=pinned)
    except PackageError as exc:
        only = check("package", "package folder", str(folder), str(exc), Status.FAIL)
        return HostReport(host=CONTROL_HOST, roles=(), checks=(only,))
    checks = []
    for f in found:
        entry = manifest.file(f.name)
        expected = f"{entry.size_bytes:,} bytes" + (
            f", SHA-256 {(entry.sha256 or '')[:16]}..." if pinned else ""
        )
        problems = mismatches(manifest, [f]) if pinned or f.size != entry.size_bytes else ()
        actual = "missing" if f.size is None else f"{f.size:,} bytes"
        if pinned and f.sha256:
            actual += f", SHA-256 {f.sha256[:16]}..."
        detail = "; ".join(p.removeprefix(f"{f.name}: ") for p in problems)
        if not problems and not pinned:
            detail = "the manifest is not pinned: sizes only"
        checks.append(check("package", f.name, expected, actual, _ok(not problems), detail))
    return HostReport(host=CONTROL_HOST, roles=(), checks=tuple(checks))


def run_preflight(
    manifest: Manifest,
    inventory: Inventory,
    *,
    transports: TransportRegistry,
    credentials: CredentialCache,
    package_dir: Path | None = None,
    forks: int = DEFAULT_FORKS,
    min_free_bytes: int = DEFAULT_MIN_FREE_BYTES,
    check_package: bool = True,
) -> Report:
    """
    Pre-flight of every host of ``inventory`` (as narrowed by ``--limit``) and, with
    ``check_package``, of the package folder (``package_dir``, else the inventory's
    ``rollup_package_dir``). Changes nothing.

    ``rollup apply`` calls it before anything else::

        report = run_preflight(manifest, inventory, transports=..., credentials=..., package_dir=folder)
        if not report.passed:
            raise preflight_failed(report)

    Raises:
        CredentialError: a host's credentials cannot be resolved. Everything a host raises is
            in the report, as that host's failed ``WinRM session`` check.
    """
    started_at = datetime.now(UTC)
    started = time.monotonic()
    facts_op = operation("host.facts")
    if facts_op is None:
        raise RuntimeError("the host.facts operation is not registered")
    host_params = FactsParams(msishare=manifest.package.msishare)
    wanted = {host.name: preflight_params(manifest, host.roles) for host in inventory.hosts}

    def read(host: Host, session: ReadSession) -> tuple[HostFacts, VerifyFacts]:
        facts: HostFacts = session.call(facts_op, host_params)
        params = wanted[host.name]
        return facts, (VerifyFacts() if params.empty else session.call(FACTS, params))

    hosts = [package_checks(manifest, package_dir or inventory.settings.package_dir)] if check_package else []
    readings = survey(inventory.hosts, read, transports=transports, credentials=credentials, forks=forks)
    for r in readings:
        if r.value is None:
            failed = check("session", r.host.session_name, "reachable and authenticated",
                           r.error or "no answer", Status.FAIL, "the host could not be checked")  # fmt: skip
            checks: tuple[Check, ...] = (failed,)
        else:
            checks = host_checks(manifest, r.host, *r.value, min_free_bytes=min_free_bytes)
        roles = tuple(sorted(role.value for role in r.host.roles))
        hosts.append(HostReport(host=r.host.name, roles=roles, checks=checks, requests=r.requests,
                                duration_s=r.duration_s))  # fmt: skip
    return Report(
        kind="preflight",
        manifest_id=manifest.metadata.id,
        manifest_digest=manifest.digest(),
        pinned=is_pinned(manifest),
        inventory=inventory.source,
        hosts=tuple(hosts),
        started_at=started_at,
        duration_s=time.monotonic() - started,
    )


def preflight_failed(report: Report) -> RunFailed:
    """The one-line error ``rollup apply`` raises when pre-flight did not pass, naming the first failures."""
    failures = report.failures()
    hosts = len({host for host, _ in failures})
    shown = "; ".join(f"{host}: {c.name}: {c.actual}" for host, c in failures[:3])
    more = f" and {len(failures) - 3} more" if len(failures) > 3 else ""
    return RunFailed(
        f"pre-flight failed: {len(failures)} check(s) on {hosts} host(s): {shown}{more}; nothing was changed",
        hint="`rollup preflight` shows every check; fix them, then run again",
    )
