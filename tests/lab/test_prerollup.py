"""The lab's pre-rollup HMC 4.0 deployment, built from the manifest and the real previous-build MSIs."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from rollup.errors import ConfigError
from rollup.lab.msi import load_products
from rollup.lab.prerollup import DEPLOYMENT_TOOL, LAB_ADMIN, PACKAGE_SOURCE, prerollup_states, rollup_package
from rollup.lab.state import HostState, MemoryBlobStore, path_key
from rollup.model.manifest import Manifest, PackageFile, load_manifest
from rollup.model.roles import Role
from rollup.msi import read_msi, sha256_file

MANIFEST = Path(__file__).resolve().parents[2] / "manifests" / "hmc40-rollup-2011-01.yml"
HOSTS = (
    ("MPS01", frozenset({Role.DEPLOYMENT_TOOL, Role.MPS_ENGINE})),
    ("MPS02", frozenset({Role.MPS_ENGINE})),
    ("DNS01", frozenset({Role.DNS})),
    ("COLLAB01", frozenset({Role.COLLAB})),
    ("COLLAB02", frozenset({Role.COLLAB})),
    ("MPSSQL", frozenset({Role.MPSSQL})),
    ("PROV01", frozenset({Role.WEB_SERVICES})),
)


@pytest.fixture(scope="module", name="manifest")
def _manifest() -> Manifest:
    return load_manifest(MANIFEST)


@pytest.fixture(scope="module", name="cache")
def _cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.getbasetemp() / "msi-cache"


@pytest.fixture(scope="module", name="lab")
def _lab(manifest: Manifest, cache: Path) -> dict[str, HostState]:
    states = prerollup_states(manifest, HOSTS, blobs=MemoryBlobStore(), msi_cache_dir=cache)
    return {s.name: s for s in states}


def names(state: HostState) -> dict[str, str]:
    """DisplayName -> DisplayVersion of the host's Uninstall entries."""
    return {p.display_name: p.display_version for p in state.products.values()}


def test_states_come_in_the_order_given_with_their_roles(lab: dict[str, HostState]) -> None:
    """One state per host, in order, each listing its roles."""
    assert list(lab) == [name for name, _ in HOSTS]
    assert lab["MPS01"].roles == ["deployment_tool", "mps_engine"]


def test_msishare_holds_the_previous_build_of_the_21_files(
    lab: dict[str, HostState], manifest: Manifest
) -> None:
    """C:\\MSIShare has each to_msishare file at the previous build, its identity read from the file."""
    state = lab["MPS01"]
    table = load_products()

    shared = [f for f in state.files.values() if f.path.lower().startswith("c:\\msishare\\")]

    assert sorted(f.path for f in shared) == sorted(
        f"C:\\MSIShare\\{f.name}" for f in manifest.msishare_files()
    )
    assert len(shared) == 21
    for entry in shared:
        spec = table.product(entry.path.rsplit("\\", 1)[1]).previous
        assert entry.msi is not None
        assert (entry.size, entry.mtime, entry.msi.product_version) == (spec.size, spec.date, spec.version)


def test_the_downloaded_hotfix_has_the_kb_sizes_and_dates(
    lab: dict[str, HostState], manifest: Manifest
) -> None:
    """C:\\temp\\KB2492954 holds the 22 rollup-build MSIs at exactly the KB's sizes and UTC dates."""
    state = lab["MPS01"]

    for f in manifest.package.files:
        entry = state.files[path_key(f"{PACKAGE_SOURCE}\\{f.name}")]
        assert (entry.size, entry.mtime) == (f.size_bytes, f.date)
    assert path_key("C:\\temp\\QFERollupPackage\\DNSClient.msi") not in state.files


def test_the_deployment_tool_host_has_the_tool_and_its_shares(lab: dict[str, HostState]) -> None:
    """The Deployment Tool's Uninstall entry, MpsConfig.xml, the log folder and C:\\temp."""
    state = lab["MPS01"]

    assert DEPLOYMENT_TOOL in names(state)
    assert "MpsConfig" in (state.files[path_key("C:\\ConfigShare\\Config\\MpsConfig.xml")].text or "")
    assert {"C:\\temp", "C:\\ConfigShare\\Log"} <= set(state.directories)
    assert all(DEPLOYMENT_TOOL not in names(s) for n, s in lab.items() if n != "MPS01")


def test_the_17_tool_components_are_installed_at_the_previous_build(
    lab: dict[str, HostState], manifest: Manifest
) -> None:
    """Each Deployment Tool component is installed, at 4.0.2379.0, on the engines or web-services servers."""
    components = [c.name for c in manifest.components if c.managed_by == "deployment_tool"]
    where = {**names(lab["MPS01"]), **names(lab["PROV01"])}

    assert len(components) == 17
    assert {name: where.get(name) for name in components} == dict.fromkeys(components, "4.0.2379.0")
    assert names(lab["MPS02"]).keys() <= names(lab["MPS01"]).keys()


