"""
The ``--json`` documents' common frame: every one carries ``format`` and ``kind``.

``format`` is the version of the document's shape (docs/json.md: later versions only add fields)
and ``kind`` says which command made it; ``rollup/schemas/<kind>.schema.json`` describes it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

FORMAT = 1
"""The version of every ``--json`` document's shape today."""


def framed(kind: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """``body`` with ``format`` and ``kind`` first (a body's own ``kind`` key is an error)."""
    if "format" in body or "kind" in body:
        raise ValueError(f"a {kind} document's body has its own format or kind")
    return {"format": FORMAT, "kind": kind, **body}


def dumps(kind: str, body: Mapping[str, Any], *, sort_keys: bool = False) -> str:
    """The framed document as printed: 2-space indentation, non-ASCII characters escaped."""
    return json.dumps(framed(kind, body), indent=2, sort_keys=sort_keys, ensure_ascii=True)
