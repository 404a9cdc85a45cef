"""
Every remote operation, by id.

Each module in ``rollup/ops/`` that defines operations exposes ``OPERATIONS``, a tuple of
``Operation``s; the others hold what operations share (``base``, ``results``, ``labfs``, the
msiexec policy and simulation...) and list none. The simulated lab dispatches on the id in a
script's header through ``operation(id)``; the tests render, parse-check and round-trip every
operation listed here.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from typing import Any

from rollup.ops.base import Operation

_NOT_OPERATION_MODULES = frozenset({"base", "registry"})


@cache
def all_operations() -> dict[str, Operation[Any, Any]]:
    """Every operation, keyed by id. Two operations with one id is a programming error."""
    import rollup.ops

    found: dict[str, Operation[Any, Any]] = {}
    for info in sorted(pkgutil.iter_modules(rollup.ops.__path__), key=lambda m: m.name):
        if info.name in _NOT_OPERATION_MODULES or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"rollup.ops.{info.name}")
        for op in getattr(module, "OPERATIONS", ()):
            if op.id in found:
                raise RuntimeError(f"operation id {op.id} is defined twice")
            found[op.id] = op
    return found


def operation(op_id: str) -> Operation[Any, Any] | None:
    """The operation with this id, or ``None``."""
    return all_operations().get(op_id)
