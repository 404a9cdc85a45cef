"""complus.state and complus.restart run as scripts in the lab's PowerShell against the COM+
catalog of the host model, so a script broken for Windows fails here: a collection never
populated, a flipped enabled test, an AppID without braces, a start that never happens."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from rollup.errors import CommandFailed, ResultParseError
from rollup.lab.prerollup import prerollup_states
from rollup.lab.pwsh.host import run_powershell
from rollup.lab.runner import LabRunner
from rollup.lab.state import HostState, MemoryBlobStore, MemoryStateStore
from rollup.lab.windows.machine import Machine
from rollup.model.manifest import load_manifest
from rollup.model.roles import Role
from rollup.ops import complus
from rollup.ops.base import CommandResult, Operation
from rollup.ops.complus import ComPlusParams, ComPlusState, RestartParams

MANIFEST = Path(__file__).resolve().parents[2] / "manifests" / "hmc40-rollup-2011-01.yml"
NOW = datetime(2011, 3, 21, 9, 30, tzinfo=UTC).timestamp()
APP = "Provisioning Engine"
Lab = tuple[MemoryBlobStore, HostState]


@pytest.fixture(scope="module", name="lab")
def _lab(tmp_path_factory: pytest.TempPathFactory) -> Lab:
    blobs = MemoryBlobStore()
    cache = tmp_path_factory.getbasetemp() / "msi-cache"
    hosts = [("MPS01", frozenset({Role.DEPLOYMENT_TOOL, Role.MPS_ENGINE}))]
    (mps,) = prerollup_states(load_manifest(MANIFEST), hosts, blobs=blobs, msi_cache_dir=cache)
    return blobs, mps


def _run(
    lab: Lab, op: Operation[Any, ComPlusState], params: object, **app: Any
) -> tuple[Machine, CommandResult]:
    """Run ``op``'s real script on a copy of MPS01, its application changed by ``app``."""
    blobs, mps = lab
    state = mps.model_copy(deep=True)
    key = APP.lower()
    state.complus[key] = state.complus[key].model_copy(update=app)
    machine = Machine(state, blobs, now=NOW, user="HOSTING\\admin")
    run = run_powershell(op.command(params).render(), machine)
    result = CommandResult(
        host="MPS01", op=op.id, command="", exit_code=run.exit_code, stdout=run.stdout, stderr=run.stderr,
        duration_s=0.0,
    )  # fmt: skip
    return machine, result


def _broken(op: Operation[Any, ComPlusState], old: str, new: str) -> Operation[Any, ComPlusState]:
    assert old in op.body, old
    return dataclasses.replace(op, body=op.body.replace(old, new))


def test_the_state_script_reads_the_catalog(lab: Lab) -> None:
    """Name, AppID, IsEnabled and the running instance come from the catalog; nothing changes."""
    machine, result = _run(lab, complus.STATE, ComPlusParams("provisioning ENGINE"))

    state = complus.parse_state(result, ComPlusParams("provisioning ENGINE"))

    app = lab[1].complus[APP.lower()]
    assert (state.application, state.app_id, state.enabled, state.process_ids) == (
        APP, app.app_id, True, (app.process_id,),
    )  # fmt: skip
    assert machine.state == lab[1]


def test_a_stopped_or_missing_application_is_a_fact(lab: Lab) -> None:
    _, stopped = _run(lab, complus.STATE, ComPlusParams(APP), running=False, process_id=None)
    _, missing = _run(lab, complus.STATE, ComPlusParams("Billing Engine"))

    assert complus.parse_state(stopped, ComPlusParams(APP)).process_ids == ()
    assert complus.parse_state(missing, ComPlusParams("Billing Engine")).found is False


def test_a_restart_through_the_runner_gives_a_new_process(lab: Lab) -> None:
    blobs, mps = lab
    store = MemoryStateStore([mps.model_copy(deep=True)])
    runner = LabRunner(store, blobs, clock=lambda: NOW, time_factor=0)
    params = RestartParams(APP, settle_s=5)
    script = complus.RESTART.command(params).render()

    outcome = runner("MPS01", script).finish()

    result = CommandResult(
        host="MPS01", op=complus.RESTART.id, command="", exit_code=outcome.exit_code, stdout=outcome.stdout,
        stderr=outcome.stderr, duration_s=0.0,
    )  # fmt: skip
    state = complus.parse_restart(result, params)
    before = mps.complus[APP.lower()].process_id
    after = store.read("MPS01").complus[APP.lower()]
    assert state.previous_process_ids == (before,)
    assert state.process_ids == (after.process_id,)
    assert after.running
    assert after.process_id != before
    assert store.read("MPS01").mutations == 1


def test_the_runner_runs_the_script_it_is_sent(lab: Lab) -> None:
    """A restart script without its StartApplication leaves the engine down: the script itself ran."""
    blobs, mps = lab
    store = MemoryStateStore([mps.model_copy(deep=True)])
    runner = LabRunner(store, blobs, clock=lambda: NOW, time_factor=0)
    op = _broken(complus.RESTART, "$cat.StartApplication($r.app_id)", "")

    outcome = runner("MPS01", op.command(RestartParams(APP)).render()).finish()

    assert outcome.exit_code == 1
    assert store.read("MPS01").complus[APP.lower()].running is False


