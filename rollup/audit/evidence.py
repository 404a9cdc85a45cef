"""
What ``rollup audit verify`` checks beyond the hash chain, for a log in a run directory.

- **Evidence**: every ``step_finished`` record names its evidence files (``evidence/<name>``)
  with their SHA-256; each file must be there with that hash, so a replaced MSI log tail is
  noticed (``verify_evidence``).
- **Recorded heads**: each ``run_finished`` entry of the run's journal keeps the audit log's
  head hash at that moment, a copy that cutting records off the end of the audit log does not
  remove; every one must still be in the chain (``recorded_heads``, for ``verify_chain``).

The journal is read as JSON lines here: the audit layer does not depend on the engine's journal
model, and a damaged journal line only means one copy fewer (the journal has its own checks).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

from rollup.audit.chain import BadRecord, ChainReport, Problem, is_hash
from rollup.audit.durable import read_lines

JOURNAL_NAME = "journal.jsonl"
EVIDENCE_DIR = "evidence"


def recorded_heads(run_dir: Path) -> dict[str, str]:
    """``{head hash: where it was kept}`` from the run's journal (empty when there is none)."""
    heads: dict[str, str] = {}
    for raw in read_lines(run_dir / JOURNAL_NAME).lines:
        try:
            entry: Any = json.loads(raw)
        except ValueError:
            continue
        finished = isinstance(entry, dict) and entry.get("event") == "run_finished"
        if finished and is_hash(entry.get("audit_head")):
            heads.setdefault(str(entry["audit_head"]), f"{JOURNAL_NAME} (seq {entry.get('seq')})")
    return heads


def _sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


def verify_evidence(path: Path, report: ChainReport) -> ChainReport:
    """
    ``report`` (of an intact chain) with its first record whose evidence file is missing or
    differs from the SHA-256 the record holds as ``bad``; unchanged when every file matches.
    """
    folder = path.parent / EVIDENCE_DIR
    for number, raw in enumerate(read_lines(path).lines[: report.records], 1):
        record = json.loads(raw)
        evidence = record.get("evidence")
        if not isinstance(evidence, dict):
            continue
        for name, expected in sorted(evidence.items()):
            found = _sha256(folder / name) if "/" not in name and name not in {"", ".", ".."} else None
            if found == expected:
                continue
            problem = Problem.EVIDENCE_MISSING if found is None else Problem.EVIDENCE_MISMATCH
            detail = (
                f"{EVIDENCE_DIR}/{name} is not there"
                if found is None
                else f"{EVIDENCE_DIR}/{name} has SHA-256 {found}, the record holds {expected}: replaced"
            )
            bad = BadRecord(line=number, seq=record.get("seq"), problem=problem, detail=detail)
            return dataclasses.replace(report, bad=bad)
    return report
