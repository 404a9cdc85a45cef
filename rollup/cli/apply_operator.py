"""
``rollup apply``'s questions to the operator on a terminal: a password, a manual gate's checklist,
and what becomes of a failed step (``--on-failure pause``). Each pauses the live progress table
while it asks.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

from rollup.cli.progress import ProgressRenderer

if TYPE_CHECKING:
    from rollup.engine.journal_state import Confirmation
    from rollup.engine.options import AskDecision, AskGate
    from rollup.planner import PlanStep


def prompter(renderer: ProgressRenderer) -> Callable[[str], str]:
    def prompt(question: str) -> str:
        with renderer.paused():
            return str(click.prompt(question, hide_input=True, err=True))

    return prompt


def asker(renderer: ProgressRenderer, operator: str) -> AskGate:
    """Shows a manual gate's checklist and asks the operator to confirm it (and for a note)."""

    from rollup.engine.journal_state import Confirmation

    def ask(step: PlanStep, checklist: tuple[str, ...]) -> Confirmation | None:
        with renderer.paused() as out:
            out.print(f"\n[bold yellow]{step.host}: {step.title}[/] ({step.id})")
            for item in checklist:
                out.print(f"  - {item}", highlight=False, markup=False)
            if not click.confirm("Done, and confirmed?", default=False, err=True):
                return None
            text = click.prompt("Note for the audit log", default="", show_default=False, err=True)
        return Confirmation(step=step.id, by=operator, at=datetime.now(UTC), note=str(text))

    return ask


def decider(renderer: ProgressRenderer, operator: str) -> AskDecision:
    """Asks the operator what becomes of a failed step (its details are on the screen), and for a note."""

    from rollup.engine.journal_state import CHOICES, Decision

    def decide(step: PlanStep) -> Decision:
        with renderer.paused() as out:
            out.print(f"\n[bold red]{step.host}: {step.title}[/] ({step.id}) failed.", highlight=False)
            out.print(
                "  retry: run it again; skip: skip it, the steps after it do not start; "
                f"exclude: nothing more on {step.host} in this run; abort: end the run",
                highlight=False,
                markup=False,
            )
            choice = click.prompt("Decision", type=click.Choice(CHOICES), err=True)
            text = click.prompt("Note for the audit log", default="", show_default=False, err=True)
        return Decision(step=step.id, decision=choice, by=operator, at=datetime.now(UTC), note=str(text))

    return decide
