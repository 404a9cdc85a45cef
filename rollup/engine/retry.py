"""
Retries of a step's attempts: bounded, classified, logged. The only module that imports tenacity.

What is retried (style guide §2.8):

- a transient transport error (``TransportError.transient``: a refused or reset connection, a
  timeout, an HTTP 500 without a fault). Every attempt starts by re-reading the step's guard
  facts, so an action that may have started before the link broke is never run again blindly;
  that is what makes these safe to retry even for a step whose manifest says ``attempts: 1``.
  They get at least ``TRANSPORT_ATTEMPTS`` attempts, with waits from ``TRANSPORT_FIRST_WAIT_S``
  when the step sets none;
- a remote exit code the step declares retryable (``retry.on_exit_codes``, e.g. msiexec 1618:
  another installation holds the Windows Installer mutex), up to ``retry.attempts``.

Nothing else is retried: an authentication failure (retrying locks accounts out), a WS-Management
fault, a failed install (1603), a check that does not hold.

Waits grow exponentially from ``first_wait_s`` and are capped at ``max_wait_s``, without jitter,
so the schedule is predictable and testable. A deadline (the step's ``timeout_s``) bounds the
whole series: no attempt is scheduled to start after it. Tests pass ``sleep=waits.append``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import tenacity

from rollup.errors import RollupError, TransportError
from rollup.model.steps import Retry

T = TypeVar("T")

TRANSPORT_ATTEMPTS = 3
"""Attempts a transient transport error gets, whatever the step's ``retry.attempts``."""
TRANSPORT_FIRST_WAIT_S = 2.0
TRANSPORT_MAX_WAIT_S = 30.0


class StepFailed(RollupError):
    """
    An attempt of a step did not reach its goal: one line naming the host and what failed.

    ``remote_code`` is the exit code of the remote command that decided it, if one did: the
    retry loop retries the attempt when the step lists that code in ``retry.on_exit_codes``
    (and attempts are left), and otherwise lets the failure through to be reported with its
    ``hint`` and ``log_tail`` (the MSI log's last lines).
    """

    def __init__(
        self,
        message: str,
        *,
        remote_code: int | None = None,
        hint: str | None = None,
        log_tail: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message, hint=hint)
        self.remote_code = remote_code
        self.log_tail = log_tail


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How one step's attempts are retried (see the module docstring)."""

    attempts: int = 1
    first_wait_s: float = 0.0
    max_wait_s: float = 0.0
    on_exit_codes: frozenset[int] = frozenset()
    deadline_s: float = 3600.0

    @classmethod
    def of(cls, retry: Retry, *, deadline_s: float) -> RetryPolicy:
        """The policy of a manifest step's ``retry``, bounded by ``deadline_s`` (its ``timeout_s``)."""
        return cls(
            attempts=retry.attempts,
            first_wait_s=float(retry.first_wait_s),
            max_wait_s=float(retry.max_wait_s),
            on_exit_codes=frozenset(retry.on_exit_codes),
            deadline_s=float(deadline_s),
        )

    def limit_for(self, error: BaseException) -> int:
        """How many attempts in all a series that ended with ``error`` may have (1: none retried)."""
        if isinstance(error, TransportError) and error.transient:
            return max(self.attempts, TRANSPORT_ATTEMPTS)
        if isinstance(error, StepFailed) and error.remote_code in self.on_exit_codes:
            return self.attempts
        return 1

    def wait_before(self, attempt: int, error: BaseException) -> float:
        """Seconds to wait before attempt ``attempt + 1`` after ``error`` ended attempt ``attempt``."""
        first, cap = self.first_wait_s, self.max_wait_s
        if isinstance(error, TransportError) and first <= 0:
            first, cap = TRANSPORT_FIRST_WAIT_S, max(cap, TRANSPORT_MAX_WAIT_S)
        wait = first * 2 ** (attempt - 1)
        return float(min(wait, max(cap, first)))


RetryListener = Callable[[int, float, BaseException], None]
"""Told ``(failed attempt, wait_s, error)`` before each wait: the engine logs and emits it."""


def run_with_retries(
    attempt: Callable[[int], T],
    policy: RetryPolicy,
    *,
    on_retry: RetryListener,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """
    Call ``attempt(n)`` for n = 1, 2, ... until it returns, or raises an error not worth retrying,
    or the attempts or the deadline run out (then the last error propagates unchanged).
    """

    def stop(state: tenacity.RetryCallState) -> bool:
        error = state.outcome.exception() if state.outcome is not None else None
        if error is None:
            return True
        if state.attempt_number >= policy.limit_for(error):
            return True
        return clock() - started + policy.wait_before(state.attempt_number, error) >= policy.deadline_s

    def wait(state: tenacity.RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome is not None else None
        return 0.0 if error is None else policy.wait_before(state.attempt_number, error)

    def retryable(error: BaseException) -> bool:
        return policy.limit_for(error) > 1

    def before_sleep(state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        if error is not None:
            on_retry(state.attempt_number, float(state.upcoming_sleep or 0.0), error)

    started = clock()
    retrying = tenacity.Retrying(
        stop=stop,
        wait=wait,
        retry=tenacity.retry_if_exception(retryable),
        before_sleep=before_sleep,
        sleep=sleep,
        reraise=True,
    )
    for trial in retrying:
        with trial:
            result = attempt(trial.retry_state.attempt_number)
    return result
