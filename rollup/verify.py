"""
Verify, the pure part: what each host should have (from the manifest and its roles), and the
checks that compare it with what ``verify.facts`` read there.

Per host and role (docs/verify.md has the table):

- ``deployment_tool``: every file of ``C:\\MSIShare`` (the manifest's ``to_msishare`` files): its
  size against the KB's table, its last write time (UTC, to the minute) against the KB's date,
  and, once the manifest is pinned, its SHA-256 and ProductVersion against the pinned ones;
- every role: the Uninstall entries of the components installed there, against the
  ProductVersion of the rollup's MSI for the component (pinned; unpinned is ``unknown``, never a
  silent pass). Which components live where comes from the manifest itself: a Deployment Tool
  component on the roles of its ``uninstall_entries`` check (``new_version``), any other on the
  roles of the step that installs its MSI;
- ``dns``: the IIS directory security each ``iis_setting`` step sets;
- ``mpssql``: the index, procedures and functions of the manifest's ``sql`` section, the KB's
  ``SeleteAndAssemble...`` spellings matched exactly and a near miss reported as such;
- ``mps_engine``: each ``complus_restart`` step's COM+ application, running;
- every role: the files each component's package installed (``rollup.verify_installed``).

A component is found by its Uninstall entry's DisplayName (the component's name or its MSI's
file name, compared by ``name_key``) or by the pinned ProductCode. A Deployment Tool component
lives on some hosts of its roles, not necessarily all (the tool puts namespaces on MPS engines
and web services on web-services servers): absent from one host is fine, absent from every
checked host of its roles is drift. A component installed only under a condition
(SharedOABUtility) is fine when absent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import PureWindowsPath
from typing import TypeVar

from rollup.checks import Check, HostReport, Status, check
from rollup.model.fields import windows_key
from rollup.model.inventory import Host
from rollup.model.manifest import Manifest, PackageFile
from rollup.model.roles import Role
from rollup.model.steps import (
    ComplusRestartStep,
    ConditionalStep,
    DeploymentToolStep,
    IisSettingStep,
    MsiInstallStep,
    MsiRunTwiceStep,
    SqlObjectsCheckStep,
    Step,
    UninstallEntriesCheck,
)
from rollup.ops.files import FileStat
from rollup.ops.iis import VdirSecurity
from rollup.ops.products import InstalledEntry
from rollup.ops.sql import params_for
from rollup.ops.verify import Unreadable, VdirMissing, VerifyFacts, VerifyParams, name_key, sql_group
from rollup.verify_installed import expected_files, installed_checks, read_params

S = TypeVar("S", bound=Step)


@dataclass(frozen=True, slots=True, kw_only=True)
class ExpectedComponent:
    """A component and the roles of the hosts it is installed on."""

    name: str
    msi: str
    roles: frozenset[Role]
    tool: bool
    """Installed by the Deployment Tool: on some hosts of its roles, not necessarily all."""
    conditional: bool
    """Installed only when a conditional step's condition holds."""

    def name_keys(self) -> tuple[str, ...]:
        """The ``name_key``s its Uninstall entry may carry: the component's and its MSI's names."""
        return tuple(dict.fromkeys((name_key(self.name), name_key(PureWindowsPath(self.msi).stem))))


def expected_components(manifest: Manifest) -> tuple[ExpectedComponent, ...]:
    """Every component whose hosts the manifest tells (see the module docstring), in manifest order."""
    tool: dict[str, set[Role]] = {}
    for step in steps_on(manifest, DeploymentToolStep):
        for entries in step.checks:
            if isinstance(entries, UninstallEntriesCheck) and entries.expect == "new_version":
                for name in entries.components:
                    tool.setdefault(name, set()).update(entries.roles)
    installs: dict[str, tuple[set[Role], bool]] = {}
    for top in manifest.steps:
        inner = top.step if isinstance(top, ConditionalStep) else top
        if isinstance(inner, MsiInstallStep | MsiRunTwiceStep):
            roles, conditional = installs.get(windows_key(inner.file), (set(), True))
            installs[windows_key(inner.file)] = (roles | set(inner.roles), conditional and inner is not top)
    found = []
    for c in manifest.components:
        if c.name in tool:
            roles, tool_made, conditional = tool[c.name], True, False
        elif windows_key(c.msi) in installs:
            (roles, conditional), tool_made = installs[windows_key(c.msi)], False
        else:
            continue
        found.append(
            ExpectedComponent(
                name=c.name, msi=c.msi, roles=frozenset(roles), tool=tool_made, conditional=conditional
            )
        )
    return tuple(found)


