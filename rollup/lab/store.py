"""
The lab's state on disk: one JSON file per host, and a content-addressed blob directory.

``FileStateStore`` keeps each host's ``HostState`` in ``hosts/<NAME>.json``. Every change is
written to a temporary file beside it, flushed with ``fsync`` and renamed over the old file
(then the directory is synced), so a reader, or a lab killed at any moment, only ever sees a
complete state: the one before the change or the one after it. States are read from disk on
every access rather than kept in memory: a lab of hundreds of hosts then costs no memory per
idle host, and another process (``rollup lab state``, ``rollup lab release``) always sees and
changes the same state as the running lab.

Each host has a lock: a re-entrant thread lock, and at its outermost level an exclusive
``flock`` on ``hosts/<NAME>.lock``, so the lab process and a command run beside it never
interleave their changes to one host. Different hosts proceed in parallel.

``FileBlobStore`` keeps file contents (the MSIs, uploads) in ``blobs/<sha256>``, written the same
atomic way; identical contents are stored once however many hosts hold them.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

from rollup.errors import ConfigError
from rollup.lab.state import HostState

_BLOB_KEY = re.compile(r"[0-9a-f]{64}\Z")
_HOST_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,62}\Z")


def atomic_write(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """
    Replace ``path`` with ``data`` so that no reader ever sees a partial file.

    The bytes go to a temporary file in the same directory, are flushed to disk (``fsync``),
    and the file is renamed over ``path``; the directory is then synced so the rename itself
    survives a crash.
    """
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
    sync_directory(path.parent)


def sync_directory(directory: Path) -> None:
    """``fsync`` a directory, so the names created or renamed in it are on disk."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


class _HostLock:
    """A re-entrant lock for one host: a thread lock, plus ``flock`` held at the outermost level."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._descriptor: int | None = None

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        with self._thread_lock:
            if self._depth == 0:
                descriptor = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    fcntl.flock(descriptor, fcntl.LOCK_EX)
                except BaseException:
                    os.close(descriptor)
                    raise
                self._descriptor = descriptor
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0 and self._descriptor is not None:
                    os.close(self._descriptor)  # closing the descriptor releases the flock
                    self._descriptor = None


class FileStateStore:
    """
    A ``StateStore`` of ``<directory>/<NAME>.json`` files (see the module docstring).

    Host names are case-insensitive, as on Windows; ``names()`` keeps the order and spelling
    the store was created with.
    """

    def __init__(self, directory: Path, names: Iterable[str]) -> None:
        """
        Open the store of the hosts ``names`` in ``directory`` (which ``create`` filled).

        Raises:
            ConfigError: a name cannot be a file name.
        """
        self._directory = directory
        self._order = list(names)
        self._canonical: dict[str, str] = {}
        for name in self._order:
            if not _HOST_FILE_NAME.match(name):
                raise ConfigError(f"lab host {name!r}: not a host name (letters, digits and hyphens)")
            self._canonical[name.lower()] = name
        self._locks = {key: _HostLock(directory / f"{name}.lock") for key, name in self._canonical.items()}

    @classmethod
    def create(cls, directory: Path, states: Iterable[HostState]) -> FileStateStore:
        """Write ``states`` as a new store in ``directory`` (created if missing) and open it."""
        states = list(states)
        directory.mkdir(parents=True, exist_ok=True)
        store = cls(directory, [state.name for state in states])
        for state in states:
            store.write(state)
        return store

    @property
    def directory(self) -> Path:
        """Where the host files are."""
        return self._directory

    def names(self) -> list[str]:
        """Host names, in the order the lab was created with."""
        return list(self._order)

    def path(self, host: str) -> Path:
        """The JSON file of ``host``.

        Raises:
            KeyError: no such host in this store.
        """
        return self._directory / f"{self._canonical[host.lower()]}.json"

    def read(self, host: str) -> HostState:
        """The host's current state, from its file (a complete one, thanks to the atomic rename)."""
        return HostState.model_validate_json(self.path(host).read_bytes())

    @contextlib.contextmanager
    def update(self, host: str) -> Iterator[HostState]:
        """
        Exclusive access to the host's state; when the block exits normally, the state is
        written if it changed. An exception inside the block leaves the file as it was.
        """
        path = self.path(host)
        with self._locks[host.lower()].held():
            raw = path.read_bytes()
            working = HostState.model_validate_json(raw)
            before = working.model_dump_json()
            yield working
            if working.model_dump_json() != before:
                atomic_write(path, _encode(working))

    def write(self, state: HostState) -> None:
        """Replace the whole state of ``state.name`` (under its lock)."""
        path = self.path(state.name)
        with self._locks[state.name.lower()].held():
            atomic_write(path, _encode(state))


def _encode(state: HostState) -> bytes:
    return state.model_dump_json(indent=1).encode("utf-8") + b"\n"


class FileBlobStore:
    """A ``BlobStore`` of files named by the SHA-256 of their content, in one directory."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory

    @property
    def directory(self) -> Path:
        """Where the blobs are."""
        return self._directory

    def path(self, key: str) -> Path:
        """The file holding blob ``key``.

        Raises:
            KeyError: ``key`` is not a SHA-256 hex digest (it never names another file).
        """
        if not _BLOB_KEY.match(key):
            raise KeyError(key)
        return self._directory / key

    def get(self, key: str) -> bytes:
        """The bytes stored under ``key``.

        Raises:
            KeyError: no such blob.
        """
        try:
            return self.path(key).read_bytes()
        except FileNotFoundError:
            raise KeyError(key) from None

    def put(self, data: bytes) -> str:
        """Store ``data`` (once, however often it is put); returns the SHA-256 hex of the bytes."""
        key = hashlib.sha256(data).hexdigest()
        path = self.path(key)
        if not path.exists():
            self._directory.mkdir(parents=True, exist_ok=True)
            atomic_write(path, data)
        return key
