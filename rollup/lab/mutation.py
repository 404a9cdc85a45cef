"""
Mutation check of the operations' scripts against the lab's PowerShell.

A mutant is an operation's body with one realistic mistake: a result key renamed, a comparison
negated, an ``exit`` forced to 0, a quoted argument left unquoted, a string literal (registry
path, query, section name, file name) altered, a ``$true`` or ``$false`` flipped. Each mutant
runs on the scenarios of its operation (``Scenario``: a host state and parameters that make the
operation do its real work) in the interpreter; it is *caught* when its exit code, its result
line or the host state it leaves differ from the unmutated script's on some scenario, which is
what makes a test, a rehearsal or a run fail on it. ``survivors`` lists the mutants the lab
cannot tell from the original, for a reader to judge (a mutant can be equivalent on Windows too).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from rollup.lab.pwsh.host import run_powershell
from rollup.lab.state import BlobStore, HostState
from rollup.lab.windows.machine import Machine
from rollup.ops.base import Operation
from rollup.ps.result import read_result

_NEGATIONS = {
    "-eq": "-ne",
    "-ne": "-eq",
    "-lt": "-ge",
    "-ge": "-lt",
    "-gt": "-le",
    "-le": "-gt",
    "-contains": "-notcontains",
    "-notcontains": "-contains",
    "-match": "-notmatch",
    "-notmatch": "-match",
    "-ceq": "-cne",
    "-cne": "-ceq",
    "-ccontains": "-cnotcontains",
    "-like": "-notlike",
}


@dataclass(frozen=True, slots=True)
class Scenario:
    """A host state and the parameters one run of the operation gets there."""

    name: str
    state: Callable[[], HostState]
    params: Any
    stdin: tuple[str, ...] = ()
    now: float = 1300700000.0
    user: str = "HOSTING\\rollup-lab"


@dataclass(frozen=True, slots=True)
class Mutant:
    op: str
    kind: str
    where: int
    before: str
    after: str
    body: str


def mutants(op: Operation[Any, Any]) -> Iterator[Mutant]:
    """Every single-point mutant of ``op.body`` of the kinds this module names."""
    body = op.body
    seen: set[str] = set()

    def make(kind: str, start: int, end: int, replacement: str) -> Mutant | None:
        text = body[:start] + replacement + body[end:]
        if text == body or text in seen:
            return None
        seen.add(text)
        return Mutant(op.id, kind, start, body[start:end], replacement, text)

    candidates: list[Mutant | None] = []
    for m in re.finditer(r"(?<![\w-])(-[a-z]+)(?![\w-])", body):
        if m.group(1) in _NEGATIONS:
            candidates.append(make("negated comparison", m.start(1), m.end(1), _NEGATIONS[m.group(1)]))
    for m in re.finditer(r"\bexit\s+(\(?[^\r\n;}]+)", body):
        if m.group(1).strip() != "0":
            candidates.append(make("forced exit 0", m.start(1), m.end(1), "0"))
    for m in re.finditer(r"""\('"\{0\}"' -f (\$\w+)\)""", body):
        candidates.append(make("unquoted argument", m.start(), m.end(), m.group(1)))
    for m in re.finditer(r"(?<=[{;\s])([a-z_]+)\s*=(?!=)", body):
        if "Write-RollupResult" in body or "@{" in body:
            candidates.append(make("renamed result key", m.start(1), m.end(1), m.group(1) + "_x"))
    for m in re.finditer(r"'([^'\r\n]{2,})'", body):
        candidates.append(make("altered string", m.start(1), m.end(1), m.group(1) + "x"))
    for m in re.finditer(r"\$(true|false)\b", body):
        candidates.append(
            make("flipped boolean", m.start(), m.end(), "$false" if m.group(1) == "true" else "$true")
        )
    for candidate in candidates:
        if candidate is not None:
            yield candidate


def outcome(op: Operation[Any, Any], body: str, scenario: Scenario, blobs: BlobStore) -> tuple[Any, ...]:
    """What a run shows: exit code, result line (or why it does not read), the host state after."""
    state = scenario.state()
    script = dataclasses.replace(op, body=body).command(scenario.params).render()
    machine = Machine(state, blobs, now=scenario.now, user=scenario.user)
    run = run_powershell(script, machine, list(scenario.stdin))
    try:
        result: Any = read_result(run.stdout)
    except Exception as exc:
        result = f"unreadable: {type(exc).__name__}"
    after = state.model_dump(mode="json", exclude={"operations", "mutations"})
    return run.exit_code, result, after


@dataclass(frozen=True, slots=True)
class Report:
    op: str
    tried: int
    caught: int
    survivors: tuple[Mutant, ...]


def check(op: Operation[Any, Any], scenarios: list[Scenario], blobs: BlobStore) -> Report:
    """Run every mutant of ``op`` on ``scenarios``; which ones the lab catches."""
    baseline = [outcome(op, op.body, s, blobs) for s in scenarios]
    tried = 0
    survivors: list[Mutant] = []
    for mutant in mutants(op):
        tried += 1
        if all(outcome(op, mutant.body, s, blobs) == b for s, b in zip(scenarios, baseline, strict=True)):
            survivors.append(mutant)
    return Report(op.id, tried, tried - len(survivors), tuple(survivors))
