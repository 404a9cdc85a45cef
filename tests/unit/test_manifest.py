"""The shipped manifest says what KB2492954 says: files, components, nodes, SQL objects, step order."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path
from typing import get_args

import yaml

from rollup.model.manifest import Manifest, load_manifest, parse_manifest
from rollup.model.roles import Role
from rollup.model.steps import (
    STEP_KINDS,
    ConditionalStep,
    CopyStep,
    DeploymentToolStep,
    MsiInstallStep,
    Step,
    TransferStep,
)

SHIPPED = Path(__file__).resolve().parents[2] / "manifests" / "hmc40-rollup-2011-01.yml"

# The KB's "File information" table, literally: file name, date, time (UTC), size.
KB_FILE_TABLE = [
    ("Dnsclient.msi", "10-Mar-2011", "10:04", "679,936"),
    ("Dnsprovider.msi", "10-Mar-2011", "10:04", "359,936"),
    ("Exchange2007mobilityprovide", "10-Mar-2011", "10:03", "368,128"),
    ("Exchange2007oabresourcemana", "10-Mar-2011", "09:52", "251,392"),
    ("Exchange2007oabresourcemana", "10-Mar-2011", "10:05", "447,488"),
    ("Exchange2007provider.msi", "10-Mar-2011", "10:03", "511,488"),
    ("Exchange2007resourcemanager", "10-Mar-2011", "09:52", "295,936"),
    ("Exchange2007resourcemanager", "10-Mar-2011", "10:05", "469,504"),
    ("Hostedemail2007ns.msi", "10-Mar-2011", "09:53", "314,880"),
    ("Hostedemail2007ws.msi", "10-Mar-2011", "10:05", "529,920"),
    ("Hostedsharepoint2007ns.msi", "10-Mar-2011", "09:53", "254,464"),
    ("Hostedsharepoint2007ws.msi", "10-Mar-2011", "10:05", "476,160"),
    ("Managedemail2007ns.msi", "10-Mar-2011", "09:54", "280,064"),
    ("Managedemail2007ws.msi", "10-Mar-2011", "10:05", "514,560"),
    ("Managedhelpers.msi", "10-Mar-2011", "09:50", "317,952"),
    ("Managedsharepoint2007ns.msi", "10-Mar-2011", "09:54", "272,384"),
    ("Managedsharepoint2007ws.msi", "10-Mar-2011", "10:05", "469,504"),
    ("Resourcemanagedatabase.msi", "10-Mar-2011", "10:05", "791,040"),
    ("Servicebase.msi", "13-Jan-2011", "22:14", "378,880"),
    ("Sharedoabutility.msi", "10-Mar-2011", "09:50", "391,680"),
    ("Unifiedmessaging2007provide", "10-Mar-2011", "10:03", "407,040"),
    ("Windowssharepointserviceswe", "10-Mar-2011", "10:04", "645,632"),
]

# The KB's list of files to copy to C:\MSIShare, literally.
KB_COPY_LIST = [
    "HostedSharePoint2007NS.msi", "ManagedSharePoint2007NS.msi", "HostedSharePoint2007WS.msi",
    "ManagedSharePoint2007WS.msi", "Exchange2007Provider.msi", "DNSClient.msi", "DNSProvider.msi",
    "WindowsSharePointServicesWebService.msi", "Exchange2007ResourceManagerNS.msi",
    "UnifiedMessaging2007Provider.msi", "HostedEmail2007NS.msi", "ManagedEmail2007NS.msi",
    "ManagedHelpers.msi", "SharedOABUtility.msi", "Exchange2007MobilityProvider.msi",
    "Exchange2007ResourceManagerWS.msi", "HostedEmail2007WS.msi", "ManagedEmail2007WS.msi",
    "Exchange2007OABResourceManagerNS.msi", "Exchange2007OABResourceManagerWS.msi",
    "Resourcemanagedatabase.msi",
]  # fmt: skip

# The KB's uninstall list, literally.
KB_UNINSTALL_LIST = [
    "Hosted SharePoint 2007 Namespace", "Managed SharePoint 2007 Namespace",
    "Hosted SharePoint 2007 Web Services", "Managed SharePoint 2007 Web Services", "Exchange 2007 Provider",
    "DNS Provider", "Exchange 2007 Resource Manager Namespace", "Unified Messaging 2007 Provider",
    "Hosted Email 2007 Namespace", "Managed Email 2007 Namespace", "Exchange 2007 Mobility Provider",
    "Exchange 2007 Resource Manager Web Services", "Hosted Email 2007 Web Services",
    "Managed Email2007 Web Services", "Managed Helpers", "Exchange 2007 OAB Resource Manager Namespace",
    "Exchange 2007 OAB Resource Manager Web Services",
]  # fmt: skip
# The KB's reinstall list, literally: the same components, but "ManagedHelpers.msi" for Managed Helpers.
KB_REINSTALL_LIST = [
    "Hosted SharePoint 2007 Namespace", "Managed SharePoint 2007 Namespace",
    "Hosted SharePoint 2007 Web Services", "Managed SharePoint 2007 Web Services", "Exchange 2007 Provider",
    "DNS Provider", "Exchange 2007 Resource Manager Namespace", "Unified Messaging 2007 Provider",
    "Hosted Email 2007 Namespace", "Managed Email 2007 Namespace", "ManagedHelpers.msi",
    "Exchange 2007 Mobility Provider", "Exchange 2007 Resource Manager Web Services",
    "Hosted Email 2007 Web Services", "Managed Email2007 Web Services",
    "Exchange 2007 OAB Resource Manager Namespace", "Exchange 2007 OAB Resource Manager Web Services",
]  # fmt: skip

EXCHANGE_PATH = ("Hosted Exchange", "Exchange Provisioning Configuration")
KB_EXCHANGE_NODES = [
    "Hosted Email 2007",
    "Managed Email 2007",
    "Exchange 2007 Resource Manager",
    "Exchange 2007 OAB Resource Manager",
]
KB_OTHER_NODES = [
    "Hosted SharePoint 2007",
    "Managed SharePoint 2007",
    "Active Directory for Hosting",
    "Namespace Security",
]

# Every "before" relation of the KB's procedure, as (earlier step, later step).
KB_CHAIN = [
    "confirm-prerequisites", "uninstall-components", "extract-package", "backup-msishare", "copy-to-msishare",
    "reinstall-components", "initialize-exchange", "initialize-other", "start-deployment",
]  # fmt: skip
DNS_BRANCH = [
    "transfer-dnsclient",
    "dnsclient-run-twice",
    "dnsprovider-directory-security",
    "dns-iis-restart",
]
COLLAB_BRANCH = [
    "transfer-wss-web-service",
    "uninstall-old-wss-web-service",
    "install-wss-web-service",
    "collab-iis-restart",
]
MPSSQL_BRANCH = [
    "transfer-resource-manage-database",
    "install-resource-manage-database",
    "check-resource-manager-objects",
]
TAIL = ["shared-oab-utility", "restart-provisioning-engine", "web-services-iis-restart"]


def _shipped() -> Manifest:
    return load_manifest(SHIPPED)


def _pairs(chain: list[str]) -> list[tuple[str, str]]:
    return list(itertools.pairwise(chain))


def _tool_step(m: Manifest, step_id: str) -> DeploymentToolStep:
    step = m.step(step_id)
    assert isinstance(step, DeploymentToolStep)
    return step


def _closure(m: Manifest) -> dict[str, set[str]]:
    """Each step's transitive dependencies, computed here independently of the model."""
    after = {s.id: set(s.after) for s in m.steps}
    closure: dict[str, set[str]] = {}

    def visit(step_id: str) -> set[str]:
        if step_id not in closure:
            closure[step_id] = set()
            for dep in after[step_id]:
                closure[step_id] |= {dep} | visit(dep)
        return closure[step_id]

    for step_id in after:
        visit(step_id)
    return closure


