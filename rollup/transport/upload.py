"""
File transfer over a transport's commands: ``files.stat`` first, then one ``files.upload``,
then ``files.set_time``.

The target is left alone when it already has the file's size, SHA-256 and last write time, so a
run that is repeated sends nothing twice. Otherwise the content travels as base64 lines on the
stdin of one ``files.upload`` command, which writes ``<target>.partial``, checks its size and
SHA-256 on the host and only then replaces the target: an interrupted or corrupted transfer
changes nothing. Last, the target gets the local file's last write time, as a copy on Windows
keeps it (the KB dates every package file; verify compares them).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rollup.errors import CommandFailed, PackageError
from rollup.ops.base import Operation
from rollup.ops.files import FileStat, StatParams, UploadParams, parse_stat, parse_upload, upload_stdin
from rollup.ops.filetimes import SetTimeParams, to_filetime
from rollup.ops.registry import operation
from rollup.transport.base import Transport


def _operation(op_id: str) -> Operation[Any, Any]:
    found = operation(op_id)
    if found is None:
        raise RuntimeError(f"operation {op_id} is not registered")
    return found


def remote_facts(transport: Transport, remote: str) -> FileStat:
    """Size, SHA-256 and last write time of ``remote`` (one ``files.stat``)."""
    stat = _operation("files.stat")
    params = StatParams(paths=(remote,), sha256=True)
    result = transport.run(stat.command(params), timeout_s=stat.timeout_s)
    (facts,) = parse_stat(result, params)
    return facts


def same_content(facts: FileStat, *, sha256: str, size: int) -> bool:
    """Whether ``facts`` describe a file with these bytes."""
    return facts.exists and facts.size == size and (facts.sha256 or "").lower() == sha256.lower()


def same_time(facts: FileStat, mtime: datetime) -> bool:
    """Whether the remote last write time is ``mtime`` to the second (NTFS keeps 100 ns, FAT 2 s)."""
    return facts.mtime is not None and abs((facts.mtime - mtime).total_seconds()) < 1


def local_mtime(local: Path) -> datetime:
    """The local file's last write time, UTC."""
    return datetime.fromtimestamp(local.stat().st_mtime, UTC)


def put(transport: Transport, local: Path, remote: str, *, sha256: str, size: int) -> tuple[bool, int]:
    """
    Make ``remote`` hold ``local``'s bytes and last write time.

    Returns:
        Whether nothing was needed, and how many bytes of content were sent.

    Raises:
        PackageError: ``local`` cannot be read, or its size or SHA-256 differs.
        CommandFailed: the host did not commit the file or its time.
        TransportError: from ``transport.run``.
    """
    try:
        mtime = local_mtime(local)
    except OSError as exc:
        raise PackageError(f"{local}: cannot be read: {exc.strerror}") from None
    facts = remote_facts(transport, remote)
    content_ok = same_content(facts, sha256=sha256, size=size)
    if content_ok and same_time(facts, mtime):
        return True, 0
    if not content_ok:
        send(transport, local, remote, sha256=sha256, size=size)
    set_time = _operation("files.set_time")
    params = SetTimeParams(path=remote, filetime=to_filetime(mtime))
    set_time.parse(transport.run(set_time.command(params), timeout_s=set_time.timeout_s), params)
    return False, 0 if content_ok else size


def read_checked(local: Path, *, sha256: str, size: int) -> bytes:
    """
    The bytes of ``local``, which must have ``size`` and ``sha256``.

    Raises:
        PackageError: the file cannot be read, or its size or SHA-256 differs.
    """
    try:
        data = local.read_bytes()
    except OSError as exc:
        raise PackageError(f"{local}: cannot be read: {exc.strerror}") from None
    if len(data) != size or hashlib.sha256(data).hexdigest() != sha256.lower():
        raise PackageError(f"{local}: size or SHA-256 differs from what the plan expects; the file changed")
    return data


def send(transport: Transport, local: Path, remote: str, *, sha256: str, size: int) -> None:
    """
    Upload ``local`` to ``remote`` with one ``files.upload`` (its bytes verified on the host).

    Raises:
        PackageError: see ``read_checked``.
        CommandFailed: the host did not commit the file (no space, file in use, hash mismatch).
        TransportError: from ``transport.run``.
    """
    data = read_checked(local, sha256=sha256, size=size)
    upload = _operation("files.upload")
    params = UploadParams(target=remote, size=size, sha256=sha256.lower())
    result = transport.run(upload.command(params), timeout_s=upload.timeout_s, stdin=upload_stdin(data))
    outcome = parse_upload(result, params)
    if not outcome.committed:
        reason = outcome.error or f"exit code {result.exit_code}"
        raise CommandFailed(f"{transport.host}: upload of {remote} was not committed: {reason}")
