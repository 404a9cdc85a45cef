"""
Pre-flight's checks against crafted facts: each condition a rollout needs, passing and failing,
the package folder on the control host, and the error ``rollup apply`` raises when it fails.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from rollup.checks import Check, HostReport, Report, Status
from rollup.errors import RunFailed
from rollup.lab.prerollup import rollup_package
from rollup.model.manifest import Manifest, load_manifest
from rollup.ops.complus import ComPlusState
from rollup.ops.host import HostFacts, MsiShare
from rollup.ops.products import InstalledEntry
from rollup.ops.service import ServiceState, ServiceStates
from rollup.ops.verify import Unreadable, VerifyFacts
from rollup.preflight import GIB, host_checks, package_checks, preflight_failed, preflight_params
from rollup.testing.fleet import fleet_inventory, fleet_roles
from rollup.verify import components_on

MANIFEST = Path(__file__).resolve().parents[2] / "manifests" / "hmc40-rollup-2011-01.yml"
MANIFEST_M = load_manifest(MANIFEST)
HOSTS = {h.name: h for h in fleet_inventory(fleet_roles(1)).hosts}
ENGINE = "Provisioning Engine"


def facts(**changes: Any) -> HostFacts:
    """A ready Windows Server 2003 SP2 host with the Deployment Tool, then ``changes``."""
    values: dict[str, Any] = {
        "computer": "MPS01",
        "os_caption": "Microsoft(R) Windows(R) Server 2003, Enterprise Edition",
        "os_version": "5.2.3790",
        "service_pack": 2,
        "arch": "x86",
        "ps_version": "2.0",
        "free_bytes": 40 * GIB,
        "pending_reboot": (),
        "msi_busy": False,
        "identity": "HOSTING\\rollup-lab",
        "domain_admin": True,
        "admin_group": "HOSTING\\Domain Admins",
        "deploytool_config": True,
        "deploytool_entry": "Hosted Messaging and Collaboration Deployment Tool",
        "msishare": MsiShare(path="C:\\MSIShare", exists=True, writable=True),
        "oab_count": None,
        "errors": {},
    }
    return HostFacts(**{**values, **changes})


def more(manifest: Manifest, name: str, **changes: Any) -> VerifyFacts:
    """What ``verify.facts`` reads for pre-flight on a ready ``name``, then ``changes``."""
    host = HOSTS[name]
    params = preflight_params(manifest, host.roles)
    entries = tuple(
        InstalledEntry(key="{0}", display_name=c.name, display_version="4.0.2379.0", publisher="Microsoft",
                       install_date="20101118", windows_installer=True, wow6432=False)
        for c in components_on(manifest, host.roles)
        if not c.conditional
    )  # fmt: skip
    services = ServiceStates(
        services=tuple(ServiceState(query=s, found=True, name=s, state="Running", start_mode="Auto")
                       for s in params.services)
    )  # fmt: skip
    values: dict[str, Any] = {
        "products": entries,
        "services": services,
        "complus": {a: ComPlusState(application=a, found=True, enabled=True, process_ids=(2004,))
                    for a in params.complus},
    }  # fmt: skip
    return VerifyFacts(**{**values, **changes})


def failed(checks: tuple[Check, ...]) -> dict[str, Check]:
    """The checks that did not pass, by name."""
    return {c.name: c for c in checks if c.status is not Status.OK}


def mps01(**changes: Any) -> tuple[Check, ...]:
    """MPS01's pre-flight checks with its host facts changed."""
    return host_checks(
        MANIFEST_M, HOSTS["MPS01"], facts(**changes), more(MANIFEST_M, "MPS01"), min_free_bytes=GIB
    )


def checked(name: str, **changes: Any) -> tuple[Check, ...]:
    """The pre-flight checks of ``name`` (a ready host) with its ``verify.facts`` changed."""
    return host_checks(
        MANIFEST_M, HOSTS[name], facts(computer=name), more(MANIFEST_M, name, **changes), min_free_bytes=GIB
    )


