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

Backups in ``C:\\MSIShare`` (``files.backup``) keep each file as ``<name>.<yyyyMMdd-HHmmss>.bak``
beside it (UTC time of the host; ``-2``, ``-3``... appended when that name is taken). They stay
in the share, where the KB's operator looks for them, and do not end in ``.msi``, so nothing
that picks up ``*.msi`` (the Deployment Tool) sees them. An existing backup is never
overwritten, and a file whose hash equals one of its backups is not backed up again.

The simulations also give ``msi.py`` (and other operations) the simulated host's file system:
``host_file``, ``put_file``, ``put_text``, ``write_problem`` and ``msi_properties``. They import
the lab's state model only when they run, so the pure core never loads ``rollup.lab``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ntpath
import tempfile
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rollup.errors import PackageError, ResultParseError
from rollup.ops.base import CommandResult, Operation, SimContext, SimResult
from rollup.ps.result import read_result

if TYPE_CHECKING:
    from rollup.lab.state import HostState, LabFile, MsiProps

NO_SPACE = "There is not enough space on the disk."
IN_USE = "The process cannot access the file because it is being used by another process."
UPLOAD_LINE = 76
"""Characters per base64 line of an upload's stdin (57 bytes; each line decodes on its own)."""
MSI_FIELDS = ("product_code", "product_name", "product_version")


def compact_body(source: str) -> str:
    """
    A body without indentation, blank lines or comment lines: readable in the source, short on
    the wire (a script that reads stdin must fit cmd.exe's line, about 3,000 characters in all).
    Bodies written for it keep comments on lines of their own and use no here-strings.
    """
    lines = (line.strip() for line in source.splitlines())
    return "\n".join(line for line in lines if line and not line.startswith("#"))


# ---------------------------------------------------------------------------------------------
# The simulated host's file system
# ---------------------------------------------------------------------------------------------


def utc(moment: float) -> datetime:
    """A lab clock reading as an aware UTC datetime."""
    return datetime.fromtimestamp(moment, UTC)


def host_file(state: HostState, path: str) -> LabFile | None:
    """The file at ``path`` on the host (Windows paths compare ignoring case), or ``None``."""
    from rollup.lab.state import path_key

    return state.files.get(path_key(path))


def _inside(key: str, folder: str) -> bool:
    return key == folder or key.startswith(folder + "\\")


def is_dir(state: HostState, path: str) -> bool:
    """Whether a directory exists at ``path``: a drive root, listed, or the parent of something."""
    from rollup.lab.state import path_key

    key = path_key(path)
    if len(key) == 2 and key.endswith(":"):
        return True
    return any(_inside(path_key(d), key) for d in state.directories) or any(
        other.startswith(key + "\\") for other in state.files
    )


def make_dir(state: HostState, path: str) -> bool:
    """Create the directory ``path`` (with its parents); returns whether it did not exist."""
    if is_dir(state, path):
        return False
    state.directories.append(path.rstrip("\\/"))
    return True


def is_locked(state: HostState, path: str) -> bool:
    """Whether another process holds the file open (rename, overwrite and delete fail)."""
    from rollup.lab.state import path_key

    return any(path_key(p) == path_key(path) for p in state.locked_files)


def write_problem(state: HostState, path: str, size: int = 0) -> str | None:
    """Why writing ``size`` bytes at ``path`` fails on this host (a Windows message), or ``None``."""
    from rollup.lab.state import path_key

    if is_locked(state, path):
        return IN_USE
    key = path_key(path)
    if any(_inside(key, path_key(p)) for p in state.disk_full_paths) or size > state.disk_free_bytes:
        return NO_SPACE
    return None


def put_file(
    state: HostState,
    path: str,
    *,
    size: int,
    mtime: datetime,
    sha256: str,
    blob: str | None = None,
    text: str | None = None,
    msi: MsiProps | None = None,
) -> LabFile:
    """Create or replace the file at ``path`` (its parent directories exist implicitly)."""
    from rollup.lab.state import LabFile, path_key

    entry = LabFile(path=path, size=size, mtime=mtime, sha256=sha256, blob=blob, text=text, msi=msi)
    state.files[path_key(path)] = entry
    return entry


def put_text(state: HostState, path: str, text: str, now: float) -> LabFile:
    """Write a small text file (UTF-8), e.g. an MSI log, with ``now`` as its last write time."""
    data = text.encode("utf-8")
    return put_file(
        state, path, size=len(data), mtime=utc(now), sha256=hashlib.sha256(data).hexdigest(), text=text
    )


def remove_file(state: HostState, path: str) -> None:
    """Delete the file at ``path`` if it exists."""
    from rollup.lab.state import path_key

    state.files.pop(path_key(path), None)


