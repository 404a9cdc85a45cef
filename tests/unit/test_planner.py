"""The planner expands the manifest over an inventory in the KB's order."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from rollup.errors import PlanError
from rollup.model.inventory import Inventory, load_inventory
from rollup.model.manifest import DEFAULT_MANIFEST, Manifest, load_manifest
from rollup.planner import Plan, build_plan

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(name="manifest", scope="module")
def _manifest() -> Manifest:
    return load_manifest(ROOT / DEFAULT_MANIFEST)


@pytest.fixture(name="prod", scope="module")
def _prod() -> Inventory:
    return load_inventory("prod", base_dir=ROOT)


def _index(plan: Plan) -> dict[str, int]:
    return {s.id: i for i, s in enumerate(plan.steps)}


def test_every_manifest_step_runs_on_every_host_of_its_roles(manifest: Manifest, prod: Inventory) -> None:
    """Each step appears once per host of its roles: "all COLLAB0n" becomes one step per COLLAB host."""
    plan = build_plan(manifest, prod)

    expected = {
        f"{step.id}@{host.name}"
        for step in manifest.steps
        for host in prod.hosts
        if set(step.roles) & host.roles
    }
    assert {s.id for s in plan.steps} == expected
    assert [s.host for s in plan.steps if s.step == "install-wss-web-service"] == [
        "COLLAB01",
        "COLLAB02",
        "COLLAB03",
        "COLLAB04",
    ]


def test_plan_order_is_topological_and_follows_the_kb(manifest: Manifest, prod: Inventory) -> None:
    """Every step comes after its dependencies, and the KB's sequence is kept on MPS01."""
    plan = build_plan(manifest, prod)
    where = _index(plan)

    for step in plan.steps:
        assert all(where[dep] < where[step.id] for dep in step.after), step.id
    kb_sequence = [
        "uninstall-components@MPS01",
        "extract-package@MPS01",
        "backup-msishare@MPS01",
        "copy-to-msishare@MPS01",
        "reinstall-components@MPS01",
        "initialize-exchange@MPS01",
        "initialize-other@MPS01",
        "start-deployment@MPS01",
        "dnsclient-run-twice@DNS01",
        "install-wss-web-service@COLLAB01",
        "install-resource-manage-database@MPSSQL01",
        "restart-provisioning-engine@MPS02",
        "web-services-iis-restart@PROV02",
    ]
    assert [where[s] for s in kb_sequence] == sorted(where[s] for s in kb_sequence)


def test_same_host_dependencies_chain_per_host(manifest: Manifest, prod: Inventory) -> None:
    """A COLLAB host's install waits for its own uninstall, not for the other hosts'."""
    plan = build_plan(manifest, prod)

    assert plan.step("install-wss-web-service@COLLAB02").after == ("uninstall-old-wss-web-service@COLLAB02",)


def test_other_host_dependencies_wait_for_every_instance(manifest: Manifest, prod: Inventory) -> None:
    """The web services' IIS restart waits for the COM+ restart on every MPS engine server."""
    plan = build_plan(manifest, prod)

    assert plan.step("web-services-iis-restart@PROV01").after == (
        "restart-provisioning-engine@MPS01",
        "restart-provisioning-engine@MPS02",
    )


def test_collab_hosts_go_in_waves(manifest: Manifest, prod: Inventory) -> None:
    """With waves of 2, COLLAB03 and COLLAB04 start only after COLLAB01 and COLLAB02 are done."""
    plan = build_plan(manifest, prod, wave_size=2)

    first = plan.step("transfer-wss-web-service@COLLAB03")
    assert first.wave == 2
    assert {"collab-iis-restart@COLLAB01", "collab-iis-restart@COLLAB02"} <= set(first.after)
    assert plan.step("transfer-wss-web-service@COLLAB01").wave == 1
    assert plan.step("uninstall-old-wss-web-service@COLLAB03").after == ("transfer-wss-web-service@COLLAB03",)


