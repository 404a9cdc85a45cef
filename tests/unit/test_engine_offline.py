"""``one_step``: which open step an operator's ``rollup confirm`` / ``rollup decide`` names."""

from __future__ import annotations

import pytest

from rollup.engine.offline import one_step
from rollup.errors import UsageError

RUN = "20261121T104512Z-3f9c"
OPEN = ("install-wss-web-service@COLLAB01", "install-wss-web-service@COLLAB02", "install-db-msi@MPSSQL")


@pytest.mark.parametrize(
    ("named", "found"),
    [
        ("install-wss-web-service@COLLAB02", "install-wss-web-service@COLLAB02"),
        ("install-db-msi", "install-db-msi@MPSSQL"),
        ("install-db-msi@MPSSQL", "install-db-msi@MPSSQL"),
    ],
)
def test_a_plan_step_id_or_a_manifest_step_id_open_once_is_found(named: str, found: str) -> None:
    assert one_step(RUN, named, OPEN, state="failed", needed="is not failed") == found


def test_a_manifest_step_id_open_on_several_hosts_is_refused_with_the_open_steps() -> None:
    with pytest.raises(UsageError) as raised:
        one_step(RUN, "install-wss-web-service", OPEN, state="failed", needed="is not failed")

    assert str(raised.value) == (
        f"run {RUN}: install-wss-web-service matches several failed steps (failed: {', '.join(OPEN)})"
    )


@pytest.mark.parametrize("named", ["install-db-msi@COLLAB01", "install-db", "COLLAB01"])
def test_a_step_that_is_not_open_is_refused_saying_what_it_needed(named: str) -> None:
    with pytest.raises(UsageError) as raised:
        one_step(RUN, named, OPEN, state="waiting", needed="is not waiting for a confirmation")

    assert str(raised.value) == (
        f"run {RUN}: {named} is not waiting for a confirmation (waiting: {', '.join(OPEN)})"
    )


def test_with_nothing_open_the_refusal_says_none() -> None:
    with pytest.raises(UsageError, match=r"\(waiting: none\)$"):
        one_step(RUN, "confirm-prerequisites", (), state="waiting", needed="is not waiting")