def test_the_file_table_has_the_kbs_22_rows_with_sizes_and_dates() -> None:
    """Row by row, the package files carry the KB table's spelling, byte size and UTC date and time."""
    m = _shipped()

    rows = [
        (f.kb_name, f"{f.date:%d-%b-%Y}", f"{f.date:%H:%M}", f"{f.size_bytes:,}") for f in m.package.files
    ]
    assert rows == KB_FILE_TABLE
    assert all(f.date.tzinfo is UTC for f in m.package.files)


def test_every_file_has_one_full_name_from_the_copy_list() -> None:
    """Full names follow the KB's copy list (truncated table names resolved), ResourceManageDatabase.msi
    as the MPSSQL step spells it, and the table's name is a case-insensitive prefix of it."""
    m = _shipped()
    names = [f.name for f in m.package.files]

    assert names[3:5] == ["Exchange2007OABResourceManagerNS.msi", "Exchange2007OABResourceManagerWS.msi"]
    assert names[6:8] == ["Exchange2007ResourceManagerNS.msi", "Exchange2007ResourceManagerWS.msi"]
    assert "ResourceManageDatabase.msi" in names
    assert "DNSClient.msi" in names
    assert all(f.name.lower().startswith(f.kb_name.lower()) for f in m.package.files)
    assert len({n.lower() for n in names}) == 22


