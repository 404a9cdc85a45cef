"""
The lab as a process: serving in the foreground, in a detached background process, and stopping.

One process serves a lab, and holds the lab's lock (``lab.lock``) for as long as it does; its pid
is in ``lab.pid`` while it serves. ``start_detached`` starts ``python -m rollup lab serve`` in a
session of its own with its output appended to ``lab.log``, and returns once the process wrote
its pid file and every listener of every host accepts connections. ``stop_lab`` sends SIGTERM,
on which the server finishes the operations in progress (their effects are saved), closes the
listeners, lifts the scenario's timed conditions and removes the pid file; a pid file left by a
process that no longer runs (the lock is free) is reported and removed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import FrameType

from rollup.errors import ConfigError, RollupError, UsageError
from rollup.lab.fleet import RunningLab
from rollup.lab.labdir import LabConfig, LabLock, LabPaths, read_config, read_pid, remove_pid, write_pid

START_TIMEOUT_S = 120.0
"""How long ``start_detached`` waits for every listener (500 hosts take a few seconds)."""
STOP_TIMEOUT_S = 30.0
"""How long ``stop_lab`` waits for the lab to finish its runs and exit after SIGTERM."""
_POLL_S = 0.05

log = logging.getLogger("rollup.lab")


def running_message(paths: LabPaths) -> str:
    """The one line for "a lab already runs here"."""
    pid = read_pid(paths)
    which = f" (pid {pid})" if pid else ""
    return f"{paths.root}: a lab is already running here{which}; stop it with rollup lab down"


@contextlib.contextmanager
def holding_lock(paths: LabPaths) -> Iterator[LabLock]:
    """
    The lab's lock for the block.

    Raises:
        UsageError: another process holds it (a lab runs or is being created here).
    """
    lock = LabLock(paths)
    if not lock.acquire():
        raise UsageError(running_message(paths))
    try:
        yield lock
    finally:
        lock.release()


def serve(paths: LabPaths, env: Mapping[str, str], on_ready: Callable[[RunningLab], None]) -> None:
    """
    Serve the lab in this process until SIGTERM or SIGINT (Ctrl-C), then stop it cleanly.
    Must run on the main thread (it installs signal handlers, and restores them after).

    Raises:
        UsageError: a lab is already running here, or there is none.
        ConfigError: a port cannot be listened on.
    """
    with holding_lock(paths):
        config = read_config(paths)
        lab = RunningLab(paths, config, env)
        stop = threading.Event()

        def request_stop(signum: int, frame: FrameType | None) -> None:
            stop.set()

        previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            lab.start()
            try:
                write_pid(paths, os.getpid())
                log.info("lab serving %d hosts from %s", len(config.hosts), paths.root)
                on_ready(lab)
                while not stop.wait(0.5):
                    pass
                log.info("lab stopping")
            finally:
                lab.stop()
                remove_pid(paths)
                for error in lab.server.simulation_errors():
                    log.error("simulation error: %s", error)
                log.info("lab stopped")
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def start_detached(paths: LabPaths, env: Mapping[str, str], timeout_s: float = START_TIMEOUT_S) -> int:
    """
    Start the lab in a background process of its own session; its pid once every listener
    accepts connections.

    Raises:
        ConfigError: the process stopped with a configuration error (exit 2), e.g. a port taken.
        RollupError: it stopped otherwise, or did not get ready within ``timeout_s``; both
            name the log file.
    """
    config = read_config(paths)
    with paths.log.open("ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "rollup", "lab", "serve", "--state-dir", str(paths.root)],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=dict(env),
            close_fds=True,
        )
    deadline = time.monotonic() + timeout_s
    while True:
        code = process.poll()
        if code is not None:
            reason = _last_line(paths).removeprefix("rollup: ") or f"exit code {code}"
            error = ConfigError if code == 2 else RollupError
            raise error(f"the lab did not start: {reason} (see {paths.log})")
        if read_pid(paths) == process.pid and listeners_up(config):
            return process.pid
        if time.monotonic() > deadline:
            process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(STOP_TIMEOUT_S)
            raise RollupError(f"the lab did not start within {timeout_s:g} s (see {paths.log})")
        time.sleep(_POLL_S)


def listeners_up(config: LabConfig) -> bool:
    """
    Whether every host's HTTP listener accepts a TCP connection now. The HTTPS listeners are
    not probed: the serving process writes its pid file only once all listeners accept
    connections, and an aborted TLS handshake per host would cost the server memory for nothing.
    """
    for host in config.hosts:
        try:
            with socket.create_connection((host.address, host.http_port), timeout=1.0):
                pass
        except OSError:
            return False
    return True


def _last_line(paths: LabPaths) -> str:
    with contextlib.suppress(OSError):
        lines = paths.log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        return lines[-1].strip() if lines else ""
    return ""


class Stopped(StrEnum):
    """What ``stop_lab`` found."""

    STOPPED = "stopped"
    STALE = "stale"
    """A pid file, but no process serving the lab: the file was removed."""
    NOT_RUNNING = "not running"


@dataclass(frozen=True, slots=True)
class StopOutcome:
    """What ``stop_lab`` did, and to which pid."""

    result: Stopped
    pid: int | None = None


def stop_lab(paths: LabPaths, timeout_s: float = STOP_TIMEOUT_S) -> StopOutcome:
    """
    Stop the lab served from ``paths.root``: SIGTERM, wait for its lock to be let go, remove the
    pid file.

    Raises:
        UsageError: there is no lab in the directory.
        RollupError: the process did not stop in time, or holds the lock without a pid file.
    """
    read_config(paths)
    lock = LabLock(paths)
    if not lock.is_held_elsewhere():
        pid = read_pid(paths)
        if paths.pid.exists():
            remove_pid(paths)
            return StopOutcome(Stopped.STALE, pid)
        return StopOutcome(Stopped.NOT_RUNNING)
    pid = _wait_for_pid(paths, deadline=time.monotonic() + 5.0)
    if pid is None:
        raise RollupError(f"{paths.lock}: a process holds the lab's lock but wrote no pid file")
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while lock.is_held_elsewhere():
        if time.monotonic() > deadline:
            raise RollupError(
                f"the lab (pid {pid}) did not stop within {timeout_s:g} s (see {paths.log})",
                hint=f"kill {pid} stops it at once; its operations in progress are then lost",
            )
        time.sleep(_POLL_S)
    remove_pid(paths)
    return StopOutcome(Stopped.STOPPED, pid)


def _wait_for_pid(paths: LabPaths, *, deadline: float) -> int | None:
    while (pid := read_pid(paths)) is None and time.monotonic() < deadline:
        time.sleep(_POLL_S)
    return pid