def test_a_ready_host_passes_every_check() -> None:
    """Every pre-flight check of a ready Deployment Tool host is ok, and they cover the rollout's needs."""
    checks = mps01()

    assert failed(checks) == {}
    assert [c.name for c in checks] == [
        "WinRM session", "identity", "operating system", "service pack", "PowerShell", "free space on C:",
        "pending reboot", "Windows Installer", "Domain Admins", "HMC 4.0", "service MSDTC", "service W3SVC",
        "Deployment Tool", "C:\\MSIShare", f"COM+ {ENGINE}",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "name", "actual"),
    [
        ({"free_bytes": GIB // 2}, "free space on C:", "0.5 GB"),
        ({"pending_reboot": ("msi 3010",)}, "pending reboot", "msi 3010"),
        ({"msi_busy": True}, "Windows Installer", "busy"),
        ({"domain_admin": False, "admin_group": None}, "Domain Admins", "HOSTING\\rollup-lab: not a member"),
        ({"deploytool_config": False, "deploytool_entry": None}, "Deployment Tool", "not found"),
        ({"msishare": MsiShare(path="C:\\MSIShare", exists=True, writable=False)}, "C:\\MSIShare",
         "not writable"),
        ({"ps_version": "1.0"}, "PowerShell", "1.0"),
        ({"service_pack": 1}, "service pack", "SP1"),
        ({"os_version": "5.0.2195", "os_caption": "Windows 2000 Server"}, "operating system",
         "Windows 2000 Server (5.0.2195)"),
    ],
)  # fmt: skip
def test_each_condition_that_does_not_hold_fails_and_is_named(
    changes: dict[str, Any], name: str, actual: str
) -> None:
    """One unmet condition fails exactly its own check, showing what was found."""
    found = failed(mps01(**changes))

    assert name in found
    assert (found[name].status, found[name].actual) == (Status.FAIL, actual)
    assert found[name].detail
    assert set(found) <= {name, "service pack"}


def test_a_fact_the_host_could_not_read_is_an_error_with_its_reason() -> None:
    """A fact the script could not read (WMI refused) is an error carrying the host's message."""
    found = failed(mps01(free_bytes=None, errors={"free_bytes": "Access denied"}))

    assert (found["free space on C:"].status, found["free space on C:"].actual) == (
        Status.ERROR,
        "Access denied",
    )


def test_the_minimum_free_space_is_configurable() -> None:
    """With a 50 GB minimum, a host with 40 GB free fails the disk check."""
    checks = host_checks(
        MANIFEST_M, HOSTS["MPS01"], facts(), more(MANIFEST_M, "MPS01"), min_free_bytes=50 * GIB
    )

    assert list(failed(checks)) == ["free space on C:"]
    assert failed(checks)["free space on C:"].expected == "at least 50 GB"


def test_hmc_absent_fails_and_a_partial_install_names_what_is_missing() -> None:
    """No component of its roles installed fails HMC 4.0; some installed passes but lists the rest."""
    full = more(MANIFEST_M, "MPS01")
    assert isinstance(full.products, tuple)
    partial = checked("MPS01", products=full.products[1:])
    none = checked("DNS01", products=())

    hmc = {c.name: c for c in partial}["HMC 4.0"]
    assert (hmc.status, hmc.actual) == (Status.OK, "16 of 17 installed")
    assert "Hosted SharePoint 2007 Namespace" in hmc.detail
    assert (failed(none)["HMC 4.0"].status, failed(none)["HMC 4.0"].actual) == (
        Status.FAIL,
        "0 of 1 installed",
    )


def test_a_missing_or_disabled_provisioning_engine_fails() -> None:
    """The COM+ application the rollup restarts must exist and be enabled on MPS engines."""
    disabled = ComPlusState(application=ENGINE, found=True, enabled=False, process_ids=())
    checks = checked("MPS01", complus={ENGINE: disabled})
    missing = failed(checked("MPS01", complus={ENGINE: ComPlusState(application=ENGINE, found=False)}))

    assert failed(checks)[f"COM+ {ENGINE}"].actual == "disabled, stopped"
    assert missing[f"COM+ {ENGINE}"].actual == "not found"


def test_a_stopped_service_fails_and_unreadable_services_are_an_error() -> None:
    """SQL Server stopped on MPSSQL fails its check; services that could not be read are an error."""
    stopped = ServiceStates(
        services=(
            ServiceState(
                query="MSSQLSERVER", found=True, name="MSSQLSERVER", state="Stopped", start_mode="Auto"
            ),
        )
    )
    checks = checked("MPSSQL", services=stopped)
    unread = checked("MPSSQL", services=Unreadable("WMI: RPC server unavailable"))

    assert failed(checks)["service MSSQLSERVER"].actual == "Stopped"
    assert failed(unread)["services"].status is Status.ERROR


def test_another_machine_at_the_address_fails_identity_and_nothing_else_is_judged() -> None:
    """Facts of COLLAB01 at MPS01's address: one failed identity check naming both, no other check."""
    checks = mps01(computer="COLLAB01")

    assert [c.name for c in checks] == ["WinRM session", "identity"]
    assert "answers as computer COLLAB01, not MPS01" in failed(checks)["identity"].actual


def test_the_deployment_tool_checks_run_only_on_its_host() -> None:
    """Only the Deployment Tool host is checked for the tool and C:\\MSIShare."""
    dns01 = facts(deploytool_config=False, computer="DNS01")
    names = [
        c.name
        for c in host_checks(MANIFEST_M, HOSTS["DNS01"], dns01, more(MANIFEST_M, "DNS01"), min_free_bytes=GIB)
    ]

    assert "Deployment Tool" not in names
    assert "C:\\MSIShare" not in names
    assert "service W3SVC" in names


@pytest.fixture(scope="module", name="package")
def _package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    files = rollup_package(MANIFEST_M, tmp_path_factory.getbasetemp() / "msi-cache")
    folder = tmp_path_factory.mktemp("package")
    for name, path in files.items():
        shutil.copy2(path, folder / name)
    return folder


def test_a_complete_package_folder_passes(package: Path) -> None:
    """Every file at its KB size passes (sizes only, while the manifest is not pinned)."""
    report = package_checks(MANIFEST_M, package)

    assert len(report.checks) == 22
    assert {c.status for c in report.checks} == {Status.OK}
    assert report.checks[0].detail == "the manifest is not pinned: sizes only"


def test_a_missing_or_truncated_package_file_fails(package: Path, tmp_path: Path) -> None:
    """A file missing from the folder and one of another size each fail, naming what is wrong."""
    broken = tmp_path / "package"
    shutil.copytree(package, broken)
    (broken / "DNSClient.msi").unlink()
    (broken / "DNSProvider.msi").write_bytes(b"MZ")

    found = failed(package_checks(MANIFEST_M, broken).checks)

    assert set(found) == {"DNSClient.msi", "DNSProvider.msi"}
    assert found["DNSClient.msi"].actual == "missing"
    assert found["DNSProvider.msi"].detail == "2 bytes, the KB says 359,936"


def test_no_package_folder_fails() -> None:
    """Without --package-dir or rollup_package_dir the package check fails and says what to give."""
    (only,) = package_checks(MANIFEST_M, None).checks

    assert only.status is Status.FAIL
    assert "--package-dir" in only.detail


def test_the_error_apply_raises_names_the_first_failures() -> None:
    """``preflight_failed`` is a one-line RunFailed naming hosts and checks, and saying nothing changed."""
    checks = mps01(free_bytes=GIB // 4, msi_busy=True)
    report = Report(
        kind="preflight", manifest_id="m", manifest_digest="d", pinned=False, inventory="i",
        hosts=(HostReport(host="MPS01", roles=(), checks=checks),), started_at=datetime.now(UTC),
        duration_s=0.1,
    )  # fmt: skip

    error = preflight_failed(report)

    assert isinstance(error, RunFailed)
    assert not report.passed
    assert str(error).startswith(
        "pre-flight failed: 2 check(s) on 1 host(s): MPS01: free space on C:: 0.2 GB"
    )
    assert "nothing was changed" in str(error)
    assert "\n" not in str(error)