def test_one_wave_holding_every_collab_host(manifest: Manifest, prod: Inventory) -> None:
    """A wave size at least the COLLAB count puts every COLLAB host in wave 1."""
    plan = build_plan(manifest, prod, wave_size=10)

    assert {s.wave for s in plan.steps if s.wave is not None} == {1}


def test_a_wave_size_below_one_is_refused(manifest: Manifest, prod: Inventory) -> None:
    """Wave size 0 is a plan error, not an empty plan."""
    with pytest.raises(PlanError, match="wave size"):
        build_plan(manifest, prod, wave_size=0)


def test_steps_of_absent_roles_are_passed_through(manifest: Manifest, prod: Inventory) -> None:
    """Limited to MPS01 and the MPS engines, the COM+ restart still follows the shared OAB step."""
    plan = build_plan(manifest, prod.select("mps_engine"))

    assert {s.host for s in plan.steps} == {"MPS01", "MPS02"}
    assert plan.step("shared-oab-utility@MPS01").after == ("start-deployment@MPS01",)


def test_no_deployment_tool_host_is_a_plan_error(manifest: Manifest, prod: Inventory) -> None:
    """Without MPS01 the KB cannot start: the planner says so instead of planning half a rollup."""
    with pytest.raises(PlanError, match="deployment_tool"):
        build_plan(manifest, prod.select("collab"))


def test_params_carry_file_details(manifest: Manifest, prod: Inventory) -> None:
    """A transfer names its file with the KB's size; the extract step lists all 22 files."""
    plan = build_plan(manifest, prod)

    transfer = plan.step("transfer-dnsclient@DNS01").params
    extract = plan.step("extract-package@MPS01").params
    assert transfer["file"]["name"] == "DNSClient.msi"
    assert transfer["file"]["size_bytes"] == 679_936
    assert len(extract["files"]) == 22
    assert extract["extract_to"] == "C:\\temp\\QFERollupPackage"


def test_inventory_strategy_overrides_the_manifest(manifest: Manifest, tmp_path: Path) -> None:
    """An inventory that names a site command switches Deployment Tool steps to the command strategy."""
    inv = tmp_path / "site.yml"
    inv.write_text(
        textwrap.dedent(
            """\
            all:
              vars:
                rollup_deployment_tool_strategy: command
                rollup_deployment_tool_command: 'C:\\Tools\\hmcdeploy.cmd {action} {name}'
              children:
                deployment_tool: {hosts: {MPS01: {}}}
                mps_engine: {hosts: {MPS01: {}}}
            """
        ),
        encoding="utf-8",
    )
    plan = build_plan(manifest, load_inventory(str(inv)))

    params = plan.step("uninstall-components@MPS01").params
    assert params["strategy"] == "command"
    assert params["command_template"] == "C:\\Tools\\hmcdeploy.cmd {action} {name}"


def test_fingerprint_depends_on_hosts_roles_manifest_and_version(manifest: Manifest, prod: Inventory) -> None:
    """Same inputs, same fingerprint; a different host set, wave size or tool version changes it."""
    base = build_plan(manifest, prod).fingerprint

    assert build_plan(manifest, prod).fingerprint == base
    assert build_plan(manifest, prod.select("!COLLAB04")).fingerprint != base
    assert build_plan(manifest, prod, wave_size=1).fingerprint != base
    assert build_plan(manifest, prod, tool_version="9.9.9").fingerprint != base


def test_plan_json_contract(manifest: Manifest, prod: Inventory) -> None:
    """The JSON document has a fingerprint and steps with id, host, kind, after and params."""
    doc = build_plan(manifest, prod).to_json()

    assert isinstance(doc["fingerprint"], str)
    assert len(doc["fingerprint"]) == 64
    for step in doc["steps"]:
        assert {"id", "host", "kind", "after", "params"} <= set(step)
        assert isinstance(step["after"], list)
        assert isinstance(step["params"], dict)
