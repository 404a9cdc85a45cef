"""
What an applied run left for its rollback: the run itself, how it ended, and the backups it kept.

A rollback trusts nothing but the run's own record. ``read_applied`` takes the run named and:

- refuses a run that is not an apply (a rollback is not rolled back), or that has not ended
  (``running``, ``waiting``, ``interrupted``, ``refused``): finish it first. Both are about the
  argument, exit 2, before anything is contacted;
- verifies the run's audit log, its heads and its evidence files (``rollup audit verify``): a
  record that does not verify is no basis for changing hosts (exit 1);
- reads the backups from the evidence of the run's ``backup`` step (``<step>.<attempt>.backups.tsv``:
  each file of the share, what the step did with it, the backup's path and its SHA-256), later
  attempts over earlier ones. A file the step found missing was not in the share before the
  run: the rollback removes the run's copy. A run that kept no backup cannot be rolled back
  (exit 1).

It also reads what each msi step of the run replaced (``<step>.<attempt>.replaced.tsv``), which
the rollback compares with the builds it is about to reinstall.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from rollup.audit.chain import verify_chain
from rollup.audit.evidence import recorded_heads, verify_evidence
from rollup.engine.journal import read_journal
from rollup.engine.journal_state import RunState, replay
from rollup.engine.locks import run_is_live
from rollup.engine.rundir import RunDir, RunFacts, resolve_run, runs_dir_arg
from rollup.errors import RunFailed, UsageError

KIND = "rollback"
"""``options.kind`` in the ``run.json`` of a rollback run; ``options.rolls_back`` names the applied run."""
_EVIDENCE = re.compile(
    r"^(?P<step>.+@(?P<host>[^.@]+(?:\.[^.@]+)*?))\.(?P<attempt>\d+)\.(?P<what>backups|replaced)\.tsv$"
)
_KEPT = frozenset({"renamed", "copied", "already"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Backup:
    """One file of the share as the applied run found it: its backup and SHA-256 ("": it was not there)."""

    name: str
    backup: str
    sha256: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Replaced:
    """A product an msi step of the applied run found installed before it acted (``replaced.tsv``)."""

    host: str
    step: str
    product: str
    version: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AppliedRun:
    """The applied run a rollback works from."""

    run: RunDir
    facts: RunFacts
    state: RunState
    backup_host: str
    """The host the backups were kept on (the Deployment Tool host)."""
    backups: tuple[Backup, ...]
    replaced: tuple[Replaced, ...]
    audit_head: str

    @property
    def run_id(self) -> str:
        return self.run.run_id


def is_rollback(facts: RunFacts) -> bool:
    """Whether a run is a rollback (its ``run.json`` says so)."""
    return facts.options.get("kind") == KIND


def read_applied(runs_dir: Path, ref: str) -> AppliedRun:
    """
    The applied run ``ref`` names, checked (see the module docstring).

    Raises:
        UsageError: no such run; a rollback; a run that has not ended.
        RunFailed: its audit log does not verify; it kept no backup.
    """
    run = resolve_run(runs_dir, ref)
    facts = run.read_facts()
    if is_rollback(facts):
        raise UsageError(f"run {run.run_id} is a rollback; only an applied run can be rolled back")
    live = run_is_live(runs_dir, facts.inventory_digest, run.run_id)
    state = replay(read_journal(run.journal_path).entries, is_live=live).run_state
    if state not in (RunState.DONE, RunState.DONE_WITH_EXCEPTIONS, RunState.FAILED):
        raise UsageError(
            f"run {run.run_id} is {state.value}: only a run that ended (done, done-with-exceptions or "
            "failed) can be rolled back",
            hint=f"finish it first: `rollup apply --resume {run.run_id}{runs_dir_arg(runs_dir)}`",
        )
    report = verify_chain(run.audit_path, recorded=recorded_heads(run.path))
    if report.intact:
        report = verify_evidence(run.audit_path, report)
    if report.bad is not None:
        raise RunFailed(
            f"run {run.run_id}: its audit log does not verify ({report.bad.describe()}); "
            "its record of the backups is no basis for a rollback; nothing was changed",
            hint=f"`rollup audit verify {run.run_id}{runs_dir_arg(runs_dir)}` shows it",
        )
    host, backups, replaced = _evidence(run)
    if not backups:
        raise RunFailed(
            f"run {run.run_id} recorded no backup of the MSI share (its backup step kept nothing or never "
            "ran): there is nothing to roll back from; nothing was changed"
        )
    return AppliedRun(
        run=run,
        facts=facts,
        state=state,
        backup_host=host,
        backups=backups,
        replaced=replaced,
        audit_head=report.head,
    )


def _evidence(run: RunDir) -> tuple[str, tuple[Backup, ...], tuple[Replaced, ...]]:
    found: list[tuple[int, str, str, str]] = []
    folder = run.evidence_dir
    names = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    for name in names:
        match = _EVIDENCE.match(name)
        if match is not None:
            found.append((int(match["attempt"]), match["what"], match["step"], name))
    host = ""
    kept: dict[str, Backup] = {}
    replaced: list[Replaced] = []
    for _, what, step, name in sorted(found):
        step_host = step.split("@", 1)[1]
        for line in (folder / name).read_text(encoding="utf-8").splitlines():
            cells = line.split("\t")
            if what == "replaced" and len(cells) >= 2:
                replaced.append(Replaced(host=step_host, step=step, product=cells[0], version=cells[1]))
            elif what == "backups" and len(cells) == 4:
                file, action, backup, sha256 = cells
                host = step_host
                if action in _KEPT and backup and sha256:
                    kept[file.casefold()] = Backup(name=file, backup=backup, sha256=sha256.lower())
                elif action == "missing" and file.casefold() not in kept:
                    kept[file.casefold()] = Backup(name=file, backup="", sha256="")
    return host, tuple(kept.values()), tuple(replaced)
