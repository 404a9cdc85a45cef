"""
Fixtures for the simulated WinRM server: a factory of running lab servers on fresh loopback
addresses, and a scripted stand-in for the host model that records what reached it; and, for
the tests of the lab's state directory, the session's MSI cache and template lab (``labkit``).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from rollup.lab.labdir import LabPaths
from rollup.lab.wsman import (
    Credential,
    EndpointConfig,
    LabServer,
    ScriptOutcome,
    ScriptRun,
)
from rollup.secret import Secret
from tests.lab import labkit

DOMAIN_USER = "HOSTING\\admin"
LOCAL_USER = "labadmin"
PASSWORD = "Lab-Passw0rd!"
CREDENTIALS = (Credential(DOMAIN_USER, Secret(PASSWORD)), Credential(LOCAL_USER, Secret(PASSWORD)))

DONE = ScriptOutcome(0, "done\n", "")

_addresses = itertools.count(1)


def next_address() -> str:
    """A loopback address no other test of this run uses (127.0.x.y, x from 160)."""
    n = next(_addresses)
    return f"127.0.{160 + n // 250}.{1 + n % 250}"


@dataclass
class FakeHost:
    """
    A ScriptRunner: every script gets ``outcome`` after ``duration_s``; records the scripts it
    was given and how many runs finished.
    """

    outcome: ScriptOutcome = DONE
    duration_s: float = 0.0
    scripts: list[tuple[str, str]] = field(default_factory=list)
    finished: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, host: str, script: str) -> ScriptRun:
        with self._lock:
            self.scripts.append((host, script))

        def finish() -> ScriptOutcome:
            with self._lock:
                self.finished += 1
            return self.outcome

        return ScriptRun(self.duration_s, finish)


@dataclass
class Lab:
    """Starts lab servers for one test and stops them after it."""

    cert_dir: Path
    servers: list[LabServer] = field(default_factory=list)

    def config(
        self, name: str = "COLLAB01", runner: Callable[[str, str], ScriptRun] | None = None, **kw: Any
    ) -> EndpointConfig:
        """An endpoint on a fresh loopback address with ephemeral ports and the test accounts."""
        base = EndpointConfig(name, next_address(), CREDENTIALS, runner or FakeHost(), port=0)
        return replace(base, **kw)

    def start(self, *configs: EndpointConfig) -> LabServer:
        """A running server for ``configs``."""
        server = LabServer(configs, cert_dir=self.cert_dir)
        server.start()
        self.servers.append(server)
        return server


@pytest.fixture(name="lab")
def _lab(tmp_path: Path) -> Iterator[Lab]:
    lab = Lab(tmp_path / "certs")
    yield lab
    for server in lab.servers:
        server.stop()


@pytest.fixture(name="cache", scope="session")
def _cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return labkit.msi_cache(tmp_path_factory)


@pytest.fixture(name="template", scope="session")
def _template(tmp_path_factory: pytest.TempPathFactory) -> LabPaths:
    return labkit.template_lab(tmp_path_factory)
