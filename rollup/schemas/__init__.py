"""
JSON Schemas of rollup's ``--json`` documents, shipped with the package (``schema(name)``).

Each document carries ``format``; a schema describes the fields guaranteed at that
version (docs/json.md): later versions only add fields, so consumers ignore what they do not know.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any


def schema(name: str) -> dict[str, Any]:
    """The schema ``<name>.schema.json`` (``apply``)."""
    text = resources.files(__name__).joinpath(f"{name}.schema.json").read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded
