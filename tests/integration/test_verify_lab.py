"""
``rollup verify`` against the simulated lab over HTTP: the real pywinrm client, NTLM with message
encryption, the lab's WinRM server and host model. Drift comes from the lab's own drift
mechanism (``rollup.lab.drift``), as a scenario file would bring it.

``serving`` and ``rolled_up`` are shared with the pre-flight tests, and make a verify-after-apply
test easy: serve the states an apply left, and expect exit 0.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from rollup.checks import Report, Status
from rollup.cli.main import main
from rollup.credentials import CredentialCache, EnvRef
from rollup.errors import ExitCode
from rollup.lab.context import SimContext
from rollup.lab.drift import apply_drift
from rollup.lab.prerollup import LAB_ADMIN, PACKAGE_SOURCE, prerollup_states, rollup_package
from rollup.lab.runner import LabRunner
from rollup.lab.scenario import parse_scenario
from rollup.lab.state import (
    HostState,
    MemoryBlobStore,
    MemoryStateStore,
    SqlObject,
    path_key,
)
from rollup.lab.windows.hostfiles import msi_payload, put_text
from rollup.lab.windows.installer import register_product
from rollup.lab.wsman import Credential, EndpointConfig, LabServer, WindowsVersion
from rollup.model.inventory import Host, Inventory
from rollup.model.lock import lock_path, read_lock
from rollup.model.manifest import Manifest, load_manifest
from rollup.model.roles import Role
from rollup.pin import pin, read_local
from rollup.secret import Secret
from rollup.survey import read_baseline, run_verify
from rollup.testing.fleet import fleet_roles, lab_host
from rollup.transport.base import default_registry
from tests.lab.conftest import next_address

MANIFEST = Path(__file__).resolve().parents[2] / "manifests" / "hmc40-rollup-2011-01.yml"
PASSWORD = "Verify-Lab-2011!"
PASSWORD_ENV = "ROLLUP_VERIFY_LAB_PASSWORD"
OLD = "4.0.2379.0"
APPLIED = datetime(2011, 3, 21, 9, 0, tzinfo=UTC).timestamp()


@dataclass(frozen=True)
class Fleet:
    """The pinned manifest, its package folder, and the pre-rollup states of five hosts."""

    manifest: Manifest
    manifest_path: Path
    package: Path
    blobs: MemoryBlobStore
    states: tuple[HostState, ...]

    def fresh(self) -> list[HostState]:
        """Copies of the pre-rollup states, for one test to change."""
        return [s.model_copy(deep=True) for s in self.states]


@pytest.fixture(scope="module", name="fleet")
def _fleet(tmp_path_factory: pytest.TempPathFactory) -> Fleet:
    cache = tmp_path_factory.getbasetemp() / "msi-cache"
    folder = tmp_path_factory.mktemp("pinned")
    manifest_path = folder / MANIFEST.name
    shutil.copy(MANIFEST, manifest_path)
    package = folder / "package"
    package.mkdir()
    for name, path in rollup_package(load_manifest(MANIFEST), cache).items():
        shutil.copy2(path, package / name)
    pin(manifest_path, read_local(load_manifest(manifest_path), package), source="package")
    blobs = MemoryBlobStore()
    states = prerollup_states(load_manifest(MANIFEST), fleet_roles(2), blobs=blobs, msi_cache_dir=cache)
    return Fleet(load_manifest(manifest_path), manifest_path, package, blobs, tuple(states))


@dataclass
class HttpLab:
    """Simulated hosts served over HTTP, and an inventory that reaches them with NTLM."""

    store: MemoryStateStore
    inventory: Inventory
    env: dict[str, str]

    def credentials(self) -> CredentialCache:
        return CredentialCache(prompt=None, env=self.env)

    def state(self, name: str) -> HostState:
        return self.store.read(name)

    def mutations(self) -> dict[str, int]:
        """Each host's count of changes made through WinRM."""
        return {name: self.store.read(name).mutations for name in self.store.names()}

    def verify(self, manifest: Manifest) -> Report:
        return run_verify(
            manifest, self.inventory, transports=default_registry(), credentials=self.credentials()
        )

    def inventory_file(self, folder: Path) -> Path:
        """The inventory as a YAML file, for the CLI (the password by ``{env: ...}``)."""
        groups: dict[str, dict[str, dict[str, object]]] = {}
        for host in self.inventory.hosts:
            for role in sorted(host.roles):
                entry = {"address": host.address, "port": host.port}
                groups.setdefault(role.value, {"hosts": {}})["hosts"][host.name] = entry
        document = {
            "all": {
                "vars": {
                    "user": LAB_ADMIN,
                    "password": {"env": PASSWORD_ENV},
                    "transport": "ntlm",
                    "scheme": "http",
                },
                "children": groups,
            }
        }
        path = folder / "inventory.yml"
        path.write_text(yaml.safe_dump(document), encoding="utf-8")
        return path


