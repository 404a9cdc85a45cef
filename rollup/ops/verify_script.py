"""
The PowerShell 2.0 script of ``verify.facts``, one fragment per fact group.

A group calls the PowerShell function of the single operation that reads the same facts, so a
fact has one source: ``Get-RollupFileFacts`` (``files.stat``), ``Get-RollupProducts``
(``products.list``), ``Read-RollupVdir`` (``iis.get_vdir``), ``Get-RollupSqlObjects``
(``sql.objects``), ``Get-RollupComPlusApp`` (``complus.state``), ``Get-RollupServices``
(``service.state``), ``Get-RollupInstalledFiles`` (``files.installed``), ``Add-RollupRebootReason``
(``host.facts``).

``script_body`` puts together only the groups a host's parameters ask for (see
``rollup.ops.verify``, which holds the parameters, the parser and the lab's simulation of the
same groups), so a host's script is no longer than its roles need.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rollup.ops.base import compact_body
from rollup.ops.complus import COMPLUS_FACTS
from rollup.ops.files import FILE_FACTS
from rollup.ops.host import REBOOT_FACTS
from rollup.ops.iis import IIS_FACTS
from rollup.ops.installed import FILE_ROWS, INSTALLED_FACTS
from rollup.ops.listing import LISTING_FACTS
from rollup.ops.products import PRODUCT_FACTS
from rollup.ops.service import SERVICE_FACTS
from rollup.ops.sql import SQL_FACTS

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

_FILES = compact_body(r"""
try { $r.files = @{ files = (Get-RollupFileFacts $p_files $p_file_identity $p_file_identity) } }
catch { $r.errors.files = $_.Exception.Message }
""")

_PRODUCTS = compact_body(r"""
try { $r.products = @{ products = (Get-RollupProducts @() $p_product_names $p_product_codes) } }
catch { $r.errors.products = $_.Exception.Message }
""")

_VDIRS = compact_body(r"""
$o = @()
foreach ($q in $p_vdirs) {
    $j = $q.IndexOf('/')
    $e = @{ site = $q.Substring(0, $j); vdir = $q.Substring($j + 1); changed = @() }
    try { Read-RollupVdir $e @{} }
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
    $names = $s.procedure + $s.scalar_function + $s.table_function
    $r.sql = Get-RollupSqlObjects $s.instance $s.database $s.index $names $s.near_miss
}
catch { $r.errors.sql = $_.Exception.Message }
""")

_COMPLUS = compact_body(r"""
try {
    $cat = New-Object -ComObject COMAdmin.COMAdminCatalog
    $o = @()
    foreach ($n in $p_complus) { $o += Get-RollupComPlusApp $cat $n }
    $r.complus = $o
}
catch { $r.errors.complus = $_.Exception.Message }
""")

_SERVICES = compact_body(r"""
try { $r.services = @{ services = (Get-RollupServices $p_services) } }
catch { $r.errors.services = $_.Exception.Message }
""")

_INSTALLED = compact_body(r"""
try { $r.installed = Get-RollupInstalledFiles $p_installed $p_installed_hashed }
catch { $r.errors.installed = $_.Exception.Message }
""")

_LISTING = compact_body(r"""
try { $r.listing = Get-RollupFolderFiles $p_listing }
catch { $r.errors.listing = $_.Exception.Message }
""")

_REBOOT = compact_body(r"""
try {
    $pr = New-Object Collections.ArrayList
    Add-RollupRebootReason $pr
    $r.reboot = @{ reasons = $pr }
}
catch { $r.errors.reboot = $_.Exception.Message }
""")

IDENTITY_HELPERS = ("Get-RollupSha256", "Get-RollupMsiProperty")
"""The prelude helpers the file identity part calls."""

BODY = "\n".join(
    (
        _PROLOGUE,
        FILE_FACTS,
        _FILES,
        PRODUCT_FACTS,
        _PRODUCTS,
        IIS_FACTS,
        _VDIRS,
        SQL_FACTS,
        _SQL,
        COMPLUS_FACTS,
        _COMPLUS,
        SERVICE_FACTS,
        _SERVICES,
        FILE_ROWS,
        INSTALLED_FACTS,
        _INSTALLED,
        LISTING_FACTS,
        _LISTING,
        REBOOT_FACTS,
        _REBOOT,
        _EPILOGUE,
    )
)
"""Every group: the script of parameters that ask for all of them."""


def script_body(params: VerifyParams) -> str:
    """
    The body for ``params``: the groups asked for, in a fixed order, and nothing of the others.
    A host's script is no longer than its roles need (a shorter script costs less to send and run).
    """
    parts = [_PROLOGUE]
    if params.files:
        parts += [FILE_FACTS, _FILES]
    if params.product_names or params.product_codes:
        parts += [PRODUCT_FACTS, _PRODUCTS]
    if params.vdirs:
        parts += [IIS_FACTS, _VDIRS]
    if params.sql:
        parts += [SQL_FACTS, _SQL]
    if params.complus:
        parts += [COMPLUS_FACTS, _COMPLUS]
    if params.services:
        parts += [SERVICE_FACTS, _SERVICES]
    if params.installed or params.listing:
        parts.append(FILE_ROWS)
    if params.installed:
        parts += [INSTALLED_FACTS, _INSTALLED]
    if params.listing:
        parts += [LISTING_FACTS, _LISTING]
    if params.reboot:
        parts += [REBOOT_FACTS, _REBOOT]
    parts.append(_EPILOGUE)
    return "\n".join(parts)


def script_helpers(params: VerifyParams) -> tuple[str, ...]:
    """The prelude helpers ``script_body(params)`` calls."""
    if params.files:
        return IDENTITY_HELPERS
    return ("Get-RollupSha256",) if params.installed_hashed or params.listing else ()
