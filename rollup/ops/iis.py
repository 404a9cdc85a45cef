"""
``iis.get_vdir``, ``iis.set_vdir``: a virtual directory's directory security; ``iis.reset``.

The security settings are the three the KB's DNSProvider step touches: the Basic
authentication default logon domain, "Require secure channel (SSL)", and whether Basic
authentication is on. The script picks the interface by the IIS version the host reports
(``HKLM\\SOFTWARE\\Microsoft\\InetStp\\MajorVersion``):

- IIS 6 (Server 2003), through ADSI on the metabase: the site id is found by its
  ``ServerComment`` (never assumed to be ``W3SVC/1``); ``DefaultLogonDomain``, the ``AccessSSL``
  bit (0x8) of ``AccessSSLFlags`` and the ``AuthBasic`` bit (0x2) of ``AuthFlags`` at
  ``/LM/W3SVC/<id>/ROOT/<vdir>``. ADSI takes the value as data, so a lone ``\\`` arrives intact.
- IIS 7+ (Server 2008), through ``appcmd``: ``basicAuthentication`` (``defaultLogonDomain``,
  ``enabled``) and ``access`` (the ``Ssl`` flag of ``sslFlags``, other flags kept), committed
  to applicationHost.config (``/commit:apphost``). Values travel as separate arguments; one
  without spaces (``/defaultLogonDomain:\\``) reaches appcmd unquoted, so its backslash
  survives. A value with a space and a trailing backslash would not, and is refused.

``iis.set_vdir`` reads, changes only what differs, commits, reads back, and reports the names
of the settings it changed (none when everything was already set: it is idempotent). The
parser refuses a result whose read-back differs from what was asked.

``iis.reset`` is written in ``rollup.ops.iisreset``; this module lists all three.

Parsers return the outcome when the host did what was asked and raise ``CommandFailed`` (one
line naming the host) when it reports that it could not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from rollup.errors import CommandFailed
from rollup.ops.base import CommandResult, Operation, compact_body
from rollup.ops.iisreset import RESET_BODY, IisReset, ResetParams, not_installed, parse_reset
from rollup.ops.results import ResultModel, read_object

if TYPE_CHECKING:
    pass

Setting = Literal["default_logon_domain", "require_ssl", "basic_auth"]


def _check_name(op: str, what: str, value: str) -> None:
    if not value or value != value.strip() or '"' in value or any(ord(c) < 32 for c in value):
        raise ValueError(
            f"{op}: {what} {value!r} must be non-blank, without outer spaces, quotes or control characters"
        )


@dataclass(frozen=True, slots=True)
class VdirParams:
    """A virtual directory: the site's name (``Default Web Site``) and the vdir's path below it."""

    site: str
    vdir: str

    def __post_init__(self) -> None:
        _check_vdir("iis.get_vdir", self.site, self.vdir)


@dataclass(frozen=True, slots=True)
class SetVdirParams:
    """What to set; ``None`` leaves a setting as it is. At least one must be given."""

    site: str
    vdir: str
    default_logon_domain: str | None = None
    require_ssl: bool | None = None
    basic_auth: bool | None = None

    def __post_init__(self) -> None:
        _check_vdir("iis.set_vdir", self.site, self.vdir)
        if not self.wanted():
            raise ValueError("iis.set_vdir: nothing to set")
        domain = self.default_logon_domain or ""
        if '"' in domain or any(ord(c) < 32 for c in domain):
            raise ValueError("iis.set_vdir: the default logon domain must not hold quotes or control codes")
        if " " in domain and domain.endswith("\\"):
            raise ValueError("iis.set_vdir: a default logon domain with a space cannot end with a backslash")

    def wanted(self) -> dict[Setting, str | bool]:
        """The settings to set, by name (those not ``None``)."""
        values: dict[Setting, str | bool | None] = {
            "default_logon_domain": self.default_logon_domain,
            "require_ssl": self.require_ssl,
            "basic_auth": self.basic_auth,
        }
        return {name: value for name, value in values.items() if value is not None}


def _check_vdir(op: str, site: str, vdir: str) -> None:
    _check_name(op, "site", site)
    if "/" in site or "\\" in site:
        raise ValueError(f"{op}: site {site!r} must not contain slashes")
    for segment in vdir.split("/"):
        _check_name(op, "vdir segment", segment)
        if segment in (".", "..") or "\\" in segment:
            raise ValueError(f"{op}: vdir {vdir!r} must be a path of names separated by /")


class VdirSecurity(ResultModel):
    """A virtual directory's directory security, and what ``iis.set_vdir`` changed (in order)."""

    iis_version: int
    site: str
    site_id: int
    vdir: str
    path: str
    """``/LM/W3SVC/<id>/ROOT/<vdir>`` (IIS 6) or ``MACHINE/WEBROOT/APPHOST/<site>/<vdir>`` (IIS 7)."""
    default_logon_domain: str
    require_ssl: bool
    basic_auth: bool
    ssl_cert: bool | None = None
    """Whether the site has a certificate bound to an https binding (IIS 6: the site's
    ``SecureBindings`` and ``SSLCertHash``; IIS 7: an https binding whose IP and port http.sys
    holds a certificate for, ``netsh http show sslcert``)."""
    changed: tuple[Setting, ...] = ()