def inventory_host(state: HostState, address: str, port: int) -> Host:
    """A lab host as an inventory describes it: NTLM over HTTP, the password in an environment variable."""
    roles = frozenset(Role(r) for r in state.roles)
    return lab_host(state.name, roles, address=address, port=port, password=EnvRef(PASSWORD_ENV))


@contextlib.contextmanager
def serving(states: Sequence[HostState], blobs: MemoryBlobStore, cert_dir: Path, *, password: str = PASSWORD,
            extra: Sequence[Host] = ()) -> Iterator[HttpLab]:  # fmt: skip
    """``states`` served on fresh loopback addresses; the inventory's password is ``password``."""
    store = MemoryStateStore(list(states))
    runner = LabRunner(store, blobs, time_factor=0.0, user=LAB_ADMIN)
    account = (Credential(LAB_ADMIN, Secret(PASSWORD)),)
    configs = [
        EndpointConfig(s.name, next_address(), account, runner, port=0, os=WindowsVersion.SERVER_2003_SP2)
        for s in states
    ]
    server = LabServer(configs, cert_dir=cert_dir)
    server.start()
    try:
        endpoints = [server.endpoint(s.name) for s in states]
        hosts = tuple(inventory_host(s, e.address, e.port) for s, e in zip(states, endpoints, strict=True))
        yield HttpLab(store, Inventory("inventory/http-lab.yml", (*hosts, *extra)), {PASSWORD_ENV: password})
    finally:
        server.stop()
    assert server.simulation_errors() == ()


def rolled_up(states: Sequence[HostState], manifest: Manifest, blobs: MemoryBlobStore) -> list[HostState]:
    """
    ``states`` as the rollup leaves them: the rollup's files in C:\\MSIShare, its build of every
    installed product (installed by the lab's Windows Installer from the rollup's package, so its
    files are in place), DNSProvider's security set, and the database's new objects.
    """
    done = [s.model_copy(deep=True) for s in states]
    (tool,) = [s for s in done if Role.DEPLOYMENT_TOOL.value in s.roles]
    package = {
        path_key(f.name): tool.files[path_key(f"{PACKAGE_SOURCE}\\{f.name}")] for f in manifest.package.files
    }
    share = manifest.package.msishare
    for f in manifest.msishare_files():
        tool.files[path_key(f"{share}\\{f.name}")] = package[path_key(f.name)].model_copy(
            update={"path": f"{share}\\{f.name}"}
        )
    builds = {p.msi.upgrade_code: p for p in package.values() if p.msi is not None}
    ctx = SimContext(now=APPLIED, user=LAB_ADMIN, read_blob=blobs.get, write_blob=blobs.put)
    for state in done:
        for product in list(state.products.values()):
            new = builds.get(product.upgrade_code)
            if new is None or new.msi is None:
                continue
            payload = msi_payload(new, ctx)
            assert payload is not None
            for _ in range(2):  # a run-twice package (the DNS Client) installs on its second run
                if new.msi.product_code not in state.products:
                    register_product(state, new.msi, new.path, payload, ctx)
        for vdir in state.iis.values():
            vdir.default_logon_domain, vdir.access_ssl = "\\", True
        database = state.databases.get("resourcemanager")
        if database is not None and manifest.sql is not None:
            wanted = [SqlObject(type="IX", name=i.name, table=i.table) for i in manifest.sql.indexes]
            wanted += [SqlObject(type="P", name=p) for p in manifest.sql.procedures]
            wanted += [SqlObject(type="FN" if f.type == "scalar" else "TF", name=f.name)
                       for f in manifest.sql.functions]  # fmt: skip
            have = {(o.type, o.name.lower()) for o in database.objects}
            database.objects += [o for o in wanted if (o.type, o.name.lower()) not in have]
    return done