def steps_on(manifest: Manifest, kind: type[S], roles: Iterable[Role] | None = None) -> list[S]:
    """The steps (wrapped ones included) of ``kind`` that run on a host of ``roles`` (any, if None)."""
    wanted = None if roles is None else frozenset(roles)
    return [
        s for s in manifest.all_steps() if isinstance(s, kind) and (wanted is None or wanted & set(s.roles))
    ]


def components_on(manifest: Manifest, roles: Iterable[Role]) -> tuple[ExpectedComponent, ...]:
    """The components installed on a host of ``roles``."""
    wanted = set(roles)
    return tuple(c for c in expected_components(manifest) if c.roles & wanted)


def product_filter(
    manifest: Manifest, components: Sequence[ExpectedComponent]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The ``product_names`` and ``product_codes`` that find ``components``' Uninstall entries."""
    names = dict.fromkeys(key for c in components for key in c.name_keys())
    codes = dict.fromkeys(code for c in components if (code := manifest.file(c.msi).product_code))
    return tuple(names), tuple(codes)


def is_pinned(manifest: Manifest) -> bool:
    """Whether every package file has its SHA-256, ProductCode and ProductVersion pinned."""
    return all(f.sha256 and f.product_code and f.product_version for f in manifest.package.files)


def verify_params(manifest: Manifest, roles: Iterable[Role]) -> VerifyParams:
    """The fact groups ``verify`` reads on a host of ``roles``."""
    wanted = frozenset(roles)
    here = components_on(manifest, wanted)
    names, codes = product_filter(manifest, here)
    installed, hashed = read_params(expected_files(manifest, [(c.name, c.msi) for c in here]))
    share = manifest.package.msishare
    in_share = tuple(str(PureWindowsPath(share, f.name)) for f in manifest.msishare_files())
    files = in_share if Role.DEPLOYMENT_TOOL in wanted else ()
    sql = manifest.sql if steps_on(manifest, SqlObjectsCheckStep, wanted) else None
    return VerifyParams(
        files=files,
        file_identity=bool(files) and is_pinned(manifest),
        product_names=names,
        product_codes=codes,
        vdirs=tuple(dict.fromkeys(f"{s.site}/{s.vdir}" for s in steps_on(manifest, IisSettingStep, wanted))),
        sql=sql_group(params_for(sql)) if sql is not None else (),
        complus=tuple(dict.fromkeys(s.application for s in steps_on(manifest, ComplusRestartStep, wanted))),
        installed=installed,
        installed_hashed=hashed,
        reboot=True,
    )


# ---- the checks ----------------------------------------------------------------------------------

Observed = tuple[Host, VerifyFacts | str]
"""A host with its facts, or with the one-line reason they could not be read."""


def evaluate(manifest: Manifest, observed: Sequence[Observed]) -> tuple[HostReport, ...]:
    """Every host's verify checks, in the order given (a host that could not be read gets one ``error``)."""
    components = expected_components(manifest)
    files = {windows_key(f.name): f for f in manifest.package.files}
    somewhere = _installed_somewhere(files, components, observed)
    on_roles: dict[frozenset[Role], tuple[list[ExpectedComponent], list[IisSettingStep]]] = {}
    reports = []
    for host, facts in observed:
        if isinstance(facts, str):
            checks: tuple[Check, ...] = (
                check("session", host.session_name, "reachable, authenticated, read", facts, Status.ERROR,
                      "the host could not be checked"),
            )  # fmt: skip
        else:
            if host.roles not in on_roles:
                on_roles[host.roles] = (
                    [c for c in components if c.roles & host.roles],
                    steps_on(manifest, IisSettingStep, host.roles),
                )
            components_here, iis_steps = on_roles[host.roles]
            checks = (
                *_file_checks(manifest, facts),
                *_product_checks(files, components_here, facts, somewhere),
                *_iis_checks(iis_steps, facts),
                *_sql_checks(facts),
                *_complus_checks(facts),
                *_installed(manifest, files, components_here, facts),
                *_reboot_checks(facts),
            )
        roles = tuple(sorted(r.value for r in host.roles))
        reports.append(HostReport(host=host.name, roles=roles, checks=checks))
    return tuple(reports)


def version_key(text: str) -> tuple[int, ...]:
    """A ProductVersion as four numbers (``4.0.2491`` equals ``4.0.2491.0``); junk counts as 0."""
    parts = [int(p) if p.isdigit() else 0 for p in text.strip().split(".")]
    return tuple([*parts, 0, 0, 0, 0][:4])


def entries_of(
    component: ExpectedComponent, code: str | None, listed: Sequence[InstalledEntry]
) -> list[InstalledEntry]:
    """The Uninstall entries of ``component``: by name key, or by its pinned ProductCode ``code``."""
    keys = set(component.name_keys())
    return [e for e in listed if name_key(e.display_name) in keys or (code and e.key.upper() == code)]


def _installed_somewhere(
    files: Mapping[str, PackageFile], components: Sequence[ExpectedComponent], observed: Sequence[Observed]
) -> set[str]:
    """The components found on at least one checked host of their roles (``files`` by ``windows_key``)."""
    found: set[str] = set()
    for component in components:
        code = files[windows_key(component.msi)].product_code
        for host, facts in observed:
            listed = facts.products if isinstance(facts, VerifyFacts) else None
            if (
                host.roles & component.roles
                and isinstance(listed, tuple)
                and entries_of(component, code, listed)
            ):
                found.add(component.name)
    return found


def _installed(
    manifest: Manifest,
    files: Mapping[str, PackageFile],
    components: Sequence[ExpectedComponent],
    facts: VerifyFacts,
) -> list[Check]:
    """The installed-file checks of the components whose Uninstall entry is on the host."""
    listed = facts.products
    present = (
        {c.name for c in components if entries_of(c, files[windows_key(c.msi)].product_code, listed)}
        if isinstance(listed, tuple)
        else None
    )
    return installed_checks(manifest, [(c.name, c.msi) for c in components], present, facts)


def _file_checks(manifest: Manifest, facts: VerifyFacts) -> list[Check]:
    share = manifest.package.msishare
    if facts.files is None:
        return []
    if isinstance(facts.files, Unreadable):
        return [
            check(
                "files", share, "readable", facts.files.message, Status.ERROR, "the files could not be read"
            )
        ]
    stats = {windows_key(s.path): s for s in facts.files}
    paths = [(f, str(PureWindowsPath(share, f.name))) for f in manifest.msishare_files()]
    return [_file_check(f, stats.get(windows_key(path)), path) for f, path in paths]


def _file_check(f: PackageFile, stat: FileStat | None, path: str) -> Check:
    pinned = f.sha256 is not None and f.product_version is not None
    wanted = [f"{f.size_bytes:,} bytes", f"{f.date:%Y-%m-%d %H:%M} UTC"]
    wanted += [f"SHA-256 {(f.sha256 or '')[:16]}...", f"version {f.product_version}"] if pinned else []
    expected = ", ".join(wanted)
    if stat is None or not stat.exists or stat.size is None or stat.mtime is None:
        return check("files", path, expected, "missing", Status.DRIFT, "the file is not in the share")
    found = [f"{stat.size:,} bytes", f"{stat.mtime:%Y-%m-%d %H:%M} UTC"]
    differs = []
    if stat.size != f.size_bytes:
        differs.append(f"size (the KB says {f.size_bytes:,} bytes)")
    if stat.mtime.replace(second=0, microsecond=0) != f.date:
        differs.append(f"date (the KB says {f.date:%Y-%m-%d %H:%M} UTC)")
    if pinned:
        found += [
            f"SHA-256 {(stat.sha256 or 'unreadable')[:16]}...",
            f"version {stat.product_version or '?'}",
        ]
        if stat.sha256 is not None and stat.sha256.lower() != f.sha256:
            differs.append(f"SHA-256 ({stat.sha256}, pinned {f.sha256})")
        if stat.product_version is not None and stat.product_version != f.product_version:
            differs.append(f"ProductVersion (pinned {f.product_version})")
    actual = ", ".join(found)
    if differs:
        return check("files", path, expected, actual, Status.DRIFT, "differs in " + "; ".join(differs))
    if not pinned:
        why = "size and date match; the manifest is not pinned, so the content is not compared"
        return check("files", path, expected, actual, Status.UNKNOWN, f"{why} (rollup manifest pin)")
    if stat.error or stat.sha256 is None or stat.product_version is None:
        why = f"the hash or the MSI properties could not be read: {stat.error or 'no value'}"
        return check("files", path, expected, actual, Status.ERROR, why)
    return check("files", path, expected, actual, Status.OK)


def _product_checks(
    files: Mapping[str, PackageFile],
    components: Sequence[ExpectedComponent],
    facts: VerifyFacts,
    somewhere: set[str],
) -> list[Check]:
    if not components or facts.products is None:
        return []
    if isinstance(facts.products, Unreadable):
        message = facts.products.message
        return [check("products", "Uninstall entries", "readable", message, Status.ERROR, "not read")]
    listed = facts.products
    return [_product_check(files[windows_key(c.msi)], c, listed, somewhere) for c in components]


def _product_check(
    file: PackageFile, c: ExpectedComponent, listed: Sequence[InstalledEntry], somewhere: set[str]
) -> Check:
    version = file.product_version
    expected = f"version {version}" if version else "the rollup's version (not pinned)"
    entries = entries_of(c, file.product_code, listed)
    if not entries:
        if c.conditional:
            why = "installed only when its conditional step's condition holds"
            return check("products", c.name, expected, "not installed", Status.OK, why)
        if c.tool and c.name in somewhere:
            why = "not on this host; installed on other hosts of its roles"
            return check("products", c.name, expected, "not installed", Status.OK, why)
        where = ", ".join(sorted(c.roles))
        scope = f"on none of the checked {where} hosts" if c.tool else "on this host"
        return check(
            "products", c.name, expected, "not installed", Status.DRIFT, f"{file.name} is installed {scope}"
        )
    found = sorted({e.display_version for e in entries}, key=version_key)
    actual = ", ".join(f"version {v}" for v in found)
    if version is None:
        why = "the manifest is not pinned: pin it (rollup manifest pin) to compare versions"
        return check("products", c.name, expected, actual, Status.UNKNOWN, why)
    wrong = [v for v in found if version_key(v) != version_key(version)]
    if not wrong:
        return check("products", c.name, expected, actual, Status.OK)
    older = all(version_key(v) < version_key(version) for v in wrong)
    why = f"{', '.join(wrong)} is {'older than' if older else 'not'} the rollup's {version}"
    return check("products", c.name, expected, actual, Status.DRIFT, why)


def _iis_checks(steps: Sequence[IisSettingStep], facts: VerifyFacts) -> list[Check]:
    checks = []
    for step in steps:
        key = f"{step.site}/{step.vdir}"
        found = facts.vdirs.get(key)
        wanted: list[tuple[str, str, str]] = []
        if step.basic_auth_default_domain is not None:
            basic = isinstance(found, VdirSecurity) and found.basic_auth
            wanted.append(("Basic authentication", _yes(True), _yes(basic)))
            domain = found.default_logon_domain if isinstance(found, VdirSecurity) else ""
            wanted.append(("Basic authentication default domain", step.basic_auth_default_domain, domain))
        if step.require_ssl is not None:
            ssl = isinstance(found, VdirSecurity) and found.require_ssl
            wanted.append(("require secure channel (SSL)", _yes(step.require_ssl), _yes(ssl)))
        if step.require_ssl:
            bound = isinstance(found, VdirSecurity) and bool(found.ssl_cert)
            wanted.append((f"certificate bound to {step.site}", _yes(True), _yes(bound)))
        for label, value, actual in wanted:
            name = f"{key}: {label}"
            if isinstance(found, VdirSecurity):
                checks.append(check("iis", name, _shown(value), _shown(actual), _same(actual == value)))
            elif isinstance(found, VdirMissing):
                checks.append(check("iis", name, _shown(value), found.reason, Status.DRIFT))
            else:
                message = found.message if isinstance(found, Unreadable) else "not read"
                checks.append(
                    check("iis", name, _shown(value), message, Status.ERROR, "IIS could not be read")
                )
    return checks


def _same(equal: bool) -> Status:
    return Status.OK if equal else Status.DRIFT


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _shown(value: str) -> str:
    return value or "(empty)"


_KINDS = {
    "index": "index",
    "procedure": "procedure",
    "scalar_function": "scalar function",
    "table_function": "table-valued function",
}


def _sql_checks(facts: VerifyFacts) -> list[Check]:
    if facts.sql is None:
        return []
    if isinstance(facts.sql, Unreadable):
        why = "the database could not be queried"
        return [check("sql", "SQL objects", "readable", facts.sql.message, Status.ERROR, why)]
    checks = []
    for o in facts.sql.objects:
        name = f"{facts.sql.database}: {_KINDS[o.kind]} {o.name}" + (f" on {o.table}" if o.table else "")
        near = ", ".join(o.near_miss)
        if o.present:
            checks.append(check("sql", name, "present", "present", Status.OK))
        elif near:
            why = f"near miss: {near} is not {o.name}, the KB's exact name"
            checks.append(check("sql", name, "present", f"missing; near miss {near}", Status.DRIFT, why))
        else:
            checks.append(check("sql", name, "present", "missing", Status.DRIFT, "not in the database"))
    return checks


def _complus_checks(facts: VerifyFacts) -> list[Check]:
    checks = []
    for name, state in facts.complus.items():
        label = f"COM+ {name}"
        if isinstance(state, Unreadable):
            why = "the COM+ catalog could not be read"
            checks.append(check("complus", label, "running", state.message, Status.ERROR, why))
        elif not state.found:
            checks.append(
                check("complus", label, "running", "not found", Status.DRIFT, "no such application")
            )
        elif not state.enabled or not state.running:
            actual = "disabled" if not state.enabled else "not running"
            checks.append(check("complus", label, "running", actual, Status.DRIFT))
        else:
            pids = ", ".join(str(p) for p in state.process_ids)
            checks.append(check("complus", label, "running", f"running (process {pids})", Status.OK))
    return checks


def _reboot_checks(facts: VerifyFacts) -> list[Check]:
    """A host waiting for a restart is not compliant: what it installed may not be in use yet."""
    reasons = facts.pending_reboot
    if reasons is None:
        return []
    if isinstance(reasons, Unreadable):
        why = "the pending-restart markers could not be read"
        return [check("reboot", "pending restart", "none", reasons.message, Status.ERROR, why)]
    if reasons:
        why = "files are replaced or settings applied at the next restart: restart, then verify again"
        return [check("reboot", "pending restart", "none", ", ".join(reasons), Status.DRIFT, why)]
    return [check("reboot", "pending restart", "none", "none", Status.OK)]
