"""Retries of a step's attempts: what is retried, how often, with which waits."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from rollup.engine.retry import TRANSPORT_ATTEMPTS, RetryPolicy, StepFailed, run_with_retries
from rollup.errors import AuthError, ConnectError, ProtocolError
from rollup.model.steps import Retry


def _flaky(errors: Sequence[BaseException], result: str = "ok") -> tuple[list[int], Callable[[int], str]]:
    """An attempt function raising ``errors`` in turn, then returning ``result``; records attempt numbers."""
    seen: list[int] = []
    pending = list(errors)

    def attempt(n: int) -> str:
        seen.append(n)
        if pending:
            raise pending.pop(0)
        return result

    return seen, attempt


def test_declared_exit_code_is_retried_with_growing_capped_waits() -> None:
    """msiexec 1618 listed in on_exit_codes is retried; waits double from first_wait_s up to max_wait_s."""
    policy = RetryPolicy.of(
        Retry(attempts=5, first_wait_s=30, max_wait_s=100, on_exit_codes=(1618,)), deadline_s=3600
    )
    busy = [StepFailed("MPS01: busy", remote_code=1618) for _ in range(4)]
    seen, attempt = _flaky(busy)
    waits: list[float] = []
    told: list[tuple[int, float]] = []

    result = run_with_retries(
        attempt, policy, on_retry=lambda n, w, e: told.append((n, w)), sleep=waits.append
    )

    assert result == "ok"
    assert seen == [1, 2, 3, 4, 5]
    assert waits == [30.0, 60.0, 100.0, 100.0]
    assert told == [(1, 30.0), (2, 60.0), (3, 100.0), (4, 100.0)]


def test_exit_code_not_declared_fails_at_once() -> None:
    """A 1603 is not in on_exit_codes: no retry, the failure comes through unchanged."""
    policy = RetryPolicy.of(
        Retry(attempts=5, first_wait_s=1, max_wait_s=1, on_exit_codes=(1618,)), deadline_s=60
    )
    seen, attempt = _flaky([StepFailed("COLLAB01: failed", remote_code=1603)])
    waits: list[float] = []

    with pytest.raises(StepFailed) as caught:
        run_with_retries(attempt, policy, on_retry=lambda *_: None, sleep=waits.append)

    assert caught.value.remote_code == 1603
    assert seen == [1]
    assert waits == []


def test_attempts_run_out_and_the_last_error_propagates() -> None:
    """With attempts exhausted the last retryable error is raised as it was."""
    policy = RetryPolicy.of(
        Retry(attempts=2, first_wait_s=5, max_wait_s=5, on_exit_codes=(1618,)), deadline_s=60
    )
    errors: list[BaseException] = [
        StepFailed("first", remote_code=1618),
        StepFailed("second", remote_code=1618),
    ]
    seen, attempt = _flaky(errors)
    waits: list[float] = []

    with pytest.raises(StepFailed, match="second"):
        run_with_retries(attempt, policy, on_retry=lambda *_: None, sleep=waits.append)

    assert seen == [1, 2]
    assert waits == [5.0]


def test_transient_transport_errors_get_at_least_three_attempts() -> None:
    """A step with attempts: 1 still retries a reset connection, with the transport's default waits."""
    policy = RetryPolicy.of(Retry(), deadline_s=600)
    errors: list[BaseException] = [ConnectError("reset", host="DNS01"), ConnectError("reset", host="DNS01")]
    seen, attempt = _flaky(errors)
    waits: list[float] = []

    assert run_with_retries(attempt, policy, on_retry=lambda *_: None, sleep=waits.append) == "ok"

    assert seen == [1, 2, 3]
    assert len(seen) == TRANSPORT_ATTEMPTS
    assert waits == [2.0, 4.0]


@pytest.mark.parametrize(
    "error",
    [AuthError("refused the credentials", host="MPS01"), ProtocolError("fault 5", host="MPS01")],
    ids=["auth", "protocol-fault"],
)
def test_errors_that_are_not_transient_are_never_retried(error: BaseException) -> None:
    """Retrying refused credentials locks accounts out; a WS-Management fault is not transient."""
    policy = RetryPolicy.of(Retry(attempts=5, first_wait_s=1, max_wait_s=1), deadline_s=60)
    seen, attempt = _flaky([error])

    with pytest.raises(type(error)):
        run_with_retries(attempt, policy, on_retry=lambda *_: None, sleep=lambda _: None)

    assert seen == [1]


def test_the_deadline_stops_further_attempts() -> None:
    """No attempt is scheduled to start after the step's deadline, even with attempts left."""
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    policy = RetryPolicy.of(
        Retry(attempts=10, first_wait_s=40, max_wait_s=40, on_exit_codes=(1618,)), deadline_s=100
    )
    seen, attempt = _flaky([StepFailed("busy", remote_code=1618) for _ in range(10)])

    with pytest.raises(StepFailed):
        run_with_retries(attempt, policy, on_retry=lambda *_: None, sleep=sleep, clock=lambda: now[0])

    assert seen == [1, 2, 3]
    assert now[0] == 80.0