def not_ok(report: Report) -> dict[tuple[str, str], str]:
    """``(host, check) -> status`` of every check that is not ok."""
    return {(h.host, c.name): c.status.value for h, c in report.checks() if c.status is not Status.OK}


def test_the_prerollup_lab_drifts_on_every_component_it_should_and_nothing_else(
    fleet: Fleet, tmp_path: Path
) -> None:
    """
    Before the rollup: the share's files, every component and every file its package installed
    (the previous build's), DNSProvider and the SQL objects drift; only.
    """
    manifest = fleet.manifest
    share = [f"C:\\MSIShare\\{f.name}" for f in manifest.msishare_files()]
    tool = [c.name for c in manifest.components if c.managed_by == "deployment_tool"]
    components = {i.component for c in manifest.components for i in manifest.file(c.msi).installs or ()}
    sql = [f"ResourceManager: {k}" for k in (
        "index rmcore_candidates_ix_target_set_object_category_object_id_trans_id on rmcore_Candidates",
        "procedure SeleteAndAssembleAllocateOrgMailStores",
        "procedure SeleteAndAssembleReallocateOrgMailStores",
        "scalar function fn_min", "table-valued function fn_ResourceCapacityOnAllocatedMailStores",
        "table-valued function fn_ResourceCapacityOnUnallocatedMailStores")]  # fmt: skip
    expected = {
        **{("MPS01", name): "drift" for name in [*share, *tool]},
        ("DNS01", "DNS Client"): "drift",
        ("DNS01", "Default Web Site/DNSProvider: Basic authentication default domain"): "drift",
        ("DNS01", "Default Web Site/DNSProvider: require secure channel (SSL)"): "drift",
        ("MPSSQL", "Resource Manage Database"): "drift",
        **{("MPSSQL", name): "drift" for name in sql},
        ("COLLAB01", "SharePoint 2007 Provider Web Services"): "drift",
        ("COLLAB02", "SharePoint 2007 Provider Web Services"): "drift",
        **{(s.name, path): "drift" for s in fleet.states for c in s.components.values() for path in c.files
           if c.component in components},
    }  # fmt: skip

    with serving(fleet.fresh(), fleet.blobs, tmp_path) as lab:
        report = lab.verify(manifest)
        mutations = lab.mutations()
        operations = {name: lab.state(name).operations for name in lab.store.names()}

    assert len(expected) == 50 + 2 * (17 + 1 + 1 + 2) + 1  # two files a component, the shared DLL once
    assert not_ok(report) == expected
    assert report.exit_code == ExitCode.DRIFT
    assert mutations == dict.fromkeys(mutations, 0)
    assert operations == {name: ["verify.facts"] for name in operations}
    assert all(h.requests for h in report.hosts)


