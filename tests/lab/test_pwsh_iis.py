"""iis.get_vdir, iis.set_vdir and iis.reset run as scripts in the lab's PowerShell against IIS 6
(ADSI over the metabase) and IIS 7 (appcmd.exe, [xml]), so a script broken for Windows fails here:
a wrong flag bit, a missing SetInfo or /commit:apphost, a misspelt provider, option or result key."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from rollup.errors import CommandFailed, ResultParseError
from rollup.lab.pwsh.host import run_powershell
from rollup.lab.runner import LabRunner
from rollup.lab.state import HostState, IisVirtualDirectory, MemoryBlobStore, MemoryStateStore, Service
from rollup.lab.windows.machine import Machine
from rollup.ops import iis
from rollup.ops.base import CommandResult, Operation
from rollup.ops.iis import SetVdirParams, VdirParams
from rollup.ops.iisreset import ResetParams, parse_reset

SITE = "Default Web Site"
KB_STEP = SetVdirParams(site=SITE, vdir="DNSProvider", default_logon_domain="\\", require_ssl=True)
GET = VdirParams(site=SITE, vdir="DNSProvider")
HOSTILE_SITE = "Site 'x' $(calc); `t"
HOSTILE_VDIR = "App/Sub dir \u2019"


def _dns01(version: int) -> HostState:
    """DNS01 as the lab builds it: the DNSProvider vdir under the Default Web Site (id 1 or 3)."""
    services = ["W3SVC", "IISADMIN"] if version < 7 else ["W3SVC", "WAS"]
    return HostState(
        name="DNS01",
        roles=["dns"],
        os_caption="Microsoft Windows Server 2008 Enterprise"
        if version >= 7
        else HostState.model_fields["os_caption"].default,
        os_version="6.0.6002" if version >= 7 else "5.2.3790",
        iis_version=version,
        iis={
            "dnsprovider": IisVirtualDirectory(
                site=SITE, site_id=3, name="DNSProvider", path="C:\\Inetpub\\wwwroot\\DNSProvider"
            ),
            HOSTILE_VDIR.lower(): IisVirtualDirectory(
                site=HOSTILE_SITE, site_id=7, name=HOSTILE_VDIR, path="D:\\x"
            ),
        },
        services={
            s.lower(): Service(name=s, display_name=s, status="Stopped" if s == "W3SVC" else "Running")
            for s in services
        },
    )


def _run(op: Operation[Any, Any], params: object, state: HostState) -> CommandResult:
    script = op.command(params).render()
    run = run_powershell(script, Machine(state, MemoryBlobStore(), now=0.0, user="HOSTING\\admin"))
    return CommandResult(
        host="DNS01",
        op=op.id,
        command="",
        exit_code=run.exit_code,
        stdout=run.stdout,
        stderr=run.stderr,
        duration_s=0.0,
    )


def _mutated(op: Operation[Any, Any], old: str, new: str) -> Operation[Any, Any]:
    broken = dataclasses.replace(op, body=op.body.replace(old, new, 1))
    assert broken.body != op.body, old
    return broken


@pytest.mark.parametrize("version", [6, 7])
def test_the_kb_step_sets_the_domain_and_ssl_then_is_idempotent(version: int) -> None:
    state = _dns01(version)

    first = iis.parse_set(_run(iis.SET_VDIR, KB_STEP, state), KB_STEP)
    second = iis.parse_set(_run(iis.SET_VDIR, KB_STEP, state), KB_STEP)
    got = iis.parse_get(_run(iis.GET_VDIR, GET, state), GET)

    assert first.changed == ("default_logon_domain", "require_ssl")
    assert second.changed == ()
    assert (got.default_logon_domain, got.require_ssl, got.basic_auth, got.site_id) == ("\\", True, True, 3)
    assert got.path == (
        "/LM/W3SVC/3/ROOT/DNSProvider" if version == 6 else f"MACHINE/WEBROOT/APPHOST/{SITE}/DNSProvider"
    )
    vdir = state.iis["dnsprovider"]
    assert (vdir.default_logon_domain, vdir.access_ssl, vdir.auth_basic) == ("\\", True, True)


@pytest.mark.parametrize("version", [6, 7])
def test_hostile_names_and_values_arrive_intact(version: int) -> None:
    """Quotes, $( ), backticks, spaces and a trailing backslash travel as data to ADSI and appcmd."""
    domain = "HOST'ING;$(calc)`\\"
    params = SetVdirParams(
        site=HOSTILE_SITE, vdir=HOSTILE_VDIR, default_logon_domain=domain, basic_auth=False
    )
    state = _dns01(version)

    outcome = iis.parse_set(_run(iis.SET_VDIR, params, state), params)

    assert outcome.changed == ("default_logon_domain", "basic_auth")
    assert (outcome.site_id, outcome.default_logon_domain, outcome.basic_auth) == (7, domain, False)
    assert (
        state.iis[HOSTILE_VDIR.lower()].default_logon_domain,
        state.iis["dnsprovider"].default_logon_domain,
    ) == (domain, "")


@pytest.mark.parametrize("version", [6, 7])
@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            VdirParams(site="Other Site", vdir="DNSProvider"),
            "^DNS01: IIS has no web site named 'Other Site'$",
        ),
        (
            VdirParams(site=SITE, vdir="DNSProviderX"),
            "^DNS01: IIS has no virtual directory Default Web Site/DNSProviderX$",
        ),
    ],
)
def test_a_missing_site_or_vdir_fails_naming_it(version: int, params: VdirParams, message: str) -> None:
    with pytest.raises(CommandFailed, match=message):
        iis.parse_get(_run(iis.GET_VDIR, params, _dns01(version)), params)


def test_without_iis_every_operation_says_so() -> None:
    state = HostState(name="DNS01", roles=["dns"])

    runs: list[tuple[Operation[Any, Any], object]] = [
        (iis.GET_VDIR, GET),
        (iis.SET_VDIR, KB_STEP),
        (iis.RESET, ResetParams()),
    ]
    for op, params in runs:
        with pytest.raises(CommandFailed, match=r"^DNS01: IIS is not installed$"):
            op.parse(_run(op, params, state), params)


@pytest.mark.parametrize(("version", "services"), [(6, {"W3SVC", "IISADMIN"}), (7, {"W3SVC", "WAS"})])
def test_reset_restarts_the_iis_services(version: int, services: set[str]) -> None:
    state = _dns01(version)

    outcome = parse_reset(_run(iis.RESET, ResetParams(timeout_s=20), state), ResetParams(timeout_s=20))

    assert outcome.services == dict.fromkeys(services, "Running")
    assert outcome.output == (
        "Attempting stop...",
        "Internet services successfully stopped",
        "Attempting start...",
        "Internet services successfully restarted",
    )
    assert all(s.status == "Running" for s in state.services.values())


def test_reset_honours_a_forced_exit_code_then_a_disabled_service() -> None:
    state = _dns01(6)
    state.forced_exit_codes["iis.reset"] = [1]

    with pytest.raises(CommandFailed, match=r"^DNS01: iisreset exited 1 \(Restart attempt failed\.\); "):
        parse_reset(_run(iis.RESET, ResetParams(), state), ResetParams())
    assert "iis.reset" not in state.forced_exit_codes
    state.services["w3svc"].start_mode = "Disabled"
    result = _run(iis.RESET, ResetParams(), state)

    with pytest.raises(
        CommandFailed, match=r"exited 1058 \(The service cannot be started.*IISADMIN Running, W3SVC Stopped$"
    ):
        parse_reset(result, ResetParams())
    assert result.exit_code == 1058


def test_through_the_runner_a_set_counts_one_mutation_and_a_get_none() -> None:
    store = MemoryStateStore([_dns01(6)])
    runner = LabRunner(store, MemoryBlobStore(), clock=lambda: 0.0, time_factor=0)

    scripts = [iis.SET_VDIR.command(KB_STEP).render(), iis.GET_VDIR.command(GET).render()]
    ran = [runner("DNS01", script).finish() for script in scripts]

    assert [r.exit_code for r in ran] == [0, 0], [r.stdout for r in ran]
    state = store.read("DNS01")
    assert (state.mutations, state.operations) == (1, ["iis.set_vdir", "iis.get_vdir"])
    assert state.iis["dnsprovider"].access_ssl is True


# Script mutations: each must fail (parser error, command failure) or change the outcome.

GET_MUTATIONS = [
    pytest.param(6, "-band 8", "-band 2", "outcome", id="iis6-wrong-ssl-bit"),
    pytest.param(6, "'IIS://localhost/W3SVC'", "'iis://localhost/W3SVC'", "failed", id="iis6-provider-case"),
    pytest.param(6, "$id = $c.psbase.Name", "$id = $c.Name", "failed", id="iis6-adapted-name"),
    pytest.param(
        6, "Properties['AuthFlags']", "Properties['AuthFlag']", "outcome", id="iis6-misspelt-property"
    ),
    pytest.param(7, "'/appcmd/SITE'", "'/appcmd/site'", "failed", id="iis7-xpath-case"),
    pytest.param(
        7, "GetAttribute('SITE.ID')", "GetAttribute('SITE.Id')", "outcome", id="iis7-attribute-case"
    ),
    pytest.param(7, "list vdir /xml", "list vdir", "failed", id="iis7-text-not-xml"),
    pytest.param(7, "$e.require_ssl = $t.flags", "$e.requireSsl = $t.flags", "parse", id="iis7-renamed-key"),
]


@pytest.mark.parametrize(("version", "old", "new", "caught"), GET_MUTATIONS)
def test_get_vdir_mutations_are_caught(version: int, old: str, new: str, caught: str) -> None:
    state = _dns01(version)
    state.iis["dnsprovider"].access_ssl = True
    good = iis.parse_get(_run(iis.GET_VDIR, GET, state.model_copy(deep=True)), GET)
    result = _run(_mutated(iis.GET_VDIR, old, new), GET, state)

    if caught == "parse":
        with pytest.raises(ResultParseError):
            iis.parse_get(result, GET)
    elif caught == "failed":
        with pytest.raises(CommandFailed):
            iis.parse_get(result, GET)
    else:
        assert iis.parse_get(result, GET) != good


SET_MUTATIONS = [
    pytest.param(6, "$v.SetInfo(); ", "", id="iis6-no-setinfo"),
    pytest.param(6, "$f = $f -bor 8", "$f = $f -bor 2", id="iis6-wrong-ssl-bit"),
    pytest.param(
        6, "$r.require_ssl -ne $p_require_ssl", "$r.require_ssl -eq $p_require_ssl", id="iis6-flipped-compare"
    ),
    pytest.param(6, "Add('require_ssl')", "Add('ssl')", id="iis6-renamed-setting"),
    pytest.param(7, " /commit:apphost)", ")", id="iis7-no-commit-apphost"),
    pytest.param(
        7,
        '"/defaultLogonDomain:$p_default_logon_domain"',
        '"/defaultLogonDomain:`"$p_default_logon_domain`""',
        id="iis7-quoted-backslash",
    ),
    pytest.param(7, "$t.ac ('/sslFlags:'", "$t.ba ('/sslFlags:'", id="iis7-wrong-section"),
    pytest.param(
        7,
        "$r.changed.Count -gt 0) { Read-RollupVdir $r $t }",
        "$r.changed.Count -lt 0) { Read-RollupVdir $r $t }",
        id="iis7-no-read-back",
    ),
]


@pytest.mark.parametrize(("version", "old", "new"), SET_MUTATIONS)
def test_set_vdir_mutations_are_caught(version: int, old: str, new: str) -> None:
    state = _dns01(version)
    result = _run(_mutated(iis.SET_VDIR, old, new), KB_STEP, state)

    with pytest.raises((CommandFailed, ResultParseError)):
        iis.parse_set(result, KB_STEP)


RESET_MUTATIONS = [
    pytest.param(6, "/restart", "/restat", id="misspelt-option"),
    pytest.param(6, '"/timeout:$p_timeout_s"', "/timeout $p_timeout_s", id="timeout-without-colon"),
    pytest.param(7, "$v -ge 7", "$v -gt 7", id="flipped-version-compare"),
    pytest.param(6, "[string]$s.State", "[string]$s.Status", id="status-not-state"),
    pytest.param(7, "exit_code = $rc", "exitcode = $rc", id="renamed-key"),
]


@pytest.mark.parametrize(("version", "old", "new"), RESET_MUTATIONS)
def test_reset_mutations_are_caught(version: int, old: str, new: str) -> None:
    state = _dns01(version)
    assert parse_reset(_run(iis.RESET, ResetParams(), state.model_copy(deep=True)), ResetParams())

    with pytest.raises((CommandFailed, ResultParseError)):
        parse_reset(_run(_mutated(iis.RESET, old, new), ResetParams(), state), ResetParams())


# The model's own behaviour, as Windows gives it.


def _ps(state: HostState, script: str) -> tuple[int, str, str]:
    run = run_powershell(script, Machine(state, MemoryBlobStore(), now=0.0, user="HOSTING\\admin"))
    return run.exit_code, run.stdout.strip(), run.stderr


def test_adsi_sees_the_metabase_as_iis6_shows_it() -> None:
    script = r"""
