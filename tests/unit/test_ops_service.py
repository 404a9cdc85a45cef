"""service.state: the script's shape, the parser on real and malformed output, the lab's answer."""

from __future__ import annotations

from functools import partial

import pytest

from rollup.errors import CommandFailed, ResultParseError
from rollup.lab.state import HostState, Service
from rollup.ops import service
from rollup.ops.service import ServiceParams
from rollup.ps.check import assert_ps2_clean
from rollup.ps.command import bindings_of, read_header
from tests.simkit import answered, command_result, run_context, run_op

_ctx = run_context
_result = partial(command_result, "PROV01", "service.state", duration_s=0)
_answered = partial(answered, "PROV01", "service.state", duration_s=0)


def _state() -> HostState:
    return HostState(
        name="PROV01",
        roles=["web_services"],
        services={
            "w3svc": Service(name="W3SVC", display_name="World Wide Web Publishing Service"),
            "iisadmin": Service(
                name="IISADMIN", display_name="IIS Admin", status="StartPending", start_mode="Manual"
            ),
        },
    )


@pytest.mark.parametrize("params", service.STATE.examples)
def test_every_example_renders_as_clean_powershell_2(params: ServiceParams) -> None:
    """Each example renders as a PowerShell 2.0 script that parses and binds what its header says."""
    script = service.STATE.command(params).render()

    assert_ps2_clean(script)
    assert read_header(script) == ("service.state", bindings_of(script))
    assert script.rstrip().endswith("exit 0")


def test_parse_reads_real_output_with_chatter() -> None:
    """The result line is read among other output; a name with no service is found false."""
    stdout = (
        "WARNING: something chatty\r\n"
        '#rollup-result {"services":[{"found":true,"name":"W3SVC","query":"w3svc","start_mode":"Auto",'
        '"state":"Running"},{"found":false,"query":"Nope"}]}\r\n'
    )

    states = service.parse(_result(stdout), ServiceParams(names=("w3svc", "Nope")))

    w3svc = states.get("W3SVC")
    assert w3svc is not None
    assert w3svc.running
    assert w3svc.start_mode == "Auto"
    assert states.services[1].found is False
    assert states.services[1].state is None


@pytest.mark.parametrize(
    "stdout",
    [
        "",
        "#rollup-result [1,2]",
        '#rollup-result {"services":[{"found":true,"query":"W3SVC","state":"Runing"}]}',
        '#rollup-result {"services":[{"found":"yes","query":"W3SVC"}]}',
        '#rollup-result {"services":[{"found":false,"query":"W3SVC","extra":1}]}',
        '#rollup-result {"services":[{"found":false,"query":"Other"}]}',
        '#rollup-result {"services":',
    ],
)
def test_parse_refuses_malformed_results(stdout: str) -> None:
    """No result, a wrong type, an unknown state word, an unknown key, or other names are parse errors."""
    with pytest.raises(ResultParseError) as caught:
        service.parse(_result(stdout), ServiceParams(names=("W3SVC",)))

    assert str(caught.value).startswith("PROV01: ")


def test_parse_reports_a_wmi_failure_as_command_failed() -> None:
    """A script that could not query WMI reports its message, which names the host."""
    stdout = '#rollup-result {"error":"wmi","message":"Access denied"}'

    with pytest.raises(CommandFailed, match=r"^PROV01: service.state: Access denied$"):
        service.parse(_result(stdout, 1), ServiceParams(names=("W3SVC",)))


def test_simulation_answers_in_win32_words_and_changes_nothing() -> None:
    """The lab answers in WMI's words ("Start Pending"), matches names ignoring case, and changes nothing."""
    state = _state()
    before = state.model_dump()
    params = ServiceParams(names=("iisadmin", "w3SVC", "WinRM"))

    states = service.parse(_answered(run_op(state, "service.state", params, _ctx())), params)

    assert [(s.query, s.name, s.state) for s in states.services] == [
        ("iisadmin", "IISADMIN", "Start Pending"),
        ("w3SVC", "W3SVC", "Running"),
        ("WinRM", None, None),
    ]
    assert states.services[0].start_mode == "Manual"
    assert state.model_dump() == before


def test_blank_names_are_refused() -> None:
    """Asking for no service, or a blank name, is a programming error caught when the parameters are built."""
    with pytest.raises(ValueError, match="non-blank"):
        ServiceParams(names=())

    with pytest.raises(ValueError, match="non-blank"):
        ServiceParams(names=("W3SVC", " "))
