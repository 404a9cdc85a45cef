"""
``verify.facts``: everything ``rollup verify`` and ``rollup preflight`` read on one host, in one script.

A per-check round trip costs a WinRM command each (three requests, and the host starts a
PowerShell process every time); over a fleet that is most of the run. This operation reads the
fact groups a host's roles need in one script. Its parameters say which groups: an empty group
is not read at all.

- ``files``: size, last write time (UTC) and, with ``file_identity``, SHA-256 and the MSI's
  ProductCode, ProductName and ProductVersion of each path, as ``files.stat`` reads them;
- ``products``: the Uninstall entries (both registry views, as ``products.list``) whose
  DisplayName, reduced to lower-case letters and digits (``name_key``), is one of
  ``product_names``, or whose key is one of ``product_codes``: a component is found whether
  its entry spells it ``Managed Email2007 Web Services`` or ``managed email 2007 web services``;
- ``vdirs``: the directory security of IIS virtual directories (``<site>/<vdir>``), as
  ``iis.get_vdir`` reads it: ADSI on IIS 6, ``appcmd list config`` on IIS 7;
- ``sql``: the rows of the SQL catalog that ``sql.objects`` reports, through sqlcmd or osql on
  the host itself;
- ``complus``: each COM+ application's state, as ``complus.state``;
- ``services``: each Windows service's state and start mode, as ``service.state``.

Each group's result has the shape of its single operation's result, so the parsers and the lab
simulations of those operations read and produce it here too: the composite cannot drift apart
from them. Each group is read in its own ``try``: one that fails (no SQL client, WMI refusing)
is reported under ``errors`` and the others still arrive. The script changes nothing.

The script holds the code of the groups asked for only (``script_body``), and the hashing
helpers only when files are hashed: a COLLAB host's script (its products) then fits cmd.exe's
command line, about 3,000 characters, and costs no Send. Every parameter is bound in every
script, so the SQL group is one field (``sql``, ``key=value`` entries) rather than seven.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rollup.errors import CommandFailed, ResultParseError
from rollup.ops import complus, iis, products, service
from rollup.ops.base import CommandResult, Operation, SimContext, SimResult, compact_body, params_to_mapping
from rollup.ops.complus import ComPlusState
from rollup.ops.files import FileStat, StatParams
from rollup.ops.iis import VdirSecurity
from rollup.ops.products import InstalledEntry
from rollup.ops.results import read_object
from rollup.ops.service import ServiceStates
from rollup.ops.sql import SqlObjectsParams, SqlObjectsReport
from rollup.ps.command import RemoteCommand
from rollup.ps.result import RESULT_MARKER

if TYPE_CHECKING:
    from rollup.lab.state import HostState

_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]")


def name_key(text: str) -> str:
    """A product name as the script compares it: ASCII letters and digits only, lower case."""
    return _NOT_ALNUM.sub("", text).lower()


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyParams:
    """The fact groups to read (see the module docstring); an empty group is skipped."""

    files: tuple[str, ...] = ()
    file_identity: bool = False
    product_names: tuple[str, ...] = ()
    """``name_key`` of each DisplayName to report."""
    product_codes: tuple[str, ...] = ()
    vdirs: tuple[str, ...] = ()
    """``<site>/<vdir>``: the site's name (no ``/``), then the virtual directory's path."""
    sql: tuple[str, ...] = ()
    """
    The SQL group as ``key=value`` entries (``sql_group`` makes them from ``sql.objects``
    parameters): ``instance=`` and ``database=`` once each, then any ``index=<table>.<index>``,
    ``procedure=``, ``scalar_function=``, ``table_function=`` and ``near_miss=`` entries. One
    field rather than seven, because every field is bound in every host's script.
    """
    complus: tuple[str, ...] = ()
    services: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for query in self.vdirs:
            _split_vdir(query)
        self.sql_objects()
        for name in self.complus:
            complus.ComPlusParams(application=name)
        if self.services:
            service.ServiceParams(names=self.services)

    def stat(self) -> StatParams:
        """The ``files.stat`` parameters of the files group."""
        return StatParams(paths=self.files, sha256=self.file_identity, msi=self.file_identity)

    def sql_objects(self) -> SqlObjectsParams | None:
        """
        The ``sql.objects`` parameters of the SQL group, or ``None`` when it is not read.

        Raises:
            ValueError: an entry is not ``key=value`` with a known key, or ``instance`` or
                ``database`` is not given exactly once.
        """
        if not self.sql:
            return None
        values: dict[str, list[str]] = {key: [] for key in ("instance", "database", *_SQL_LISTS)}
        for entry in self.sql:
            key, equals, value = entry.partition("=")
            if not equals or key not in values:
                raise ValueError(f"verify.facts: SQL entry {entry!r} is not <key>=<value> with a known key")
            values[key].append(value)
        if len(values["instance"]) != 1 or len(values["database"]) != 1:
            raise ValueError("verify.facts: the SQL group names one instance and one database")
        lists = {key: tuple(values[key]) for key in _SQL_LISTS}
        return SqlObjectsParams(
            instance=values["instance"][0],
            database=values["database"][0],
            indexes=lists["index"],
            procedures=lists["procedure"],
            scalar_functions=lists["scalar_function"],
            table_functions=lists["table_function"],
            near_miss=lists["near_miss"],
        )

    @property
    def empty(self) -> bool:
        """Whether no group is asked for (the host has nothing to read)."""
        groups = (self.files, self.product_names, self.product_codes, self.vdirs, self.complus, self.services)
        return not any(groups) and not self.sql


_SQL_LISTS = ("index", "procedure", "scalar_function", "table_function", "near_miss")
"""The keys of the SQL group that may repeat, in ``SqlObjectsParams`` order."""


def sql_group(objects: SqlObjectsParams) -> tuple[str, ...]:
    """The ``VerifyParams.sql`` entries that read what ``objects`` asks ``sql.objects`` for."""
    lists = (objects.indexes, objects.procedures, objects.scalar_functions, objects.table_functions,
             objects.near_miss)  # fmt: skip
    return (
        f"instance={objects.instance}",
        f"database={objects.database}",
        *(f"{key}={value}" for key, values in zip(_SQL_LISTS, lists, strict=True) for value in values),
    )


def _split_vdir(query: str) -> iis.VdirParams:
    site, slash, vdir = query.partition("/")
    if not slash:
        raise ValueError(f"verify.facts: vdir {query!r} is not <site>/<vdir>")
    return iis.VdirParams(site=site, vdir=vdir)


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A fact the host could not read; ``message`` is the host's own text."""

    message: str


