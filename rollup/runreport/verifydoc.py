"""
A ``rollup verify --json`` document (docs/verify.md) as the report's host x check matrix.

Only the guaranteed fields are read; others are ignored, as docs/json.md asks of consumers. A
file that is not such a document is refused with one line naming it (exit 2).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from rollup.errors import UsageError
from rollup.runreport.model import VerifyCell, VerifyMatrix, VerifyRow

VARIES = "varies by host"


class _Doc(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Check(_Doc):
    group: str
    name: str
    expected: str
    actual: str
    status: str
    detail: str = ""


class _Host(_Doc):
    host: str
    status: str
    checks: tuple[_Check, ...]


class _Verify(_Doc):
    format: int
    kind: str
    inventory: str
    started_at: str
    exit_code: int
    summary: dict[str, int]
    hosts: tuple[_Host, ...]


def read_verify(path: Path) -> VerifyMatrix:
    """
    Raises:
        UsageError: the file cannot be read, or is not a ``rollup verify --json`` document.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(
            f"--verify {path}: cannot be read: {getattr(exc, 'strerror', None) or exc}"
        ) from None
    try:
        doc = _Verify.model_validate_json(text)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "(top level)"
        raise UsageError(
            f"--verify {path}: not a `rollup verify --json` document: {where}: {error['msg']}"
        ) from None
    if doc.kind != "verify":
        raise UsageError(f"--verify {path}: a {doc.kind!r} document, not `rollup verify --json`'s")
    return matrix(doc, source=str(path))


def matrix(doc: _Verify, *, source: str) -> VerifyMatrix:
    """The checks of ``doc`` as rows (first seen first), one cell per host that has the check."""
    rows: dict[tuple[str, str], dict[str, VerifyCell]] = {}
    for host in doc.hosts:
        for check in host.checks:
            cell = VerifyCell(
                status=check.status, expected=check.expected, actual=check.actual, detail=check.detail
            )
            rows.setdefault((check.group, check.name), {})[host.host] = cell
    built = []
    for (group, name), cells in rows.items():
        expected = {cell.expected for cell in cells.values()}
        shown = next(iter(expected)) if len(expected) == 1 else VARIES
        built.append(VerifyRow(group=group, name=name, expected=shown, cells=cells))
    return VerifyMatrix(
        source=source,
        started_at=doc.started_at,
        inventory=doc.inventory,
        exit_code=doc.exit_code,
        hosts=tuple(host.host for host in doc.hosts),
        host_status={host.host: host.status for host in doc.hosts},
        rows=tuple(built),
        summary=dict(doc.summary),
    )
