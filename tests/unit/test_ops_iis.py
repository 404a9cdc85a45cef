"""iis.get_vdir, iis.set_vdir and iis.reset: scripts, parsers, idempotence, the lone backslash, the lab."""

from __future__ import annotations

import base64
import json
from functools import partial
from typing import Any

import pytest

from rollup.errors import CommandFailed, ResultParseError
from rollup.lab.state import HostState, IisVirtualDirectory, Service
from rollup.ops import iis
from rollup.ops.base import Operation
from rollup.ops.iis import SetVdirParams, VdirParams
from rollup.ops.iisreset import ResetParams, parse_reset
from rollup.ps.check import assert_ps2_clean
from rollup.ps.command import bindings_of, read_header
from tests.simkit import answered, command_result, run_context, run_op

SITE = "Default Web Site"


_ctx = run_context
_result = partial(command_result, "DNS01")
_answered = partial(answered, "DNS01")


def _dns01(version: int = 6) -> HostState:
    return HostState(
        name="DNS01",
        roles=["dns"],
        iis_version=version,
        iis={"dnsprovider": IisVirtualDirectory(site=SITE, site_id=3, name="DNSProvider", path="C:\\DNS")},
        services={
            "w3svc": Service(name="W3SVC", display_name="World Wide Web Publishing", status="Stopped"),
            "iisadmin": Service(name="IISADMIN", display_name="IIS Admin Service"),
            "was": Service(name="WAS", display_name="Windows Process Activation Service"),
        },
    )


KB_STEP = SetVdirParams(site=SITE, vdir="DNSProvider", default_logon_domain="\\", require_ssl=True)


@pytest.mark.parametrize(
    ("op", "params"),
    [pytest.param(op, p, id=f"{op.id}[{n}]") for op in iis.OPERATIONS for n, p in enumerate(op.examples)],
)
def test_every_example_renders_as_clean_powershell_2(op: Operation[Any, Any], params: object) -> None:
    """Each example renders as a PowerShell 2.0 script that parses and binds what its header says."""
    script = op.command(params).render()

    assert_ps2_clean(script)
    assert read_header(script) == (op.id, bindings_of(script))
    assert script.rstrip().endswith("exit 0")


def test_lone_backslash_domain_arrives_intact() -> None:
    """The KB's domain "\\" travels as base64 of one backslash and reaches the host as exactly one."""
    script = iis.SET_VDIR.command(KB_STEP).render()
    encoded = base64.b64encode(b"\\").decode()
    binding = f"[Text.Encoding]::UTF8.GetString([Convert]::FromBase64String('{encoded}'))"
    host = _dns01()

    header = read_header(script)

    assert header is not None
    assert header[1]["default_logon_domain"] == "\\"
    assert bindings_of(script)["default_logon_domain"] == "\\"
    assert f"$p_default_logon_domain = {binding}" in script.splitlines()
    run_op(host, "iis.set_vdir", iis.SET_VDIR.params_from(header[1]), _ctx())
    assert host.iis["dnsprovider"].default_logon_domain == "\\"


def test_set_on_iis6_changes_what_differs_and_reports_it() -> None:
    """The KB step sets the domain to "\\" and Require SSL on IIS 6, reporting both, at the site's own id."""
    host = _dns01()

    outcome = iis.parse_set(_answered("iis.set_vdir", run_op(host, "iis.set_vdir", KB_STEP, _ctx())), KB_STEP)

    assert outcome.changed == ("default_logon_domain", "require_ssl")
    assert (outcome.default_logon_domain, outcome.require_ssl, outcome.basic_auth) == ("\\", True, True)
    assert (outcome.site_id, outcome.path) == (3, "/LM/W3SVC/3/ROOT/DNSProvider")
    vdir = host.iis["dnsprovider"]
    assert (vdir.default_logon_domain, vdir.access_ssl) == ("\\", True)


def test_set_is_idempotent() -> None:
    """A second identical set changes nothing and reports nothing changed."""
    host = _dns01(version=7)
    run_op(host, "iis.set_vdir", KB_STEP, _ctx())
    before = host.model_dump()

    outcome = iis.parse_set(_answered("iis.set_vdir", run_op(host, "iis.set_vdir", KB_STEP, _ctx())), KB_STEP)

    assert outcome.changed == ()
    assert outcome.path == "MACHINE/WEBROOT/APPHOST/Default Web Site/DNSProvider"
    assert host.model_dump() == before


def test_get_reads_without_changing() -> None:
    """iis.get_vdir reports the settings and changes nothing."""
    host = _dns01()
    before = host.model_dump()
    params = VdirParams(site="default web site", vdir="dnsprovider")

    outcome = iis.parse_get(_answered("iis.get_vdir", run_op(host, "iis.get_vdir", params, _ctx())), params)

    assert (outcome.default_logon_domain, outcome.require_ssl, outcome.changed) == ("", False, ())
    assert host.model_dump() == before


@pytest.mark.parametrize(
    ("host", "message"),
    [
        (HostState(name="DNS01", roles=["dns"]), "^DNS01: IIS is not installed$"),
        (HostState(name="DNS01", roles=["dns"], iis_version=6), "^DNS01: IIS has no web site named 'Default"),
    ],
)
def test_missing_iis_or_site_is_a_failure(host: HostState, message: str) -> None:
    """No IIS, or no such site, fails naming the host."""
    with pytest.raises(CommandFailed, match=message):
        iis.parse_set(_answered("iis.set_vdir", run_op(host, "iis.set_vdir", KB_STEP, _ctx())), KB_STEP)


