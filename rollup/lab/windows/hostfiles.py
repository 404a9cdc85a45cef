"""
The simulated host's file system, as the simulations of every operation see it.

``host_file``, ``file_text``, ``put_file``, ``put_text``, ``copy_file``, ``remove_file``, ``is_dir``,
``make_dir``, ``is_locked``, ``write_problem`` (the Windows message a write would fail with),
``msi_properties`` (an installer's identity, read from its real bytes) and ``msi_payload`` (the
files it installs, read from the same bytes). They import the lab's
state model only when they run, so the pure core never loads ``rollup.lab``.
"""

from __future__ import annotations

import hashlib
import ntpath
import tempfile
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rollup.errors import PackageError
from rollup.lab.context import SimContext

if TYPE_CHECKING:
    from rollup.lab.state import HostState, LabFile, MsiProps
    from rollup.msifiles import MsiFile

NO_SPACE = "There is not enough space on the disk."
IN_USE = "The process cannot access the file because it is being used by another process."


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


def file_text(entry: LabFile, ctx: SimContext) -> str:
    """A file's content as text: ``LabFile.text``, or its stored bytes decoded (UTF-8, BOM dropped)."""
    if entry.text is not None:
        return entry.text
    return ctx.read_blob(entry.blob).decode("utf-8-sig") if entry.blob else ""


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
            props = MsiProps.of(info)
    with _msi_lock:
        _msi_cache[entry.blob] = props
    return props


@dataclass(frozen=True, slots=True)
class PayloadFile:
    """A file an MSI installs: its row (``rollup.msifiles.MsiFile``) and its bytes."""

    row: MsiFile
    data: bytes


_payload_cache: dict[str, tuple[PayloadFile, ...] | None] = {}


def msi_payload(entry: LabFile, ctx: SimContext) -> tuple[PayloadFile, ...] | None:
    """
    The files the package in ``entry`` installs, read from its real bytes (its File, Component and
    Directory tables, and its cabinet, with ``rollup.msifiles``); ``None`` when they cannot be
    read. Cached per content in this process, as ``msi_properties`` is. A package a state gives
    by its properties only (``LabFile.msi`` without bytes, as tests lay one out) installs none.
    """
    from rollup.msifiles import extract_msi_files, read_msi_files

    if entry.blob is None:
        return () if entry.msi is not None else None
    with _msi_lock:
        if entry.blob in _payload_cache:
            return _payload_cache[entry.blob]
    with tempfile.TemporaryDirectory(prefix="rollup-lab-msi-") as folder:
        package = Path(folder) / "package.msi"
        package.write_bytes(ctx.read_blob(entry.blob))
        try:
            rows = read_msi_files(package, error=PackageError, display=entry.path, hashes=False)
            contents = extract_msi_files(package, rows, error=PackageError, display=entry.path)
        except PackageError:
            payload = None
        else:
            payload = tuple(PayloadFile(row, contents[row.file_id]) for row in rows)
    with _msi_lock:
        _payload_cache[entry.blob] = payload
    return payload


def child_path(folder: str, name: str) -> str | None:
    """``folder\\name``, or ``None`` when ``name`` is not a plain file name (as the bodies refuse)."""
    if not name or any(c in name for c in "\\/:"):
        return None
    return ntpath.join(folder, name)