@dataclass(frozen=True, slots=True)
class VdirMissing:
    """IIS, the web site or the virtual directory does not exist (a finding, not an error)."""

    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyFacts:
    """What ``verify.facts`` read. A group not asked for is ``None`` (or empty)."""

    files: tuple[FileStat, ...] | Unreadable | None = None
    products: tuple[InstalledEntry, ...] | Unreadable | None = None
    vdirs: Mapping[str, VdirSecurity | VdirMissing | Unreadable] = field(default_factory=dict)
    sql: SqlObjectsReport | Unreadable | None = None
    complus: Mapping[str, ComPlusState | Unreadable] = field(default_factory=dict)
    services: ServiceStates | Unreadable | None = None


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

_IDENTITY_HELPERS = ("Get-RollupSha256", "Get-RollupMsiProperty")
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
    return _IDENTITY_HELPERS if params.files and params.file_identity else ()


@dataclass(frozen=True, slots=True, kw_only=True)
class _FactsOperation(Operation[VerifyParams, VerifyFacts]):
    """``verify.facts``, whose script carries only the groups (and helpers) its parameters ask for."""

    def command(self, params: VerifyParams) -> RemoteCommand:
        """The ``RemoteCommand`` that reads the groups of ``params``."""
        return RemoteCommand(
            op=self.id,
            params=params_to_mapping(params),
            body=script_body(params),
            helpers=script_helpers(params),
        )