def test_a_rolled_up_lab_is_compliant(fleet: Fleet, tmp_path: Path) -> None:
    """With the rollup's state on every host, every check is ok and verify exits 0."""
    with serving(rolled_up(fleet.states, fleet.manifest, fleet.blobs), fleet.blobs, tmp_path) as lab:
        report = lab.verify(fleet.manifest)

    assert not_ok(report) == {}
    assert report.exit_code == ExitCode.OK
    installed = 2 * 17 + 1 + 2 + 2 + 2 * 2  # MPS01's components and the shared DLL, DNS01, MPSSQL, COLLAB0x
    restarts = 5  # each host's pending-restart check
    assert sum(len(h.checks) for h in report.hosts) == 21 + 18 + 1 + 5 + 7 + 1 + 1 + restarts + installed
    assert sum(c.group == "installed" for _, c in report.checks()) == installed


def test_a_collab_host_costs_seven_requests(fleet: Fleet, tmp_path: Path) -> None:
    """
    NTLM's two legs (the first request carries the NEGOTIATE message), Create, Command, Send (the
    script, over the command line's length with its products, restart and installed-files
    groups), Receive and Delete: no Signal, and no more for MPS01's longer script.
    """
    with serving(fleet.fresh(), fleet.blobs, tmp_path) as lab:
        report = lab.verify(fleet.manifest)

    requests = {h.host: h.requests for h in report.hosts}
    assert requests["COLLAB01"] == requests["COLLAB02"] == requests["MPS01"] == 7


SHARE = "C:\\MSIShare"
INSTALLED = "C:\\Program Files\\Microsoft Hosting\\Provisioning"
WSS = "WindowsSharePointServicesWebService"
WSS_DLL = f"{INSTALLED}\\{WSS}\\Microsoft.Provisioning.{WSS}.dll"
SHARED_DLL = f"{INSTALLED}\\Shared\\Microsoft.Provisioning.WebServices.Common.dll"
DNS_CONFIG = f"{INSTALLED}\\DNSClient\\Microsoft.Provisioning.DNSClient.dll.config"
RMD_DLL = f"{INSTALLED}\\ResourceManageDatabase\\Microsoft.Provisioning.ResourceManageDatabase.dll"
NEAR = "SelectAndAssembleAllocateOrgMailStores"
SELETE = "SeleteAndAssembleAllocateOrgMailStores"
DRIFTS = {
    "file-size": (
        {"hosts": "MPS01", "files": [{"path": f"{SHARE}\\DNSClient.msi", "size": 1000}]},
        {("MPS01", f"{SHARE}\\DNSClient.msi"): "size (the KB says 679,936 bytes)"},
    ),
    "file-removed": (
        {"hosts": "MPS01", "files": [{"path": f"{SHARE}\\ManagedHelpers.msi", "remove": True}]},
        {("MPS01", f"{SHARE}\\ManagedHelpers.msi"): "missing"},
    ),
    "product-version": (
        {"hosts": "COLLAB02",
         "products": [{"product": "Windows SharePoint Services Web Service", "version": OLD}]},
        {("COLLAB02", "SharePoint 2007 Provider Web Services"): f"version {OLD}"},
    ),
    "product-removed": (
        {"hosts": "DNS01", "products": [{"product": "DNS Client", "remove": True}]},
        {("DNS01", "DNS Client"): "not installed"},
    ),
    "iis": (
        {"hosts": "DNS01", "iis": [{"vdir": "DNSProvider", "access_ssl": False}]},
        {("DNS01", "Default Web Site/DNSProvider: require secure channel (SSL)"): "no"},
    ),
    "no-certificate": (
        {"hosts": "DNS01", "iis": [{"vdir": "DNSProvider", "certificate": False}]},
        {("DNS01", "Default Web Site/DNSProvider: certificate bound to Default Web Site"): "no"},
    ),
    "complus": (
        {"hosts": "MPS01", "complus": [{"application": "Provisioning Engine", "running": False}]},
        {("MPS01", "COM+ Provisioning Engine"): "not running"},
    ),
    "sql-near-miss": (
        {"hosts": "MPSSQL", "sql": [{"database": "ResourceManager", "remove": [SELETE],
                                     "add": [{"type": "P", "name": NEAR}]}]},
        {("MPSSQL", f"ResourceManager: procedure {SELETE}"): f"near miss {NEAR}"},
    ),
    "installed-dll-older": (
        {"hosts": "COLLAB02", "files": [{"path": WSS_DLL, "file_version": OLD}]},
        {("COLLAB02", WSS_DLL): f"version {OLD} older than the package's 4.0.2491.0"},
    ),
    "installed-shared-dll-older": (
        {"hosts": "MPS01", "files": [{"path": SHARED_DLL, "file_version": "4.0.2490.0"}]},
        {("MPS01", SHARED_DLL): "version 4.0.2490.0 older than the package's 4.0.2491.0"},
    ),
    "installed-config-changed": (
        {"hosts": "DNS01", "files": [{"path": DNS_CONFIG, "size": 10}]},
        {("DNS01", DNS_CONFIG): "differs from the package's in size and SHA-256"},
    ),
    "installed-file-removed": (
        {"hosts": "MPSSQL", "files": [{"path": RMD_DLL, "remove": True}]},
        {("MPSSQL", RMD_DLL): "missing"},
    ),
}  # fmt: skip


