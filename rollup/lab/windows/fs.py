"""
The simulated host's file system as .NET's ``System.IO`` sees it, over ``HostState.files``.

Paths compare ignoring case; a directory exists when listed, when it is a drive root, or when
something lies below it. Faults are states of the host: a path in ``locked_files`` is held open by
another process (open for writing, move, replace and delete fail with Windows' sharing message);
a path under ``disk_full_paths`` (or a write larger than ``disk_free_bytes``) fails with "There is
not enough space on the disk.". Every failure is a ``NetException`` of the type and message .NET
2.0 throws.
"""

from __future__ import annotations

import hashlib
import ntpath
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from rollup.lab.pwsh.net import NetException, dir_not_found, io_error, not_found

if TYPE_CHECKING:
    from rollup.lab.state import BlobStore, HostState, LabFile

NO_SPACE = "There is not enough space on the disk.\r\n"
IN_USE = "The process cannot access the file '{0}' because it is being used by another process."
INLINE_LIMIT = 256 * 1024
"""Files up to this size that decode as UTF-8 are kept inline in the state (logs, markers)."""


def key(path: str) -> str:
    from rollup.lab.state import path_key

    return path_key(path)


def _inside(k: str, folder: str) -> bool:
    return k == folder or k.startswith(folder + "\\")


