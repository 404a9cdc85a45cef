"""
A resume trusts the journal only as far as the audit log vouches for it.

The journal is what a resume replays: a line saying a step is ``done`` keeps that step from
running again. So the journal is chained and bound to the hash-chained audit log:

- each journal line carries ``prev``, the SHA-256 of the line before it (64 zeros for the first),
  so changing, inserting, removing or moving a line breaks the chain at the next line;
- each audit record carries ``journal``, the ``seq`` and SHA-256 of the journal's last line when
  the record was written, which pins every journal line up to there.

``check_bound`` runs before a resume. It refuses, with one line, a journal whose chain is broken,
whose line differs from what an audit record pinned, or that goes on after the run's last audit
record when that record is the run's end (``run_finished``: nothing can legitimately follow it
until the next ``run_resumed``), except the journal's own ``run_finished`` line, written after
that record and carrying its hash (``audit_head``), which binds it the other way. Lines after
the last pinned one are tolerated when the audit log does not end the run: a crash between a
journal line and its audit record leaves exactly that.
A journal written before chaining (no ``prev`` anywhere) is not checked.
"""

from __future__ import annotations

import json
from pathlib import Path

from rollup.audit.durable import read_lines
from rollup.engine.journal import GENESIS, read_journal
from rollup.errors import AuditError


class JournalNotBound(AuditError):
    """The journal is not the one the audit log recorded: changed, forged or reordered."""


def check_bound(journal_path: Path, audit_path: Path) -> None:
    """
    Raises:
        JournalNotBound: one line naming the journal, the first bad line and what is wrong.
        RollupError: a journal line is not a journal entry at all (``read_journal``).
    """
    read = read_journal(journal_path)
    if not read.entries or all(entry.prev is None for entry in read.entries):
        return
    hint = "keep the run directory as evidence, and start a new run: its guards find what is in place"
    expected = GENESIS
    for number, (entry, digest) in enumerate(zip(read.entries, read.hashes, strict=True), 1):
        if entry.seq != number or entry.prev != expected:
            raise JournalNotBound(
                f"{journal_path}: line {number} (seq {entry.seq}): the journal's chain is broken there: "
                "a line was changed, inserted, removed or moved; the run cannot be resumed from it",
                hint=hint,
            )
        expected = digest
    pinned = 0
    last_event = None
    last_hash = None
    for raw in read_lines(audit_path).lines:
        try:
            record = json.loads(raw)
        except ValueError:
            continue  # the audit log's own check names it
        last_event = record.get("event")
        last_hash = record.get("hash")
        bound = record.get("journal")
        if not isinstance(bound, dict):
            continue
        given, pinned_hash = bound.get("seq"), bound.get("sha256")
        seq = given if isinstance(given, int) else 0
        if not 1 <= seq <= len(read.hashes) or read.hashes[seq - 1] != pinned_hash:
            raise JournalNotBound(
                f"{journal_path}: line {given}: not the line audit record {record.get('seq')} recorded: "
                "the journal was changed; the run cannot be resumed from it",
                hint=hint,
            )
        pinned = max(pinned, seq)
    trailing = read.entries[pinned:]
    closing = (
        len(trailing) == 1
        and trailing[0].event == "run_finished"
        and getattr(trailing[0], "audit_head", None) == last_hash
    )
    if trailing and last_event == "run_finished" and not closing:
        raise JournalNotBound(
            f"{journal_path}: line {pinned + 1} (seq {read.entries[pinned].seq}) follows the run's end "
            "in the audit log, which does not know it: a line was added; the run cannot be resumed from it",
            hint=hint,
        )