@pytest.mark.parametrize(("drift", "found"), list(DRIFTS.values()), ids=list(DRIFTS))
def test_each_drift_injected_through_the_lab_is_detected_and_named(
    fleet: Fleet, tmp_path: Path, drift: dict[str, Any], found: dict[tuple[str, str], str]
) -> None:
    """On a rolled-up lab, one difference a scenario's drift brings is the only drift, named as found."""
    states = rolled_up(fleet.states, fleet.manifest, fleet.blobs)
    scenario = parse_scenario({"drift": [drift]}, source="scenario.yml")
    apply_drift(states, scenario.drift, fleet.blobs, source="scenario.yml")

    with serving(states, fleet.blobs, tmp_path) as lab:
        report = lab.verify(fleet.manifest)
        mutations = lab.mutations()

    drifted = {(h.host, c.name): c for h, c in report.checks() if c.status is not Status.OK}
    assert set(drifted) == set(found)
    for key, text in found.items():
        assert drifted[key].status is Status.DRIFT
        assert text in f"{drifted[key].actual} {drifted[key].detail}"
    assert report.exit_code == ExitCode.DRIFT
    assert mutations == dict.fromkeys(mutations, 0)


def test_a_later_build_of_an_installed_dll_is_compliant(fleet: Fleet, tmp_path: Path) -> None:
    """The KB's "or later file attributes": a DLL newer than the package's is ok, and says so."""
    states = rolled_up(fleet.states, fleet.manifest, fleet.blobs)
    drift = {"hosts": "COLLAB01", "files": [{"path": WSS_DLL, "file_version": "4.0.2500.3"}]}
    apply_drift(states, parse_scenario({"drift": [drift]}, source="s.yml").drift, fleet.blobs, source="s.yml")

    with serving(states, fleet.blobs, tmp_path) as lab:
        report = lab.verify(fleet.manifest)

    (dll,) = [c for h, c in report.checks() if h.host == "COLLAB01" and c.name == WSS_DLL]
    assert report.exit_code == ExitCode.OK
    assert (dll.status, dll.expected, dll.actual) == (
        Status.OK,
        "version 4.0.2491.0 or later",
        "version 4.0.2500.3",
    )
    assert "later than the package's 4.0.2491.0" in dll.detail