IIS_FACTS = compact_body(r"""
function Invoke-RollupAppcmd {
    $o = & "$env:SystemRoot\System32\inetsrv\appcmd.exe" @args | Out-String
    if ($LASTEXITCODE -ne 0) { throw "appcmd $($args[0]) $($args[1]) exited $($LASTEXITCODE): $o" }
    return $o
}
function Read-RollupVdir($e, $t) {
    $k = Get-ItemProperty 'HKLM:\SOFTWARE\Microsoft\InetStp' -ErrorAction SilentlyContinue
    if (-not $k) { $e.error = 'iis_not_installed'; return }
    $e.iis_version = [int]$k.MajorVersion
    if ($e.iis_version -lt 7) {
        $id = $null
        foreach ($c in ([ADSI]'IIS://localhost/W3SVC').psbase.Children) {
            $n = [string]$c.psbase.Properties['ServerComment'].Value
            if ($c.psbase.SchemaClassName -eq 'IIsWebServer' -and $n -eq $e.site) { $id = $c.psbase.Name }
        }
        if ($null -eq $id) { $e.error = 'site_not_found'; return }
        $e.site_id = [int]$id
        $w = ([ADSI]('IIS://localhost/W3SVC/' + $id)).psbase.Properties
        $e.ssl_cert = $w['SSLCertHash'].Count -gt 0 -and $w['SecureBindings'].Count -gt 0
        $e.path = '/LM/W3SVC/' + $id + '/ROOT/' + $e.vdir
        $t.adsi = 'IIS://localhost/W3SVC/' + $id + '/Root/' + $e.vdir
        if (-not [ADSI]::Exists($t.adsi)) { $e.error = 'vdir_not_found'; return }
        $v = [ADSI]$t.adsi
        $e.default_logon_domain = [string]$v.psbase.Properties['DefaultLogonDomain'].Value
        $e.require_ssl = ([int]$v.psbase.Properties['AccessSSLFlags'].Value -band 8) -ne 0
        $e.basic_auth = ([int]$v.psbase.Properties['AuthFlags'].Value -band 2) -ne 0
        return
    }
    foreach ($s in @(([xml](Invoke-RollupAppcmd list site /xml)).SelectNodes('/appcmd/SITE'))) {
        if ($s.GetAttribute('SITE.NAME') -eq $e.site) {
            $e.site_id = [int]$s.GetAttribute('SITE.ID')
            $t.bindings = $s.GetAttribute('bindings')
        }
    }
    if ($null -eq $e.site_id) { $e.error = 'site_not_found'; return }
    $e.ssl_cert = $false
    foreach ($g in $t.bindings.Split(',')) {
        if ($g.StartsWith('https/')) {
            $q = $g.Substring(6).Split(':')
            if ($q[0] -eq '*') { $q[0] = '0.0.0.0' }
            $o = & "$env:SystemRoot\System32\netsh.exe" http show sslcert ('ipport=' + $q[0] + ':' + $q[1]) |
                Out-String
            if ($LASTEXITCODE -eq 0 -and $o -match 'Certificate Hash') { $e.ssl_cert = $true }
        }
    }
    $t.cp = $e.site + '/' + $e.vdir
    $e.path = 'MACHINE/WEBROOT/APPHOST/' + $t.cp
    $found = $false
    foreach ($d in @(([xml](Invoke-RollupAppcmd list vdir /xml)).SelectNodes('/appcmd/VDIR'))) {
        $an = $d.GetAttribute('APP.NAME')
        $i = $an.IndexOf('/')
        $u = ($an.Substring($i).TrimEnd('/') + $d.GetAttribute('path')).TrimEnd('/')
        if ($an.Substring(0, $i) -eq $e.site -and $u -eq ('/' + $e.vdir)) { $found = $true }
    }
    if (-not $found) { $e.error = 'vdir_not_found'; return }
    $t.ba = '-section:system.webServer/security/authentication/basicAuthentication'
    $t.ac = '-section:system.webServer/security/access'
    $x = '/appcmd/CONFIG/*'
    $b = ([xml](Invoke-RollupAppcmd list config $t.cp $t.ba /config:* /xml)).SelectSingleNode($x)
    $s = ([xml](Invoke-RollupAppcmd list config $t.cp $t.ac /config:* /xml)).SelectSingleNode($x)
    $e.default_logon_domain = ''
    $e.basic_auth = $false
    $t.flags = @()
    if ($b) {
        $e.default_logon_domain = $b.GetAttribute('defaultLogonDomain')
        $e.basic_auth = $b.GetAttribute('enabled') -eq 'true'
    }
    if ($s) {
        $t.flags = @($s.GetAttribute('sslFlags').Split(',') | ForEach-Object { $_.Trim() } |
            Where-Object { $_ -and $_ -ne 'None' })
    }
    $e.require_ssl = $t.flags -contains 'Ssl'
}
""")
"""
``Read-RollupVdir entry context``: fills ``entry`` (a hashtable with ``site`` and ``vdir``) with
the virtual directory's IIS version, site id, path and directory security, or sets its
``error`` (``iis_not_installed``, ``site_not_found``, ``vdir_not_found``); ``context`` gets what
a writer needs (the ADSI path on IIS 6; the appcmd path, sections and SSL flags on IIS 7). The
one source of these facts: ``iis.set_vdir`` and ``verify.facts`` call the same function.
"""