def test_the_settle_time_is_slept_on_the_lab_clock(lab: Lab) -> None:
    machine, result = _run(lab, complus.RESTART, RestartParams(APP, settle_s=30))

    assert result.exit_code == 0, result.stdout + result.stderr
    assert machine.slept == 30


def test_a_disabled_or_missing_application_is_refused_and_left_alone(lab: Lab) -> None:
    disabled_machine, disabled = _run(lab, complus.RESTART, RestartParams(APP), enabled=False)
    _, missing = _run(lab, complus.RESTART, RestartParams("Billing Engine"))

    with pytest.raises(CommandFailed, match="disabled"):
        complus.parse_restart(disabled, RestartParams(APP))
    with pytest.raises(CommandFailed, match="does not exist"):
        complus.parse_restart(missing, RestartParams("Billing Engine"))
    assert disabled_machine.state.complus[APP.lower()].process_id == lab[1].complus[APP.lower()].process_id
    assert disabled_machine.slept == 0


def test_com_errors_are_worded_as_windows_words_them(lab: Lab) -> None:
    """A missing application, a disabled start and an unknown ProgID fail with COM's HRESULTs."""
    blobs, mps = lab
    state = mps.model_copy(deep=True)
    state.complus[APP.lower()].enabled = False
    script = (
        "$c = New-Object -ComObject COMAdmin.COMAdminCatalog\n"
        "try { $c.ShutdownApplication('Billing Engine') } catch { $_.Exception.Message }\n"
        f"try {{ $c.StartApplication('{APP}') }} catch {{ $_.Exception.Message }}\n"
        "$a = $c.GetCollection('Applications'); $a.Count; $a.Populate(); $a.Count\n"
        "try { New-Object -ComObject COMAdmin.Catalog } catch { $_.Exception.Message }\n"
    )

    run = run_powershell(script, Machine(state, blobs, now=NOW, user="HOSTING\\admin"))

    lines = run.stdout.splitlines()
    assert lines[0] == (
        'Exception calling "ShutdownApplication" with "1" argument(s): "One of the specified objects '
        'cannot be found. (Exception from HRESULT: 0x80110809)"'
    )
    assert lines[1] == (
        'Exception calling "StartApplication" with "1" argument(s): "You cannot start an application '
        'that has been disabled. (Exception from HRESULT: 0x80110451)"'
    )
    assert lines[2:4] == ["0", str(len(state.complus))]
    assert "REGDB_E_CLASSNOTREG" in lines[4]


def test_an_unpopulated_collection_hides_the_application(lab: Lab) -> None:
    """Mutation: without ``Populate()`` the collection is empty, so the application is 'missing'."""
    op = _broken(complus.RESTART, "$apps.Populate()", "")

    _, result = _run(lab, op, RestartParams(APP))

    with pytest.raises(CommandFailed, match="does not exist"):
        complus.parse_restart(result, RestartParams(APP))


def test_a_flipped_enabled_test_refuses_an_enabled_application(lab: Lab) -> None:
    """Mutation: ``if ($r.enabled)`` refuses exactly the applications it should restart."""
    op = _broken(complus.RESTART, "if (-not $r.enabled)", "if ($r.enabled)")

    _, result = _run(lab, op, RestartParams(APP))

    with pytest.raises(CommandFailed, match="disabled"):
        complus.parse_restart(result, RestartParams(APP))


def test_an_appid_without_braces_is_not_found_by_the_catalog(lab: Lab) -> None:
    """Mutation: StartApplication takes an AppID only in braces; the shut-down application stays down."""
    op = _broken(
        complus.RESTART, "$cat.StartApplication($r.app_id)", "$cat.StartApplication($r.app_id.Trim('{}'))"
    )

    machine, result = _run(lab, op, RestartParams(APP))

    with pytest.raises(CommandFailed, match="0x80110809"):
        complus.parse_restart(result, RestartParams(APP))
    assert machine.state.complus[APP.lower()].running is False


def test_a_start_that_never_happens_fails_even_with_exit_0(lab: Lab) -> None:
    """Mutation: no StartApplication and a forced exit 0: the ten polls find nothing, the result says so."""
    op = _broken(complus.RESTART, "$cat.StartApplication($r.app_id)", "")
    op = _broken(
        op, "$r.error = 'not_running'\nWrite-RollupResult $r\nexit 1", "Write-RollupResult $r\nexit 0"
    )

    machine, result = _run(lab, op, RestartParams(APP, settle_s=5))

    assert result.exit_code == 0
    with pytest.raises(CommandFailed, match="not running"):
        complus.parse_restart(result, RestartParams(APP))
    assert machine.slept == 5 + 10


def test_a_renamed_result_key_fails_the_parser(lab: Lab) -> None:
    op = _broken(complus.STATE, "$r.app_id = ", "$r.appid = ")

    _, result = _run(lab, op, ComPlusParams(APP))

    with pytest.raises(ResultParseError, match="appid"):
        complus.parse_state(result, ComPlusParams(APP))
