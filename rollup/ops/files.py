"""
File operations: ``files.stat``, ``files.upload``, ``files.backup``, ``files.copy``, ``files.ensure_dir``.

Every write follows one rule: a target is only ever replaced by a complete, verified file. A
new file is written beside its target as ``<target>.partial``, its SHA-256 is checked, and only
then does it take the target's place (``File.Replace`` for a copy; an upload deletes the old
target and renames, to keep its script short), so a failed or interrupted transfer leaves the
old target untouched and never a half-written one.

``files.upload`` reads the file's content on stdin, so its script must travel on the command
line: with the result writer, that leaves room for target paths of up to about 95 characters
(``rollup.ps.delivery.fits_command_line`` tells; a longer target does not fit).

``files.backup`` and ``files.copy`` are written in ``rollup.ops.filecopy``; this module lists
all five.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rollup.errors import ResultParseError
from rollup.ops.base import CommandResult, Operation, compact_body
from rollup.ops.filecopy import (
    BACKUP_BODY,
    COPY_BODY,
    BackupParams,
    CopyParams,
    parse_actions,
)
from rollup.ops.results import OPT_INT, OPT_STR, result_field, result_object, result_objects

if TYPE_CHECKING:
    pass

UPLOAD_LINE = 4096
"""
Characters per base64 line of an upload's stdin (3,072 bytes; each line decodes on its own).
PowerShell 2.0 pays per line of ``$input`` (one pass of the script's loop each), so long lines
make a 600 KB package 200 passes instead of 10,779; the line's length is otherwise free (WinRS
splits stdin into Sends by size, not by line).
"""
MSI_FIELDS = ("product_code", "product_name", "product_version")


def _when(text: str | None, result: CommandResult) -> datetime | None:
    if text is None:
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        raise ResultParseError(f"{result.host}: {result.op}: {text!r} is not a result timestamp") from None


# ---------------------------------------------------------------------------------------------
# files.stat
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class StatParams:
    """Full local paths; ``sha256`` hashes each file; ``msi`` reads its MSI identity (read-only)."""

    paths: tuple[str, ...]
    sha256: bool = True
    msi: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class FileStat:
    """One file's facts. Everything but ``path`` and ``exists`` is ``None`` for a missing file."""

    path: str
    exists: bool
    size: int | None = None
    mtime: datetime | None = None
    """Last write time, UTC (milliseconds)."""
    sha256: str | None = None
    product_code: str | None = None
    product_name: str | None = None
    product_version: str | None = None
    error: str | None = None
    """Why the hash or the MSI properties could not be read (a file locked for reading)."""


FILE_FACTS = compact_body(r"""
function Get-RollupFileFacts($paths, $sha, $msi) {
    $o = @()
    foreach ($x in $paths) {
        $e = @{ path = $x; exists = $false; size = $null; mtime = $null; sha256 = $null; error = $null
            product_code = $null; product_name = $null; product_version = $null }
        if ([IO.File]::Exists($x)) {
            $i = New-Object IO.FileInfo $x
            $e.exists = $true
            $e.size = $i.Length
            $e.mtime = $i.LastWriteTimeUtc
            try {
                if ($sha) { $e.sha256 = Get-RollupSha256 $x }
                if ($msi) {
                    $m = Get-RollupMsiProperty $x @('ProductCode', 'ProductName', 'ProductVersion')
                    $e.product_code = $m['ProductCode']
                    $e.product_name = $m['ProductName']
                    $e.product_version = $m['ProductVersion']
                }
            }
            catch { $e.error = $_.Exception.Message }
        }
        $o += $e
    }
    return ,$o
}
""")
"""
``Get-RollupFileFacts paths sha msi``: each file's entry as ``files.stat`` reports it. The one
source of these facts: ``verify.facts`` calls the same function.
"""

STAT_BODY = (
    FILE_FACTS
    + "\n"
    + compact_body(r"""
Write-RollupResult @{ files = (Get-RollupFileFacts $p_paths $p_sha256 $p_msi) }
exit 0
""")
)


def parse_stat(result: CommandResult, params: StatParams) -> tuple[FileStat, ...]:
    """One ``FileStat`` per requested path, in the order asked."""
    stats = []
    for item in result_objects(result, "files"):
        stats.append(
            FileStat(
                path=result_field(item, "path", str, result),
                exists=result_field(item, "exists", bool, result),
                size=result_field(item, "size", OPT_INT, result),
                mtime=_when(result_field(item, "mtime", OPT_STR, result), result),
                error=result_field(item, "error", OPT_STR, result),
                **{k: result_field(item, k, OPT_STR, result) for k in ("sha256", *MSI_FIELDS)},
            )
        )
    if [s.path for s in stats] != list(params.paths):
        raise ResultParseError(f"{result.host}: {result.op}: the result does not list the paths asked for")
    return tuple(stats)


# ---------------------------------------------------------------------------------------------
# files.upload
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class UploadParams:
    """
    Where the file goes (a full local path of up to about 95 characters), and the size and
    SHA-256 the received bytes must have. The content follows on stdin as ``upload_stdin``.
    """

    target: str
    size: int
    sha256: str


@dataclass(frozen=True, slots=True, kw_only=True)
class UploadOutcome:
    """Whether the verified file replaced the target; what arrived; why not, when not."""

    committed: bool
    size: int | None
    sha256: str | None
    error: str | None