def copy_file(state: HostState, source: LabFile, target: str) -> LabFile:
    """Copy ``source`` to ``target`` as ``File.Copy`` does: same content, same last write time."""
    return put_file(
        state,
        target,
        size=source.size,
        mtime=source.mtime,
        sha256=source.sha256,
        blob=source.blob,
        text=source.text,
        msi=source.msi,
    )


_msi_cache: dict[str, MsiProps | None] = {}
_msi_lock = threading.Lock()


def msi_properties(entry: LabFile, ctx: SimContext) -> MsiProps | None:
    """
    The MSI properties of a file on the host, read from its real bytes with ``rollup.msi.read_msi``
    (``None`` when it is not a readable installer package). The value cached in ``LabFile.msi``
    is used when present; otherwise the reading is cached per content in this process, so a
    read-only operation never has to store it in the host's state.

    Raises:
        ConfigError: ``msiinfo`` is not installed (the lab cannot read packages at all).
    """
    from rollup.lab.state import MsiProps
    from rollup.msi import read_msi

    if entry.msi is not None or entry.blob is None:
        return entry.msi
    with _msi_lock:
        if entry.blob in _msi_cache:
            return _msi_cache[entry.blob]
    with tempfile.TemporaryDirectory(prefix="rollup-lab-msi-") as folder:
        package = Path(folder) / "package.msi"
        package.write_bytes(ctx.read_blob(entry.blob))
        try:
            info = read_msi(package, error=PackageError, display=entry.path)
        except PackageError:
            props = None
        else:
            props = MsiProps(
                product_code=info.product_code,
                product_name=info.product_name,
                product_version=info.product_version,
                upgrade_code=info.upgrade_code or "",
                manufacturer=info.manufacturer,
            )
    with _msi_lock:
        _msi_cache[entry.blob] = props
    return props


def _child(folder: str, name: str) -> str | None:
    """``folder\\name``, or ``None`` when ``name`` is not a plain file name (as the bodies refuse)."""
    if not name or any(c in name for c in "\\/:"):
        return None
    return ntpath.join(folder, name)


# ---------------------------------------------------------------------------------------------
# Parsing helpers
# ---------------------------------------------------------------------------------------------


def result_object(result: CommandResult) -> dict[str, Any]:
    """The result line as an object, or a ``ResultParseError`` naming the host and showing stderr."""
    data = read_result(result.stdout)
    if not isinstance(data, dict):
        shown = result.tail() or result.tail("stdout", 3) or "no output"
        shown = " | ".join(shown.splitlines())
        raise ResultParseError(
            f"{result.host}: {result.op}: no result object (exit {result.exit_code}): {shown}"
        )
    return data


def result_field(data: dict[str, Any], key: str, kind: type | tuple[type, ...], result: CommandResult) -> Any:
    """``data[key]`` checked against ``kind`` (``None`` allowed when ``kind`` includes ``type(None)``)."""
    value = data.get(key)
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _types(kind)):
        raise ResultParseError(f"{result.host}: {result.op}: result field {key!r} has the wrong type")
    return value