_START = r"""
$ErrorActionPreference = 'Stop'
$r = @{ site = $p_site; vdir = $p_vdir; changed = (New-Object Collections.ArrayList) }
$t = @{}
try {
    Read-RollupVdir $r $t
    if ($r.error) { Write-RollupResult $r; exit 1 }
"""

_SET6 = r"""
if ($r.iis_version -lt 7) {
    $v = [ADSI]$t.adsi
    if ($null -ne $p_default_logon_domain -and $r.default_logon_domain -cne $p_default_logon_domain) {
        $v.Put('DefaultLogonDomain', $p_default_logon_domain)
        [void]$r.changed.Add('default_logon_domain')
    }
    if ($null -ne $p_require_ssl -and $r.require_ssl -ne $p_require_ssl) {
        $f = [int]$v.psbase.Properties['AccessSSLFlags'].Value
        if ($p_require_ssl) { $f = $f -bor 8 } else { $f = $f -band (-bnot 8) }
        $v.Put('AccessSSLFlags', $f)
        [void]$r.changed.Add('require_ssl')
    }
    if ($null -ne $p_basic_auth -and $r.basic_auth -ne $p_basic_auth) {
        $f = [int]$v.psbase.Properties['AuthFlags'].Value
        if ($p_basic_auth) { $f = $f -bor 2 } else { $f = $f -band (-bnot 2) }
        $v.Put('AuthFlags', $f)
        [void]$r.changed.Add('basic_auth')
    }
    if ($r.changed.Count -gt 0) { $v.SetInfo(); Read-RollupVdir $r $t }
}
"""

_SET7 = r"""
else {
    if ($null -ne $p_default_logon_domain -and $r.default_logon_domain -cne $p_default_logon_domain) {
        $d = "/defaultLogonDomain:$p_default_logon_domain"
        [void](Invoke-RollupAppcmd set config $t.cp $t.ba $d /commit:apphost)
        [void]$r.changed.Add('default_logon_domain')
    }
    if ($null -ne $p_require_ssl -and $r.require_ssl -ne $p_require_ssl) {
        $n = @($t.flags | Where-Object { $_ -ne 'Ssl' })
        if ($p_require_ssl) { $n = @('Ssl') + $n }
        if ($n.Count -eq 0) { $n = @('None') }
        [void](Invoke-RollupAppcmd set config $t.cp $t.ac ('/sslFlags:' + ($n -join ',')) /commit:apphost)
        [void]$r.changed.Add('require_ssl')
    }
    if ($null -ne $p_basic_auth -and $r.basic_auth -ne $p_basic_auth) {
        $e = ([string]$p_basic_auth).ToLower()
        [void](Invoke-RollupAppcmd set config $t.cp $t.ba "/enabled:$e" /commit:apphost)
        [void]$r.changed.Add('basic_auth')
    }
    if ($r.changed.Count -gt 0) { Read-RollupVdir $r $t }
}
"""