UPLOAD_BODY = compact_body(r"""
# Written tight: this script travels on the command line (its stdin is the data), so with the
# result writer it must stay under cmd.exe's limit for target paths up to about 100 characters.
# The target is deleted only once the new file is verified (a locked target fails the delete
# and stays as it was), then the verified file is renamed into place.
$q=$p_target+'.partial'
$z=$h=$e=$ok=$null
try{
[void][IO.Directory]::CreateDirectory([IO.Path]::GetDirectoryName($p_target))
$f=[IO.File]::Open($q,'Create','Write','None')
# every line is base64; a group of fewer than 4 characters waits for the next line
try{foreach($l in $input){
$r+="$l".Trim()
$k=$r.Length-$r.Length%4
$b=[Convert]::FromBase64String($r.Substring(0,$k))
$f.Write($b,0,$b.Length)
$r=$r.Substring($k)
}}finally{$f.Close()}
# SHA256Managed is refused under the FIPS policy; the CSP class needs .NET 3.5
try{$a=New-Object Security.Cryptography.SHA256CryptoServiceProvider -ea Stop}
catch{$a=New-Object Security.Cryptography.SHA256Managed}
$s=[IO.File]::OpenRead($q)
$z=$s.Length
$h=([BitConverter]::ToString($a.ComputeHash($s))-replace'-').ToLower()
$s.Close()
if($r -or $z -ne $p_size -or $h -ne $p_sha256){$e='size or SHA-256 differs'}
else{[IO.File]::Delete($p_target);[IO.File]::Move($q,$p_target)}
$ok=!$e
}catch{$e=$_.Exception.Message}
finally{if([IO.File]::Exists($q)){[IO.File]::Delete($q)}}
Write-RollupResult @{committed=[bool]$ok;size=$z;sha256=$h;error=$e}
exit ([int]!$ok)
""")


def upload_stdin(data: bytes) -> bytes:
    """What ``files.upload`` reads on stdin: base64 of ``data`` in CRLF-ended lines of ``UPLOAD_LINE``."""
    encoded = base64.b64encode(data).decode("ascii")
    lines = [encoded[i : i + UPLOAD_LINE] for i in range(0, len(encoded), UPLOAD_LINE)]
    return "".join(line + "\r\n" for line in lines).encode("ascii")


def parse_upload(result: CommandResult, params: UploadParams) -> UploadOutcome:
    """The upload's outcome; ``committed`` is true only when the target now holds the verified bytes."""
    data = result_object(result)
    return UploadOutcome(
        committed=result_field(data, "committed", bool, result),
        size=result_field(data, "size", OPT_INT, result),
        sha256=result_field(data, "sha256", OPT_STR, result),
        error=result_field(data, "error", OPT_STR, result),
    )


# ---------------------------------------------------------------------------------------------
# files.ensure_dir
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class EnsureDirParams:
    """A directory that must exist (created with its parents when missing)."""

    path: str


ENSURE_DIR_BODY = compact_body(r"""
$ErrorActionPreference = 'Stop'
$c = -not [IO.Directory]::Exists($p_path)
if ($c) { [void][IO.Directory]::CreateDirectory($p_path) }
Write-RollupResult @{ path = $p_path; created = $c }
exit 0
""")


def parse_ensure_dir(result: CommandResult, params: EnsureDirParams) -> bool:
    """Whether the directory was created (``False``: it existed already)."""
    return bool(result_field(result_object(result), "created", bool, result))


_HOSTILE = 'C:\\temp\\it\'s $(here); `n"q"\nline\u2019.msi'

OPERATIONS: tuple[Operation[Any, Any], ...] = (
    Operation(
        id="files.stat",
        params=StatParams,
        body=STAT_BODY,
        parse=parse_stat,
        helpers=("Get-RollupSha256", "Get-RollupMsiProperty"),
        kind="fact",
        examples=(
            StatParams(paths=("C:\\MSIShare\\DNSClient.msi",), msi=True),
            StatParams(paths=("C:\\temp\\a.txt", _HOSTILE), sha256=False),
            StatParams(paths=()),
        ),
    ),
    Operation(
        id="files.upload",
        params=UploadParams,
        body=UPLOAD_BODY,
        parse=parse_upload,
        kind="copy",
        mutates=True,
        reads_stdin=True,
        timeout_s=1800.0,
        examples=(
            UploadParams(target="C:\\temp\\QFERollupPackage\\DNSClient.msi", size=679936, sha256="ab" * 32),
            UploadParams(target=_HOSTILE, size=0, sha256=hashlib.sha256(b"").hexdigest()),
        ),
    ),
    Operation(
        id="files.backup",
        params=BackupParams,
        body=BACKUP_BODY,
        parse=parse_actions,
        helpers=("Get-RollupSha256",),
        kind="copy",
        mutates=True,
        examples=(
            BackupParams(share="C:\\MSIShare", names=("DNSClient.msi", "DNSProvider.msi")),
            BackupParams(share="C:\\MSI Share", names=("it's $(x).msi", "a`b;c.msi"), method="copy"),
        ),
    ),
    Operation(
        id="files.copy",
        params=CopyParams,
        body=COPY_BODY,
        parse=parse_actions,
        helpers=("Get-RollupSha256",),
        kind="copy",
        mutates=True,
        timeout_s=1800.0,
        examples=(
            CopyParams(
                source_dir="C:\\temp\\QFERollupPackage", dest_dir="C:\\MSIShare", names=("DNSClient.msi",)
            ),
            CopyParams(
                source_dir="C:\\temp\\$(evil)", dest_dir="C:\\x'y", names=('q"uote.msi', "new\nline.msi")
            ),
        ),
    ),
    Operation(
        id="files.ensure_dir",
        params=EnsureDirParams,
        body=ENSURE_DIR_BODY,
        parse=parse_ensure_dir,
        kind="fact",
        mutates=True,
        examples=(EnsureDirParams(path="C:\\temp\\QFERollupPackage"), EnsureDirParams(path=_HOSTILE)),
    ),
)