def _types(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _entries(result: CommandResult) -> list[dict[str, Any]]:
    items = result_field(result_object(result), "files", list, result)
    if not all(isinstance(item, dict) for item in items):
        raise ResultParseError(f"{result.host}: {result.op}: result field 'files' is not a list of objects")
    return list(items)


def _when(text: str | None, result: CommandResult) -> datetime | None:
    if text is None:
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        raise ResultParseError(f"{result.host}: {result.op}: {text!r} is not a result timestamp") from None


_OPT_STR = (str, type(None))
_OPT_INT = (int, type(None))

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


STAT_BODY = compact_body(r"""
$o = @()
foreach ($x in $p_paths) {
    $e = @{ path = $x; exists = $false; size = $null; mtime = $null; sha256 = $null; error = $null
        product_code = $null; product_name = $null; product_version = $null }
    if ([IO.File]::Exists($x)) {
        $i = New-Object IO.FileInfo $x
        $e.exists = $true
        $e.size = $i.Length
        $e.mtime = $i.LastWriteTimeUtc
        try {
            if ($p_sha256) { $e.sha256 = Get-RollupSha256 $x }
            if ($p_msi) {
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
Write-RollupResult @{ files = $o }
exit 0
""")


def parse_stat(result: CommandResult, params: StatParams) -> tuple[FileStat, ...]:
    """One ``FileStat`` per requested path, in the order asked."""
    stats = []
    for item in _entries(result):
        stats.append(
            FileStat(
                path=result_field(item, "path", str, result),
                exists=result_field(item, "exists", bool, result),
                size=result_field(item, "size", _OPT_INT, result),
                mtime=_when(result_field(item, "mtime", _OPT_STR, result), result),
                error=result_field(item, "error", _OPT_STR, result),
                **{k: result_field(item, k, _OPT_STR, result) for k in ("sha256", *MSI_FIELDS)},
            )
        )
    if [s.path for s in stats] != list(params.paths):
        raise ResultParseError(f"{result.host}: {result.op}: the result does not list the paths asked for")
    return tuple(stats)


def simulate_stat(state: HostState, params: StatParams, ctx: SimContext) -> SimResult:
    """Read-only: the files' facts from the host model (MSI identity read from the real bytes)."""
    found = []
    for path in params.paths:
        entry = host_file(state, path)
        item: dict[str, object] = {"path": path, "exists": entry is not None, "size": None, "mtime": None}
        item.update(dict.fromkeys(("sha256", "error", *MSI_FIELDS)))
        if entry is not None:
            item.update(size=entry.size, mtime=entry.mtime, sha256=entry.sha256 if params.sha256 else None)
            props = msi_properties(entry, ctx) if params.msi else None
            if params.msi and props is None:
                item["error"] = "This installation package could not be opened."
            if props is not None:
                item.update({k: getattr(props, k) for k in MSI_FIELDS})
        found.append(item)
    return SimResult(result={"files": found})


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
    """What ``files.upload`` reads on stdin: base64 of ``data`` in CRLF-ended lines of 76 characters."""
    encoded = base64.b64encode(data).decode("ascii")
    lines = [encoded[i : i + UPLOAD_LINE] for i in range(0, len(encoded), UPLOAD_LINE)]
    return "".join(line + "\r\n" for line in lines).encode("ascii")


def parse_upload(result: CommandResult, params: UploadParams) -> UploadOutcome:
    """The upload's outcome; ``committed`` is true only when the target now holds the verified bytes."""
    data = result_object(result)
    return UploadOutcome(
        committed=result_field(data, "committed", bool, result),
        size=result_field(data, "size", _OPT_INT, result),
        sha256=result_field(data, "sha256", _OPT_STR, result),
        error=result_field(data, "error", _OPT_STR, result),
    )


def simulate_upload(state: HostState, params: UploadParams, ctx: SimContext) -> SimResult:
    """Decode ``ctx.stdin`` as the body does, verify it, and only then replace the target."""
    text = "".join(line.strip() for line in ctx.stdin.decode("ascii", "replace").splitlines())
    usable = len(text) - len(text) % 4
    try:
        data = base64.b64decode(text[:usable], validate=True)
    except (binascii.Error, ValueError):
        return _upload_answer(
            None, None, 'Exception calling "FromBase64String": Invalid character in a Base-64 string.'
        )
    digest = hashlib.sha256(data).hexdigest()
    problem = write_problem(state, params.target + ".partial", len(data))
    if problem is None and host_file(state, params.target) is not None:
        problem = write_problem(state, params.target)
    if problem is not None:
        return _upload_answer(None, None, problem)
    if usable != len(text) or len(data) != params.size or digest != params.sha256.lower():
        return _upload_answer(len(data), digest, "size or SHA-256 differs")
    put_file(
        state, params.target, size=len(data), mtime=utc(ctx.now), sha256=digest, blob=ctx.write_blob(data)
    )
    return SimResult(result={"committed": True, "size": len(data), "sha256": digest, "error": None})


def _upload_answer(size: int | None, digest: str | None, error: str) -> SimResult:
    return SimResult(exit_code=1, result={"committed": False, "size": size, "sha256": digest, "error": error})


# ---------------------------------------------------------------------------------------------
# files.backup and files.copy
# ---------------------------------------------------------------------------------------------


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


def parse_actions(result: CommandResult, params: BackupParams | CopyParams) -> tuple[FileAction, ...]:
    """One ``FileAction`` per named file, in the order asked."""
    actions = tuple(
        FileAction(
            name=result_field(item, "name", str, result),
            action=result_field(item, "action", str, result),
            sha256=result_field(item, "sha256", _OPT_STR, result),
            backup=result_field(item, "backup", _OPT_STR, result),
            error=result_field(item, "error", _OPT_STR, result),
        )
        for item in _entries(result)
    )
    if [a.name for a in actions] != list(params.names):
        raise ResultParseError(f"{result.host}: {result.op}: the result does not list the files asked for")
    return actions


def _action(name: str, action: str, sha256: str | None = None, **extra: str | None) -> dict[str, str | None]:
    return {"name": name, "action": action, "sha256": sha256, "backup": None, "error": None, **extra}


def simulate_backup(state: HostState, params: BackupParams, ctx: SimContext) -> SimResult:
    """Rename or copy each file to an unused ``<name>.<stamp>.bak``, unless a backup has its hash."""
    from rollup.lab.state import path_key

    stamp = utc(ctx.now).strftime("%Y%m%d-%H%M%S")
    done = []
    for name in params.names:
        path = _child(params.share, name)
        entry = host_file(state, path) if path else None
        if path is None or entry is None:
            done.append(
                _action(name, "missing") if path else _action(name, "failed", error="not a plain file name")
            )
            continue
        prefix = path_key(path) + "."
        same = sorted(
            f.path
            for key, f in state.files.items()
            if key.startswith(prefix) and key.endswith(".bak") and f.sha256 == entry.sha256
        )
        if same:
            done.append(_action(name, "already", entry.sha256, backup=same[-1]))
            continue
        backup, n = f"{path}.{stamp}.bak", 1
        while host_file(state, backup) is not None:
            n += 1
            backup = f"{path}.{stamp}-{n}.bak"
        copying = params.method == "copy"
        problem = (
            write_problem(state, backup, entry.size)
            if copying
            else (IN_USE if is_locked(state, path) else None)
        )
        if problem:
            done.append(_action(name, "failed", entry.sha256, error=problem))
            continue
        copy_file(state, entry, backup)
        if params.method != "copy":
            remove_file(state, path)
        done.append(
            _action(name, "copied" if params.method == "copy" else "renamed", entry.sha256, backup=backup)
        )
    failed = any(d["action"] == "failed" for d in done)
    return SimResult(exit_code=int(failed), result={"files": done})


def simulate_copy(state: HostState, params: CopyParams, ctx: SimContext) -> SimResult:
    """Copy each file through ``<name>.partial``; skip one whose target already has its hash."""
    done = []
    for name in params.names:
        source_path, target = _child(params.source_dir, name), _child(params.dest_dir, name)
        source = host_file(state, source_path) if source_path else None
        if source_path is None or target is None or source is None:
            done.append(
                _action(name, "missing")
                if source_path
                else _action(name, "failed", error="not a plain file name")
            )
            continue
        existing = host_file(state, target)
        if existing is not None and existing.sha256 == source.sha256:
            done.append(_action(name, "identical", source.sha256))
            continue
        problem = write_problem(state, target + ".partial", source.size)
        problem = problem or (write_problem(state, target) if existing is not None else None)
        if problem:
            done.append(_action(name, "failed", source.sha256, error=problem))
            continue
        copy_file(state, source, target)
        done.append(_action(name, "copied", source.sha256))
    failed = any(d["action"] in ("missing", "failed") for d in done)
    return SimResult(exit_code=int(failed), result={"files": done})


# ---------------------------------------------------------------------------------------------
# files.ensure_dir
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class EnsureDirParams:
    """A directory that must exist (created with its parents when missing)."""

    path: str


ENSURE_DIR_BODY = compact_body(r"""
$c = -not [IO.Directory]::Exists($p_path)
if ($c) { [void][IO.Directory]::CreateDirectory($p_path) }
Write-RollupResult @{ path = $p_path; created = $c }
exit 0
""")


def parse_ensure_dir(result: CommandResult, params: EnsureDirParams) -> bool:
    """Whether the directory was created (``False``: it existed already)."""
    return bool(result_field(result_object(result), "created", bool, result))


def simulate_ensure_dir(state: HostState, params: EnsureDirParams, ctx: SimContext) -> SimResult:
    """Create the directory; a file in the way fails as ``CreateDirectory`` does."""
    if host_file(state, params.path) is not None:
        message = (
            f'Cannot create "{params.path}" because a file or directory with the same name already exists.'
        )
        return SimResult(
            exit_code=1, stderr=f'Exception calling "CreateDirectory" with "1" argument(s): "{message}"\n'
        )
    return SimResult(result={"path": params.path, "created": make_dir(state, params.path)})


_HOSTILE = 'C:\\temp\\it\'s $(here); `n"q"\nline\u2019.msi'

OPERATIONS: tuple[Operation[Any, Any], ...] = (
    Operation(
        id="files.stat",
        params=StatParams,
        body=STAT_BODY,
        parse=parse_stat,
        simulate=simulate_stat,
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
        simulate=simulate_upload,
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
        simulate=simulate_backup,
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
        simulate=simulate_copy,
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
        simulate=simulate_ensure_dir,
        kind="fact",
        mutates=True,
        examples=(EnsureDirParams(path="C:\\temp\\QFERollupPackage"), EnsureDirParams(path=_HOSTILE)),
    ),
)
