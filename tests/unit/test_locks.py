"""The local run lock: one run per inventory, held by flock, never left held by a dead process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rollup.engine.locks import (
    LockHolder,
    LockState,
    RunLock,
    acquire_lock,
    inspect_lock,
    lock_path,
    run_is_live,
    unlock,
)
from rollup.engine.rundir import control_host_name
from rollup.errors import LockHeld

ROOT = Path(__file__).resolve().parents[2]
DIGEST = "e" * 64
OTHER_RUN = "20261121T104512Z-aaaa"

Spawn = Callable[..., "subprocess.Popen[str]"]

_HOLDER = """
import os, sys
from pathlib import Path
from rollup.engine.locks import LockHolder, acquire_lock

runs_dir, digest, host, fork = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4] == "fork"
holder = LockHolder(run_id="20261121T104512Z-aaaa", operator="bob", pid=os.getpid(), host=host,
                    started_at="2026-11-21T10:45:12Z", inventory="inventory/lab.yml")
lock = acquire_lock(runs_dir, digest, holder)
if fork and os.fork() == 0:
    sys.stdin.read()
    os._exit(0)
print("locked", flush=True)
sys.stdin.read()
lock.release()
"""


def _holder(run_id: str = "20261121T110000Z-bbbb", host: str | None = None) -> LockHolder:
    return LockHolder(
        run_id=run_id,
        operator="alice",
        pid=os.getpid(),
        host=host or control_host_name(),
        started_at="2026-11-21T11:00:00Z",
        inventory="inventory/lab.yml",
    )


def _acquire(runs_dir: Path, holder: LockHolder | None = None) -> RunLock:
    return acquire_lock(runs_dir, DIGEST, holder or _holder(), attempts=2, sleep=lambda _: None)


@pytest.fixture(name="spawn")
def _spawn(tmp_path: Path) -> Iterator[Spawn]:
    """Start a process holding the lock for run OTHER_RUN; ends every process it started."""
    started: list[subprocess.Popen[str]] = []

    def spawn(mode: str = "plain") -> subprocess.Popen[str]:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen(
            [sys.executable, "-c", _HOLDER, str(tmp_path), DIGEST, control_host_name(), mode],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )
        started.append(proc)
        assert proc.stdout is not None
        assert proc.stdout.readline() == "locked\n"
        return proc

    yield spawn
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()
        proc.wait()


def _kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def test_acquire_writes_the_holder_and_release_clears_it(tmp_path: Path) -> None:
    """The lock file names the holder while held and is emptied on release."""
    with _acquire(tmp_path) as lock:
        held = json.loads(lock_path(tmp_path, DIGEST).read_text())
        status = inspect_lock(tmp_path, DIGEST)

    assert held["run_id"] == "20261121T110000Z-bbbb"
    assert held["pid"] == os.getpid()
    assert lock.stale is None
    assert status.state is LockState.HELD
    assert lock_path(tmp_path, DIGEST).read_bytes() == b""
    assert inspect_lock(tmp_path, DIGEST).state is LockState.FREE


def test_a_second_process_is_refused_with_the_holder_named(tmp_path: Path, spawn: Spawn) -> None:
    """LockHeld names the holder's run, operator, host, pid and start, and how to unlock."""
    proc = spawn()

    with pytest.raises(LockHeld) as caught:
        _acquire(tmp_path)

    assert str(caught.value) == (
        f"inventory/lab.yml: locked by run {OTHER_RUN} (operator bob, host {control_host_name()}, "
        f"pid {proc.pid}, since 2026-11-21T10:45:12Z)"
    )
    assert caught.value.hint is not None
    assert "rollup runs unlock --inventory inventory/lab.yml" in caught.value.hint
    assert run_is_live(tmp_path, DIGEST, OTHER_RUN)


def test_the_lock_is_free_again_when_the_holder_releases(tmp_path: Path, spawn: Spawn) -> None:
    """After the holder releases and exits, the next run locks with no stale details."""
    proc = spawn()
    assert proc.stdin is not None
    proc.stdin.close()
    proc.wait()

    with _acquire(tmp_path) as lock:
        stale = lock.stale

    assert stale is None
    assert not run_is_live(tmp_path, DIGEST, OTHER_RUN)


def test_sigkill_never_leaves_the_lock_held(tmp_path: Path, spawn: Spawn) -> None:
    """A SIGKILLed holder's lock is free at once; its details are reported as stale and taken over."""
    proc = spawn()
    _kill(proc)

    status = inspect_lock(tmp_path, DIGEST)
    live = run_is_live(tmp_path, DIGEST, OTHER_RUN)
    with _acquire(tmp_path) as lock:
        stale = lock.stale

    assert status.state is LockState.STALE
    assert status.holder is not None
    assert status.holder.pid == proc.pid
    assert not live
    assert stale is not None
    assert stale.run_id == OTHER_RUN


def test_the_same_process_cannot_lock_twice(tmp_path: Path) -> None:
    """flock is per open file: a second acquire in one process is refused too."""
    with _acquire(tmp_path), pytest.raises(LockHeld, match="locked by run 20261121T110000Z-bbbb"):
        _acquire(tmp_path, _holder("20261121T120000Z-cccc"))


def test_acquire_retries_briefly_before_refusing(tmp_path: Path) -> None:
    """A probe holding the lock for an instant is ridden over: each retry waits interval_s."""
    waits: list[float] = []
    with _acquire(tmp_path), pytest.raises(LockHeld):
        acquire_lock(tmp_path, DIGEST, _holder(), attempts=4, interval_s=0.05, sleep=waits.append)

    assert waits == [0.05, 0.05, 0.05]


def test_unlock_clears_stale_details(tmp_path: Path, spawn: Spawn) -> None:
    """`runs unlock` after a killed run clears its details; a free lock needs nothing."""
    _kill(spawn())

    first = unlock(tmp_path, DIGEST, inventory="inventory/lab.yml")
    second = unlock(tmp_path, DIGEST, inventory="inventory/lab.yml")

    assert first.state is LockState.STALE
    assert second.state is LockState.FREE
    assert lock_path(tmp_path, DIGEST).read_bytes() == b""


def test_unlock_refuses_a_live_holder(tmp_path: Path, spawn: Spawn) -> None:
    """While the holder's pid is alive, unlock refuses and says so."""
    proc = spawn()

    with pytest.raises(LockHeld) as caught:
        unlock(tmp_path, DIGEST, inventory="inventory/lab.yml")

    assert caught.value.hint == f"pid {proc.pid} is alive; if it is stuck, stop it and the lock is released"
    assert inspect_lock(tmp_path, DIGEST).state is LockState.HELD


def test_unlock_refuses_a_holder_on_another_host(tmp_path: Path) -> None:
    """A holder recorded on another control host cannot be checked from here."""
    with _acquire(tmp_path, _holder(host="ctl-elsewhere")), pytest.raises(LockHeld, match="ctl-elsewhere"):
        unlock(tmp_path, DIGEST, inventory="inventory/lab.yml")


def test_unlock_breaks_a_lock_whose_pid_is_dead(tmp_path: Path, spawn: Spawn) -> None:
    """A child that inherited the lock keeps it after the holder dies; unlock removes the file."""
    proc = spawn("fork")
    _kill(proc)
    held = inspect_lock(tmp_path, DIGEST)

    status = unlock(tmp_path, DIGEST, inventory="inventory/lab.yml")
    with _acquire(tmp_path) as lock:
        stale = lock.stale

    assert held.state is LockState.HELD
    assert status.state is LockState.HELD
    assert status.holder is not None
    assert status.holder.pid == proc.pid
    assert stale is None
