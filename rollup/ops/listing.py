"""
``files.listing``: every file under some folders on a host, each with its size, version resource
and SHA-256, read without changing anything.

The folders are given as the lock writes installed paths (``[ProgramFilesFolder]Microsoft
Hosting\\Provisioning\\DNSClient``) and resolved as ``files.installed`` resolves them (the same
PowerShell functions). Every file below a folder is listed (``[IO.Directory]::GetFiles`` with
``AllDirectories``, .NET 2.0), so the files no MSI table names are there too: a configuration a
component generates, a file a custom action writes. What a rehearsal records as its golden
baseline, and what ``rollup verify --baseline`` compares with it (``rollup.baseline``);
``verify.facts`` calls the same function for its ``listing`` group.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rollup.errors import ResultParseError
from rollup.ops.base import CommandResult, Operation, compact_body
from rollup.ops.installed import FILE_ROWS, FOLDERS
from rollup.ops.results import result_field, result_object

LISTING_FACTS = compact_body(r"""
function Get-RollupFolderFiles($folders) {
    $w = Get-RollupFolders
    $u = @{}
    $o = @()
    for ($i = 0; $i -lt @($folders).Count; $i++) {
        $x = @($folders)[$i]
        $j = $x.IndexOf(']')
        $k = $x.Substring(1, $j - 1)
        $u[$k] = $w[$k]
        $d = $w[$k] + '\' + $x.Substring($j + 1)
        if ([IO.Directory]::Exists($d)) {
            foreach ($f in [IO.Directory]::GetFiles($d, '*', 'AllDirectories')) {
                $o += "$i|" + $f.Substring($d.Length + 1) + '|' + (Get-RollupFileRow $f $true)
            }
        }
    }
    return @{ folders = $u; files = $o }
}
""")
"""
``Get-RollupFolderFiles folders``: the folders as resolved on the host, and a row per file found
below them: ``index|relative path|size|version|sha256|error`` (the folder's index in
``folders``; no file name holds ``|``). A folder that does not exist has no rows.
"""

BODY = (
    FILE_ROWS
    + "\n"
    + LISTING_FACTS
    + "\n"
    + compact_body(r"""
Write-RollupResult (Get-RollupFolderFiles $p_folders)
exit 0
""")
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ListingParams:
    """Folders as the lock writes installed paths: ``[ProgramFilesFolder]a\\b``."""

    folders: tuple[str, ...]

    def __post_init__(self) -> None:
        for folder in self.folders:
            token, bracket, rest = folder.partition("]")
            if not folder.startswith("[") or not bracket or not rest or token[1:] not in FOLDERS:
                raise ValueError(f"files.listing: {folder!r} is not [{'|'.join(FOLDERS)}]<folder>")


@dataclass(frozen=True, slots=True, kw_only=True)
class ListedFile:
    """A file found below a folder: its path as the lock would write it, and what it is."""

    path: str
    """``[ProgramFilesFolder]a\\b\\x.dll``: the folder asked for, then the path below it."""
    size: int | None
    version: str | None
    sha256: str | None
    error: str | None = None


def parse(result: CommandResult, params: ListingParams) -> tuple[ListedFile, ...]:
    """
    Every file found, in the host's order.

    Raises:
        ResultParseError: no result, a malformed row, or a row for a folder not asked for.
    """
    data = result_object(result)
    result_field(data, "folders", dict, result)
    found = []
    for row in result_field(data, "files", list, result):
        fields = row.split("|", 5) if isinstance(row, str) else []
        index = fields[0] if fields else ""
        if len(fields) != 6 or not index.isdigit() or int(index) >= len(params.folders) or not fields[1]:
            raise ResultParseError(
                f"{result.host}: {result.op}: {row!r} is not index|path|size|version|sha256|error"
            )
        _, relative, size, version, sha256, error = fields
        if size and not size.isdigit():
            raise ResultParseError(f"{result.host}: {result.op}: {row!r} has no size in bytes")
        found.append(
            ListedFile(
                path=params.folders[int(index)].rstrip("\\") + "\\" + relative,
                size=int(size) if size else None,
                version=version or None,
                sha256=sha256 or None,
                error=error or None,
            )
        )
    return tuple(found)


OPERATIONS: tuple[Operation[Any, Any], ...] = (
    Operation(
        id="files.listing",
        params=ListingParams,
        body=BODY,
        parse=parse,
        helpers=("Get-RollupSha256",),
        kind="fact",
        examples=(
            ListingParams(folders=("[ProgramFilesFolder]Microsoft Hosting\\Provisioning\\DNSClient",)),
            ListingParams(folders=("[WindowsFolder]it's $(x)\\a`b",)),
            ListingParams(folders=()),
        ),
    ),
)
