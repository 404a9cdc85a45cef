"""
``files.read`` and ``files.restore``: what a rollback needs of the backups an apply kept.

- ``files.read`` (read-only) brings one file's bytes back to the control host: a WinRM session
  cannot make a second hop, so a backup kept on the Deployment Tool host reaches another host
  through the controller, as the package does. The bytes travel as one base64 line
  (``#rollup-data``) beside the result line, never through the JSON writer (which escapes
  character by character); files above ``max_bytes`` are refused.
- ``files.restore`` puts each backup (``<name>.<stamp>.bak``, ``files.backup``) back in its
  file's place in the share, once its SHA-256 is the one the apply recorded: the file there
  (the rollup's copy) is deleted, then the backup renamed to the name. A file already holding the
  recorded bytes is left as it is, so a resume after a crash at any instant goes on. A file that
  was not in the share before the apply (no backup) is removed. ``rollup.ops.files`` lists the
  other ``files.*`` operations.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from typing import Any

from rollup.errors import ResultParseError
from rollup.ops.base import CommandResult, Operation, compact_body
from rollup.ops.filecopy import FileAction, parse_actions
from rollup.ops.results import OPT_INT, OPT_STR, result_field, result_object

DATA_MARK = "#rollup-data "
"""The line of ``files.read``'s output that carries the file's bytes, base64."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadParams:
    """A full local path; files larger than ``max_bytes`` are not sent."""

    path: str
    max_bytes: int = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class FileData:
    """A file's bytes as the host read them, with the size and SHA-256 it computed; or why not."""

    size: int | None
    sha256: str | None
    data: bytes = b""
    error: str | None = None


READ_BODY = compact_body(r"""
$z = $h = $e = $null
try {
    if (-not [IO.File]::Exists($p_path)) { throw 'no such file' }
    $b = [IO.File]::ReadAllBytes($p_path)
    $z = $b.Length
    if ($z -gt $p_max_bytes) { throw "larger than $p_max_bytes bytes" }
    $h = Get-RollupSha256 $p_path
    [Console]::Out.WriteLine('#rollup-data ' + [Convert]::ToBase64String($b))
}
catch { $e = $_.Exception.Message }
Write-RollupResult @{ size = $z; sha256 = $h; error = $e }
exit ([int]($null -ne $e))
""")


def parse_read(result: CommandResult, params: ReadParams) -> FileData:
    """The bytes, checked against the size and SHA-256 the host reported (else ``ResultParseError``)."""
    data = result_object(result)
    size = result_field(data, "size", OPT_INT, result)
    sha256 = result_field(data, "sha256", OPT_STR, result)
    error = result_field(data, "error", OPT_STR, result)
    if error is not None:
        return FileData(size=size, sha256=sha256, error=error)
    lines = [line for line in result.stdout.splitlines() if line.startswith(DATA_MARK)]
    if len(lines) != 1:
        raise ResultParseError(f"{result.host}: {result.op}: {params.path}: no data line")
    try:
        content = base64.b64decode(lines[0][len(DATA_MARK) :].strip(), validate=True)
    except binascii.Error:
        raise ResultParseError(f"{result.host}: {result.op}: {params.path}: the data is not base64") from None
    if len(content) != size or hashlib.sha256(content).hexdigest() != (sha256 or "").lower():
        raise ResultParseError(
            f"{result.host}: {result.op}: {params.path}: the bytes received differ from what the host read"
        )
    return FileData(size=size, sha256=sha256, data=content)


@dataclass(frozen=True, slots=True, kw_only=True)
class RestoreParams:
    """
    Per file of the share (``names``): its backup's full path (``""``: the file was not there
    before, so it is removed) and the SHA-256 the apply recorded for it.
    """

    share: str
    names: tuple[str, ...]
    backups: tuple[str, ...]
    sha256: tuple[str, ...]


RESTORE_BODY = compact_body(r"""
$o = @()
$names = @($p_names)
$bak = @($p_backups)
$sha = @($p_sha256)
for ($i = 0; $i -lt $names.Count; $i++) {
    $n = $names[$i]
    $k = $bak[$i]
    $e = @{ name = $n; action = 'failed'; sha256 = $null; backup = $k; error = $null }
    try {
        if ($n -match '[\\/:]') { throw 'not a plain file name' }
        $f = [IO.Path]::Combine($p_share, $n)
        $c = $null
        if ([IO.File]::Exists($f)) { $c = Get-RollupSha256 $f }
        if (-not $k) {
            if ($c) { [IO.File]::Delete($f); $e.action = 'removed' } else { $e.action = 'absent' }
        }
        elseif ($c -eq $sha[$i]) { $e.action = 'identical'; $e.sha256 = $c }
        elseif (-not [IO.File]::Exists($k)) { throw "the backup $k is missing" }
        elseif ((Get-RollupSha256 $k) -ne $sha[$i]) {
            throw "the backup $k differs from its recorded SHA-256"
        }
        else {
            if ($c) { [IO.File]::Delete($f) }
            [IO.File]::Move($k, $f)
            $e.sha256 = Get-RollupSha256 $f
            $e.action = 'restored'
        }
    }
    catch { $e.action = 'failed'; $e.error = $_.Exception.Message }
    $o += $e
}
Write-RollupResult @{ files = $o }
exit ([int](@($o | Where-Object { $_.action -eq 'failed' }).Count -gt 0))
""")


def parse_restore(result: CommandResult, params: RestoreParams) -> tuple[FileAction, ...]:
    """One ``FileAction`` per file: ``restored``, ``identical``, ``removed``, ``absent`` or ``failed``."""
    return parse_actions(result, params)


_HOSTILE = 'C:\\temp\\it\'s $(here); `n"q"\nline\u2019.msi'

OPERATIONS: tuple[Operation[Any, Any], ...] = (
    Operation(
        id="files.read",
        params=ReadParams,
        body=READ_BODY,
        parse=parse_read,
        helpers=("Get-RollupSha256",),
        kind="copy",
        timeout_s=1800.0,
        examples=(
            ReadParams(path="C:\\MSIShare\\DNSClient.msi.20110310-101500.bak"),
            ReadParams(path=_HOSTILE, max_bytes=1),
        ),
    ),
    Operation(
        id="files.restore",
        params=RestoreParams,
        body=RESTORE_BODY,
        parse=parse_restore,
        helpers=("Get-RollupSha256",),
        kind="copy",
        mutates=True,
        examples=(
            RestoreParams(
                share="C:\\MSIShare",
                names=("DNSClient.msi", "SharedOABUtility.msi"),
                backups=("C:\\MSIShare\\DNSClient.msi.20110310-101500.bak", ""),
                sha256=("ab" * 32, ""),
            ),
            RestoreParams(
                share="C:\\MSI Share", names=("it's $(x).msi",), backups=(_HOSTILE,), sha256=("0" * 64,)
            ),
        ),
    ),
)