def test_21_files_go_to_the_msi_share_and_servicebase_does_not() -> None:
    """The to_msishare files are exactly the KB's copy list; Servicebase.msi stays out, with a note."""
    m = _shipped()

    assert sorted(f.name.lower() for f in m.msishare_files()) == sorted(n.lower() for n in KB_COPY_LIST)
    assert len(m.msishare_files()) == 21
    assert m.file("servicebase.msi").to_msishare is False
    assert "C:\\MSIShare" in (m.file("Servicebase.msi").note or "")


def test_the_copy_step_copies_exactly_the_msishare_files_after_a_backup() -> None:
    """One copy step moves the 21 files, and the backup step before it covers the same 21."""
    m = _shipped()
    copy = [s for s in m.steps if isinstance(s, CopyStep)]

    assert len(copy) == 1
    assert sorted(copy[0].files) == sorted(f.name for f in m.msishare_files())
    assert m.step("backup-msishare").kind == "backup"
    assert "backup-msishare" in copy[0].after


def test_17_components_are_uninstalled_and_17_reinstalled() -> None:
    """The Deployment Tool lists match the KB's lists, and the four hand-installed components are apart."""
    m = _shipped()
    by_msi = {c.msi: c.name for c in m.components}
    reinstall_names = [by_msi.get(entry, entry) for entry in KB_REINSTALL_LIST]

    assert [c.name for c in m.components if c.uninstall] == KB_UNINSTALL_LIST
    assert sorted(c.name for c in m.components if c.reinstall) == sorted(reinstall_names)
    assert list(_tool_step(m, "uninstall-components").components) == KB_UNINSTALL_LIST
    assert list(_tool_step(m, "reinstall-components").components) == reinstall_names
    assert len(KB_UNINSTALL_LIST) == len(reinstall_names) == 17
    assert m.component("Managed Helpers").msi == "ManagedHelpers.msi"
    assert sorted(c.msi for c in m.components if c.managed_by == "steps") == [
        "DNSClient.msi",
        "ResourceManageDatabase.msi",
        "SharedOABUtility.msi",
        "WindowsSharePointServicesWebService.msi",
    ]


def test_eight_initialize_nodes_with_their_tree_paths() -> None:
    """Four nodes under Hosted Exchange > Exchange Provisioning Configuration, four others, in KB order."""
    m = _shipped()
    by_name = {n.name: n for n in m.initialize}

    assert [n.name for n in m.initialize] == KB_EXCHANGE_NODES + KB_OTHER_NODES
    assert all(by_name[n].path == (*EXCHANGE_PATH, n) for n in KB_EXCHANGE_NODES)
    assert all(by_name[n].path == (n,) for n in KB_OTHER_NODES)
    assert list(_tool_step(m, "initialize-exchange").nodes) == KB_EXCHANGE_NODES
    assert list(_tool_step(m, "initialize-other").nodes) == KB_OTHER_NODES


