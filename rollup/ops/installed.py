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
from rollup.ops.results import result_field, result_object

FILE_ROWS = compact_body(r"""
function Get-RollupFolders {
    $w = @{ WindowsFolder = [Environment]::GetEnvironmentVariable('windir') }
    foreach ($p in @(('ProgramFilesFolder', 'ProgramFiles'), ('CommonFilesFolder', 'CommonProgramFiles'))) {
        $d = [Environment]::GetEnvironmentVariable($p[1] + '(x86)')
        if (-not $d) { $d = [Environment]::GetEnvironmentVariable($p[1]) }
        $w[$p[0]] = $d
    }
    return $w
}
function Get-RollupFileRow($f, $hash) {
    $s = $n = $h = $m = ''
    try {
        $s = (New-Object IO.FileInfo $f).Length
        $v = [Diagnostics.FileVersionInfo]::GetVersionInfo($f)
        if ($v.FileVersion) {
            $n = ($v.FileMajorPart, $v.FileMinorPart, $v.FileBuildPart, $v.FilePrivatePart) -join '.'
        }
        if ($hash) { $h = Get-RollupSha256 $f }
    }
    catch { $m = $_.Exception.Message }
    return "$s|$n|$h|$m"
}
""")
"""
``Get-RollupFolders``: the standard folders as a 32-bit package's are resolved on the host
(``ProgramFiles(x86)`` where it exists, else ``ProgramFiles``; likewise ``CommonProgramFiles``;
``windir``), by their Windows Installer names. ``Get-RollupFileRow file hash``:
``size|version|sha256|error`` of an existing file (the version resource's file version; the
SHA-256 when ``hash``; the host's message last). Shared by ``files.installed`` and ``files.listing``.
"""

INSTALLED_FACTS = compact_body(r"""
function Get-RollupInstalledFiles($paths, $hashed) {
    $w = Get-RollupFolders
    $u = @{}
    $o = @()
    foreach ($x in $paths) {
        $j = $x.IndexOf(']')
        $k = $x.Substring(1, $j - 1)
        $u[$k] = $w[$k]
        $f = $w[$k] + '\' + $x.Substring($j + 1)
        if ([IO.File]::Exists($f)) { $o += '1|' + (Get-RollupFileRow $f ($hashed -contains $x)) }
        else { $o += '0||||' }
    }
    return @{ folders = $u; files = $o }
}
""")
"""
``Get-RollupInstalledFiles paths hashed``: the folders the paths use, as resolved on the host,
and a row per path, in order: ``exists|size|version|sha256|error`` (``1|1536|4.0.2491.0||``;
empty fields are null; the error, the host's message, is last). Rows rather than objects, and the
paths not echoed, because the result writer serialises each value with a PowerShell function call
and each character with a loop pass: a host with 37 files would pay for 400 calls otherwise.
"""

BODY = (
    FILE_ROWS
    + "\n"
    + INSTALLED_FACTS
    + "\n"
    + compact_body(r"""
Write-RollupResult (Get-RollupInstalledFiles $p_paths $p_hashed)
exit 0
""")
)

HELPERS = ("Get-RollupSha256",)
FOLDERS = ("ProgramFilesFolder", "CommonFilesFolder", "WindowsFolder")
"""The standard folders a path may start with, as ``[Name]``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class InstalledParams:
    """Paths as the lock records them (``[Folder]rest``); ``hashed``: those to hash (unversioned)."""

    paths: tuple[str, ...]
    hashed: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for path in self.paths:
            folder, bracket, rest = path.partition("]")
            if not path.startswith("[") or not bracket or not rest or folder[1:] not in FOLDERS:
                raise ValueError(f"files.installed: {path!r} is not [{'|'.join(FOLDERS)}]<path>")
        unknown = [p for p in self.hashed if p not in self.paths]
        if unknown:
            raise ValueError(f"files.installed: {unknown[0]!r} is hashed but not asked for")


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
        ResultParseError: no result, a malformed row, a folder not resolved, or not one row per path.
    """
    folders = result_field(result_object(result), "folders", dict, result)
    rows = result_field(result_object(result), "files", list, result)
    if len(rows) != len(params.paths):
        raise ResultParseError(f"{result.host}: {result.op}: the result does not list the paths asked for")
    return tuple(_stat(result, path, row, folders) for path, row in zip(params.paths, rows, strict=True))


def _stat(result: CommandResult, path: str, row: object, folders: dict[str, object]) -> InstalledStat:
    folder, _, rest = path[1:].partition("]")
    root = folders.get(folder)
    fields = row.split("|", 4) if isinstance(row, str) else []
    if not isinstance(root, str) or not root:
        raise ResultParseError(f"{result.host}: {result.op}: the host has no folder for [{folder}]")
    if len(fields) != 5 or fields[0] not in ("0", "1") or not (fields[1] == "" or fields[1].isdigit()):
        raise ResultParseError(f"{result.host}: {result.op}: {row!r} is not exists|size|version|sha256|error")
    exists, size, version, sha256, error = fields
    return InstalledStat(
        path=path,
        file=root.rstrip("\\") + "\\" + rest,
        exists=exists == "1",
        size=int(size) if size else None,
        version=version or None,
        sha256=sha256 or None,
        error=error or None,
    )


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
