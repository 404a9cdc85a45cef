"""
``files.installed``: what the files a package installed are on a host, read without changing it.

Each path is one the lock file records (``[ProgramFilesFolder]Microsoft Hosting\\...\\x.dll``,
``rollup.msifiles``), resolved on the host as Windows Installer resolves a 32-bit package's
folders: ``ProgramFiles(x86)`` where the host has it (64-bit Windows), else ``ProgramFiles``;
likewise ``CommonProgramFiles``; ``windir`` for ``WindowsFolder``. For each file: whether it
exists, its size, its version resource's file version (``FileMajorPart`` to ``FilePrivatePart``
of ``[Diagnostics.FileVersionInfo]``, PowerShell 2.0 and .NET 2.0; ``null`` for a file without
one), and, for the paths in ``hashed``, its SHA-256. A file that cannot be read has ``error``.

``verify.facts`` calls the same function (``Get-RollupInstalledFiles``) for its ``installed``
group, so a fact has one source.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rollup.errors import ResultParseError
from rollup.ops.base import CommandResult, Operation, compact_body
from rollup.ops.results import OPT_INT, OPT_STR, result_field, result_objects

INSTALLED_FACTS = compact_body(r"""
function Get-RollupInstalledFiles($paths, $hashed) {
    $roots = @{}
    foreach ($n in @('ProgramFiles', 'CommonProgramFiles')) {
        $d = [Environment]::GetEnvironmentVariable($n + '(x86)')
        if (-not $d) { $d = [Environment]::GetEnvironmentVariable($n) }
        $roots[$n] = $d
    }
    $roots.ProgramFilesFolder = $roots.ProgramFiles
    $roots.CommonFilesFolder = $roots.CommonProgramFiles
    $roots.WindowsFolder = [Environment]::GetEnvironmentVariable('windir')
    $o = @()
    foreach ($x in $paths) {
        $j = $x.IndexOf(']')
        $f = $roots[$x.Substring(1, $j - 1)] + '\' + $x.Substring($j + 1)
        $e = @{ path = $x; file = $f; exists = $false; size = $null; version = $null; sha256 = $null
            error = $null }
        if ([IO.File]::Exists($f)) {
            $e.exists = $true
            try {
                $e.size = (New-Object IO.FileInfo $f).Length
                $v = [Diagnostics.FileVersionInfo]::GetVersionInfo($f)
                if ($v.FileVersion) {
                    $n = $v.FileMajorPart, $v.FileMinorPart, $v.FileBuildPart, $v.FilePrivatePart
                    $e.version = $n -join '.'
                }
                if ($hashed -contains $x) { $e.sha256 = Get-RollupSha256 $f }
            }
            catch { $e.error = $_.Exception.Message }
        }
        $o += $e
    }
    return ,$o
}
""")
"""``Get-RollupInstalledFiles paths hashed``: each path's entry as ``files.installed`` reports it."""

BODY = (
    INSTALLED_FACTS
    + "\n"
    + compact_body(r"""
Write-RollupResult @{ files = (Get-RollupInstalledFiles $p_paths $p_hashed) }
exit 0
""")
)

HELPERS = ("Get-RollupSha256",)


@dataclass(frozen=True, slots=True, kw_only=True)
class InstalledParams:
    """Paths as the lock records them (``[Folder]rest``); ``hashed``: those to hash (unversioned)."""

    paths: tuple[str, ...]
    hashed: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for path in self.paths:
            folder, bracket, rest = path.partition("]")
            if not path.startswith("[") or not bracket or not rest or folder[1:] not in _FOLDERS:
                raise ValueError(f"files.installed: {path!r} is not [{'|'.join(_FOLDERS)}]<path>")
        unknown = [p for p in self.hashed if p not in self.paths]
        if unknown:
            raise ValueError(f"files.installed: {unknown[0]!r} is hashed but not asked for")


_FOLDERS = ("ProgramFilesFolder", "CommonFilesFolder", "WindowsFolder")


@dataclass(frozen=True, slots=True, kw_only=True)
class InstalledStat:
    """One installed file as read on the host: ``path`` as asked, ``file`` as resolved there."""

    path: str
    file: str
    exists: bool
    size: int | None = None
    version: str | None = None
    """The version resource's file version, ``a.b.c.d``; ``None``: none (or a missing file)."""
    sha256: str | None = None
    error: str | None = None


def parse(result: CommandResult, params: InstalledParams) -> tuple[InstalledStat, ...]:
    """One ``InstalledStat`` per path asked for, in order.

    Raises:
        ResultParseError: no result, a malformed entry, or not the paths asked for.
    """
    stats = tuple(
        InstalledStat(
            path=result_field(item, "path", str, result),
            file=result_field(item, "file", str, result),
            exists=result_field(item, "exists", bool, result),
            size=result_field(item, "size", OPT_INT, result),
            version=result_field(item, "version", OPT_STR, result),
            sha256=result_field(item, "sha256", OPT_STR, result),
            error=result_field(item, "error", OPT_STR, result),
        )
        for item in result_objects(result, "files")
    )
    if [s.path for s in stats] != list(params.paths):
        raise ResultParseError(f"{result.host}: {result.op}: the result does not list the paths asked for")
    return stats


_DLL = "[ProgramFilesFolder]Microsoft Hosting\\Provisioning\\DNSClient\\Microsoft.Provisioning.DNSClient.dll"
_CONFIG = _DLL + ".config"

OPERATIONS: tuple[Operation[Any, Any], ...] = (
    Operation(
        id="files.installed",
        params=InstalledParams,
        body=BODY,
        parse=parse,
        helpers=HELPERS,
        kind="fact",
        examples=(
            InstalledParams(paths=(_DLL, _CONFIG), hashed=(_CONFIG,)),
            InstalledParams(paths=("[WindowsFolder]it's $(x)\\a`b.dll",)),
            InstalledParams(paths=()),
        ),
    ),
)
