"""
The PowerShell 2.0 script of ``verify.facts``, one fragment per fact group.

``script_body`` puts together only the groups a host's parameters ask for (see
``rollup.ops.verify``, which holds the parameters, the parser and the lab's simulation of the
same groups), so a COLLAB host's script fits cmd.exe's command line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rollup.ops.base import compact_body

if TYPE_CHECKING:
    from rollup.ops.verify import VerifyParams

_PROLOGUE = compact_body(r"""
$ErrorActionPreference = 'Stop'
$r = @{ errors = @{} }
""")

_EPILOGUE = compact_body(r"""
Write-RollupResult $r
exit 0
""")

_FILES_OPEN = compact_body(r"""
try {
    $o = @()
    foreach ($x in $p_files) {
        $e = @{ path = $x; exists = $false; size = $null; mtime = $null; sha256 = $null; error = $null
            product_code = $null; product_name = $null; product_version = $null }
        if ([IO.File]::Exists($x)) {
            $i = New-Object IO.FileInfo $x
            $e.exists = $true
            $e.size = $i.Length
            $e.mtime = $i.LastWriteTimeUtc
""")

_FILES_CLOSE = compact_body(r"""
        }
        $o += $e
    }
    $r.files = @{ files = $o }
}
catch { $r.errors.files = $_.Exception.Message }
""")

_IDENTITY = compact_body(r"""
try {
    $e.sha256 = Get-RollupSha256 $x
    $m = Get-RollupMsiProperty $x @('ProductCode', 'ProductName', 'ProductVersion')
    $e.product_code = $m['ProductCode']
    $e.product_name = $m['ProductName']
    $e.product_version = $m['ProductVersion']
}
catch { $e.error = $_.Exception.Message }
""")

_PRODUCTS = compact_body(r"""
try {
    $o = @()
    foreach ($w in 0, 1) {
        $k = 'HKLM:\SOFTWARE\' + ('', 'Wow6432Node\')[$w] + 'Microsoft\Windows\CurrentVersion\Uninstall'
        if (Test-Path $k) {
            foreach ($v in @(Get-ItemProperty "$k\*")) {
                $d = [string]$v.DisplayName
                $n = $v.PSChildName
                $c = $p_product_names -contains ($d -replace '[^A-Za-z0-9]').ToLowerInvariant()
                if ($d -and ($c -or $p_product_codes -contains $n)) {
                    $o += @{ key = $n; display_name = $d; display_version = [string]$v.DisplayVersion
                        publisher = [string]$v.Publisher; install_date = [string]$v.InstallDate
                        windows_installer = $v.WindowsInstaller -eq 1; wow6432 = [bool]$w }
                }
            }
        }
    }
    $r.products = @{ products = $o }
}
catch { $r.errors.products = $_.Exception.Message }
""")

_VDIRS = compact_body(r"""
function Invoke-Appcmd {
    $t = & "$env:SystemRoot\System32\inetsrv\appcmd.exe" @args | Out-String
    if ($LASTEXITCODE -ne 0) { throw "appcmd $($args[0]) $($args[1]) exited $($LASTEXITCODE): $t" }
    return $t
}
function Read-Iis6($e) {
    $id = $null
    foreach ($c in ([ADSI]'IIS://localhost/W3SVC').psbase.Children) {
        $n = [string]$c.psbase.Properties['ServerComment'].Value
        if ($c.psbase.SchemaClassName -eq 'IIsWebServer' -and $n -eq $e.site) { $id = $c.psbase.Name }
    }
    if ($null -eq $id) { $e.error = 'site_not_found'; return }
    $e.site_id = [int]$id
    $e.path = '/LM/W3SVC/' + $id + '/ROOT/' + $e.vdir
    $a = 'IIS://localhost/W3SVC/' + $id + '/Root/' + $e.vdir
    if (-not [ADSI]::Exists($a)) { $e.error = 'vdir_not_found'; return }
    $v = [ADSI]$a
    $e.default_logon_domain = [string]$v.psbase.Properties['DefaultLogonDomain'].Value
    $e.require_ssl = ([int]$v.psbase.Properties['AccessSSLFlags'].Value -band 8) -ne 0
    $e.basic_auth = ([int]$v.psbase.Properties['AuthFlags'].Value -band 2) -ne 0
}
function Read-Iis7($e) {
    foreach ($s in @(([xml](Invoke-Appcmd list site /xml)).SelectNodes('/appcmd/SITE'))) {
        if ($s.GetAttribute('SITE.NAME') -eq $e.site) { $e.site_id = [int]$s.GetAttribute('SITE.ID') }
    }
    if ($null -eq $e.site_id) { $e.error = 'site_not_found'; return }
    $cp = $e.site + '/' + $e.vdir
    $e.path = 'MACHINE/WEBROOT/APPHOST/' + $cp
    $found = $false
    foreach ($d in @(([xml](Invoke-Appcmd list vdir /xml)).SelectNodes('/appcmd/VDIR'))) {
        $an = $d.GetAttribute('APP.NAME')
        $i = $an.IndexOf('/')
        $u = ($an.Substring($i).TrimEnd('/') + $d.GetAttribute('path')).TrimEnd('/')
        if ($an.Substring(0, $i) -eq $e.site -and $u -eq ('/' + $e.vdir)) { $found = $true }
    }
    if (-not $found) { $e.error = 'vdir_not_found'; return }
    $ba = '-section:system.webServer/security/authentication/basicAuthentication'
    $b = ([xml](Invoke-Appcmd list config $cp $ba /config:* /xml)).SelectSingleNode('/appcmd/CONFIG/*')
    $ac = '-section:system.webServer/security/access'
    $s = ([xml](Invoke-Appcmd list config $cp $ac /config:* /xml)).SelectSingleNode('/appcmd/CONFIG/*')
    $e.default_logon_domain = ''
    $e.basic_auth = $false
    $e.require_ssl = $false
    if ($b) {
        $e.default_logon_domain = $b.GetAttribute('defaultLogonDomain')
        $e.basic_auth = $b.GetAttribute('enabled') -eq 'true'
    }
    if ($s) {
        $l = @($s.GetAttribute('sslFlags').Split(',') | ForEach-Object { $_.Trim() })
        $e.require_ssl = $l -contains 'Ssl'
    }
}
$o = @()
$k = $null
$ke = $null
try { $k = Get-ItemProperty 'HKLM:\SOFTWARE\Microsoft\InetStp' -ErrorAction SilentlyContinue }
catch { $ke = $_.Exception.Message }
foreach ($q in $p_vdirs) {
    $j = $q.IndexOf('/')
    $e = @{ site = $q.Substring(0, $j); vdir = $q.Substring($j + 1); changed = @() }
    try {
        if ($ke) { throw $ke }
        if (-not $k) { $e.error = 'iis_not_installed' }
        else {
            $e.iis_version = [int]$k.MajorVersion
            if ($e.iis_version -lt 7) { Read-Iis6 $e } else { Read-Iis7 $e }
        }
    }
    catch { $e.error = 'failed'; $e.message = $_.Exception.Message }
    $o += $e
}
$r.iis = $o
""")

_SQL = compact_body(r"""
try {
    $s = @{ index = @(); procedure = @(); scalar_function = @(); table_function = @(); near_miss = @() }
    foreach ($x in $p_sql) {
        $j = $x.IndexOf('=')
        $k = $x.Substring(0, $j)
        $v = $x.Substring($j + 1)
        if ($s.ContainsKey($k)) { $s[$k] += $v } else { $s[$k] = $v }
    }
    $q = 'SET NOCOUNT ON; SELECT ''IX'', o.name, i.name FROM sysindexes i ' +
        'JOIN sysobjects o ON o.id = i.id WHERE i.indid BETWEEN 1 AND 254; ' +
        'SELECT RTRIM(xtype), '''', name FROM sysobjects ' +
        'WHERE xtype IN (''P'', ''FN'', ''TF'', ''IF'')'
    $names = $s.procedure + $s.scalar_function + $s.table_function
    $client = $null
    if (Get-Command sqlcmd.exe -ErrorAction SilentlyContinue) {
        $client = 'sqlcmd'
        $x = & sqlcmd.exe -E -S $s.instance -d $s.database -b -h -1 -W -s '|' -Q $q
    }
    elseif (Get-Command osql.exe -ErrorAction SilentlyContinue) {
        $client = 'osql'
        $x = & osql.exe -E -S $s.instance -d $s.database -b '-h-1' -n -w 2048 -s '|' -Q $q
    }
    if (-not $client) {
        $r.sql = @{ error = 'no_client'; message = 'neither sqlcmd.exe nor osql.exe is on the PATH' }
    }
    else {
        $rc = $LASTEXITCODE
        $lines = @($x | ForEach-Object { ([string]$_).Trim() } | Where-Object { $_ })
        if ($rc -ne 0) {
            $tail = @($lines | Select-Object -Last 5) -join ' '
            $r.sql = @{ error = 'sql'; message = "$client exited $($rc): $tail" }
        }
        else {
            $rows = @()
            foreach ($l in $lines) {
                $f = $l.Split([char[]]'|', 3)
                if ($f.Count -lt 3) { continue }
                $e = @{ type = $f[0].Trim(); table = $f[1].Trim(); name = $f[2].Trim() }
                if ($e.type -eq 'IX') { $keep = $s.index -contains ($e.table + '.' + $e.name) }
                else {
                    $keep = $names -contains $e.name
                    foreach ($w in $s.near_miss) {
                        if ($e.name -like $w.Replace('%', '*').Replace('_', '?')) { $keep = $true }
                    }
                }
                if ($keep) { $rows += $e }
            }
            $r.sql = @{ client = $client; instance = $s.instance; database = $s.database
                rows = $rows }
        }
    }
}
catch { $r.errors.sql = $_.Exception.Message }
""")

_COMPLUS = compact_body(r"""
try {
    $cat = New-Object -ComObject COMAdmin.COMAdminCatalog
    $apps = $cat.GetCollection('Applications')
    $apps.Populate()
    $inst = $cat.GetCollection('ApplicationInstances')
    $inst.Populate()
    $o = @()
    foreach ($n in $p_complus) {
        $e = @{ application = $n; found = $false }
        foreach ($a in $apps) {
            if ([string]$a.Name -eq $n) {
                $e.application = [string]$a.Name
                $e.found = $true
                $e.app_id = [string]$a.Key
                $e.enabled = [bool]$a.Value('IsEnabled')
                $ids = @()
                foreach ($y in $inst) {
                    if ([string]$y.Value('Application') -eq $a.Key) { $ids += [int]$y.Value('ProcessID') }
                }
                $e.process_ids = $ids
            }
        }
        $o += $e
    }
    $r.complus = $o
}
catch { $r.errors.complus = $_.Exception.Message }
""")

_SERVICES = compact_body(r"""
try {
    $all = @(Get-WmiObject -Class Win32_Service)
    $o = @()
    foreach ($n in $p_services) {
        $e = @{ query = $n; found = $false }
        foreach ($s in $all) {
            if ($s.Name -eq $n) {
                $e.found = $true
                $e.name = [string]$s.Name
                $e.state = [string]$s.State
                $e.start_mode = [string]$s.StartMode
            }
        }
        $o += $e
    }
    $r.services = @{ services = $o }
}
catch { $r.errors.services = $_.Exception.Message }
""")

IDENTITY_HELPERS = ("Get-RollupSha256", "Get-RollupMsiProperty")
"""The prelude helpers the file identity part calls."""

BODY = "\n".join(
    (_PROLOGUE, _FILES_OPEN, _IDENTITY, _FILES_CLOSE, _PRODUCTS, _VDIRS, _SQL, _COMPLUS, _SERVICES, _EPILOGUE)
)
"""Every group: the script of parameters that ask for all of them."""


def script_body(params: VerifyParams) -> str:
    """
    The body for ``params``: the groups asked for, in a fixed order, and nothing of the others.
    A COLLAB host's script (its products only) fits cmd.exe's line, so it costs no Send.
    """
    parts = [_PROLOGUE]
    if params.files:
        parts += [_FILES_OPEN, *((_IDENTITY,) if params.file_identity else ()), _FILES_CLOSE]
    if params.product_names or params.product_codes:
        parts.append(_PRODUCTS)
    if params.vdirs:
        parts.append(_VDIRS)
    if params.sql:
        parts.append(_SQL)
    if params.complus:
        parts.append(_COMPLUS)
    if params.services:
        parts.append(_SERVICES)
    parts.append(_EPILOGUE)
    return "\n".join(parts)


def script_helpers(params: VerifyParams) -> tuple[str, ...]:
    """The prelude helpers ``script_body(params)`` calls."""
    return IDENTITY_HELPERS if params.files and params.file_identity else ()
