"""sql.objects: the fixed query, expected versus found, the "Selete" near miss, and the lab's databases."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import pytest

from rollup.errors import CommandFailed, ResultParseError
from rollup.lab.state import HostState, SqlDatabase, SqlObject
from rollup.model.manifest import DEFAULT_MANIFEST, load_manifest
from rollup.ops import sql
from rollup.ops.sql import SqlObjectsParams, near_miss_patterns, params_for
from rollup.ps.check import assert_ps2_clean
from rollup.ps.command import bindings_of, read_header
from tests.simkit import answered, command_result, run_context, run_op

ROOT = Path(__file__).resolve().parents[2]
INDEX = "rmcore_candidates_ix_target_set_object_category_object_id_trans_id"
ALLOCATE = "SeleteAndAssembleAllocateOrgMailStores"
REALLOCATE = "SeleteAndAssembleReallocateOrgMailStores"
TVFS = ("fn_ResourceCapacityOnAllocatedMailStores", "fn_ResourceCapacityOnUnallocatedMailStores")


_ctx = run_context
_result = partial(command_result, "MPSSQL01", "sql.objects")
_answered = partial(answered, "MPSSQL01", "sql.objects")


def _params() -> SqlObjectsParams:
    return params_for(load_manifest(ROOT / DEFAULT_MANIFEST).sql or pytest.fail("the manifest has no sql"))


def _mpssql(*objects: SqlObject) -> HostState:
    return HostState(
        name="MPSSQL01",
        roles=["mpssql"],
        databases={"resourcemanager": SqlDatabase(name="ResourceManager", objects=list(objects))},
    )


def _after_rollup(procedures: tuple[str, ...] = (ALLOCATE, REALLOCATE)) -> HostState:
    return _mpssql(
        SqlObject(type="U", name="rmcore_Candidates"),
        SqlObject(type="IX", name=INDEX, table="rmcore_Candidates"),
        SqlObject(type="IX", name="rmcore_candidates_pk", table="rmcore_Candidates"),
        *(SqlObject(type="P", name=p) for p in procedures),
        SqlObject(type="P", name="rmcore_GetResource"),
        SqlObject(type="FN", name="fn_min"),
        SqlObject(type="TF", name=TVFS[0]),
        SqlObject(type="IF", name=TVFS[1]),
    )


@pytest.mark.parametrize("params", sql.OBJECTS.examples, ids=lambda p: type(p).__name__)
def test_every_example_renders_as_clean_powershell_2(params: SqlObjectsParams) -> None:
    """Each example renders as a PowerShell 2.0 script that parses and binds what its header says."""
    script = sql.OBJECTS.command(params).render()

    assert_ps2_clean(script)
    assert read_header(script) == ("sql.objects", bindings_of(script))
    assert script.rstrip().endswith("exit 0")


def test_no_parameter_enters_the_sql_text() -> None:
    """The query is the same fixed text whatever is asked; hostile names stay in the base64 bindings."""
    hostile = sql.OBJECTS.examples[-1]

    body = sql.OBJECTS.command(hostile).render().split("$p_table_functions = ", 1)[1]

    assert sql.BODY in body
    for value in ("DROP TABLE", "OR 1=1", "SHUTDOWN", "MPSSQL01", "ResourceManager"):
        assert value not in body


def test_the_kb_near_miss_pattern_comes_from_the_names() -> None:
    """KB2492954's two "Selete" procedures give the KB's own fallback, LIKE '%AndAssemble%OrgMailStores'."""
    params = _params()

    assert near_miss_patterns((ALLOCATE, REALLOCATE)) == ("%AndAssemble%OrgMailStores",)
    assert near_miss_patterns(("GetMailStore", "SetOrgName", "p")) == ("%MailStore", "%OrgName")
    assert params.near_miss == ("%AndAssemble%OrgMailStores",)
    assert params.indexes == (f"rmcore_Candidates.{INDEX}",)
    assert (params.scalar_functions, params.table_functions) == (("fn_min",), TVFS)


def test_every_object_present_after_the_rollup() -> None:
    """After the database MSI, the index, both procedures and the three functions are present."""
    params = _params()

    report = sql.parse(_answered(run_op(_after_rollup(), "sql.objects", params, _ctx())), params)

    assert report.missing == ()
    assert [o.name for o in report.objects] == [INDEX, ALLOCATE, REALLOCATE, "fn_min", *TVFS]
    assert all(o.near_miss == () for o in report.objects)


def test_a_select_spelling_is_a_near_miss_not_present() -> None:
    """A "SelectAndAssemble..." procedure is reported as the near miss of the KB's "Selete" name."""
    params = _params()
    host = _after_rollup(procedures=("SelectAndAssembleAllocateOrgMailStores", REALLOCATE))

    report = sql.parse(_answered(run_op(host, "sql.objects", params, _ctx())), params)

    allocate = next(o for o in report.objects if o.name == ALLOCATE)
    assert not allocate.present
    assert allocate.near_miss == ("SelectAndAssembleAllocateOrgMailStores",)
    assert [o.name for o in report.missing] == [ALLOCATE]