def _op(op_id: str) -> Operation[Any, Any]:
    """A single operation whose result shape a group shares (looked up when used: the registry
    imports this module)."""
    from rollup.ops.registry import operation

    found = operation(op_id)
    if found is None:
        raise RuntimeError(f"verify.facts needs the operation {op_id}, which is not registered")
    return found


def _part(result: CommandResult, data: Any) -> CommandResult:
    """
    One group's result as its single operation prints it, so that operation's parser reads it.
    ``data`` came out of ``json.loads``, so plain ``json.dumps`` writes it back for the parser:
    ``format_result``, the writer's exact twin, would cost more for the same reading.
    """
    line = f"{RESULT_MARKER} {json.dumps(data, separators=(',', ':'))}\n"
    return dataclasses.replace(result, exit_code=0, stdout=line, stderr="")


def _group(data: dict[str, Any], key: str, kind: type, result: CommandResult) -> Any:
    value = data.get(key)
    if not isinstance(value, kind):
        raise ResultParseError(f"{result.host}: {result.op}: result group {key!r} is missing or malformed")
    return value


_MISSING = {
    "iis_not_installed": "IIS is not installed",
    "site_not_found": "IIS has no web site {site!r}",
    "vdir_not_found": "IIS has no virtual directory {site}/{vdir}",
}


def _vdir(result: CommandResult, entry: Any) -> VdirSecurity | VdirMissing | Unreadable:
    if not isinstance(entry, dict):
        raise ResultParseError(f"{result.host}: {result.op}: an IIS entry is not an object")
    error = entry.get("error")
    if error is None:
        return VdirSecurity.read(result, entry)
    if error in _MISSING:
        return VdirMissing(_MISSING[error].format(site=entry.get("site"), vdir=entry.get("vdir")))
    return Unreadable(str(entry.get("message") or error))


def _listed(result: CommandResult, data: dict[str, Any], key: str, count: int) -> list[Any]:
    entries: list[Any] = _group(data, key, list, result)
    if len(entries) != count:
        raise ResultParseError(f"{result.host}: {result.op}: the {key} entries do not match those asked for")
    return entries


def parse(result: CommandResult, params: VerifyParams) -> VerifyFacts:
    """
    The facts of every group asked for. A group the host could not read is ``Unreadable``;
    a missing IIS directory is ``VdirMissing``; missing products, files, objects and
    applications are findings in the facts themselves.

    Raises:
        ResultParseError: No result line, or a group asked for is missing or malformed.
    """
    data = read_object(result)
    errors = _group(data, "errors", dict, result)
    found: dict[str, Any] = {}

    def read(group: str, op_id: str, op_params: object) -> Any:
        if group in errors:
            return Unreadable(str(errors[group]))
        try:
            return _op(op_id).parse(_part(result, _group(data, group, dict, result)), op_params)
        except CommandFailed as exc:
            return Unreadable(exc.message.removeprefix(f"{result.host}: "))

    if params.files:
        found["files"] = read("files", "files.stat", params.stat())
    if params.product_names or params.product_codes:
        found["products"] = read("products", "products.list", products.ListParams())
    if params.vdirs:
        entries = _listed(result, data, "iis", len(params.vdirs))
        found["vdirs"] = {q: _vdir(result, e) for q, e in zip(params.vdirs, entries, strict=True)}
    sql_params = params.sql_objects()
    if sql_params is not None:
        found["sql"] = read("sql", "sql.objects", sql_params)
    if params.complus:
        broken = Unreadable(str(errors["complus"])) if "complus" in errors else None
        apps = [] if broken else _listed(result, data, "complus", len(params.complus))
        found["complus"] = {
            name: broken or ComPlusState.read(result, apps[i]) for i, name in enumerate(params.complus)
        }
    if params.services:
        found["services"] = read("services", "service.state", service.ServiceParams(names=params.services))
    return VerifyFacts(**found)


