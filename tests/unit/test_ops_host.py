"""host.facts: one read-only script for pre-flight, its parser, and the lab's answer."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from functools import partial

import pytest

from rollup.errors import ResultParseError
from rollup.lab.state import HostState, InstalledProduct, LabFile
from rollup.ops import host
from rollup.ops.host import FactsParams
from rollup.ps.check import assert_ps2_clean
from rollup.ps.command import bindings_of, read_header
from tests.simkit import RunContext, answered, command_result, run_context, run_op

NOW = 1_300_000_000.0


def _ctx(user: str = "HOSTING\\admin") -> RunContext:
    return run_context(now=NOW, user=user)


_result = partial(command_result, "MPS01", "host.facts")
_answered = partial(answered, "MPS01", "host.facts")


def _mps01() -> HostState:
    when = datetime(2010, 11, 18, tzinfo=UTC)
    return HostState(
        name="MPS01",
        roles=["deployment_tool", "mps_engine"],
        domain_admins=["hosting\\admin"],
        oab_count=31_500,
        files={
            "c:\\configshare\\config\\mpsconfig.xml": LabFile(
                path="C:\\ConfigShare\\Config\\MpsConfig.xml",
                size=10,
                mtime=when,
                sha256="0" * 64,
                text="<x/>",
            ),
            "c:\\msishare\\dnsclient.msi": LabFile(
                path="C:\\MSIShare\\DNSClient.msi", size=10, mtime=when, sha256="1" * 64
            ),
        },
    )


@pytest.mark.parametrize("params", host.FACTS.examples, ids=lambda p: type(p).__name__)
def test_every_example_renders_as_clean_powershell_2(params: FactsParams) -> None:
    """Each example renders as a PowerShell 2.0 script that parses and binds what its header says."""
    script = host.FACTS.command(params).render()

    assert_ps2_clean(script)
    assert read_header(script) == ("host.facts", bindings_of(script))
    assert "function Test-RollupMsiBusy" in script


def test_the_script_writes_nothing() -> None:
    """Pre-flight is read-only: the script creates, deletes and commits nothing, not even a probe file."""
    writes = re.compile(
        r"New-Item|Set-Item|Remove-Item|Set-Content|Out-File|::Create|::Delete|::Move|::Open|::Write|SetInfo|"
        r"\.Put\(|SetAccessControl|CommitChanges",
        re.IGNORECASE,
    )

    assert writes.findall(host.BODY) == []
    assert host.FACTS.mutates is False


def test_simulated_facts_and_no_mutation() -> None:
    """The lab answers from the host model and leaves the state, and so its mutation count, unchanged."""
    state = _mps01()
    before = state.model_dump()
    params = FactsParams(oab=True)

    facts = host.parse(_answered(run_op(state, "host.facts", params, _ctx())), params)

    assert (facts.computer, facts.arch, facts.ps_version, facts.service_pack) == ("MPS01", "x86", "2.0", 2)
    assert facts.domain_admin is True
    assert facts.admin_group == "HOSTING\\Domain Admins"
    assert facts.deploytool_installed
    assert facts.msishare is not None
    assert (facts.msishare.exists, facts.msishare.writable) == (True, True)
    assert facts.oab_count == 31_500
    assert (facts.reboot_pending, facts.msi_busy, facts.errors) == (False, False, {})
    assert state.model_dump() == before


def test_conditions_that_block_a_run_show() -> None:
    """Not a Domain Admin, a pending reboot, a busy installer, no share and no tool all come through."""
    state = HostState(
        name="PROV01", roles=["web_services"], pending_reboot=["msi 3010"], installer_busy_until=NOW + 60
    )
    params = FactsParams()

    facts = host.parse(_answered(run_op(state, "host.facts", params, _ctx("HOSTING\\operator"))), params)

    assert (facts.domain_admin, facts.admin_group) == (False, None)
    assert facts.pending_reboot == (
        "PendingFileRenameOperations",
    )  # the registry's marker of the lab's reboot
    assert facts.msi_busy is True
    assert facts.msishare is not None
    assert facts.msishare.exists is False
    assert not facts.deploytool_installed
    assert facts.oab_count is None


def test_deployment_tool_found_by_its_uninstall_entry_only_when_named_so() -> None:
    """An Uninstall entry named "... Deployment Tool" counts; "Microsoft Deployment Toolkit" does not."""

    def entry(name: str) -> InstalledProduct:
        return InstalledProduct(
            product_code="{X}", display_name=name, display_version="1.0", upgrade_code="{U}"
        )

    toolkit = HostState(name="MPS01", roles=[], products={"{X}": entry("Microsoft Deployment Toolkit 2010")})
    tool = HostState(name="MPS01", roles=[], products={"{X}": entry("HMC 4.0 Deployment Tool")})

    found = [
        host.parse(_answered(run_op(s, "host.facts", FactsParams(), _ctx())), FactsParams())
        for s in (toolkit, tool)
    ]

    assert [f.deploytool_installed for f in found] == [False, True]
    assert found[1].deploytool_entry == "HMC 4.0 Deployment Tool"


def test_windows_output_with_an_unreadable_fact_parses() -> None:
    """A fact that failed on the host is None with its reason; the other facts still arrive."""
    data = {
        "admin_group": "HOSTING\\Domain Admins",
        "arch": "x86",
        "computer": "MPS01",
        "deploytool_config": True,
        "deploytool_entry": None,
        "domain_admin": True,
        "errors": {"oab_count": "The server is not operational."},
        "free_bytes": 21474836480,
        "identity": "HOSTING\\admin",
        "msi_busy": False,
        "msishare": {"exists": True, "path": "C:\\MSIShare", "writable": True},
        "oab_count": None,
        "os_caption": "Microsoft(R) Windows(R) Server 2003, Enterprise Edition",
        "os_version": "5.2.3790",
        "pending_reboot": ["PendingFileRenameOperations"],
        "ps_version": "2.0",
        "service_pack": 1,
    }

    facts = host.parse(_result("#rollup-result " + json.dumps(data) + "\r\n"), FactsParams(oab=True))

    assert facts.oab_count is None
    assert facts.errors == {"oab_count": "The server is not operational."}
    assert facts.reboot_pending
    assert facts.free_bytes == 20 * 1024**3


@pytest.mark.parametrize(
    "change", [{"service_pack": "2"}, {"free_bytes": 1.5}, {"msishare": {"path": "x"}}, {"uptime": 3}]
)
def test_malformed_facts_are_parse_errors(change: dict[str, object]) -> None:
    """A wrong type, an incomplete share entry or an unknown fact is refused."""
    state = _mps01()
    sim = run_op(state, "host.facts", FactsParams(), _ctx())
    assert isinstance(sim.result, dict)
    stdout = "#rollup-result " + json.dumps({**sim.result, **change})

    with pytest.raises(ResultParseError, match=r"^MPS01: host\.facts: result "):
        host.parse(_result(stdout), FactsParams())
