"""
Verify's checks against crafted facts: every kind of check ok, drifted, near-missed, unknown when
the manifest is not pinned, and an error when a fact or a host could not be read.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path, PureWindowsPath

import pytest

from rollup.checks import Check, HostReport, Report, Status
from rollup.errors import ExitCode, ManifestError
from rollup.load import read_yaml
from rollup.model.inventory import Host
from rollup.model.manifest import Manifest, load_manifest, parse_manifest
from rollup.model.roles import Role
from rollup.ops.complus import ComPlusState
from rollup.ops.files import FileStat
from rollup.ops.iis import VdirSecurity
from rollup.ops.products import InstalledEntry
from rollup.ops.sql import SqlObjectCheck, SqlObjectsReport
from rollup.ops.verify import FACTS, Unreadable, VdirMissing, VerifyFacts, name_key
from rollup.ps.delivery import fits_command_line
from rollup.testing.fleet import fleet_inventory, fleet_roles
from rollup.verify import components_on, evaluate, expected_components, verify_params

MANIFEST = Path(__file__).resolve().parents[2] / "manifests" / "hmc40-rollup-2011-01.yml"
VERSION = "4.0.2491.0"
OLD = "4.0.2379.0"
VDIR = "Default Web Site/DNSProvider"
ENGINE = "Provisioning Engine"


def pinned_manifest() -> Manifest:
    """The KB's manifest with every file pinned inline (made-up hashes and codes, the rollup's version)."""
    data = read_yaml(MANIFEST, error=ManifestError)
    for i, f in enumerate(data["package"]["files"]):
        f["sha256"] = hashlib.sha256(f["name"].encode()).hexdigest()
        f["product_code"] = f"{{{i:08X}-0000-4000-8000-{i:012X}}}"
        f["product_version"] = VERSION
    return parse_manifest(data, source="pinned.yml")


PINNED = pinned_manifest()
UNPINNED = load_manifest(MANIFEST)
HOSTS = {h.name: h for h in fleet_inventory(fleet_roles(2)).hosts}


def compliant(manifest: Manifest, host: Host) -> VerifyFacts:
    """The facts of ``host`` once the rollup is in place: everything as the manifest says."""
    params = verify_params(manifest, host.roles)
    share = manifest.package.msishare
    files = tuple(
        FileStat(
            path=str(PureWindowsPath(share, f.name)),
            exists=True,
            size=f.size_bytes,
            mtime=f.date.replace(second=37),
            sha256=f.sha256,
            product_code=f.product_code,
            product_name=f.name,
            product_version=f.product_version,
        )
        for f in manifest.msishare_files()
    )
    products = tuple(
        entry(c.name, manifest.file(c.msi).product_version or VERSION, code=manifest.file(c.msi).product_code)
        for c in components_on(manifest, host.roles)
        if not c.conditional
    )
    objects = tuple(
        SqlObjectCheck(kind="procedure", name=n, present=True)
        for n in (manifest.sql.procedures if manifest.sql else ())
    )
    return VerifyFacts(
        files=files if params.files else None,
        products=products if params.product_names else None,
        vdirs={q: vdir() for q in params.vdirs},
        sql=SqlObjectsReport(client="sqlcmd", instance=".", database="ResourceManager", objects=objects)
        if params.sql
        else None,
        complus={name: ComPlusState(application=name, found=True, enabled=True, process_ids=(2004,))
                 for name in params.complus},
    )  # fmt: skip


def entry(name: str, version: str, *, code: str | None = None) -> InstalledEntry:
    """An Uninstall entry as ``products.list`` reports it."""
    return InstalledEntry(
        key=code or "{11111111-2222-3333-4444-555555555555}",
        display_name=name,
        display_version=version,
        publisher="Microsoft Corporation",
        install_date="20110310",
        windows_installer=True,
        wow6432=False,
    )


def vdir(domain: str = "\\", ssl: bool = True, cert: bool = True) -> VdirSecurity:
    """DNSProvider's directory security as ``iis.get_vdir`` reads it."""
    return VdirSecurity(
        iis_version=6, site="Default Web Site", site_id=1, vdir="DNSProvider",
        path="/LM/W3SVC/1/ROOT/DNSProvider", default_logon_domain=domain, require_ssl=ssl, basic_auth=True,
        ssl_cert=cert,
    )  # fmt: skip


