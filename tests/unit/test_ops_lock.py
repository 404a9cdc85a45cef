"""lock.read, lock.acquire, lock.release: the marker, create-new contention, and release by run id."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rollup.errors import CommandFailed, ResultParseError
from rollup.lab.state import HostState
from rollup.ops import lock
from rollup.ops.base import CommandResult, Operation
from rollup.ops.lockmarker import (
    DEFAULT_PATH,
    LockAcquireParams,
    LockReadParams,
    LockReleaseParams,
    LockState,
    marker_text,
)
from rollup.ps.check import assert_ps2_clean
from rollup.ps.command import bindings_of, read_header
from tests.simkit import Ran, answered, run_context, run_op

FIRST = LockAcquireParams(
    run_id="20110310-100000-ab12",
    operator="HOSTING\\admin",
    control_host="ops01",
    inventory="prod",
    acquired_at="2011-03-10T10:00:00Z",
)
SECOND = LockAcquireParams(
    run_id="20110310-100500-cd34",
    operator="HOSTING\\other",
    control_host="ops02",
    inventory="prod",
    acquired_at="2011-03-10T10:05:00Z",
)


_ctx = run_context


def _mps01() -> HostState:
    return HostState(name="MPS01", roles=["deployment_tool"], directories=["C:\\ConfigShare"])


def _run(op: Operation[Any, LockState], state: HostState, params: Any) -> tuple[Ran, LockState]:
    ran = run_op(state, op, params, _ctx())
    return ran, op.parse(answered(state.name, op.id, ran), params)


@pytest.mark.parametrize(
    ("op", "params"),
    [pytest.param(op, p, id=f"{op.id}[{n}]") for op in lock.OPERATIONS for n, p in enumerate(op.examples)],
)
def test_every_example_renders_as_clean_powershell_2(op: Operation[Any, Any], params: object) -> None:
    """Each example renders as a PowerShell 2.0 script that parses and binds what its header says."""
    script = op.command(params).render()

    assert_ps2_clean(script)
    assert read_header(script) == (op.id, bindings_of(script))
    assert script.rstrip().endswith("exit 0")


def test_marker_is_the_writers_json() -> None:
    """The marker is one line of sorted, space-free JSON, as ConvertTo-RollupJson writes it."""
    text = marker_text(FIRST)

    assert text == (
        '{"acquired_at":"2011-03-10T10:00:00Z","control_host":"ops01","inventory":"prod",'
        '"operator":"HOSTING\\\\admin","run_id":"20110310-100000-ab12","version":1}'
    )
    assert json.loads(text)["operator"] == "HOSTING\\admin"


def test_acquire_creates_the_marker() -> None:
    """On a free host the first run creates the marker at the default path and holds the lock."""
    state = _mps01()

    sim, outcome = _run(lock.ACQUIRE, state, FIRST)

    assert sim.exit_code == 0
    assert (outcome.acquired, outcome.created, outcome.held) == (True, True, True)
    assert outcome.holder is not None
    assert outcome.holder.run_id == FIRST.run_id
    assert outcome.path == DEFAULT_PATH
    assert state.files["c:\\configshare\\rollup.lock"].text == marker_text(FIRST)


def test_contention_reports_the_holder() -> None:
    """A second run finds the lock held: nothing is overwritten and the error names the holding run."""
    state = _mps01()
    _run(lock.ACQUIRE, state, FIRST)

    sim, outcome = _run(lock.ACQUIRE, state, SECOND)

    assert sim.exit_code == 1
    assert (outcome.acquired, outcome.created) == (False, False)
    assert outcome.holder is not None
    assert outcome.holder.run_id == FIRST.run_id
    assert state.files["c:\\configshare\\rollup.lock"].text == marker_text(FIRST)
    error = lock.held_error("MPS01", outcome)
    assert str(error) == (
        "MPS01: locked by run 20110310-100000-ab12 of HOSTING\\admin on ops01 (inventory prod, "
        "since 2011-03-10T10:00:00Z)"
    )
    assert error.hint is not None
    assert "--force" in error.hint


def test_the_same_run_takes_its_lock_back() -> None:
    """A resumed run acquiring again with its own run id holds the lock without creating a new marker."""
    state = _mps01()
    _run(lock.ACQUIRE, state, FIRST)

    sim, outcome = _run(lock.ACQUIRE, state, FIRST)

    assert sim.exit_code == 0
    assert (outcome.acquired, outcome.created) == (True, False)


def test_release_by_another_run_is_refused() -> None:
    """Releasing with another run id leaves the marker in place and reports its holder."""
    state = _mps01()
    _run(lock.ACQUIRE, state, FIRST)

    sim, outcome = _run(lock.RELEASE, state, LockReleaseParams(run_id=SECOND.run_id))

    assert sim.exit_code == 1
    assert (outcome.released, outcome.held) == (False, True)
    assert outcome.holder is not None
    assert outcome.holder.run_id == FIRST.run_id
    assert "c:\\configshare\\rollup.lock" in state.files


def test_release_by_the_holder_or_by_force() -> None:
    """The holding run releases its lock; --force releases anyone's; an absent lock releases as a no-op."""
    state = _mps01()
    _run(lock.ACQUIRE, state, FIRST)
    _, own = _run(lock.RELEASE, state, LockReleaseParams(run_id=FIRST.run_id))
    _run(lock.ACQUIRE, state, FIRST)
    _, forced = _run(lock.RELEASE, state, LockReleaseParams(run_id=SECOND.run_id, force=True))

    sim, absent = _run(lock.RELEASE, state, LockReleaseParams(run_id=FIRST.run_id))

    assert own.released
    assert forced.released
    assert forced.holder is not None
    assert forced.holder.run_id == FIRST.run_id
    assert (sim.exit_code, absent.released, absent.held) == (0, False, False)
    assert state.files == {}


