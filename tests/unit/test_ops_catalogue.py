"""
Every operation of the registry, generically: its examples render into PowerShell 2.0 that
parses, header and bindings agree with the parameters, and read-only scripts change nothing.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from rollup.lab.prerollup import prerollup_states
from rollup.lab.state import HostState, MemoryBlobStore
from rollup.model.manifest import load_manifest
from rollup.model.roles import Role
from rollup.ops.base import Operation, params_to_mapping
from rollup.ops.registry import all_operations
from rollup.ps.check import parse_errors, ps2_problems
from rollup.ps.command import bindings_of, read_header
from rollup.ps.delivery import fits_command_line
from tests.simkit import run_context, run_op

MANIFEST = Path(__file__).resolve().parents[2] / "manifests" / "hmc40-rollup-2011-01.yml"
HOSTS = (
    ("MPS01", frozenset({Role.DEPLOYMENT_TOOL, Role.MPS_ENGINE})),
    ("MPS02", frozenset({Role.MPS_ENGINE})),
    ("DNS01", frozenset({Role.DNS})),
    ("COLLAB01", frozenset({Role.COLLAB})),
    ("MPSSQL", frozenset({Role.MPSSQL})),
    ("PROV01", frozenset({Role.WEB_SERVICES})),
)
NOW = datetime(2011, 3, 21, 9, 30, tzinfo=UTC).timestamp()

OPERATIONS = sorted(all_operations().values(), key=lambda op: op.id)
EXAMPLES = [
    pytest.param(op, example, id=f"{op.id}[{n}]")
    for op in OPERATIONS
    for n, example in enumerate(op.examples)
]
READ_ONLY = [
    pytest.param(op, example, id=f"{op.id}[{n}]")
    for op in OPERATIONS
    if not op.mutates
    for n, example in enumerate(op.examples)
]
STDIN = [
    pytest.param(op, example, id=f"{op.id}[{n}]")
    for op in OPERATIONS
    if op.reads_stdin
    for n, example in enumerate(op.examples)
]


@pytest.fixture(scope="module", name="hosts")
def _hosts(tmp_path_factory: pytest.TempPathFactory) -> tuple[MemoryBlobStore, list[HostState]]:
    blobs = MemoryBlobStore()
    cache = tmp_path_factory.getbasetemp() / "msi-cache"
    return blobs, prerollup_states(load_manifest(MANIFEST), HOSTS, blobs=blobs, msi_cache_dir=cache)


def test_the_registry_holds_the_file_msi_and_product_operations() -> None:
    """The operations of this layer are registered under their ids."""
    ids = {op.id for op in OPERATIONS}

    assert {"msi.install", "msi.uninstall", "products.list"} <= ids
    assert {"files.stat", "files.upload", "files.backup", "files.copy", "files.ensure_dir"} <= ids


@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: op.id)
def test_every_operation_has_examples_and_ends_with_an_explicit_exit(op: Operation[Any, Any]) -> None:
    """Each operation carries examples (the tests below need them) and its body ends with ``exit``."""
    last = op.body.strip().splitlines()[-1].strip()

    assert op.examples
    assert dataclasses.is_dataclass(op.params)
    assert last.startswith("exit")


@pytest.mark.parametrize(("op", "example"), EXAMPLES)
def test_every_example_renders_parses_and_is_powershell_2(op: Operation[Any, Any], example: Any) -> None:
    """
    The rendered script parses with tree-sitter and uses nothing newer than PowerShell 2.0, or
    than the operation's declared minimum.
    """
    script = op.command(example).redacted()

    assert parse_errors(script) == []
    assert ps2_problems(script, minimum=op.min_powershell) == []


@pytest.mark.parametrize(("op", "example"), EXAMPLES)
def test_header_and_bindings_give_back_the_example(op: Operation[Any, Any], example: Any) -> None:
    """Both the header the lab reads and the bindings the body reads decode to exactly the parameters."""
    script = op.command(example).render()

    header = read_header(script)

    assert header is not None
    assert header[0] == op.id
    assert header[1] == params_to_mapping(example)
    assert bindings_of(script) == params_to_mapping(example)
    assert op.params_from(header[1]) == example


@pytest.mark.parametrize(("op", "example"), STDIN)
def test_a_script_that_reads_stdin_fits_the_command_line(op: Operation[Any, Any], example: Any) -> None:
    """Stdin carries such an operation's data, so its script must travel on the command line."""
    assert fits_command_line(op.command(example).render())


@pytest.mark.parametrize(("op", "example"), READ_ONLY)
def test_a_read_only_script_never_changes_state(
    op: Operation[Any, Any], example: Any, hosts: tuple[MemoryBlobStore, list[HostState]]
) -> None:
    """On every pre-rollup host, a read-only operation leaves the state exactly as it found it."""
    blobs, states = hosts
    ctx = run_context(now=NOW, user="HOSTING\\rollup-lab", blobs=blobs)
    for original in states:
        state = original.model_copy(deep=True)

        run_op(state, op, example, ctx)  # a result line that is not JSON fails here

        assert state.model_dump() == original.model_dump(), f"{op.id} changed {state.name}"