def test_wrong_type_and_case_are_told_apart() -> None:
    """Another case of a name is present (the collation ignores case); the wrong type is a near miss."""
    params = _params()
    rows = [
        {"type": "IX", "table": "RMCORE_CANDIDATES", "name": INDEX.upper()},
        {"type": "P", "table": "", "name": ALLOCATE.lower()},
        {"type": "TF", "table": "", "name": "fn_min"},
    ]
    stdout = "#rollup-result " + json.dumps(
        {"client": "osql", "database": "ResourceManager", "instance": ".", "rows": rows}
    )

    report = sql.parse(_result(stdout), params)

    found = {o.name: o for o in report.objects}
    assert report.client == "osql"
    assert found[INDEX].present
    assert found[ALLOCATE].present
    assert not found["fn_min"].present
    assert found["fn_min"].near_miss == ("fn_min (TF)",)


def test_missing_database_and_missing_client_fail() -> None:
    """A database the server does not have, or a host with no SQL client, fails naming the host."""
    params = _params()

    other = HostState(name="MPSSQL01", roles=["mpssql"], databases={"x": SqlDatabase(name="x")})
    no_sql = HostState(name="MPSSQL01", roles=[])

    with pytest.raises(CommandFailed, match=r"^MPSSQL01: sql\.objects ResourceManager: .*Cannot open"):
        sql.parse(_answered(run_op(other, "sql.objects", params, _ctx())), params)
    with pytest.raises(CommandFailed, match=r"neither sqlcmd\.exe nor osql\.exe"):
        sql.parse(_answered(run_op(no_sql, "sql.objects", params, _ctx())), params)


def test_simulation_changes_nothing() -> None:
    """The check is read-only in the lab as on Windows."""
    host = _after_rollup()
    before = host.model_dump()

    run_op(host, "sql.objects", _params(), _ctx())

    assert host.model_dump() == before


@pytest.mark.parametrize(
    "rows",
    [
        [{"type": "X", "table": "", "name": "a"}],
        [{"type": "P", "name": "a"}],
        [{"type": "P", "table": None, "name": "a"}],
        "P||a",
    ],
)
def test_malformed_rows_are_parse_errors(rows: object) -> None:
    """Unknown object types, missing columns and non-list rows are refused."""
    data = {"client": "sqlcmd", "database": "d", "instance": ".", "rows": rows}
    stdout = "#rollup-result " + json.dumps(data)

    with pytest.raises(ResultParseError, match=r"^MPSSQL01: sql\.objects: result rows"):
        sql.parse(_result(stdout), _params())


def test_parameters_are_checked() -> None:
    """An index must be written <table>.<index>; quotes cannot reach sqlcmd's command line."""
    with pytest.raises(ValueError, match=r"<table>\.<index>"):
        SqlObjectsParams(instance=".", database="ResourceManager", indexes=("just_an_index",))

    with pytest.raises(ValueError, match="quotes"):
        SqlObjectsParams(instance='SQL"01', database="ResourceManager")
