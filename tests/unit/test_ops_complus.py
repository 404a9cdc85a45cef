"""complus.state and complus.restart: the scripts, the parsers, and the lab's COM+ catalogue."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest

from rollup.errors import CommandFailed, ResultParseError
from rollup.lab.state import ComPlusApplication, HostState
from rollup.ops import complus
from rollup.ops.base import Operation
from rollup.ops.complus import ComPlusParams, RestartParams
from rollup.ps.check import assert_ps2_clean
from rollup.ps.command import bindings_of, read_header
from tests.simkit import answered, command_result, run_context, run_op

APP_ID = "{6A0C7E51-93B4-4F0A-9A46-0A3A8F1D2C11}"


_ctx = run_context
_result = partial(command_result, "MPS01")
_answered = partial(answered, "MPS01")


def _state(**app: Any) -> HostState:
    values = {"name": "Provisioning Engine", "app_id": APP_ID, "process_id": 2412, **app}
    return HostState(
        name="MPS01",
        roles=["deployment_tool", "mps_engine"],
        complus={"provisioning engine": ComPlusApplication(**values)},
    )


@pytest.mark.parametrize(
    ("op", "params"),
    [pytest.param(op, p, id=f"{op.id}[{n}]") for op in complus.OPERATIONS for n, p in enumerate(op.examples)],
)
def test_every_example_renders_as_clean_powershell_2(op: Operation[Any, Any], params: object) -> None:
    """Each example renders as a PowerShell 2.0 script that parses and binds what its header says."""
    script = op.command(params).render()

    assert_ps2_clean(script)
    assert read_header(script) == (op.id, bindings_of(script))
    assert script.rstrip().endswith("exit 0")


def test_state_reads_a_running_application() -> None:
    """The catalogue's name, AppID, IsEnabled and running process ids come back as the script printed them."""
    stdout = (
        '#rollup-result {"app_id":"' + APP_ID + '","application":"Provisioning Engine","enabled":true,'
        '"found":true,"process_ids":[2412]}\r\n'
    )

    state = complus.parse_state(_result("complus.state", stdout), ComPlusParams("provisioning engine"))

    assert (state.found, state.enabled, state.running, state.process_ids) == (True, True, True, (2412,))


def test_state_of_a_missing_application_is_a_fact_not_an_error() -> None:
    """complus.state reports a missing application as found false; only restart refuses it."""
    params = ComPlusParams("Provisioning Engine")

    state = complus.parse_state(
        _answered(
            "complus.state", run_op(HostState(name="MPS02", roles=[]), "complus.state", params, _ctx())
        ),
        params,
    )

    assert (state.found, state.running, state.app_id) == (False, False, None)


def test_restart_starts_a_new_process() -> None:
    """A restart reports the instances before and after; the lab gives the application a new process id."""
    host = _state()
    params = RestartParams("Provisioning Engine", settle_s=0)
    sim = run_op(host, "complus.restart", params, _ctx())

    outcome = complus.parse_restart(_answered("complus.restart", sim), params)

    assert outcome.previous_process_ids == (2412,)
    assert outcome.running
    assert outcome.process_ids == (host.complus["provisioning engine"].process_id,)
    assert outcome.process_ids != (2412,)


def test_restart_of_a_missing_application_names_it() -> None:
    """Restarting an application that does not exist fails with its name, and changes nothing."""
    host = HostState(name="MPS01", roles=["mps_engine"])
    params = RestartParams("Provisioning Engine")
    sim = run_op(host, "complus.restart", params, _ctx())

    with pytest.raises(CommandFailed, match=r"^MPS01: COM\+ application 'Provisioning Engine' does not"):
        complus.parse_restart(_answered("complus.restart", sim), params)

    assert sim.exit_code == 1
    assert host.complus == {}


def test_restart_of_a_disabled_application_says_enable_it_first() -> None:
    """A disabled application is refused with the hint "enable it first", and is never enabled silently."""
    host = _state(enabled=False, running=False, process_id=None)
    params = RestartParams("Provisioning Engine")
    sim = run_op(host, "complus.restart", params, _ctx())

    with pytest.raises(CommandFailed, match="is disabled") as caught:
        complus.parse_restart(_answered("complus.restart", sim), params)

    assert caught.value.hint is not None
    assert "enable it first" in caught.value.hint
    app = host.complus["provisioning engine"]
    assert (app.enabled, app.running, app.process_id) == (False, False, None)


def test_restart_that_does_not_come_up_fails() -> None:
    """A restart after which no instance runs is a failure, even when the script's exit code was lost."""
    stdout = (
        '#rollup-result {"app_id":"' + APP_ID + '","application":"Provisioning Engine","enabled":true,'
        '"error":"not_running","found":true,"previous_process_ids":[2412],"process_ids":[]}'
    )

    with pytest.raises(CommandFailed, match="is not running 10 s after its start"):
        complus.parse_restart(_result("complus.restart", stdout, 0), RestartParams("Provisioning Engine"))


def test_catalog_failure_is_reported_with_its_message() -> None:
    """An exception from COMAdmin (access denied, catalogue corrupt) is a failure quoting it."""
    stdout = '#rollup-result {"application":"x","error":"catalog","message":"Access is denied."}'

    with pytest.raises(CommandFailed, match="Access is denied"):
        complus.parse_restart(_result("complus.restart", stdout, 1), RestartParams("x"))


@pytest.mark.parametrize(
    "stdout",
    [
        "no result at all",
        '#rollup-result {"application":"x","found":"true"}',
        '#rollup-result {"application":"x","found":true,"process_ids":["2412"]}',
        '#rollup-result {"application":"x","found":true,"pid":1}',
    ],
)
def test_malformed_results_are_parse_errors(stdout: str) -> None:
    """Missing results, strings where numbers or booleans belong, and unknown keys are refused."""
    with pytest.raises(ResultParseError, match=r"^MPS01: complus\.state: "):
        complus.parse_state(_result("complus.state", stdout), ComPlusParams("x"))


def test_parameters_are_checked() -> None:
    """A blank application name or a settle time outside 0-600 s is refused when the parameters are built."""
    with pytest.raises(ValueError, match="blank"):
        RestartParams(" ")

    with pytest.raises(ValueError, match="settle_s"):
        RestartParams("Provisioning Engine", settle_s=601)
