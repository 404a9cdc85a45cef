"""
File transfer over a transport's commands: ``files.stat`` first, then one ``files.upload``.

The target is left alone when it already has the file's size and SHA-256, so a run that is
repeated sends nothing twice. Otherwise the content travels as base64 lines on the stdin of one
``files.upload`` command, which writes ``<target>.partial``, checks its size and SHA-256 on the
host and only then replaces the target: an interrupted or corrupted transfer changes nothing.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from rollup.errors import CommandFailed, PackageError
from rollup.ops.base import Operation
from rollup.ops.files import StatParams, UploadParams, parse_stat, parse_upload, upload_stdin
from rollup.ops.registry import operation
from rollup.transport.base import Transport


def _operation(op_id: str) -> Operation[Any, Any]:
    found = operation(op_id)
    if found is None:
        raise RuntimeError(f"operation {op_id} is not registered")
    return found


def already_there(transport: Transport, remote: str, *, sha256: str, size: int) -> bool:
    """Whether the file at ``remote`` has ``size`` bytes and SHA-256 ``sha256`` (one ``files.stat``)."""
    stat = _operation("files.stat")
    params = StatParams(paths=(remote,), sha256=True)
    result = transport.run(stat.command(params), timeout_s=stat.timeout_s)
    (facts,) = parse_stat(result, params)
    return facts.exists and facts.size == size and (facts.sha256 or "").lower() == sha256.lower()


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