$w = [ADSI]'IIS://localhost/W3SVC'
foreach ($c in $w.psbase.Children) { '{0}={1}' -f $c.psbase.Name, $c.psbase.SchemaClassName }
$v = [ADSI]'IIS://localhost/W3SVC/3/Root/DNSProvider'
'{0} {1} {2} {3}' -f $v.psbase.Properties['AuthFlags'].Value, $v.psbase.Properties['AuthBasic'].Value, [ADSI]::Exists('IIS://localhost/W3SVC/3/ROOT/Nope'), $w.psbase.Properties['ServerComment'].Count
$v.Put('AuthFlags', 7); $v.SetInfo()
"""
    _, out, err = _ps(_dns01(6), script)

    assert out.splitlines()[:6] == [
        "AppPools=IIsApplicationPools",
        "Filters=IIsFilters",
        "Info=IIsWebInfo",
        "3=IIsWebServer",
        "7=IIsWebServer",
        "6 True False 0",
    ]
    assert (
        'Exception calling "SetInfo" with "0" argument(s): "The lab\'s metabase cannot hold AuthFlags = 7'
        in err
    )


def test_appcmd_prints_xml_and_refuses_a_locked_section() -> None:
    script = r"""
$ac = "$env:SystemRoot\System32\inetsrv\appcmd.exe"
$x = [xml]((& $ac list config 'Default Web Site/DNSProvider' -section:system.webServer/security/access /config:* /xml) | Out-String)
$x.appcmd.CONFIG.'CONFIG.SECTION'
$x.SelectSingleNode('/appcmd/CONFIG/*').Name
& $ac set config 'Default Web Site/DNSProvider' -section:system.webServer/security/access /sslFlags:Ssl
"exit $LASTEXITCODE"
"""
    code, out, _ = _ps(_dns01(7), script)

    lines = out.splitlines()
    assert lines[:2] == ["system.webServer/security/access", "system.webServer-security-access"]
    assert lines[2] == "ERROR ( message:Configuration error "
    assert "This configuration section cannot be used at this path." in out
    assert lines[-1] == "exit 33"
    assert code == 0


@pytest.mark.parametrize("version", [6, 7])
def test_the_certificate_bound_to_the_site_is_read(version: int) -> None:
    """
    IIS 6: the site's SecureBindings and SSLCertHash; IIS 7: the site's https binding and the
    certificate http.sys holds for it (``netsh http show sslcert``). Another site's certificate
    is not this one's.
    """
    params = VdirParams(site=SITE, vdir="DNSProvider")
    state = _dns01(version)
    without = iis.parse_get(_run(iis.GET_VDIR, params, state), params)
    state.ssl_certificates[3] = "A1B2C3D4E5F60718293A4B5C6D7E8F9012345678"
    bound = iis.parse_get(_run(iis.GET_VDIR, params, state), params)
    state.ssl_certificates = {7: "A1B2C3D4E5F60718293A4B5C6D7E8F9012345678"}
    other = iis.parse_get(_run(iis.GET_VDIR, params, state), params)

    assert (without.ssl_cert, bound.ssl_cert, other.ssl_cert) == (False, True, False)
