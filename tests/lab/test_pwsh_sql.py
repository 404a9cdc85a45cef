"""sql.objects runs as a script in the lab's PowerShell, which runs the host's sqlcmd.exe or
osql.exe against its databases, so a script broken for Windows fails here: a flipped exit-code
test, a changed query, a lost database argument, another separator, a renamed result key."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import pytest

from rollup.errors import CommandFailed, ResultParseError
from rollup.lab.prerollup import prerollup_states
from rollup.lab.pwsh.host import run_powershell
from rollup.lab.runner import LabRunner
from rollup.lab.state import HostState, MemoryBlobStore, MemoryStateStore, SqlObject
from rollup.lab.windows.machine import Machine
from rollup.lab.windows.sqlclient import osql, sqlcmd
from rollup.model.manifest import load_manifest
from rollup.model.roles import Role
from rollup.ops import sql
from rollup.ops.base import CommandResult, Operation
from rollup.ops.sql import SqlObjectsParams, SqlObjectsReport, params_for

MANIFEST = Path(__file__).resolve().parents[2] / "manifests" / "hmc40-rollup-2011-01.yml"
NOW = datetime(2011, 3, 21, 9, 30, tzinfo=UTC).timestamp()
INDEX = "rmcore_candidates_ix_target_set_object_category_object_id_trans_id"
QUERY = sql._QUERY
Lab = tuple[MemoryBlobStore, HostState, HostState]


@pytest.fixture(scope="module", name="lab")
def _lab(tmp_path_factory: pytest.TempPathFactory) -> Lab:
    """The pre-rollup MPSSQL and COLLAB01, and MPSSQL as the rollup leaves its database."""
    blobs = MemoryBlobStore()
    cache = tmp_path_factory.getbasetemp() / "msi-cache"
    hosts = [("MPSSQL", frozenset({Role.MPSSQL})), ("COLLAB01", frozenset({Role.COLLAB}))]
    mpssql, collab = prerollup_states(load_manifest(MANIFEST), hosts, blobs=blobs, msi_cache_dir=cache)
    after = mpssql.model_copy(deep=True)
    after.databases["resourcemanager"].objects += [
        SqlObject(type="IX", name=INDEX, table="rmcore_Candidates"),
        SqlObject(type="IX", name="rmcore_candidates_pk", table="rmcore_Candidates"),
        SqlObject(type="P", name="SeleteAndAssembleAllocateOrgMailStores"),
        SqlObject(type="P", name="SeleteAndAssembleReallocateOrgMailStores"),
        SqlObject(type="P", name="rmcore_GetResource"),
        SqlObject(type="FN", name="fn_min"),
        SqlObject(type="TF", name="fn_ResourceCapacityOnAllocatedMailStores"),
        SqlObject(type="IF", name="fn_ResourceCapacityOnUnallocatedMailStores"),
    ]
    return blobs, after, collab


def _params() -> SqlObjectsParams:
    manifest = load_manifest(MANIFEST)
    assert manifest.sql is not None
    return params_for(manifest.sql)


def _run(
    lab: Lab,
    state: HostState,
    params: SqlObjectsParams,
    op: Operation[SqlObjectsParams, SqlObjectsReport] = sql.OBJECTS,
) -> tuple[HostState, CommandResult]:
    work = state.model_copy(deep=True)
    run = run_powershell(
        op.command(params).render(), Machine(work, lab[0], now=NOW, user="HOSTING\\rollup-lab")
    )
    result = CommandResult(
        host=state.name, op=op.id, command="", exit_code=run.exit_code, stdout=run.stdout, stderr=run.stderr,
        duration_s=0.0,
    )  # fmt: skip
    return work, result


def _broken(old: str, new: str) -> Operation[SqlObjectsParams, SqlObjectsReport]:
    assert old in sql.OBJECTS.body, old
    return dataclasses.replace(sql.OBJECTS, body=sql.OBJECTS.body.replace(old, new))


def _machine(lab: Lab, **changes: object) -> Machine:
    return Machine(lab[1].model_copy(deep=True, update=changes), lab[0], now=NOW, user="HOSTING\\rollup-lab")


def test_sqlcmd_finds_every_object_the_rollup_adds(lab: Lab) -> None:
    work, result = _run(lab, lab[1], _params())

    report = sql.parse(result, _params())

    assert report.client == "sqlcmd"
    assert [o.present for o in report.objects] == [True] * 6
    assert work == lab[1]


def test_a_sql_2000_host_answers_through_osql(lab: Lab) -> None:
    """SQL Server 2000 has no sqlcmd: the script falls back to osql and reads its padded columns."""
    state = lab[1].model_copy(update={"sql_version": 8})

    _, result = _run(lab, state, _params())

    report = sql.parse(result, _params())
    assert report.client == "osql"
    assert [o.present for o in report.objects] == [True] * 6


def test_the_select_spelling_is_a_near_miss(lab: Lab) -> None:
    state = lab[1].model_copy(deep=True)
    for obj in state.databases["resourcemanager"].objects:
        if obj.name == "SeleteAndAssembleAllocateOrgMailStores":
            obj.name = "SelectAndAssembleAllocateOrgMailStores"

    _, result = _run(lab, state, _params())

    first = sql.parse(result, _params()).objects[1]
    assert (first.name, first.present, first.near_miss) == (
        "SeleteAndAssembleAllocateOrgMailStores", False, ("SelectAndAssembleAllocateOrgMailStores",),
    )  # fmt: skip


def test_a_missing_database_fails_with_sql_servers_message(lab: Lab) -> None:
    params = dataclasses.replace(_params(), database="ResourceManagr")

    _, result = _run(lab, lab[1], params)

    with pytest.raises(
        CommandFailed, match=r'sqlcmd exited 1: Msg 4060, .*Cannot open database "ResourceManagr"'
    ):
        sql.parse(result, params)


def test_a_host_without_sql_server_has_no_client(lab: Lab) -> None:
    _, result = _run(lab, lab[2], _params())

    with pytest.raises(CommandFailed, match=r"neither sqlcmd\.exe nor osql\.exe"):
        sql.parse(result, _params())


def test_a_stopped_sql_server_or_unknown_instance_cannot_be_reached(lab: Lab) -> None:
    stopped = lab[1].model_copy(deep=True)
    stopped.services["mssqlserver"].status = "Stopped"
    named = dataclasses.replace(_params(), instance="MPSSQL\\HMC")

    _, down = _run(lab, stopped, _params())
    _, instance = _run(lab, lab[1], named)

    with pytest.raises(CommandFailed, match="Named Pipes Provider"):
        sql.parse(down, _params())
    with pytest.raises(CommandFailed, match="Error Locating Server/Instance Specified"):
        sql.parse(instance, named)


def test_the_runner_answers_through_the_real_script(lab: Lab) -> None:
    """The runner runs the script it is sent: a flipped exit-code test fails there."""
    store = MemoryStateStore([lab[1].model_copy(deep=True)])
    runner = LabRunner(store, lab[0], clock=lambda: NOW, time_factor=0)
    good = sql.OBJECTS.command(_params()).render()
    broken = _broken("if ($rc -ne 0)", "if ($rc -eq 0)").command(_params()).render()

    ok = runner("MPSSQL", good).finish()
    failed = runner("MPSSQL", broken).finish()

    assert ok.exit_code == 0, ok.stdout + ok.stderr
    assert failed.exit_code == 1
    assert "sqlcmd exited 0" in failed.stdout
    assert store.read("MPSSQL").mutations == 0


def test_sqlcmd_and_osql_print_their_own_formats(lab: Lab) -> None:
    machine = _machine(lab)
    q = f'"{QUERY}"'

    code, out, _ = sqlcmd(machine, f"-E -S . -d ResourceManager -b -h -1 -W -s | -Q {q}", "")
    _, padded, _ = osql(machine, f"-E -S . -d ResourceManager -b -h-1 -n -w 2048 -s | -Q {q}", "")

    lines = out.splitlines()
    assert code == 0
    assert lines[0] == f"IX|rmcore_Candidates|{INDEX}"
    assert "P||rmcore_GetResource" in lines
    assert padded.splitlines()[0] == " IX|" + "rmcore_Candidates".ljust(128) + "|" + INDEX.ljust(128)


def test_the_tools_refuse_what_they_do_not_understand(lab: Lab) -> None:
    machine = _machine(lab)

    unknown = sqlcmd(machine, "-E -S . -J", "")
    missing = sqlcmd(machine, "-E -S . -d", "")
    counted = sqlcmd(machine, '-E -d ResourceManager -h -1 -Q "SELECT RTRIM(xtype), \'\', name FROM sysobjects '
                     "WHERE xtype IN ('P', 'FN', 'TF', 'IF')\"", "")  # fmt: skip
    other = sqlcmd(machine, '-E -d ResourceManager -b -Q "SELECT name FROM sys.objects"', "")
    unchecked = sqlcmd(machine, '-E -d ResourceManager -Q "SELECT name FROM sys.objects"', "")

    assert unknown[:2] == (1, "Sqlcmd: '-J': Unknown Option. Enter '-?' for help.\r\n")
    assert missing[:2] == (1, "Sqlcmd: '-d': Missing argument. Enter '-?' for help.\r\n")
    assert counted[1].splitlines()[-1] == "(6 rows affected)"
    assert other[0] == 1
    assert unchecked[0] == 0
    assert other[1].startswith("Msg 50000, Level 16, State 1, Server MPSSQL, Line 1")


def test_a_flipped_exit_code_test_fails_a_good_run(lab: Lab) -> None:
    """Mutation: ``if ($rc -eq 0)`` reports a working query as failed."""
    _, result = _run(lab, lab[1], _params(), _broken("if ($rc -ne 0)", "if ($rc -eq 0)"))

    with pytest.raises(CommandFailed, match="sqlcmd exited 0"):
        sql.parse(result, _params())


def test_a_changed_query_is_not_answered(lab: Lab) -> None:
    """Mutation: a query that forgets the table-valued functions is not the one the model answers."""
    op = _broken("xtype IN (''P'', ''FN'', ''TF'', ''IF'')", "xtype IN (''P'', ''FN'')")

    _, result = _run(lab, lab[1], _params(), op)

    with pytest.raises(CommandFailed, match="Msg 50000"):
        sql.parse(result, _params())


def test_a_lost_database_argument_reads_master(lab: Lab) -> None:
    """Mutation: without ``-d`` sqlcmd reads the login's default database, where nothing is found."""
    op = _broken("-d $database -b -h -1", "-b -h -1")

    _, result = _run(lab, lab[1], _params(), op)

    assert [o.present for o in sql.parse(result, _params()).objects] == [False] * 6


def test_another_separator_loses_every_row(lab: Lab) -> None:
    """Mutation: ``-s ','`` prints rows the script cannot split on ``|``: everything looks missing."""
    op = _broken("-W -s '|'", "-W -s ','")

    _, result = _run(lab, lab[1], _params(), op)

    assert [o.present for o in sql.parse(result, _params()).objects] == [False] * 6


def test_a_renamed_result_key_fails_the_parser(lab: Lab) -> None:
    op = _broken("@{ client = $client;", "@{ tool = $client;")

    _, result = _run(lab, lab[1], _params(), op)

    with pytest.raises(ResultParseError):
        sql.parse(result, _params())