def checks_of(manifest: Manifest, name: str, facts: VerifyFacts | str) -> tuple[Check, ...]:
    """The checks of one host of the fleet, the others compliant."""
    observed = [(h, facts if h.name == name else compliant(manifest, h)) for h in HOSTS.values()]
    (report,) = [r for r in evaluate(manifest, observed) if r.host == name]
    return report.checks


def drifted(checks: tuple[Check, ...]) -> dict[str, Check]:
    """The checks that are not ok, by name."""
    return {c.name: c for c in checks if c.status is not Status.OK}


def test_a_compliant_fleet_passes_every_check() -> None:
    """With the rollup in place everywhere, every check of every host is ok and verify exits 0."""
    observed = [(h, compliant(PINNED, h)) for h in HOSTS.values()]

    reports = evaluate(PINNED, observed)

    assert all(c.status is Status.OK for r in reports for c in r.checks)
    assert {r.host: len(r.checks) for r in reports} == {
        "MPS01": 21 + 18 + 1, "DNS01": 1 + 4, "MPSSQL": 1 + 2, "COLLAB01": 1, "COLLAB02": 1,
    }  # fmt: skip
    assert report_of(reports).exit_code == ExitCode.OK


def report_of(hosts: tuple[HostReport, ...]) -> Report:
    """A verify report of ``hosts``."""
    return Report(
        kind="verify", manifest_id="m", manifest_digest="d" * 64, pinned=True, inventory="i", hosts=hosts,
        started_at=datetime(2011, 3, 21, tzinfo=UTC), duration_s=1.0,
    )  # fmt: skip


def test_a_file_of_another_size_date_or_hash_is_drift_and_says_which() -> None:
    """A file in C:\\MSIShare that differs in size, date or SHA-256 is drift, naming what differs."""
    facts = compliant(PINNED, HOSTS["MPS01"])
    assert isinstance(facts.files, tuple)
    first, second, third, *rest = facts.files
    files = (
        replace(first, size=625664),
        replace(second, mtime=datetime(2010, 11, 18, 10, 4, tzinfo=UTC)),
        replace(third, sha256="0" * 64),
        *rest,
    )

    found = drifted(checks_of(PINNED, "MPS01", replace(facts, files=files)))

    assert set(found) == {first.path, second.path, third.path}
    assert "size (the KB says 679,936 bytes)" in found[first.path].detail
    assert "date (the KB says 2011-03-10 10:04 UTC)" in found[second.path].detail
    assert "SHA-256" in found[third.path].detail
    assert all(c.status is Status.DRIFT for c in found.values())


def test_a_missing_file_is_drift() -> None:
    """A file absent from C:\\MSIShare is drift, shown as missing."""
    facts = compliant(PINNED, HOSTS["MPS01"])
    assert isinstance(facts.files, tuple)
    files = (replace(facts.files[0], exists=False, size=None, mtime=None), *facts.files[1:])

    found = drifted(checks_of(PINNED, "MPS01", replace(facts, files=files)))

    assert [(c.name, c.actual, c.status) for c in found.values()] == [
        (facts.files[0].path, "missing", Status.DRIFT)
    ]


def test_unpinned_files_are_unknown_when_size_and_date_match() -> None:
    """Without pins a file of the right size and date is unknown (its content is not compared), never ok."""
    checks = checks_of(UNPINNED, "MPS01", compliant(UNPINNED, HOSTS["MPS01"]))

    files = [c for c in checks if c.group == "files"]

    assert len(files) == 21
    assert {c.status for c in files} == {Status.UNKNOWN}
    assert "not pinned" in files[0].detail