def test_read_reports_the_marker_without_changing_it() -> None:
    """lock.read shows the holder, or no lock, and changes nothing."""
    state = _mps01()
    _, empty = _run(lock.READ, state, LockReadParams())
    _run(lock.ACQUIRE, state, FIRST)
    before = state.model_dump()

    _, held = _run(lock.READ, state, LockReadParams())

    assert (empty.held, empty.holder) == (False, None)
    assert held.holder is not None
    assert held.holder.operator == "HOSTING\\admin"
    assert state.model_dump() == before


def test_a_foreign_marker_is_held_but_unnamed() -> None:
    """A marker that is not rollup's JSON still blocks; the error says so and shows the way out."""
    result = CommandResult(
        host="MPS01",
        op="lock.acquire",
        command="",
        exit_code=1,
        stdout='#rollup-result {"acquired":false,"created":false,"held":true,"path":"x","text":"DO NOT RUN"}',
        stderr="",
        duration_s=1,
    )

    outcome = lock.parse_acquire(result, FIRST)

    assert (outcome.acquired, outcome.holder, outcome.text) == (False, None, "DO NOT RUN")
    assert "is not a rollup lock marker" in str(lock.held_error("MPS01", outcome))


def test_acquire_without_the_folder_fails() -> None:
    """With no ConfigShare folder the marker cannot be created: a failure quoting Windows' message."""
    state = HostState(name="MPS01", roles=["deployment_tool"])

    with pytest.raises(CommandFailed, match="Could not find a part of the path"):
        _run(lock.ACQUIRE, state, FIRST)


@pytest.mark.parametrize(
    "stdout",
    ["", '#rollup-result {"held":true,"path":"x"}', '#rollup-result {"held":"yes","path":"x","text":null}'],
)
def test_malformed_results_are_parse_errors(stdout: str) -> None:
    """A missing result, a missing text or a string for a boolean is refused."""
    result = CommandResult(
        host="MPS01", op="lock.read", command="", exit_code=0, stdout=stdout, stderr="", duration_s=1
    )

    with pytest.raises(ResultParseError, match=r"^MPS01: lock\.read: "):
        lock.parse_read(result, LockReadParams())


def test_values_on_more_than_one_line_are_refused() -> None:
    """Marker fields are single lines; a blank run id is refused."""
    with pytest.raises(ValueError, match="one line"):
        LockReleaseParams(run_id=" ")

    with pytest.raises(ValueError, match="one line"):
        LockReadParams(path="C:\\a\nb")
