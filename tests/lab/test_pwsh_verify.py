"""
verify.facts runs as a script in the lab's PowerShell for all its groups (files, products, IIS,
SQL, COM+, services), and reads what the single operations read.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from rollup.errors import ResultParseError
from rollup.lab.prerollup import prerollup_states
from rollup.lab.pwsh.host import run_powershell
from rollup.lab.runner import LabRunner
from rollup.lab.state import HostState, MemoryBlobStore, MemoryStateStore, SqlObject
from rollup.lab.windows.machine import Machine
from rollup.model.manifest import load_manifest
from rollup.ops.base import CommandResult
from rollup.ops.complus import ComPlusParams, ComPlusState
from rollup.ops.host import FactsParams
from rollup.ops.iis import VdirParams, VdirSecurity
from rollup.ops.products import ListParams
from rollup.ops.service import ServiceParams
from rollup.ops.verify import FACTS, Unreadable, VerifyFacts, VerifyParams, name_key
from rollup.ps.result import format_result
from rollup.testing.fleet import fleet_roles
from rollup.verify import verify_params
from tests.simkit import run_context, run_op

MANIFEST = Path(__file__).resolve().parents[2] / "manifests" / "hmc40-rollup-2011-01.yml"
NOW = datetime(2011, 3, 21, 9, 30, tzinfo=UTC).timestamp()
USER = "HOSTING\\rollup-lab"
ROLES = dict(fleet_roles(1))
Lab = tuple[MemoryBlobStore, dict[str, HostState]]


@pytest.fixture(scope="module", name="lab")
def _lab(tmp_path_factory: pytest.TempPathFactory) -> Lab:
    blobs = MemoryBlobStore()
    cache = tmp_path_factory.getbasetemp() / "msi-cache"
    states = prerollup_states(load_manifest(MANIFEST), fleet_roles(1), blobs=blobs, msi_cache_dir=cache)
    return blobs, {s.name: s for s in states}


SERVICES = ("W3SVC", "MSDTC", "COMSysApp", "MSSQLSERVER", "winrm", "NoSuchService")


def _params(host: str) -> VerifyParams:
    """What ``rollup verify`` reads on ``host``, and the services pre-flight reads."""
    verify = verify_params(load_manifest(MANIFEST), ROLES[host])
    return dataclasses.replace(verify, services=SERVICES)


def _parsed(host: str, params: VerifyParams, code: int, stdout: str, stderr: str = "") -> VerifyFacts:
    result = CommandResult(
        host=host, op=FACTS.id, command="", exit_code=code, stdout=stdout, stderr=stderr, duration_s=0.0
    )
    return FACTS.parse(result, params)


def _script(params: VerifyParams, mutation: tuple[str, str] | None = None) -> str:
    """The rendered script, with ``mutation`` (old text, new text) applied."""
    script = FACTS.command(params).render()
    if mutation is None:
        return script
    assert mutation[0] in script, mutation[0]
    return script.replace(*mutation)


def _interpreted(
    lab: Lab, state: HostState, params: VerifyParams, mutation: tuple[str, str] | None = None
) -> VerifyFacts:
    work = state.model_copy(deep=True)
    run = run_powershell(_script(params, mutation), Machine(work, lab[0], now=NOW, user=USER))
    assert work == state, "verify.facts changed the host"
    return _parsed(state.name, params, run.exit_code, run.stdout, run.stderr)


def _singly(lab: Lab, state: HostState, params: VerifyParams) -> VerifyFacts:
    """The same groups read by each single operation's own script, assembled as verify.facts reports them."""
    ctx = run_context(now=NOW, user=USER, blobs=lab[0])

    def run(op_id: str, op_params: object) -> Any:
        return run_op(state.model_copy(deep=True), op_id, op_params, ctx).result

    result: dict[str, Any] = {"errors": {}}
    if params.files:
        result["files"] = run("files.stat", params.stat())
    if params.product_names or params.product_codes:
        keys = set(params.product_names)
        names = {p.display_name for p in state.products.values() if name_key(p.display_name) in keys}
        listed = ListParams(names=tuple(sorted(names)), product_codes=params.product_codes)
        result["products"] = (
            run("products.list", listed) if names or params.product_codes else {"products": []}
        )
    if params.vdirs:
        result["iis"] = [run("iis.get_vdir", VdirParams(*q.split("/", 1))) for q in params.vdirs]
    sql_params = params.sql_objects()
    if sql_params is not None:
        result["sql"] = run("sql.objects", sql_params)
    if params.complus:
        result["complus"] = [run("complus.state", ComPlusParams(application=n)) for n in params.complus]
    if params.services:
        result["services"] = run("service.state", ServiceParams(names=params.services))
    if params.reboot:
        result["reboot"] = {"reasons": run("host.facts", FactsParams()).get("pending_reboot")}
    return _parsed(state.name, params, 0, format_result(result) + "\n")


def _stopped(s: HostState) -> None:
    app = s.complus["provisioning engine"]
    app.running, app.process_id = False, None
    s.services["msdtc"].status = "StopPending"


def _disabled(s: HostState) -> None:
    s.complus["provisioning engine"].enabled = False


def _rolled_up(s: HostState) -> None:
    db = s.databases["resourcemanager"]
    db.objects += [
        SqlObject(type="IX", name="rmcore_candidates_ix_target_set_object_category_object_id_trans_id",
                  table="rmcore_Candidates"),
        SqlObject(type="P", name="SelectAndAssembleAllocateOrgMailStores"),
        SqlObject(type="FN", name="fn_min"),
        SqlObject(type="IF", name="fn_ResourceCapacityOnAllocatedMailStores"),
    ]  # fmt: skip


