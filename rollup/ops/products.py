"""
``products.list``: the installed products, from the Uninstall registry keys.

Never ``Win32_Product``: querying it runs a Windows Installer consistency check of every
installed package, which is slow, logs event 1035 and can start repairs (windows-ops §3.2).
The body reads ``HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall`` and, on 64-bit
Windows, its ``Wow6432Node`` twin, where 32-bit packages register. .NET 2.0 has no
``RegistryView``, so on x64 this must run in 64-bit PowerShell (a WinRM shell is), or the first
key would be redirected to the second. Entries without a ``DisplayName`` are skipped, as
Add/Remove Programs skips them. For an MSI product the key is its ``{ProductCode}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rollup.ops.base import CommandResult, Operation, compact_body
from rollup.ops.results import result_field, result_objects

if TYPE_CHECKING:
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class ListParams:
    """
    Filters: entries whose DisplayName is one of ``names`` or whose key is one of
    ``product_codes`` (both compared ignoring case). With neither, every entry.
    """

    names: tuple[str, ...] = ()
    product_codes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class InstalledEntry:
    """One Uninstall entry."""

    key: str
    """The subkey name: ``{ProductCode}`` for a Windows Installer product."""
    display_name: str
    display_version: str
    publisher: str
    install_date: str
    """``yyyyMMdd`` as Windows Installer writes it; empty when absent."""
    windows_installer: bool
    wow6432: bool
    """Found under ``Wow6432Node`` (a 32-bit product on 64-bit Windows)."""


PRODUCT_FACTS = compact_body(r"""
# $dn: DisplayNames, $nk: name keys (letters and digits, lower case), $pc: product codes (keys)
function Get-RollupProducts($dn, $nk, $pc) {
    $o = @()
    foreach ($w in 0, 1) {
        $k = 'HKLM:\SOFTWARE\' + ('', 'Wow6432Node\')[$w] + 'Microsoft\Windows\CurrentVersion\Uninstall'
        if (Test-Path -LiteralPath $k) {
            foreach ($e in @(Get-ChildItem -LiteralPath $k)) {
                $v = Get-ItemProperty -LiteralPath $e.PSPath
                $d = [string]$v.DisplayName
                $n = $e.PSChildName
                $y = $nk -contains ($d -replace '[^A-Za-z0-9]').ToLowerInvariant()
                if ($d -and (-not ($dn -or $nk -or $pc) -or $dn -contains $d -or $pc -contains $n -or $y)) {
                    $o += @{ key = $n; display_name = $d; display_version = [string]$v.DisplayVersion
                        publisher = [string]$v.Publisher; install_date = [string]$v.InstallDate
                        windows_installer = $v.WindowsInstaller -eq 1; wow6432 = [bool]$w }
                }
            }
        }
    }
    ,$o
}
""")
"""
``Get-RollupProducts names keys codes``: the Uninstall entries (both views) whose DisplayName is
one of ``names``, whose name key (letters and digits, lower case) is one of ``keys``, or whose
key is one of ``codes``; every entry when all three are empty. The one source of these facts:
``verify.facts`` calls the same function.
"""

BODY = (
    PRODUCT_FACTS
    + "\n"
    + compact_body(r"""
Write-RollupResult @{ products = (Get-RollupProducts $p_names @() $p_product_codes) }
exit 0
""")
)

_TEXT = ("key", "display_name", "display_version", "publisher", "install_date")


def parse(result: CommandResult, params: ListParams) -> tuple[InstalledEntry, ...]:
    """The entries, native view first, each view in key order."""
    entries = []
    for item in result_objects(result, "products"):
        entries.append(
            InstalledEntry(
                windows_installer=result_field(item, "windows_installer", bool, result),
                wow6432=result_field(item, "wow6432", bool, result),
                **{name: result_field(item, name, str, result) for name in _TEXT},
            )
        )
    return tuple(entries)


OPERATIONS: tuple[Operation[Any, Any], ...] = (
    Operation(
        id="products.list",
        params=ListParams,
        body=BODY,
        parse=parse,
        kind="fact",
        examples=(
            ListParams(),
            ListParams(names=("DNS Client", "Managed Email2007 Web Services")),
            ListParams(product_codes=("{F34BD00E-1B46-5B11-B434-21ABF73AF4BE}",)),
            ListParams(names=('it\'s $(x); `y "z"\nw',), product_codes=("{bad}'",)),
        ),
    ),
)
