"""
The controller SIGKILLed at the first three of the seeded points of a run (``killkit.KILL_AFTER_LINES``),
then ``rollup apply --resume``: every host ends as an uninterrupted run leaves it, and no original
MSI of C:\\MSIShare is lost.
"""

from __future__ import annotations

from typing import Any

import pytest

from rollup.testing.labproc import LabProcess
from tests.integration.killkit import (
    KILL_AFTER_LINES,
    lab_fixture,
    reference_fixture,
    resumes_to_the_reference,
)

__all__ = ["lab_fixture", "reference_fixture"]  # the fixtures this module's tests use


@pytest.mark.parametrize("lines", KILL_AFTER_LINES[:3])
def test_a_sigkilled_run_resumes_to_the_same_end_state(
    lab: LabProcess, reference: dict[str, Any], lines: int
) -> None:
    resumes_to_the_reference(lab, reference, lines)