def test_an_old_component_version_is_drift() -> None:
    """A component still at the previous build's version is drift, with both versions shown."""
    facts = compliant(PINNED, HOSTS["DNS01"])
    old = replace(facts, products=(entry("DNS Client", OLD),))

    found = drifted(checks_of(PINNED, "DNS01", old))

    assert list(found) == ["DNS Client"]
    assert found["DNS Client"].expected == f"version {VERSION}"
    assert found["DNS Client"].actual == f"version {OLD}"
    assert "older than" in found["DNS Client"].detail


def test_an_unpinned_component_version_is_unknown_not_ok() -> None:
    """Without a pinned ProductVersion a component's version cannot be judged: unknown, saying why."""
    facts = compliant(UNPINNED, HOSTS["COLLAB01"])

    (only,) = checks_of(UNPINNED, "COLLAB01", facts)

    assert only.status is Status.UNKNOWN
    assert "not pinned" in only.detail


def test_a_component_is_found_by_its_msi_file_name() -> None:
    """The SharePoint web service, whose entry is named after its MSI file, is found and compared."""
    facts = replace(
        compliant(PINNED, HOSTS["COLLAB01"]),
        products=(entry("Windows SharePoint Services Web Service", OLD),),
    )

    (only,) = checks_of(PINNED, "COLLAB01", facts)

    assert only.name == "SharePoint 2007 Provider Web Services"
    assert only.status is Status.DRIFT
    assert name_key("Windows SharePoint Services Web Service") == "windowssharepointserviceswebservice"


def test_a_missing_component_installed_by_steps_is_drift() -> None:
    """The DNS Client absent from DNS01 (which a step installs there) is drift."""
    facts = replace(compliant(PINNED, HOSTS["DNS01"]), products=())

    found = drifted(checks_of(PINNED, "DNS01", facts))

    assert found["DNS Client"].actual == "not installed"
    assert found["DNS Client"].status is Status.DRIFT


def test_a_tool_component_is_fine_absent_from_one_host_but_not_from_all() -> None:
    """A Deployment Tool component may live on other hosts of its roles; absent from all it is drift."""
    mps02 = replace(HOSTS["MPS01"], name="MPS02", roles=frozenset({Role.MPS_ENGINE}))
    mps01 = HOSTS["MPS01"]
    full = compliant(PINNED, mps01)
    assert isinstance(full.products, tuple)
    without = replace(full, products=tuple(e for e in full.products if e.display_name != "DNS Provider"))

    elsewhere = evaluate(PINNED, [(mps01, without), (mps02, compliant(PINNED, mps02))])
    nowhere = evaluate(PINNED, [(mps01, without), (mps02, without)])

    here = {c.name: c for c in elsewhere[0].checks}["DNS Provider"]
    assert (here.status, here.actual) == (Status.OK, "not installed")
    assert {c.name: c.status for c in nowhere[0].checks}["DNS Provider"] is Status.DRIFT


def test_the_conditional_shared_oab_utility_is_fine_absent() -> None:
    """SharedOABUtility, installed only under its condition, is ok when absent and drift when old."""
    facts = compliant(PINNED, HOSTS["MPS01"])
    assert isinstance(facts.products, tuple)
    old = replace(facts, products=(*facts.products, entry("Shared OAB Utility", OLD)))

    absent = {c.name: c for c in checks_of(PINNED, "MPS01", facts)}["Shared OAB Utility"]
    present = drifted(checks_of(PINNED, "MPS01", old))

    assert absent.status is Status.OK
    assert list(present) == ["Shared OAB Utility"]
    assert [c.name for c in expected_components(PINNED) if c.conditional] == ["Shared OAB Utility"]


