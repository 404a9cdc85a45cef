"""
The local run lock: one run at a time per inventory on this control host.

A run holds an exclusive ``flock`` on ``<runs dir>/.locks/<inventory digest>.lock`` and writes
who it is into the file (run id, operator, pid, host, start time, inventory). The kernel drops a
``flock`` when its holder exits, however it exits, so a SIGKILLed run never leaves the lock held;
it leaves only its details in the file. The digest is that of the whole inventory, before
``--limit``: two runs on different hosts of one fleet still share the deployment tool host.

What happens to a lock whose holder is gone (docs/runs.md):

- the next run takes it over at once and reports the previous holder (``RunLock.stale``), so the
  engine can print a notice and the dead run shows as ``interrupted``;
- ``rollup runs unlock --inventory X`` clears such details, and breaks a lock that is still held
  while its recorded pid is dead on this host (a child process inherited the descriptor) by
  removing the file. It refuses while the recorded pid is alive, or lives on another host.

The lock is local. The marker a run leaves on the deployment tool host is a different lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from types import TracebackType

from rollup.audit.durable import make_dirs
from rollup.engine.rundir import control_host_name
from rollup.errors import LockHeld, RollupError

LOCKS_DIR = ".locks"


@dataclass(frozen=True, slots=True, kw_only=True)
class LockHolder:
    """Who holds (or last held) an inventory's lock; the JSON inside the lock file."""

    run_id: str
    operator: str
    pid: int
    host: str
    started_at: str
    inventory: str

    @classmethod
    def of_this_process(cls, run_id: str, *, operator: str, host: str, inventory: str) -> LockHolder:
        """This process's claim for ``run_id``, from now (UTC, to the second)."""
        started_at = datetime.now(UTC).isoformat(timespec="seconds")
        return cls(run_id=run_id, operator=operator, pid=os.getpid(), host=host, started_at=started_at,
                   inventory=inventory)  # fmt: skip

    def describe(self) -> str:
        """``run R (operator O, host H, pid P, since T)``."""
        return (
            f"run {self.run_id} (operator {self.operator}, host {self.host}, pid {self.pid}, "
            f"since {self.started_at})"
        )


class LockState(StrEnum):
    FREE = "free"
    HELD = "held"
    STALE = "stale"
    """Free, but the file still names a holder that ended without releasing it."""


@dataclass(frozen=True, slots=True)
class LockStatus:
    state: LockState
    holder: LockHolder | None
    path: Path


def lock_path(runs_dir: Path, inventory_digest: str) -> Path:
    """``<runs dir>/.locks/<inventory digest>.lock``."""
    return runs_dir / LOCKS_DIR / f"{inventory_digest}.lock"


def _parse_holder(data: bytes) -> LockHolder | None:
    try:
        fields = json.loads(data)
        return LockHolder(**fields) if isinstance(fields, dict) else None
    except (ValueError, TypeError):
        return None


def _read_holder(path: Path) -> LockHolder | None:
    try:
        return _parse_holder(path.read_bytes())
    except OSError:
        return None


