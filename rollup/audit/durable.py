"""
Files that survive a crash: fsynced line appends, write-once files, torn-tail detection.

The journal and the audit log promise that every line they have returned from is on disk, so
a SIGKILL or a power cut at any instant loses at most the line being written. That needs three
things, kept here so both use the same code:

- each line goes out in ``write`` calls on an ``O_APPEND`` descriptor and is ``fsync``ed before
  ``append`` returns; a failed write is cut back off, so a full disk does not glue the next line
  to half of this one;
- when a file is created, its directory is ``fsync``ed too, or the file itself may vanish;
- a reader splits the bytes into complete lines and a *torn tail* (bytes after the last newline),
  which is what an interrupted write leaves.
"""

from __future__ import annotations

import contextlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

_FILE_MODE = 0o666
"""Files get the usual permissions, narrowed by the umask."""


def fsync_dir(path: Path) -> None:
    """Make the directory entries of ``path`` (a directory) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_dirs(path: Path) -> None:
    """Create ``path`` and missing parents, fsyncing each parent that gained an entry."""
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        try:
            directory.mkdir()
        except FileExistsError:
            continue
        fsync_dir(directory.parent)


def make_dir(path: Path) -> None:
    """
    Create ``path`` (its parent must exist: a run's folder is never created again by writing
    into it after it was removed), fsyncing the parent when it gained the entry.
    """
    try:
        path.mkdir()
    except FileExistsError:
        return
    fsync_dir(path.parent)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def write_once(path: Path, data: bytes) -> None:
    """
    Create ``path`` holding ``data``, durably; fail if it exists.

    Raises:
        FileExistsError: ``path`` already exists (write-once files are never replaced).
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
    try:
        _write_all(fd, data)
        os.fsync(fd)
    except OSError as exc:
        with contextlib.suppress(OSError):
            path.unlink()  # a file that could not be written whole is not left behind (a full disk)
        raise named(exc, path) from None
    finally:
        os.close(fd)
    fsync_dir(path.parent)


def named(exc: OSError, path: Path) -> OSError:
    """``exc`` with the file it is about, so that the message can say where (a full disk)."""
    if exc.filename is not None:
        return exc
    return type(exc)(exc.errno, exc.strerror, str(path))


class DurableAppender:
    """
    Appends lines to a file; each is on disk when ``append`` returns. Thread-safe.

    Opening creates the file if needed (and fsyncs its directory). The caller makes sure the
    file ends with a newline before the first append (see ``cut_torn_tail``).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, _FILE_MODE)
            fsync_dir(path.parent)
        except FileExistsError:
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        self._size = os.fstat(self._fd).st_size

    def append(self, line: str) -> None:
        """
        Write ``line`` and a newline, then fsync.

        Raises:
            ValueError: ``line`` contains a newline (one record is one line).
            OSError: the write or the fsync failed; whatever part of the line reached the file
                has been cut off again, when the file system allowed it.
        """
        if "\n" in line or "\r" in line:
            raise ValueError("a durable line cannot contain a line break")
        data = line.encode("utf-8") + b"\n"
        with self._lock:
            if self._fd < 0:
                raise ValueError(f"{self.path}: appending to a closed file")
            try:
                _write_all(self._fd, data)
                os.fsync(self._fd)
            except OSError as exc:
                with contextlib.suppress(OSError):
                    os.ftruncate(self._fd, self._size)
                raise named(exc, self.path) from None
            self._size += len(data)

    def close(self) -> None:
        """Close the file; later appends raise ``ValueError``."""
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    def __enter__(self) -> DurableAppender:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


@dataclass(frozen=True, slots=True)
class Lines:
    """A file's complete lines (without their newlines) and its torn tail, if any."""

    lines: tuple[bytes, ...]
    torn: bytes | None
    """The bytes after the last newline: a line whose write never finished."""

    @property
    def complete_size(self) -> int:
        """The byte length of the complete lines, newlines included."""
        return sum(len(line) + 1 for line in self.lines)


def read_lines(path: Path) -> Lines:
    """Split ``path`` into complete lines and a torn tail (a missing file has neither)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return Lines((), None)
    parts = data.split(b"\n")
    tail = parts.pop()
    return Lines(tuple(parts), tail or None)


def cut_torn_tail(path: Path, lines: Lines) -> None:
    """Truncate ``path`` to its complete lines (``lines`` as read by ``read_lines``), durably."""
    if lines.torn is None:
        return
    fd = os.open(path, os.O_WRONLY)
    try:
        os.ftruncate(fd, lines.complete_size)
        os.fsync(fd)
    finally:
        os.close(fd)