def _sql_2000(s: HostState) -> None:
    _rolled_up(s)
    s.sql_version = 8


def _restart_pending(s: HostState) -> None:
    s.pending_reboot = ["msi 3010", "CBS RebootPending"]


VARIANTS: list[tuple[str, Callable[[HostState], None]]] = [
    ("MPS01", lambda s: None),
    ("MPS01", _stopped),
    ("MPS01", _disabled),
    ("DNS01", lambda s: None),
    ("MPSSQL", lambda s: None),
    ("MPSSQL", _rolled_up),
    ("COLLAB01", lambda s: None),
    ("COLLAB01", _restart_pending),
]


@pytest.mark.parametrize(("host", "change"), VARIANTS, ids=[f"{h}-{c.__name__}" for h, c in VARIANTS])
def test_the_script_reads_what_the_single_operations_read(
    lab: Lab, host: str, change: Callable[[HostState], None]
) -> None:
    state = lab[1][host].model_copy(deep=True)
    change(state)
    params = _params(host)

    assert _interpreted(lab, state, params) == _singly(lab, state, params)


def test_a_sql_2000_host_is_read_through_osql(lab: Lab) -> None:
    state = lab[1]["MPSSQL"].model_copy(deep=True)
    _sql_2000(state)

    facts = _interpreted(lab, state, _params("MPSSQL"))

    assert not isinstance(facts.sql, Unreadable | None)
    assert facts.sql.client == "osql"
    assert [o.present for o in facts.sql.objects] == [True, False, False, True, True, False]


def test_a_group_that_fails_is_unreadable_and_the_others_still_arrive(lab: Lab) -> None:
    """MPS01 has no SQL Server: the SQL group says so, COM+, products and services still arrive."""
    sql = _params("MPSSQL").sql
    params = dataclasses.replace(_params("MPS01"), sql=sql)

    facts = _interpreted(lab, lab[1]["MPS01"], params)

    assert facts.sql == Unreadable(
        "sql.objects ResourceManager: neither sqlcmd.exe nor osql.exe is on the PATH"
    )
    assert isinstance(facts.complus["Provisioning Engine"], ComPlusState)
    assert isinstance(facts.products, tuple)
    assert not isinstance(facts.services, Unreadable | None)


def test_the_runner_runs_the_script_it_is_sent(lab: Lab) -> None:
    """A broken COM+ group (instances never populated) answers differently from a sound script."""
    store = MemoryStateStore([lab[1]["MPS01"].model_copy(deep=True)])
    runner = LabRunner(store, lab[0], clock=lambda: NOW, time_factor=0)
    params = _params("MPS01")
    script = _script(params, ("$inst.Populate()", ""))

    outcome = runner("MPS01", script).finish()

    app = _parsed("MPS01", params, outcome.exit_code, outcome.stdout).complus["Provisioning Engine"]
    assert isinstance(app, ComPlusState)
    assert app.process_ids == ()
    assert store.read("MPS01").mutations == 0


def test_a_run_that_reads_iis_runs_the_script(lab: Lab) -> None:
    """A run with ``vdirs`` is the script's: the IIS group reads the metabase, and a broken script shows."""
    store = MemoryStateStore([lab[1]["DNS01"].model_copy(deep=True)])
    runner = LabRunner(store, lab[0], clock=lambda: NOW, time_factor=0)
    params = verify_params(load_manifest(MANIFEST), ROLES["DNS01"])
    assert params.vdirs

    good = runner("DNS01", _script(params)).finish()
    broken = runner("DNS01", _script(params, ("Write-RollupResult $r\n", "exit 7\n"))).finish()

    facts = _parsed("DNS01", params, good.exit_code, good.stdout)
    assert isinstance(facts.vdirs["Default Web Site/DNSProvider"], VdirSecurity)
    assert broken.exit_code == 7
    with pytest.raises(ResultParseError):
        _parsed("DNS01", params, broken.exit_code, broken.stdout)


def test_an_unpopulated_instance_collection_shows_the_engine_stopped(lab: Lab) -> None:
    """Mutation: without ``$inst.Populate()`` the running engine has no process."""
    facts = _interpreted(lab, lab[1]["MPS01"], _params("MPS01"), ("$inst.Populate()", ""))

    app = facts.complus["Provisioning Engine"]
    assert isinstance(app, ComPlusState)
    assert app.process_ids == ()


def test_a_flipped_sql_exit_code_test_makes_sql_unreadable(lab: Lab) -> None:
    """Mutation: ``if ($rc -eq 0)`` reports the working query as failed."""
    facts = _interpreted(lab, lab[1]["MPSSQL"], _params("MPSSQL"), ("if ($rc -ne 0)", "if ($rc -eq 0)"))

    assert isinstance(facts.sql, Unreadable)
    assert "sqlcmd exited 0" in facts.sql.message


def test_a_flipped_product_filter_reports_other_products(lab: Lab) -> None:
    """Mutation: ``-notcontains`` reports every product but the ones asked for."""
    flip = ("$y = $nk -contains", "$y = $nk -notcontains")

    facts = _interpreted(lab, lab[1]["MPS01"], _params("MPS01"), flip)
    good = _interpreted(lab, lab[1]["MPS01"], _params("MPS01"))

    assert isinstance(facts.products, tuple)
    assert isinstance(good.products, tuple)
    assert {p.key for p in facts.products} != {p.key for p in good.products}


def test_a_renamed_service_key_fails_the_parser(lab: Lab) -> None:
    with pytest.raises(ResultParseError, match="startmode"):
        _interpreted(lab, lab[1]["MPS01"], _params("MPS01"), ("$e.start_mode = ", "$e.startmode = "))
