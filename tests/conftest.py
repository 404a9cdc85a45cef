"""
Every test keeps rollup's state in a temporary directory, never in the user's: ``ROLLUP_HOME`` is
a fresh directory for each test (and one for the session, for module and session fixtures), and
``XDG_STATE_HOME`` points into the session's, so a test that unsets ``ROLLUP_HOME`` to see the
platform's default still writes nowhere real. CLI processes the tests start inherit both.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session", autouse=True)
def _session_state_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    base = tmp_path_factory.mktemp("state")
    saved = {name: os.environ.get(name) for name in ("ROLLUP_HOME", "XDG_STATE_HOME")}
    os.environ["ROLLUP_HOME"] = str(base / "rollup-home")
    os.environ["XDG_STATE_HOME"] = str(base / "xdg-state")
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(autouse=True)
def _state_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROLLUP_HOME", str(tmp_path_factory.mktemp("rollup-home")))


_FIRST = {"integration": 0, "lab": 1, "unit": 2}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """
    Integration modules first, then the lab's, then the unit tests (each kept in its order): under
    pytest-xdist's ``--dist loadfile`` a module runs whole in one worker, so a long module (an
    integration module starts labs and runs the CLI for minutes) taken last would leave the other
    workers idle while it finishes.
    """
    items.sort(key=lambda item: _FIRST.get(item.path.parent.name, len(_FIRST)))
