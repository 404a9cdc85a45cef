"""What the tests that edit parsed YAML documents share."""

from __future__ import annotations

from typing import Any


def fresh(node: Any) -> Any:
    """A deep copy that does not share the lists YAML anchors made common."""
    if isinstance(node, dict):
        return {k: fresh(v) for k, v in node.items()}
    if isinstance(node, list):
        return [fresh(v) for v in node]
    return node