def pid_is_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host (a zombie counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunLock:
    """A held lock; ``release()`` (or leaving the ``with`` block) gives it back."""

    def __init__(self, fd: int, path: Path, holder: LockHolder, stale: LockHolder | None) -> None:
        self._fd = fd
        self.path = path
        self.holder = holder
        self.stale = stale
        """The details a previous holder left when it died without releasing, if any."""

    def release(self) -> None:
        """Clear the holder details and unlock; idempotent."""
        if self._fd < 0:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = -1

    def __enter__(self) -> RunLock:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


def _held_error(inventory: str, path: Path, holder: LockHolder | None) -> LockHeld:
    who = holder.describe() if holder else "a run that has not written its details yet"
    return LockHeld(
        f"{inventory}: locked by {who}",
        hint=f"wait for that run to end; if its process is gone but {path.name} stays held, "
        f"`rollup runs unlock --inventory {inventory}`",
    )


def _try_lock(path: Path, operation: int) -> int | None:
    """
    A descriptor on ``path`` locked with ``operation``, or ``None`` if someone holds it.

    An exclusive lock opens the file for writing (creating it); a shared probe only reads it.
    """
    flags = os.O_RDWR | os.O_CREAT if operation == fcntl.LOCK_EX else os.O_RDONLY
    fd = os.open(path, flags, 0o666)
    try:
        fcntl.flock(fd, operation | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    try:
        current = os.stat(path)
    except FileNotFoundError:
        current = None
    opened = os.fstat(fd)
    if current is None or (current.st_dev, current.st_ino) != (opened.st_dev, opened.st_ino):
        os.close(fd)  # the file was removed by `runs unlock` meanwhile: lock the new one
        if current is None and operation != fcntl.LOCK_EX:
            raise FileNotFoundError(path)
        return _try_lock(path, operation)
    return fd


def acquire_lock(
    runs_dir: Path,
    inventory_digest: str,
    holder: LockHolder,
    *,
    attempts: int = 20,
    interval_s: float = 0.05,
    sleep: Callable[[float], None] = time.sleep,
) -> RunLock:
    """
    Take the inventory's lock for ``holder``, or fail at once naming the current holder.

    A few short retries (``attempts`` x ``interval_s``, one second by default) ride over
    ``runs list`` and ``runs show`` probing the lock for an instant; a run that holds it makes
    every attempt fail.

    Raises:
        LockHeld: another process holds the lock; names its run, operator, host, pid and time.
    """
    path = lock_path(runs_dir, inventory_digest)
    make_dirs(path.parent)
    try:
        fd = _try_lock(path, fcntl.LOCK_EX)
        for _ in range(attempts - 1):
            if fd is not None:
                break
            sleep(interval_s)
            fd = _try_lock(path, fcntl.LOCK_EX)
    except PermissionError:
        raise RollupError(f"{path}: cannot open the lock file: permission denied") from None
    if fd is None:
        raise _held_error(holder.inventory, path, _read_holder(path))
    stale = _parse_holder(os.pread(fd, 65536, 0))
    data = json.dumps(asdict(holder), sort_keys=True).encode("utf-8") + b"\n"
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
        os.fsync(fd)
    except OSError as exc:
        os.close(fd)
        raise OSError(exc.errno, exc.strerror, str(path)) from None
    return RunLock(fd, path, holder, stale)


def inspect_lock(runs_dir: Path, inventory_digest: str) -> LockStatus:
    """Whether the inventory's lock is free, held, or free with a dead holder's details in it."""
    path = lock_path(runs_dir, inventory_digest)
    try:
        fd = _try_lock(path, fcntl.LOCK_SH)
    except FileNotFoundError:
        return LockStatus(LockState.FREE, None, path)
    if fd is None:
        return LockStatus(LockState.HELD, _read_holder(path), path)
    try:
        holder = _parse_holder(os.pread(fd, 65536, 0))
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    return LockStatus(LockState.FREE if holder is None else LockState.STALE, holder, path)


def run_is_live(runs_dir: Path, inventory_digest: str, run_id: str) -> bool:
    """Whether a live process holds the inventory's lock for the run ``run_id``."""
    status = inspect_lock(runs_dir, inventory_digest)
    return status.state is LockState.HELD and status.holder is not None and status.holder.run_id == run_id


def unlock(runs_dir: Path, inventory_digest: str, *, inventory: str) -> LockStatus:
    """
    ``rollup runs unlock``: clear a dead holder's details, or break a lock whose pid is dead.

    Returns the status found before acting (``FREE``: nothing to do; ``STALE``: details
    cleared; ``HELD``: the lock file was removed, so the next run locks a new one).

    Raises:
        LockHeld: the holder's pid is alive, lives on another host, or is not recorded.
    """
    status = inspect_lock(runs_dir, inventory_digest)
    if status.state is LockState.STALE:
        fd = _try_lock(status.path, fcntl.LOCK_EX)
        if fd is None:
            return unlock(runs_dir, inventory_digest, inventory=inventory)
        os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    elif status.state is LockState.HELD:
        holder = status.holder
        if holder is None:
            raise _held_error(inventory, status.path, holder)
        if holder.host != control_host_name():
            raise LockHeld(
                f"{inventory}: locked by {holder.describe()}",
                hint=f"that run belongs to host {holder.host}; only there can pid {holder.pid} be checked",
            )
        if pid_is_alive(holder.pid):
            raise LockHeld(
                f"{inventory}: locked by {holder.describe()}",
                hint=f"pid {holder.pid} is alive; if it is stuck, stop it and the lock is released",
            )
        status.path.unlink(missing_ok=True)
    return status