_END = r"""
}
catch {
    $r.error = 'failed'
    $r.message = $_.Exception.Message
    Write-RollupResult $r
    exit 1
}
Write-RollupResult $r
exit 0
"""

GET_BODY = IIS_FACTS + "\n" + compact_body(_START + _END)
SET_BODY = IIS_FACTS + "\n" + compact_body(_START + _SET6 + _SET7 + _END)


def _vdir_failure(result: CommandResult, data: dict[str, Any], where: str) -> CommandFailed:
    error = data.get("error")
    if error == "iis_not_installed":
        return not_installed(result)
    if error == "site_not_found":
        return CommandFailed(f"{result.host}: IIS has no web site named {data.get('site')!r}")
    if error == "vdir_not_found":
        return CommandFailed(f"{result.host}: IIS has no virtual directory {where}")
    return CommandFailed(f"{result.host}: {result.op} {where}: {data.get('message')}")


def _parse_vdir(result: CommandResult, site: str, vdir: str) -> VdirSecurity:
    data = read_object(result)
    if "error" in data:
        raise _vdir_failure(result, data, f"{site}/{vdir}")
    return VdirSecurity.read(result, data)


def parse_get(result: CommandResult, params: VdirParams) -> VdirSecurity:
    """
    The virtual directory's settings (``changed`` is empty).

    Raises:
        CommandFailed: IIS, the site or the vdir is missing, or reading failed.
        ResultParseError: No result line or a malformed one.
    """
    return _parse_vdir(result, params.site, params.vdir)


def parse_set(result: CommandResult, params: SetVdirParams) -> VdirSecurity:
    """
    The settings read back after the change, with ``changed`` naming what was set.

    Raises:
        CommandFailed: As for ``iis.get_vdir``, or a setting read back differs from the one
            asked for (something above the vdir overrides it).
        ResultParseError: No result line or a malformed one.
    """
    outcome = _parse_vdir(result, params.site, params.vdir)
    for name, value in params.wanted().items():
        if getattr(outcome, name) != value:
            raise CommandFailed(
                f"{result.host}: {params.site}/{params.vdir}: {name} reads back as "
                f"{getattr(outcome, name)!r} after setting {value!r}"
            )
    return outcome


_SITE = "Default Web Site"

GET_VDIR: Operation[VdirParams, VdirSecurity] = Operation(
    id="iis.get_vdir",
    params=VdirParams,
    body=GET_BODY,
    parse=parse_get,
    kind="fact",
    mutates=False,
    timeout_s=120.0,
    examples=(
        VdirParams(site=_SITE, vdir="DNSProvider"),
        VdirParams(site="Site 'x' $(calc); `t", vdir="App/Sub dir \u2019"),
    ),
)

SET_VDIR: Operation[SetVdirParams, VdirSecurity] = Operation(
    id="iis.set_vdir",
    params=SetVdirParams,
    body=SET_BODY,
    parse=parse_set,
    kind="iis",
    mutates=True,
    timeout_s=300.0,
    examples=(
        SetVdirParams(site=_SITE, vdir="DNSProvider", default_logon_domain="\\", require_ssl=True),
        SetVdirParams(site=_SITE, vdir="DNSProvider", basic_auth=False),
        SetVdirParams(site=_SITE, vdir="DNSProvider", default_logon_domain="", require_ssl=False),
        SetVdirParams(site="S $(x)", vdir="v;'", default_logon_domain="HOST'ING;$(calc)`\\", basic_auth=True),
    ),
)

RESET: Operation[ResetParams, IisReset] = Operation(
    id="iis.reset",
    params=ResetParams,
    body=RESET_BODY,
    parse=parse_reset,
    kind="iis",
    mutates=True,
    timeout_s=600.0,
    examples=(ResetParams(), ResetParams(timeout_s=20)),
)

OPERATIONS = (GET_VDIR, SET_VDIR, RESET)