def test_the_table_names_an_older_dll_with_both_versions_and_files_lists_every_file(
    fleet: Fleet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """
    ``rollup verify``'s table: one line per component's installed files, naming the drifted
    file with its found and expected versions (exit 3); ``--files`` a line per file.
    """
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    monkeypatch.setenv("COLUMNS", "400")
    states = rolled_up(fleet.states, fleet.manifest, fleet.blobs)
    drift = {"hosts": "COLLAB02", "files": [{"path": WSS_DLL, "file_version": OLD}]}
    apply_drift(states, parse_scenario({"drift": [drift]}, source="s.yml").drift, fleet.blobs, source="s.yml")
    args = ["verify", "-m", str(fleet.manifest_path), "--limit", "COLLAB*"]

    with serving(states, fleet.blobs, tmp_path) as lab:
        inventory = lab.inventory_file(tmp_path)
        code = main([*args, "-i", str(inventory)])
        table = capsys.readouterr().out
        every = main([*args, "-i", str(inventory), "--files"])
        files = capsys.readouterr().out

    line = next(row for row in table.splitlines() if "1 of 2 ok" in row)
    assert code == every == ExitCode.DRIFT
    assert "1 of 2 ok" in table
    assert "2 of 2 ok" in table
    assert f"{WSS_DLL}: version {OLD} (drift, older than the package's 4.0.2491.0)" in table, line
    assert "SharePoint 2007 Provider Web Services: installed files" in line
    assert "drift" in line
    assert WSS_DLL not in [row.split("│")[1].strip() for row in table.splitlines() if row.count("│") > 2]
    assert sum(WSS_DLL in row and ".config" not in row for row in files.splitlines()) == 2  # COLLAB01, 02
    assert "version 4.0.2491.0 or later" in files
    assert f"version {OLD}" in files


def test_an_unreachable_host_is_an_error_and_the_others_are_still_checked(
    fleet: Fleet, tmp_path: Path
) -> None:
    """A host nobody answers for is one error check; the reachable hosts are verified; exit 1."""
    gone = inventory_host(fleet.states[-1].model_copy(update={"name": "COLLAB09"}), next_address(), 9)

    states = rolled_up(fleet.states, fleet.manifest, fleet.blobs)
    with serving(states, fleet.blobs, tmp_path, extra=(gone,)) as lab:
        report = lab.verify(fleet.manifest)

    assert not_ok(report) == {("COLLAB09", "WinRM session"): "error"}
    (checks,) = [h.checks for h in report.hosts if h.host == "COLLAB09"]
    assert "COLLAB09" not in checks[0].actual.split(":")[0]
    assert report.exit_code == ExitCode.RUN_FAILED


def test_the_verify_command_reports_json_and_junit_and_exits_3(
    fleet: Fleet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``rollup verify --json --junit FILE`` over HTTP: the document, the XML, exit 3 before the rollup."""
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    junit = tmp_path / "verify.xml"

    with serving(fleet.fresh(), fleet.blobs, tmp_path) as lab:
        inventory = lab.inventory_file(tmp_path)
        code = main(
            ["verify", "-i", str(inventory), "-m", str(fleet.manifest_path), "--json", "--junit", str(junit)]
        )

    document = json.loads(capsys.readouterr().out)
    root = ET.parse(junit).getroot()  # noqa: S314 - rollup's own output, parsed to check it
    assert code == ExitCode.DRIFT
    assert document["manifest"]["pinned"] is True
    assert {h["host"]: h["status"] for h in document["hosts"]} == dict.fromkeys(
        ("MPS01", "DNS01", "MPSSQL", "COLLAB01", "COLLAB02"), "drift"
    )
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("102", "93", "0")


def test_pinning_from_a_host_over_http_gives_the_same_lock_as_the_local_package(
    fleet: Fleet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """
    ``rollup manifest pin --from-host MPS01 --path ...`` reads the hotfix on the host, read-only:
    the same lock as the local package's, but for the installed files, which only a local
    package's File tables give.
    """
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    target = tmp_path / MANIFEST.name
    shutil.copy(MANIFEST, target)

    with serving(fleet.fresh(), fleet.blobs, tmp_path) as lab:
        inventory = lab.inventory_file(tmp_path)
        code = main(["manifest", "pin", "-m", str(target), "--from-host", "mps01", "-i", str(inventory),
                     "--path", PACKAGE_SOURCE])  # fmt: skip
        mutations = lab.mutations()

    remote, local = read_lock(lock_path(target)), read_lock(lock_path(fleet.manifest_path))
    assert code == 0, capsys.readouterr().err
    assert remote.files == tuple(f.model_copy(update={"installs": None}) for f in local.files)
    assert all(f.installs for f in local.files)
    assert remote.source == f"MPS01:{PACKAGE_SOURCE}"
    assert mutations == dict.fromkeys(mutations, 0)


GENERATED = f"{INSTALLED}\\DNSClient\\dnsclient.generated.config"


def test_verify_against_a_rehearsal_baseline_compares_files_no_msi_table_names(
    fleet: Fleet, tmp_path: Path
) -> None:
    """
    The baseline lists every file in the components' folders on the rehearsal's hosts (a
    configuration written at install included); production is compared with the host of its roles:
    a file missing or changed there, an older DLL, and a file the rehearsal's host had not are drift.
    """
    rehearsed = rolled_up(fleet.states, fleet.manifest, fleet.blobs)
    (dns,) = [s for s in rehearsed if s.name == "DNS01"]
    put_text(dns, GENERATED, "<configuration><zone>hosting.local</zone></configuration>", APPLIED)
    with serving(rehearsed, fleet.blobs, tmp_path) as lab:
        recorded = read_baseline(fleet.manifest, lab.inventory, transports=default_registry(),
                                 credentials=lab.credentials())  # fmt: skip
        same = run_verify(fleet.manifest, lab.inventory, transports=default_registry(),
                          credentials=lab.credentials(), baseline=("R1", recorded))  # fmt: skip
    production = rolled_up(fleet.states, fleet.manifest, fleet.blobs)
    drift = [{"hosts": "COLLAB02", "files": [{"path": WSS_DLL, "file_version": OLD}]},
             {"hosts": "MPS01", "files": [{"path": SHARED_DLL, "file_version": "4.0.2600.0"}]}]  # fmt: skip
    apply_drift(
        production, parse_scenario({"drift": drift}, source="s.yml").drift, fleet.blobs, source="s.yml"
    )
    (collab,) = [s for s in production if s.name == "COLLAB01"]
    put_text(collab, f"{INSTALLED}\\{WSS}\\left-over.tmp", "x", APPLIED)
    with serving(production, fleet.blobs, tmp_path) as lab:
        report = run_verify(fleet.manifest, lab.inventory, transports=default_registry(),
                            credentials=lab.credentials(), baseline=("R1", recorded))  # fmt: skip

    by_host = {b.host: b for b in recorded}
    folder = "[ProgramFilesFolder]Microsoft Hosting\\Provisioning"
    assert {b.error for b in recorded} == {None}
    assert len(by_host["MPS01"].files) == 2 * 17 + 1  # the Shared OAB Utility's folder is not there
    assert f"{folder}\\DNSClient\\dnsclient.generated.config" in {f.path for f in by_host["DNS01"].files}
    assert not_ok(same) == {}
    drifted = {(h.host, c.name): (c.actual, c.detail) for h, c in report.checks()
               if c.group == "baseline" and c.status is not Status.OK}  # fmt: skip
    assert drifted == {
        ("DNS01", f"{folder}\\DNSClient\\dnsclient.generated.config"):
            ("missing", "DNS01 had it in rehearsal R1"),
        ("COLLAB02", f"{folder}\\{WSS}\\Microsoft.Provisioning.{WSS}.dll"):
            (f"version {OLD}", "older than on COLLAB01 in rehearsal R1"),
        ("COLLAB01", f"{folder}\\{WSS}\\left-over.tmp"):
            ("1 bytes, SHA-256 2d711642b726b044...", "COLLAB01 had no such file in rehearsal R1"),
    }  # fmt: skip
    assert report.exit_code == ExitCode.DRIFT