def test_dnsprovider_settings_are_checked_one_by_one() -> None:
    """The Basic-auth default domain and Require SSL are two checks, each ok or drift on its own."""
    facts = replace(compliant(PINNED, HOSTS["DNS01"]), vdirs={VDIR: vdir(domain="", ssl=True)})

    found = drifted(checks_of(PINNED, "DNS01", facts))

    (name,) = found
    assert name == f"{VDIR}: Basic authentication default domain"
    assert (found[name].expected, found[name].actual) == ("\\", "(empty)")


def test_a_missing_virtual_directory_is_drift_and_an_unreadable_one_an_error() -> None:
    """IIS without the DNSProvider directory is drift; IIS that could not be read is an error."""
    missing = replace(
        compliant(PINNED, HOSTS["DNS01"]), vdirs={VDIR: VdirMissing("IIS has no virtual directory x")}
    )
    broken = replace(compliant(PINNED, HOSTS["DNS01"]), vdirs={VDIR: Unreadable("Access is denied.")})

    drift = drifted(checks_of(PINNED, "DNS01", missing))
    errors = drifted(checks_of(PINNED, "DNS01", broken))

    assert {c.status for c in drift.values()} == {Status.DRIFT}
    assert len(drift) == 4
    assert {(c.status, c.actual) for c in errors.values()} == {(Status.ERROR, "Access is denied.")}


def test_require_ssl_on_a_site_without_a_certificate_is_drift() -> None:
    """Require SSL set on a site with no certificate bound: clients cannot connect, so it is drift."""
    facts = replace(compliant(PINNED, HOSTS["DNS01"]), vdirs={VDIR: vdir(cert=False)})

    found = drifted(checks_of(PINNED, "DNS01", facts))

    assert list(found) == ["Default Web Site/DNSProvider: certificate bound to Default Web Site"]
    assert (found[f"{VDIR}: certificate bound to Default Web Site"].actual) == "no"


def test_sql_objects_are_matched_exactly_and_a_near_miss_is_named() -> None:
    """A ``SelectAndAssemble...`` procedure instead of the KB's ``Selete...`` is drift, named a near miss."""
    near = SqlObjectCheck(
        kind="procedure", name="SeleteAndAssembleAllocateOrgMailStores", present=False,
        near_miss=("SelectAndAssembleAllocateOrgMailStores",),
    )  # fmt: skip
    plain = SqlObjectCheck(kind="scalar_function", name="fn_min", present=False)
    report = SqlObjectsReport(
        client="sqlcmd", instance=".", database="ResourceManager", objects=(near, plain)
    )
    facts = replace(compliant(PINNED, HOSTS["MPSSQL"]), sql=report)

    found = drifted(checks_of(PINNED, "MPSSQL", facts))

    selete = found["ResourceManager: procedure SeleteAndAssembleAllocateOrgMailStores"]
    assert selete.actual == "missing; near miss SelectAndAssembleAllocateOrgMailStores"
    assert "near miss" in selete.detail
    assert found["ResourceManager: scalar function fn_min"].actual == "missing"


def test_sql_that_cannot_be_queried_is_an_error() -> None:
    """No SQL client on the host makes the SQL check an error, with the host's message."""
    facts = replace(
        compliant(PINNED, HOSTS["MPSSQL"]), sql=Unreadable("neither sqlcmd.exe nor osql.exe is on the PATH")
    )

    found = drifted(checks_of(PINNED, "MPSSQL", facts))

    assert [(c.group, c.status) for c in found.values()] == [("sql", Status.ERROR)]