def test_missing_vdir_is_a_failure_naming_it() -> None:
    """A site without the virtual directory fails naming site/vdir."""
    params = VdirParams(site=SITE, vdir="DNSProviderX")

    with pytest.raises(CommandFailed, match=r"^DNS01: IIS has no virtual directory .*/DNSProviderX"):
        iis.parse_get(_answered("iis.get_vdir", run_op(_dns01(), "iis.get_vdir", params, _ctx())), params)


def test_set_refuses_a_read_back_that_differs() -> None:
    """When the value read back is not the one set (overridden above the vdir), the set fails."""
    stdout = "#rollup-result " + json.dumps(
        {
            "basic_auth": True,
            "changed": ["require_ssl"],
            "default_logon_domain": "\\",
            "iis_version": 6,
            "path": "/LM/W3SVC/1/ROOT/DNSProvider",
            "require_ssl": False,
            "site": SITE,
            "site_id": 1,
            "vdir": "DNSProvider",
        }
    )

    with pytest.raises(CommandFailed, match="require_ssl reads back as False after setting True"):
        iis.parse_set(_result("iis.set_vdir", stdout), KB_STEP)


@pytest.mark.parametrize(
    "change",
    [{"site_id": "1"}, {"require_ssl": 1}, {"changed": ["ssl"]}, {"colour": "blue"}, {"iis_version": None}],
)
def test_malformed_vdir_results_are_parse_errors(change: dict[str, Any]) -> None:
    """Wrong types, unknown setting names and unknown keys in the result are refused."""
    data = {
        "basic_auth": True,
        "changed": [],
        "default_logon_domain": "",
        "iis_version": 6,
        "path": "/LM/W3SVC/1/ROOT/DNSProvider",
        "require_ssl": False,
        "site": SITE,
        "site_id": 1,
        "vdir": "DNSProvider",
        **change,
    }

    result = _result("iis.get_vdir", "#rollup-result " + json.dumps(data))

    with pytest.raises(ResultParseError, match=r"^DNS01: iis\.get_vdir: result "):
        iis.parse_get(result, VdirParams(SITE, "DNSProvider"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"default_logon_domain": 'A"B'}, "quotes"),
        ({"default_logon_domain": "MY DOMAIN\\"}, "cannot end with a backslash"),
        ({"vdir": "a/../b", "require_ssl": True}, "path of names"),
        ({"site": "Default/Web", "require_ssl": True}, "slashes"),
        ({}, "nothing to set"),
    ],
)
def test_set_parameters_that_cannot_arrive_intact_are_refused(kwargs: dict[str, Any], message: str) -> None:
    """Values that appcmd's command line could not carry faithfully, or an empty change, are refused early."""
    values: dict[str, Any] = {"site": SITE, "vdir": "DNSProvider", **kwargs}

    with pytest.raises(ValueError, match=message):
        SetVdirParams(**values)


def test_reset_restarts_the_iis6_services() -> None:
    """iisreset on IIS 6 leaves W3SVC and IISADMIN running and reports iisreset's own lines."""
    host = _dns01()
    sim = run_op(host, "iis.reset", ResetParams(), _ctx())

    outcome = parse_reset(_answered("iis.reset", sim), ResetParams())

    assert outcome.services == {"W3SVC": "Running", "IISADMIN": "Running"}
    assert outcome.output[-1] == "Internet services successfully restarted"
    assert host.services["w3svc"].status == "Running"


def test_reset_checks_was_on_iis7() -> None:
    """On IIS 7 the services checked are W3SVC and WAS; an absent one fails the reset."""
    host = _dns01(version=7)
    del host.services["was"]
    sim = run_op(host, "iis.reset", ResetParams(), _ctx())

    with pytest.raises(CommandFailed, match=r"^DNS01: iisreset exited 0 .*; W3SVC Running, WAS absent$"):
        parse_reset(_answered("iis.reset", sim), ResetParams())

    assert sim.exit_code == 1


def test_reset_honours_a_forced_exit_code_and_a_disabled_service() -> None:
    """A queued exit code fails the next iisreset (then it is consumed); a disabled W3SVC fails with 1058."""
    host = _dns01()
    host.forced_exit_codes["iis.reset"] = [1]
    sim = run_op(host, "iis.reset", ResetParams(), _ctx())

    with pytest.raises(CommandFailed, match=r"iisreset exited 1 \(Restart attempt failed\.\)"):
        parse_reset(_answered("iis.reset", sim), ResetParams())

    assert "iis.reset" not in host.forced_exit_codes
    host.services["w3svc"].start_mode = "Disabled"
    assert run_op(host, "iis.reset", ResetParams(), _ctx()).exit_code == 1058


def test_reset_parses_real_output() -> None:
    """A Windows-printed result with chatter before it parses; a timeout outside 1-3600 s is refused."""
    stdout = (
        '\r\n#rollup-result {"exit_code":0,"iis_version":6,"output":["Attempting stop...",'
        '"Internet services successfully stopped","Attempting start...",'
        '"Internet services successfully restarted"],'
        '"services":{"IISADMIN":"Running","W3SVC":"Running"}}\r\n'
    )

    outcome = parse_reset(_result("iis.reset", stdout), ResetParams(timeout_s=20))

    assert outcome.exit_code == 0
    assert len(outcome.output) == 4
    with pytest.raises(ValueError, match="1-3600"):
        ResetParams(timeout_s=0)
