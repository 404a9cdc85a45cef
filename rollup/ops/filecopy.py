"""
``files.backup`` and ``files.copy``: keeping the share's files, and copying files between folders.

Backups in ``C:\\MSIShare`` (``files.backup``) keep each file as ``<name>.<yyyyMMdd-HHmmss>.bak``
beside it (UTC time of the host; ``-2``, ``-3``... appended when that name is taken). They stay
in the share, where the KB's operator looks for them, and do not end in ``.msi``, so nothing
that picks up ``*.msi`` (the Deployment Tool) sees them. An existing backup is never
overwritten, and a file whose hash equals one of its backups is not backed up again.

A copy goes through ``<target>.partial``, is checked by SHA-256 and only then replaces the
target (``File.Replace``). ``rollup.ops.files`` lists both operations with the other ``files.*``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from rollup.errors import ResultParseError
from rollup.ops.base import CommandResult, compact_body
from rollup.ops.results import OPT_STR, result_field, result_objects

if TYPE_CHECKING:
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class BackupParams:
    """The share, the file names in it to keep, and ``rename`` or ``copy`` (the manifest's method)."""

    share: str
    names: tuple[str, ...]
    method: str = "rename"


@dataclass(frozen=True, slots=True, kw_only=True)
class CopyParams:
    """Copy ``names`` from ``source_dir`` into ``dest_dir``, each verified by SHA-256."""

    source_dir: str
    dest_dir: str
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class FileAction:
    """
    What happened to one named file. ``action`` is, for a backup, ``renamed``, ``copied``,
    ``already`` (a backup with the same hash exists: ``backup`` names it) or ``missing`` (no such
    file: nothing to keep); for a copy, ``copied``, ``identical`` (nothing to do) or ``missing``
    (not in the source folder, a failure). ``failed`` carries the Windows message in ``error``.
    """

    name: str
    action: str
    sha256: str | None
    backup: str | None = None
    error: str | None = None


BACKUP_BODY = compact_body(r"""
$t = [DateTime]::UtcNow.ToString('yyyyMMdd-HHmmss')
$o = @()
foreach ($n in $p_names) {
    $e = @{ name = $n; action = 'missing'; sha256 = $null; backup = $null; error = $null }
    try {
        if ($n -match '[\\/:]') { throw 'not a plain file name' }
        $f = [IO.Path]::Combine($p_share, $n)
        if ([IO.File]::Exists($f)) {
            $h = Get-RollupSha256 $f
            $e.sha256 = $h
            $e.action = 'already'
            foreach ($x in @(Get-ChildItem -LiteralPath $p_share | Where-Object { -not $_.PSIsContainer })) {
                $m = $x.Name.StartsWith($n + '.', 'OrdinalIgnoreCase')
                $m = $m -and $x.Name.EndsWith('.bak', 'OrdinalIgnoreCase')
                if ($m -and (Get-RollupSha256 $x.FullName) -eq $h) { $e.backup = $x.FullName }
            }
            if ($null -eq $e.backup) {
                $b = '{0}.{1}.bak' -f $f, $t
                $i = 1
                while ([IO.File]::Exists($b)) { $i++; $b = '{0}.{1}-{2}.bak' -f $f, $t, $i }
                if ($p_method -eq 'copy') { [IO.File]::Copy($f, $b, $false); $e.action = 'copied' }
                else { [IO.File]::Move($f, $b); $e.action = 'renamed' }
                $e.backup = $b
            }
        }
    }
    catch { $e.action = 'failed'; $e.error = $_.Exception.Message }
    $o += $e
}
Write-RollupResult @{ files = $o }
exit ([int](@($o | Where-Object { $_.action -eq 'failed' }).Count -gt 0))
""")

COPY_BODY = compact_body(r"""
$o = @()
foreach ($n in $p_names) {
    $e = @{ name = $n; action = 'missing'; sha256 = $null; backup = $null; error = $null }
    $q = $null
    try {
        if ($n -match '[\\/:]') { throw 'not a plain file name' }
        $s = [IO.Path]::Combine($p_source_dir, $n)
        $d = [IO.Path]::Combine($p_dest_dir, $n)
        if ([IO.File]::Exists($s)) {
            $h = Get-RollupSha256 $s
            $e.sha256 = $h
            if ([IO.File]::Exists($d) -and (Get-RollupSha256 $d) -eq $h) { $e.action = 'identical' }
            else {
                [void][IO.Directory]::CreateDirectory($p_dest_dir)
                $q = $d + '.partial'
                [IO.File]::Copy($s, $q, $true)
                if ((Get-RollupSha256 $q) -ne $h) { throw "the copy of $n differs from its source" }
                # File.Replace gets a backup name: PowerShell 2.0 passes $null to a string as ''
                if ([IO.File]::Exists($d)) {
                    [IO.File]::Replace($q, $d, "$q.old")
                    [IO.File]::Delete("$q.old")
                }
                else { [IO.File]::Move($q, $d) }
                $e.action = 'copied'
            }
        }
    }
    catch { $e.action = 'failed'; $e.error = $_.Exception.Message }
    finally { if ($q -and [IO.File]::Exists($q)) { [IO.File]::Delete($q) } }
    $o += $e
}
Write-RollupResult @{ files = $o }
exit ([int](@($o | Where-Object { 'missing', 'failed' -contains $_.action }).Count -gt 0))
""")


class _Named(Protocol):
    @property
    def names(self) -> tuple[str, ...]: ...


def parse_actions(result: CommandResult, params: _Named) -> tuple[FileAction, ...]:
    """One ``FileAction`` per named file, in the order asked (``params.names``)."""
    actions = tuple(
        FileAction(
            name=result_field(item, "name", str, result),
            action=result_field(item, "action", str, result),
            sha256=result_field(item, "sha256", OPT_STR, result),
            backup=result_field(item, "backup", OPT_STR, result),
            error=result_field(item, "error", OPT_STR, result),
        )
        for item in result_objects(result, "files")
    )
    if [a.name for a in actions] != list(params.names):
        raise ResultParseError(f"{result.host}: {result.op}: the result does not list the files asked for")
    return actions


def _action(name: str, action: str, sha256: str | None = None, **extra: str | None) -> dict[str, str | None]:
    return {"name": name, "action": action, "sha256": sha256, "backup": None, "error": None, **extra}
