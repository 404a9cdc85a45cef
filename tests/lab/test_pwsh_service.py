"""service.state runs as a script in the lab's PowerShell against WMI's Win32_Service, so a
script broken for Windows fails here: a misspelt class, the wrong property, a renamed key."""

from __future__ import annotations

import dataclasses

import pytest

from rollup.errors import CommandFailed, ResultParseError
from rollup.lab.pwsh.host import run_powershell
from rollup.lab.runner import LabRunner
from rollup.lab.state import HostState, MemoryBlobStore, MemoryStateStore, Service
from rollup.lab.windows.machine import Machine
from rollup.ops import service
from rollup.ops.base import CommandResult, Operation
from rollup.ops.service import ServiceParams, ServiceStates

NOW = 1_300_000_000.0
PARAMS = ServiceParams(names=("w3svc", "COMSysApp", "MSDTC", "NoSuchService"))


def _state() -> HostState:
    services = [
        Service(name="W3SVC", display_name="World Wide Web Publishing Service"),
        Service(
            name="COMSysApp", display_name="COM+ System Application", start_mode="Manual", status="Stopped"
        ),
        Service(name="MSDTC", display_name="Distributed Transaction Coordinator", status="StartPending"),
    ]
    return HostState(name="MPS01", roles=["mps_engine"], services={s.name.lower(): s for s in services})


def _run(op: Operation[ServiceParams, ServiceStates] = service.STATE) -> CommandResult:
    run = run_powershell(op.command(PARAMS).render(), Machine(_state(), MemoryBlobStore(), now=NOW, user="u"))
    return CommandResult(
        host="MPS01", op=op.id, command="", exit_code=run.exit_code, stdout=run.stdout, stderr=run.stderr,
        duration_s=0.0,
    )  # fmt: skip


def _broken(old: str, new: str) -> Operation[ServiceParams, ServiceStates]:
    assert old in service.STATE.body, old
    return dataclasses.replace(service.STATE, body=service.STATE.body.replace(old, new))


def test_the_script_reads_state_and_start_mode_in_wmis_words() -> None:
    states = service.parse(_run(), PARAMS)

    assert [(s.name, s.state, s.start_mode) for s in states.services] == [
        ("W3SVC", "Running", "Auto"),
        ("COMSysApp", "Stopped", "Manual"),
        ("MSDTC", "Start Pending", "Auto"),
        (None, None, None),
    ]
    assert states.services[-1].found is False


def test_the_runner_answers_through_the_real_script() -> None:
    """The runner runs the script it is sent: a broken one answers differently from a sound one."""
    store = MemoryStateStore([_state()])
    runner = LabRunner(store, MemoryBlobStore(), clock=lambda: NOW, time_factor=0)
    script = _broken("$s.Name -eq $n", "$s.DisplayName -eq $n").command(PARAMS).render()

    outcome = runner("MPS01", script).finish()

    assert outcome.exit_code == 0
    assert '"found":true' not in outcome.stdout, "the runner did not run the script it was sent"
    assert store.read("MPS01").operations == ["service.state"]


def test_a_misspelt_class_is_wmis_invalid_class() -> None:
    """Mutation: ``Win32_Services`` does not exist; the error stops the script's try."""
    with pytest.raises(CommandFailed, match="Invalid class"):
        service.parse(_run(_broken("Win32_Service)", "Win32_Services)")), PARAMS)


def test_matching_on_the_display_name_finds_nothing() -> None:
    """Mutation: compared with DisplayName, no short service name is found."""
    states = service.parse(_run(_broken("$s.Name -eq $n", "$s.DisplayName -eq $n")), PARAMS)

    assert [s.found for s in states.services] == [False] * 4


def test_the_status_property_is_not_the_state() -> None:
    """Mutation: ``Status`` is not a property the model has (on Windows it says "OK"): refused."""
    with pytest.raises(ResultParseError):
        service.parse(_run(_broken("[string]$s.State", "[string]$s.Status")), PARAMS)


def test_a_renamed_result_key_fails_the_parser() -> None:
    with pytest.raises(ResultParseError, match="startmode"):
        service.parse(_run(_broken("$e.start_mode = ", "$e.startmode = ")), PARAMS)