def _lab_products(state: HostState, params: VerifyParams, ctx: SimContext) -> Any:
    """The script's product filter on the simulated host, answered with ``products.list``'s rows."""
    keys = set(params.product_names)
    names = {p.display_name for p in state.products.values() if name_key(p.display_name) in keys}
    if not names and not params.product_codes:
        return {"products": []}
    listed = products.ListParams(names=tuple(sorted(names)), product_codes=params.product_codes)
    return _op("products.list").simulate(state, listed, ctx).result


def simulate(state: HostState, params: VerifyParams, ctx: SimContext) -> SimResult:
    """Every group asked for, read from the simulated host through the single operations' simulations."""

    def run(op_id: str, op_params: object) -> Any:
        return _op(op_id).simulate(state, op_params, ctx).result

    result: dict[str, Any] = {"errors": {}}
    if params.files:
        result["files"] = run("files.stat", params.stat())
    if params.product_names or params.product_codes:
        result["products"] = _lab_products(state, params, ctx)
    if params.vdirs:
        result["iis"] = [run("iis.get_vdir", _split_vdir(q)) for q in params.vdirs]
    sql_params = params.sql_objects()
    if sql_params is not None:
        result["sql"] = run("sql.objects", sql_params)
    if params.complus:
        apps = params.complus
        result["complus"] = [run("complus.state", complus.ComPlusParams(application=n)) for n in apps]
    if params.services:
        result["services"] = run("service.state", service.ServiceParams(names=params.services))
    return SimResult(result=result)


_MSISHARE = ("C:\\MSIShare\\DNSClient.msi", "C:\\MSIShare\\ResourceManageDatabase.msi")
_INDEX = "rmcore_Candidates.rmcore_candidates_ix_target_set_object_category_object_id_trans_id"

FACTS: Operation[VerifyParams, VerifyFacts] = _FactsOperation(
    id="verify.facts",
    params=VerifyParams,
    body=BODY,
    parse=parse,
    simulate=simulate,
    helpers=_IDENTITY_HELPERS,
    kind="fact",
    mutates=False,
    timeout_s=300.0,
    examples=(
        VerifyParams(
            files=_MSISHARE,
            file_identity=True,
            product_names=("dnsprovider", "managedemail2007webservices"),
            product_codes=("{A6813487-C08E-5A97-8289-3AB94050D874}",),
            complus=("Provisioning Engine",),
            services=("W3SVC", "MSDTC"),
        ),
        VerifyParams(files=_MSISHARE),
        VerifyParams(vdirs=("Default Web Site/DNSProvider",), product_names=("dnsclient",)),
        VerifyParams(
            sql=sql_group(
                SqlObjectsParams(
                    instance=".",
                    database="ResourceManager",
                    indexes=(_INDEX,),
                    procedures=("SeleteAndAssembleAllocateOrgMailStores",),
                    scalar_functions=("fn_min",),
                    table_functions=("fn_ResourceCapacityOnAllocatedMailStores",),
                    near_miss=("%AndAssemble%OrgMailStores",),
                )
            ),
        ),
        VerifyParams(
            files=("C:\\it's $(x)\\a`b.msi",),
            product_names=("x'; $(calc)",),
            vdirs=("Site 'x' $(y)/App \u2019",),
            sql=("instance=SQL'; DROP TABLE x; --", "database=Db $(calc)", "procedure=a=b $(c)"),
            complus=("Engine 'A' \"B\" $(calc)",),
            services=('it\'s "odd"; $(Stop-Service W3SVC)',),
        ),
        VerifyParams(),
    ),
)

OPERATIONS = (FACTS,)