def test_the_sql_objects_have_the_kbs_exact_names() -> None:
    """Index, the two "Selete" procedures and the three functions, spelled as in the KB."""
    m = _shipped()
    assert m.sql is not None

    assert m.sql.database == "ResourceManager"
    assert [(i.name, i.table) for i in m.sql.indexes] == [
        ("rmcore_candidates_ix_target_set_object_category_object_id_trans_id", "rmcore_Candidates")
    ]
    assert m.sql.procedures == (
        "SeleteAndAssembleAllocateOrgMailStores",
        "SeleteAndAssembleReallocateOrgMailStores",
    )
    assert [(f.name, f.type) for f in m.sql.functions] == [
        ("fn_min", "scalar"),
        ("fn_ResourceCapacityOnAllocatedMailStores", "table_valued"),
        ("fn_ResourceCapacityOnUnallocatedMailStores", "table_valued"),
    ]


def test_metadata_states_the_kb_release_prerequisites_and_superseded_rollups() -> None:
    """KB number, January 2011, the three prerequisites, Update Rollups 3 to 5, no reboot."""
    meta = _shipped().metadata

    assert (meta.id, meta.kb, meta.release.dated) == ("hmc40-rollup-2011-01", "KB2492954", "2011-01")
    assert "13-Jan-2011" in meta.release.note
    assert "10-Mar-2011" in meta.release.note
    assert [s.kb for s in meta.supersedes] == ["KB979702", "KB982216", "KB2444352"]
    assert [p.id for p in meta.prerequisites] == [
        "hmc40-installed",
        "domain-admins",
        "deployment-tool-on-first-mps",
    ]
    assert meta.prerequisites[2].role is Role.DEPLOYMENT_TOOL
    assert (meta.restart.reboot_required, meta.restart.services_restarted) == (False, True)


def test_the_file_order_is_a_topological_order() -> None:
    """Every step's dependencies are listed before it, so the file reads in running order."""
    m = _shipped()
    seen: set[str] = set()
    ordered = True
    for step in m.steps:
        ordered = ordered and set(step.after) <= seen
        seen.add(step.id)

    assert ordered
    assert m.step_order() == tuple(s.id for s in m.steps)


def test_every_kb_before_relation_holds() -> None:
    """The main chain, each branch's own order, and the tail after all three branches are dependencies."""
    closure = _closure(_shipped())
    relations = _pairs(KB_CHAIN) + _pairs(DNS_BRANCH) + _pairs(COLLAB_BRANCH) + _pairs(MPSSQL_BRANCH)
    relations += [("start-deployment", branch[0]) for branch in (DNS_BRANCH, COLLAB_BRANCH, MPSSQL_BRANCH)]
    relations += [(branch[-1], TAIL[0]) for branch in (DNS_BRANCH, COLLAB_BRANCH, MPSSQL_BRANCH)]
    relations += _pairs(TAIL)

    missing = [(before, later) for before, later in relations if before not in closure[later]]

    assert missing == []


def test_dns_collab_and_mpssql_branches_can_run_in_parallel() -> None:
    """No step of one branch waits for a step of another."""
    closure = _closure(_shipped())
    branches = (DNS_BRANCH, COLLAB_BRANCH, MPSSQL_BRANCH)

    crossing = [
        (a, b)
        for mine in branches
        for other in branches
        if mine is not other
        for a in mine
        for b in other
        if b in closure[a]
    ]

    assert crossing == []


def test_steps_target_the_kb_hosts() -> None:
    """MPS01 work on deployment_tool; then DNS01, COLLAB0n, MPSSQL; every MPS engine; web services."""
    m = _shipped()
    roles = {s.id: set(s.roles) for s in m.steps}

    assert all(roles[s] == {Role.DEPLOYMENT_TOOL} for s in KB_CHAIN)
    assert all(roles[s] == {Role.DNS} for s in DNS_BRANCH)
    assert all(roles[s] == {Role.COLLAB} for s in COLLAB_BRANCH)
    assert all(roles[s] == {Role.MPSSQL} for s in MPSSQL_BRANCH)
    assert [roles[s] for s in TAIL] == [{Role.DEPLOYMENT_TOOL}, {Role.MPS_ENGINE}, {Role.WEB_SERVICES}]


