"""
``rollup.transport.connect``: pywinrm builds a host's session reading the proxy settings through
requests, which rewrites ``no_proxy`` in ``os.environ`` while it does. Sessions are therefore
built one at a time, and the lock is let go before the first request (the NTLM handshake), so
that hosts still authenticate in parallel.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import pytest
import requests

from rollup.credentials import Credentials
from rollup.model.inventory import AuthTransport, Host
from rollup.model.roles import Role
from rollup.secret import Secret
from rollup.testing.fleet import lab_host
from rollup.transport import connect
from rollup.transport.connect import RequestCounter, build_protocol

CREDENTIALS = Credentials("HOSTING\\rollup-lab", Secret("Connect-Test-2011!"))


def host(index: int, kind: AuthTransport = AuthTransport.NTLM) -> Host:
    """A host on a loopback address nothing listens on (nothing is sent in these tests)."""
    found = lab_host(f"COLLAB{index:02d}", frozenset({Role.COLLAB}), address=f"127.0.203.{index}", port=9)
    return replace(found, transport=kind, insecure_lab=True)


@pytest.fixture(name="watched")
def _watched(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, bool]]:
    """Records whether the lock is held when requests reads the environment, and at each send."""
    seen: list[tuple[str, bool]] = []
    merge = requests.Session.merge_environment_settings

    def merge_watched(self: requests.Session, *args: Any, **kwargs: Any) -> dict[str, Any]:
        seen.append(("environment", connect._ENVIRONMENT.locked()))
        settings: dict[str, Any] = merge(self, *args, **kwargs)
        return settings

    def refuse(self: Any, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        seen.append(("send", connect._ENVIRONMENT.locked()))
        raise requests.ConnectionError("nothing listens here")

    monkeypatch.setattr(requests.Session, "merge_environment_settings", merge_watched)
    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", refuse)
    return seen


def test_the_environment_is_read_under_the_lock_and_the_handshake_is_sent_without(
    watched: list[tuple[str, bool]],
) -> None:
    """NTLM: the session's environment is read holding the lock; its first request goes out free."""
    protocol = build_protocol(host(1), CREDENTIALS, RequestCounter())

    with pytest.raises(requests.ConnectionError):
        protocol.transport.build_session()

    assert watched == [("environment", True), ("send", False)]
    assert not connect._ENVIRONMENT.locked()


def test_a_basic_session_is_built_under_the_lock_and_let_go(watched: list[tuple[str, bool]]) -> None:
    """Basic sends nothing while building: the lock is released when the session is built."""
    protocol = build_protocol(host(2, AuthTransport.BASIC), CREDENTIALS, RequestCounter())

    session = protocol.transport.build_session()
    again = protocol.transport.build_session()

    assert session is again
    assert watched == [("environment", True)]
    assert not connect._ENVIRONMENT.locked()
    assert session.trust_env is False


def test_sessions_built_at_once_leave_the_environment_as_it_was(
    watched: list[tuple[str, bool]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Forty hosts building their sessions at the same moment neither fail nor change ``os.environ``."""
    monkeypatch.delenv("no_proxy", raising=False)  # requests sets it, then deletes it: the racy case
    before: Mapping[str, str] = dict(os.environ)
    protocols = [
        build_protocol(host(i, AuthTransport.BASIC), CREDENTIALS, RequestCounter()) for i in range(40)
    ]
    start = threading.Barrier(len(protocols))
    failures: list[BaseException] = []

    def build(protocol: Any) -> None:
        start.wait()
        try:
            protocol.transport.build_session()
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=build, args=(p,)) for p in protocols]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads switch often: without the lock, most runs fail
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)

    assert failures == []
    assert dict(os.environ) == before
    assert watched == [("environment", True)] * len(protocols)
