"""
The lab's WinRM server: many simulated hosts in one process, on one event loop.

One thread runs an asyncio loop with every listener of every host (a thread per listener
would cost a stack per host for nothing: the work is waiting). A small pool of worker threads
calls into the host model. ``start`` returns once every listener accepts connections;
``stop`` finishes the runs in progress, closes everything and removes the NTLM user file.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Coroutine, Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

from rollup.errors import ConfigError
from rollup.lab.wsman.api import EndpointConfig
from rollup.lab.wsman.auth import USER_FILE
from rollup.lab.wsman.endpoint import Endpoint, EndpointStats
from rollup.lab.wsman.runtime import Runtime

T = TypeVar("T")


class LabEndpoint:
    """A running host, as seen from outside the server's thread (every method is thread-safe)."""

    def __init__(self, endpoint: Endpoint, server: LabServer) -> None:
        self._endpoint = endpoint
        self._server = server

    @property
    def name(self) -> str:
        """The host name (``hostname`` prints it)."""
        return self._endpoint.name

    @property
    def address(self) -> str:
        """The loopback address it listens on."""
        return self._endpoint.address

    @property
    def port(self) -> int:
        """The HTTP port (the one chosen, if the configuration asked for port 0)."""
        return self._endpoint.port

    @property
    def https_port(self) -> int | None:
        """The HTTPS port, if any."""
        return self._endpoint.https_port

    @property
    def http_url(self) -> str:
        """``http://<address>:<port>/wsman``."""
        return self._endpoint.http_url

    @property
    def https_url(self) -> str | None:
        """``https://<address>:<https_port>/wsman``, if any."""
        return self._endpoint.https_url

    def set_down(self, seconds: float) -> None:
        """
        Take the host down for ``seconds``: when this returns, its listeners are closed (new
        connections are refused), open connections are cut and its shells are forgotten, as
        when a host reboots. It listens again on the same ports afterwards. Runs in progress
        still finish.
        """
        self._server._run(self._endpoint.go_down(seconds))

    def stats(self) -> EndpointStats:
        """A copy of the host's counters (connections, requests, NTLM handshakes)."""

        async def copy() -> EndpointStats:
            return dataclasses.replace(self._endpoint.stats)

        return self._server._run(copy())

    def open_shells(self) -> int:
        """How many shells are open on the host now (idle ones past their timeout excluded)."""

        async def count() -> int:
            self._endpoint.winrs.expire_idle()
            return len(self._endpoint.winrs.shells)

        return self._server._run(count())


class LabServer:
    """
    Serves a set of simulated hosts until stopped. Use as a context manager, or call
    ``start`` and ``stop``.
    """

    def __init__(
        self, endpoints: Sequence[EndpointConfig], *, cert_dir: Path | None = None, workers: int = 4
    ) -> None:
        """
        Args:
            endpoints: the hosts; names must be unique, and so must ``(address, port)``.
            cert_dir: where HTTPS certificates are made and kept (needed if any host has an HTTPS port).
            workers: threads calling the script runners and ``finish`` callbacks.

        Raises:
            ConfigError: an endpoint is invalid, or two collide.
        """
        seen: set[str] = set()
        sockets: set[tuple[str, int]] = set()
        for config in endpoints:
            config.check()
            if config.name.lower() in seen:
                raise ConfigError(f"lab host {config.name}: the name is used twice")
            seen.add(config.name.lower())
            for port in (config.port, config.https_port):
                if port:
                    if (config.address, port) in sockets:
                        raise ConfigError(f"lab host {config.name}: {config.address}:{port} is used twice")
                    sockets.add((config.address, port))
        self._configs = tuple(endpoints)
        self._cert_dir = cert_dir
        self._workers = workers
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runtime: Runtime | None = None
        self._endpoints: dict[str, LabEndpoint] = {}

    @property
    def endpoints(self) -> Mapping[str, LabEndpoint]:
        """The running hosts by name."""
        return self._endpoints

    def endpoint(self, name: str) -> LabEndpoint:
        """One running host."""
        return self._endpoints[name]

    def simulation_errors(self) -> tuple[str, ...]:
        """Failures of the host model's own code (a runner or ``finish`` that raised), oldest first."""
        return () if self._runtime is None else self._runtime.errors()

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the server's loop and wait for its result (internal use)."""
        if self._loop is None:
            coroutine.close()
            raise RuntimeError("the lab server is not running")
        future: Future[T] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result()

    def start(self) -> None:
        """
        Listen on every host's ports; returns when all accept connections.

        Raises:
            ConfigError: an address or port cannot be listened on (nothing is left listening).
        """
        if self._loop is not None:
            raise RuntimeError("the lab server is already running")
        registered: list[EndpointConfig] = []
        try:
            for config in self._configs:
                USER_FILE.register(config.name, config.credentials)
                registered.append(config)
        except ConfigError:
            for config in registered:
                USER_FILE.unregister(config.credentials)
            raise
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="lab-wsman", daemon=True)
        self._thread.start()
        try:
            self._run(self._open())
        except BaseException:
            self.stop()
            raise

    async def _open(self) -> None:
        assert self._loop is not None
        runtime = Runtime(self._loop, self._workers)
        self._runtime = runtime
        for config in self._configs:
            endpoint = Endpoint(config, runtime, self._cert_dir)
            self._endpoints[config.name] = LabEndpoint(endpoint, self)
            await endpoint.open()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the runs in progress (at most ``timeout`` seconds), close every listener and connection."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if self._runtime is not None:
            self._run(self._close(timeout))
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        if not thread.is_alive():
            loop.close()
        if self._runtime is not None:
            self._runtime.executor.shutdown(wait=False, cancel_futures=True)
        for config in self._configs:
            USER_FILE.unregister(config.credentials)
        self._loop = self._thread = None

    async def _close(self, timeout: float) -> None:
        runtime = self._runtime
        assert runtime is not None
        runtime.stopping.set()
        for handle in self._endpoints.values():
            handle._endpoint.cancel_reopen()
            await handle._endpoint.close()
            handle._endpoint.winrs.forget_all()
        await runtime.drain(timeout)
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
