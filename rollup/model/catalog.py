"""
The manifests shipped with rollup, and what ``--manifest`` names: a shipped manifest's id
(``hmc40-rollup-2011-01``, the file ``<id>.yml`` in the package's ``manifests`` folder) or a path.

A reference is an id when it is lower-kebab (letters, digits, ``-``) and has no ``/`` and no
``.yml`` or ``.yaml`` ending; anything else is a path (``./name`` names a file called ``name``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from rollup.errors import ManifestError
from rollup.model.manifest import SHIPPED_DIR, load_manifest

_ID = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


@dataclass(frozen=True, slots=True)
class ShippedManifest:
    """One shipped manifest, as ``rollup manifest list`` shows it."""

    id: str
    kb: str
    title: str
    path: Path


def is_manifest_id(ref: str) -> bool:
    """Whether ``ref`` names a shipped manifest by id rather than a file by path."""
    return _ID.fullmatch(ref) is not None


def shipped_ids() -> tuple[str, ...]:
    """The ids of the shipped manifests, sorted."""
    return tuple(sorted(p.stem for p in SHIPPED_DIR.glob("*.yml") if not p.name.endswith(".lock.yml")))


def manifest_file(ref: str | Path) -> Path:
    """
    The file ``ref`` names: a shipped manifest's for an id, else ``ref`` as a path.

    Raises:
        ManifestError: an id no shipped manifest has (the shipped ids are listed).
    """
    text = str(ref)
    if not is_manifest_id(text):
        return Path(text)
    path = SHIPPED_DIR / f"{text}.yml"
    if not path.is_file():
        shipped = ", ".join(shipped_ids()) or "none"
        raise ManifestError(
            f"{text}: no shipped manifest has this id (shipped: {shipped})",
            hint="`rollup manifest list` lists them; name a manifest file by its path (./NAME for a "
            "file in the current directory)",
        )
    return path


def shipped_manifests() -> tuple[ShippedManifest, ...]:
    """Every shipped manifest, by id, validated (with its lock, when pinned).

    Raises:
        ManifestError: a shipped manifest does not load.
    """
    found = []
    for name in shipped_ids():
        path = SHIPPED_DIR / f"{name}.yml"
        meta = load_manifest(path).metadata
        found.append(ShippedManifest(id=meta.id, kb=meta.kb, title=meta.title, path=path))
    return tuple(found)