class FileSystem:
    """Files and directories of one host."""

    def __init__(self, state: HostState, blobs: BlobStore, now: float) -> None:
        self.state = state
        self.blobs = blobs
        self.now = now

    # reading -----------------------------------------------------------------------------

    def check_path(self, path: str) -> str:
        if path is None or str(path) == "":
            raise NetException("System.ArgumentException", "The path is not of a legal form.")
        text = str(path)
        if any(c in text for c in '<>"|') or any(ord(c) < 32 for c in text):
            raise NetException("System.ArgumentException", "Illegal characters in path.")
        if (not ntpath.isabs(text) or text[1:2] != ":") and not text.startswith("\\"):
            return "C:\\Users\\rollup\\Documents\\" + text
        return text

    def entry(self, path: str) -> LabFile | None:
        return self.state.files.get(key(self.check_path(path)))

    def is_file(self, path: str) -> bool:
        try:
            return self.entry(path) is not None
        except NetException:
            return False

    def is_dir(self, path: str) -> bool:
        try:
            k = key(self.check_path(path))
        except NetException:
            return False
        if len(k) == 2 and k.endswith(":"):
            return True
        if k in self.state.files:
            return False
        return any(_inside(key(d), k) for d in self.state.directories) or any(
            f.startswith(k + "\\") for f in self.state.files
        )

    def read(self, path: str) -> bytes:
        found = self.entry(path)
        if found is None:
            if not self.is_dir(ntpath.dirname(path)):
                raise dir_not_found(path)
            raise not_found(path)
        if self.locked(path):
            raise io_error(IN_USE.format(path))
        if found.text is not None:
            return found.text.encode("utf-8")
        return self.blobs.get(found.blob) if found.blob else b""

    def require(self, path: str) -> LabFile:
        found = self.entry(path)
        if found is None:
            if self.is_dir(path):
                raise NetException(
                    "System.UnauthorizedAccessException", f"Access to the path '{path}' is denied."
                )
            if not self.is_dir(ntpath.dirname(self.check_path(path))):
                raise dir_not_found(path)
            raise not_found(path)
        return found

    def listing(self, path: str) -> tuple[list[str], list[str]]:
        """(directories, files) directly inside ``path``, as display paths."""
        if not self.is_dir(path):
            raise dir_not_found(path)
        k = key(path)
        dirs: dict[str, str] = {}
        files: list[str] = []
        for fk, f in self.state.files.items():
            if fk.startswith(k + "\\"):
                rest = f.path.replace("/", "\\")[len(k) + 1 :]
                head = rest.split("\\", 1)
                if len(head) == 1:
                    files.append(f.path)
                else:
                    dirs.setdefault(head[0].lower(), ntpath.join(path, head[0]))
        for d in self.state.directories:
            dk = key(d)
            if dk.startswith(k + "\\"):
                name = d.replace("/", "\\")[len(k) + 1 :].split("\\", 1)[0]
                dirs.setdefault(name.lower(), ntpath.join(path, name))
        return sorted(dirs.values(), key=str.lower), sorted(files, key=str.lower)

    # writing -----------------------------------------------------------------------------

    def locked(self, path: str) -> bool:
        k = key(path)
        return any(key(p) == k for p in self.state.locked_files)

    def check_write(self, path: str, size: int = 0) -> None:
        if self.locked(path):
            raise io_error(IN_USE.format(path))
        k = key(path)
        if any(_inside(k, key(p)) for p in self.state.disk_full_paths) or size > self.state.disk_free_bytes:
            raise io_error(NO_SPACE)
        parent = ntpath.dirname(self.check_path(path))
        if not self.is_dir(parent):
            raise dir_not_found(path)

    def write(self, path: str, data: bytes, mtime: datetime | None = None) -> LabFile:
        from rollup.lab.state import LabFile

        path = self.check_path(path)
        self.check_write(path, len(data))
        old = self.entry(path)
        text: str | None = None
        blob: str | None = None
        if len(data) <= INLINE_LIMIT:
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                text = None
        if text is None:
            blob = self.blobs.put(data)
        entry = LabFile(
            path=old.path if old else path,
            size=len(data),
            mtime=mtime or self.clock(),
            sha256=hashlib.sha256(data).hexdigest(),
            blob=blob,
            text=text,
        )
        self.state.files[key(path)] = entry
        return entry

    def clock(self) -> datetime:
        return datetime.fromtimestamp(self.now, UTC)

    def delete(self, path: str) -> None:
        path = self.check_path(path)
        if self.locked(path):
            raise NetException("System.IO.IOException", IN_USE.format(path))
        if self.entry(path) is None:
            if not self.is_dir(ntpath.dirname(path)):
                raise dir_not_found(path)
            return
        del self.state.files[key(path)]

    def copy(self, source: str, target: str, overwrite: bool) -> None:
        src = self.require(source)
        target = self.check_path(target)
        if self.entry(target) is not None and not overwrite:
            raise io_error(f"The file '{target}' already exists.")
        self.check_write(target, src.size)
        self.state.files[key(target)] = src.model_copy(update={"path": target})

    def move(self, source: str, target: str) -> None:
        src = self.require(source)
        target = self.check_path(target)
        if self.locked(source):
            raise io_error(IN_USE.format(source))
        if self.entry(target) is not None:
            raise io_error("Cannot create a file when that file already exists.\r\n")
        self.check_write(target)
        del self.state.files[key(source)]
        self.state.files[key(target)] = src.model_copy(update={"path": target})

    def replace(self, source: str, target: str, backup: str | None) -> None:
        src = self.require(source)
        old = self.require(target)
        if self.locked(target) or self.locked(source):
            raise io_error(IN_USE.format(target))
        self.check_write(target, src.size)
        if backup:
            self.state.files[key(backup)] = old.model_copy(update={"path": backup})
        del self.state.files[key(source)]
        self.state.files[key(target)] = src.model_copy(update={"path": old.path})

    def make_dir(self, path: str) -> None:
        path = self.check_path(path)
        if self.entry(path) is not None:
            raise io_error(
                f'Cannot create "{path}" because a file or directory with the same name already exists.'
            )
        if self.is_dir(path):
            return
        if any(_inside(key(path), key(p)) for p in self.state.disk_full_paths):
            raise io_error(NO_SPACE)
        self.state.directories.append(path.rstrip("\\/"))

    def set_mtime(self, path: str, moment: datetime) -> None:
        entry = self.require(path)
        if self.locked(path):
            raise io_error(IN_USE.format(path))
        self.state.files[key(path)] = entry.model_copy(update={"mtime": moment})