def test_uninstall_entries_come_from_the_previous_msi_files(lab: dict[str, HostState], cache: Path) -> None:
    """ProductCode, version and UpgradeCode are what msiinfo reads from the previous build's file."""
    table = load_products()
    built = {path.name: path for path in cache.glob("previous-*/*.msi")}

    for state in lab.values():
        for product in state.products.values():
            if product.display_name == DEPLOYMENT_TOOL:
                continue
            info = read_msi(built[table.product(product.package).file])
            assert (product.product_code, product.display_version, product.upgrade_code) == (
                info.product_code,
                info.product_version,
                info.upgrade_code,
            )


def test_shared_oab_utility_is_installed_nowhere(lab: dict[str, HostState]) -> None:
    """The manifest installs the Shared OAB Utility only under a condition, so no host has it yet."""
    assert all("Shared OAB Utility" not in names(s) for s in lab.values())


def test_dns01_has_the_old_dns_client_and_the_dnsprovider_directory(lab: dict[str, HostState]) -> None:
    """DNS01: the previous DNS Client, and DNSProvider on IIS 6 with Basic on, no domain, SSL off."""
    state = lab["DNS01"]
    vdir = state.iis["dnsprovider"]

    assert names(state) == {"DNS Client": "4.0.2379.0"}
    assert state.iis_version == 6
    assert (vdir.site, vdir.name, vdir.auth_basic, vdir.default_logon_domain, vdir.access_ssl) == (
        "Default Web Site",
        "DNSProvider",
        True,
        "",
        False,
    )


def test_every_collab_server_has_the_old_sharepoint_web_service(lab: dict[str, HostState]) -> None:
    """Each COLLAB host has the previous Windows SharePoint Services Web Service, and IIS."""
    for name in ("COLLAB01", "COLLAB02"):
        assert names(lab[name]) == {"Windows SharePoint Services Web Service": "4.0.2379.0"}
        assert {"w3svc", "iisadmin"} <= set(lab[name].services)


def test_mpssql_has_the_database_without_the_rollups_objects(lab: dict[str, HostState]) -> None:
    """ResourceManager has rmcore_Candidates but no index, procedure or function yet."""
    state = lab["MPSSQL"]
    database = state.databases["resourcemanager"]

    assert [(o.type, o.name) for o in database.objects] == [("U", "rmcore_Candidates")]
    assert names(state) == {"Resource Manage Database": "4.0.2379.0"}
    assert {"mssqlserver", "sqlserveragent"} <= set(state.services)


def test_every_engine_runs_the_provisioning_engine(lab: dict[str, HostState]) -> None:
    """The COM+ application is enabled and running on each MPS engine, and only there."""
    for name in ("MPS01", "MPS02"):
        app = lab[name].complus["provisioning engine"]
        assert (app.name, app.enabled, app.running) == ("Provisioning Engine", True, True)
        assert {"comsysapp", "msdtc"} <= set(lab[name].services)
    assert not lab["PROV01"].complus


def test_every_host_is_a_clean_2003_sp2_with_the_lab_account_as_admin(lab: dict[str, HostState]) -> None:
    """Server 2003 SP2, PowerShell 2.0, WinRM running, free disk, no reboot or fault pending."""
    for state in lab.values():
        assert (state.os_version, state.service_pack, state.ps_version) == ("5.2.3790", 2, "2.0")
        assert state.services["winrm"].status == "Running"
        assert state.domain_admins == [LAB_ADMIN.lower()]
        assert state.disk_free_bytes > 10 * 1024**3
        assert (state.pending_reboot, state.locked_files, state.forced_exit_codes) == ([], [], {})
        assert (state.mutations, state.operations) == (0, [])
    assert [n for n, s in lab.items() if s.iis_version == 6] == ["DNS01", "COLLAB01", "COLLAB02", "PROV01"]


def test_rollup_package_is_the_kb_build_for_the_controller(manifest: Manifest, cache: Path) -> None:
    """rollup_package gives each manifest file as a rollup-build MSI at the KB's size and date."""
    package = rollup_package(manifest, cache)

    assert list(package) == [f.name for f in manifest.package.files]
    for f in manifest.package.files:
        path = package[f.name]
        assert path.stat().st_size == f.size_bytes
        assert datetime.fromtimestamp(path.stat().st_mtime, UTC) == f.date
    assert read_msi(package["DNSClient.msi"]).product_version == "4.0.2491.0"
    assert len({sha256_file(p) for p in package.values()}) == 22


def test_a_manifest_file_the_lab_cannot_build_is_refused(manifest: Manifest, cache: Path) -> None:
    """A package file without a lab MSI is a one-line ConfigError naming it."""
    extra = PackageFile(
        name="Extra.msi",
        kb_name="Extra.msi",
        size_bytes=1024,
        date=datetime(2011, 3, 10, tzinfo=UTC),
        to_msishare=False,
    )
    odd = manifest.model_copy(
        update={"package": manifest.package.model_copy(update={"files": (*manifest.package.files, extra)})}
    )

    with pytest.raises(ConfigError, match=r"^manifest file Extra\.msi: the simulated lab has no package"):
        rollup_package(odd, cache)