@pytest.mark.parametrize(
    ("state", "actual"),
    [
        (ComPlusState(application=ENGINE, found=True, enabled=True, process_ids=()), "not running"),
        (ComPlusState(application=ENGINE, found=True, enabled=False, process_ids=()), "disabled"),
        (ComPlusState(application=ENGINE, found=False), "not found"),
    ],
)
def test_the_provisioning_engine_must_be_running(state: ComPlusState, actual: str) -> None:
    """The COM+ Provisioning Engine stopped, disabled or missing on an MPS engine is drift."""
    facts = replace(compliant(PINNED, HOSTS["MPS01"]), complus={ENGINE: state})

    found = drifted(checks_of(PINNED, "MPS01", facts))

    assert [(c.name, c.actual, c.status) for c in found.values()] == [
        (f"COM+ {ENGINE}", actual, Status.DRIFT)
    ]


def test_a_host_that_could_not_be_read_has_one_error_check() -> None:
    """An unreachable host is reported with one error check carrying the transport's text."""
    checks = checks_of(PINNED, "COLLAB02", "http://127.0.200.5:5985/wsman: Create: connection refused")

    assert [(c.group, c.status) for c in checks] == [("session", Status.ERROR)]
    assert "connection refused" in checks[0].actual


def test_exit_codes_rank_drift_over_errors_and_errors_over_unknown() -> None:
    """Drift exits 3 even with a host unchecked; an error or unknown alone exits 1; all ok exits 0."""
    ok = Check(group="g", name="a", expected="x", actual="x", status=Status.OK)

    def code(*statuses: Status) -> ExitCode:
        checks = tuple(replace(ok, status=s) for s in statuses)
        return report_of((HostReport(host="H", roles=(), checks=checks),)).exit_code

    assert code(Status.OK, Status.OK) == ExitCode.OK
    assert code(Status.DRIFT, Status.ERROR) == ExitCode.DRIFT
    assert code(Status.ERROR, Status.OK) == ExitCode.RUN_FAILED
    assert code(Status.UNKNOWN) == ExitCode.RUN_FAILED


def test_each_role_reads_only_the_fact_groups_it_needs() -> None:
    """MSIShare files only on the Deployment Tool host, IIS on DNS, SQL on MPSSQL, COM+ on engines."""
    params = {name: verify_params(PINNED, host.roles) for name, host in HOSTS.items()}

    assert len(params["MPS01"].files) == 21
    assert params["MPS01"].file_identity
    assert params["MPS01"].complus == (ENGINE,)
    assert params["DNS01"].vdirs == (VDIR,)
    assert params["DNS01"].files == ()
    objects = params["MPSSQL"].sql_objects()
    assert objects is not None
    assert (objects.instance, objects.database) == (".", "ResourceManager")
    assert objects.procedures == (
        "SeleteAndAssembleAllocateOrgMailStores", "SeleteAndAssembleReallocateOrgMailStores",
    )  # fmt: skip
    assert objects.near_miss == ("%AndAssemble%OrgMailStores",)
    assert params["COLLAB01"].product_names == (
        "sharepoint2007providerwebservices",
        "windowssharepointserviceswebservice",
    )
    assert params["COLLAB01"].sql == ()
    assert params["COLLAB01"].sql_objects() is None
    assert not params["COLLAB01"].file_identity, "no files: no hashing helpers in the script"
    assert not verify_params(UNPINNED, HOSTS["MPS01"].roles).file_identity


def test_a_collab_host_s_script_carries_only_its_groups() -> None:
    """
    A COLLAB host's ``verify.facts`` carries its products and pending-restart groups only, pinned
    or not (too long for cmd.exe's line with both: one Send); MPS01's carries the hashing helpers.
    """
    for manifest in (PINNED, UNPINNED):
        script = FACTS.command(verify_params(manifest, HOSTS["COLLAB01"].roles)).render()

        assert "Uninstall" in script
        assert "function Add-RollupRebootReason" in script
        assert not any(word in script for word in ("Get-RollupSha256", "sqlcmd", "appcmd", "COMAdmin"))
    mps = FACTS.command(verify_params(PINNED, HOSTS["MPS01"].roles)).render()
    assert "function Get-RollupSha256" in mps
    assert not fits_command_line(mps)
