"""
The report of ``rollup verify`` and ``rollup preflight``: checks per host, and the exit code.

A ``Check`` compares one thing on one host: what was expected, what was found, and a
``Status``. A ``HostReport`` holds a host's checks (the control host's own checks, such as the
package folder's, under the name ``control host``), and a ``Report`` holds every host's, with
the manifest they were made against. ``rollup.cli.report`` renders a report as a table, JSON
and JUnit XML; ``exit_code`` is the command's exit code.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal

from rollup.errors import ExitCode

CONTROL_HOST = "control host"
"""The ``HostReport.host`` of the checks made on the control host itself (never an inventory name:
it has a space)."""


class Status(StrEnum):
    """A check's outcome."""

    OK = "ok"
    DRIFT = "drift"
    """verify: the host differs from the manifest."""
    FAIL = "fail"
    """preflight: a condition for the run does not hold."""
    UNKNOWN = "unknown"
    """Nothing to compare with: the manifest is not pinned."""
    ERROR = "error"
    """The check could not be made: the host could not be reached or a fact could not be read."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Check:
    """One comparison on one host: what was expected, what was found, and the verdict."""

    group: str
    """What it is about: ``session``, ``files``, ``products``, ``iis``, ``sql``, ``complus``, ..."""
    name: str
    expected: str
    actual: str
    status: Status
    detail: str = ""
    """Why, when the status is not ``ok`` (or what the operator should know)."""
    part_of: str = ""
    """What the table rolls it up into (a component, for its installed files); empty: shown as is."""


def check(  # noqa: PLR0917 - the order of a table row, spelt once per check
    group: str, name: str, expected: str, actual: str, status: Status, detail: str = ""
) -> Check:
    """A ``Check``, positionally: the checks are many and this keeps each one a line or two."""
    return Check(group=group, name=name, expected=expected, actual=actual, status=status, detail=detail)


@dataclass(frozen=True, slots=True, kw_only=True)
class HostReport:
    """Every check of one host."""

    host: str
    roles: tuple[str, ...]
    checks: tuple[Check, ...]
    requests: int | None = None
    """HTTP requests the host's session took, when the transport counts them (not in the JSON)."""
    duration_s: float = 0.0

    def count(self, *statuses: Status) -> int:
        """How many checks have one of ``statuses``."""
        return sum(1 for c in self.checks if c.status in statuses)


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    """A verify or preflight run over a selection of hosts."""

    kind: Literal["verify", "preflight"]
    manifest_id: str
    manifest_digest: str
    pinned: bool
    inventory: str
    hosts: tuple[HostReport, ...]
    started_at: datetime
    duration_s: float

    def checks(self) -> Iterator[tuple[HostReport, Check]]:
        """Every check with its host, in report order."""
        return ((host, c) for host in self.hosts for c in host.checks)

    def count(self, *statuses: Status) -> int:
        """How many checks of all hosts have one of ``statuses``."""
        return sum(host.count(*statuses) for host in self.hosts)

    @property
    def passed(self) -> bool:
        """Every check is ``ok``."""
        return all(c.status is Status.OK for _, c in self.checks())

    @property
    def exit_code(self) -> ExitCode:
        """
        verify: 3 when anything drifted, even if some hosts could not be checked (drift is a
        finding, and the hosts that could not be checked are in the report); else 1 when
        something could not be checked (``error``, or ``unknown`` because the manifest is not
        pinned); else 0. preflight: 0 when every check passed, else 1.
        """
        if self.kind == "verify" and self.count(Status.DRIFT):
            return ExitCode.DRIFT
        return ExitCode.OK if self.passed else ExitCode.RUN_FAILED

    def failures(self) -> tuple[tuple[str, Check], ...]:
        """``(host, check)`` for every check that is not ``ok``, in report order."""
        return tuple((host.host, c) for host, c in self.checks() if c.status is not Status.OK)

    def summary(self) -> str:
        """One line: hosts, checks, and how many of each status."""
        shown = ", ".join(f"{self.count(s)} {s.value}" for s in Status if self.count(s))
        total = sum(len(h.checks) for h in self.hosts)
        return f"{self.kind}: {len(self.hosts)} hosts, {total} checks: {shown or 'none'}"
