"""
What every endpoint of one server shares: the event loop, the worker threads that call into
the host model, the stop signal, and the record of simulation errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

log = logging.getLogger("rollup.lab.wsman")


class Runtime:
    """
    Calls into the host model on worker threads, one at a time per host, and keeps the tasks
    of running commands so that stopping can finish them.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, workers: int) -> None:
        self.loop = loop
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lab-host")
        self.stopping = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._errors: list[str] = []
        self._errors_lock = threading.Lock()

    async def call(self, lock: asyncio.Lock, function: Callable[[], T]) -> T:
        """Run ``function`` on a worker thread while holding the host's ``lock``."""
        async with lock:
            return await self.loop.run_in_executor(self.executor, function)

    async def pause(self, seconds: float) -> None:
        """Sleep ``seconds``, or less if the server is stopping (runs then finish at once)."""
        if seconds <= 0 or self.stopping.is_set():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), timeout=seconds)

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        """Start a command's task and keep it until it ends."""
        task = self.loop.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self, timeout: float) -> None:
        """Wait for the running commands' tasks (after ``stopping`` is set), at most ``timeout`` seconds."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)

    def record_error(self, host: str, text: str) -> None:
        """Remember a failure of the simulation itself (a runner or finish that raised)."""
        log.error("lab host %s: %s", host, text)
        with self._errors_lock:
            self._errors.append(f"{host}: {text}")

    def errors(self) -> tuple[str, ...]:
        """Every simulation error so far."""
        with self._errors_lock:
            return tuple(self._errors)