def test_transfers_stage_the_kbs_three_files_on_their_hosts() -> None:
    """DNSClient.msi to DNS01, the SharePoint web-service MSI to COLLAB, the database MSI to MPSSQL."""
    m = _shipped()

    transfers = {(s.file, s.roles) for s in m.steps if isinstance(s, TransferStep)}

    assert transfers == {
        ("DNSClient.msi", (Role.DNS,)),
        ("WindowsSharePointServicesWebService.msi", (Role.COLLAB,)),
        ("ResourceManageDatabase.msi", (Role.MPSSQL,)),
    }


def test_the_shared_oab_utility_is_conditional_on_the_oab_limit() -> None:
    """SharedOABUtility.msi runs on MPS01 only near the 32,000 offline address book limit, overridable."""
    step = _shipped().step("shared-oab-utility")
    assert isinstance(step, ConditionalStep)

    assert isinstance(step.step, MsiInstallStep)
    assert step.step.file == "SharedOABUtility.msi"
    assert step.when.fact == "offline_address_book_count"
    assert step.when.limit == 32000
    assert step.when.at_least < step.when.limit
    assert step.override == "auto"


def test_deployment_tool_steps_default_to_manual_with_checks() -> None:
    """Every Deployment Tool action is an operator checklist; uninstall and Start Deployment are verified."""
    m = _shipped()
    tool = [s for s in m.steps if isinstance(s, DeploymentToolStep)]
    actions = [s.action for s in tool]

    assert actions == ["uninstall", "reinstall", "initialize", "initialize", "start_deployment"]
    assert all(s.strategy == "manual" and s.checklist for s in tool)
    checks = {s.action: [(c.kind, getattr(c, "expect", None)) for c in s.checks] for s in tool}
    assert checks["uninstall"] == [("deploy_logs", None), ("uninstall_entries", "absent")]
    assert checks["start_deployment"] == [("deploy_logs", None), ("uninstall_entries", "new_version")]
    assert getattr(tool[0].checks[0], "success_marker", None) == "MainEngineThread is returning 0"


def test_step_kinds_are_the_closed_set() -> None:
    """STEP_KINDS names every kind of the Step union, and the manifest uses only those."""
    union = get_args(get_args(Step)[0])
    kinds = {get_args(model.model_fields["kind"].annotation)[0] for model in union}

    assert kinds == set(STEP_KINDS)
    assert {s.kind for s in _shipped().all_steps()} <= set(STEP_KINDS)


def test_digest_is_stable_across_formatting_and_key_order() -> None:
    """Re-dumping the YAML with other key order and style keeps the digest; changing a value changes it."""
    m = _shipped()
    data = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    redumped = yaml.safe_load(yaml.safe_dump(data, sort_keys=True, default_flow_style=True))
    data["package"]["files"][0]["size_bytes"] += 512

    assert parse_manifest(redumped, source="x.yml").digest() == m.digest()
    assert parse_manifest(data, source="x.yml").digest() != m.digest()
    assert len(m.digest()) == 64


def test_digest_ignores_defaults_written_out() -> None:
    """Writing a default explicitly (strategy: manual) describes the same manifest, so the same digest."""
    data = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    data["steps"][1] = {**data["steps"][1], "strategy": "manual"}

    assert parse_manifest(data, source="x.yml").digest() == _shipped().digest()


def test_dates_serialise_as_utc_with_z() -> None:
    """The JSON form of a file date is ISO 8601 UTC ending in Z."""
    document = _shipped().to_json()

    assert document["package"]["files"][18]["date"] == "2011-01-13T22:14:00Z"
    assert datetime.fromisoformat(document["package"]["files"][0]["date"]) == datetime(
        2011, 3, 10, 10, 4, tzinfo=UTC
    )
