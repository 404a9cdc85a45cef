"""
Run directories: where each run keeps its journal, its audit log, its facts and its evidence.

Layout (docs/runs.md)::

    <runs dir>/                      --runs-dir, ROLLUP_RUNS_DIR, or runs/ in the state directory
      .locks/<inventory digest>.lock rollup.engine.locks
      <RUN_ID>/
        run.json                     facts written once at start (RunFacts)
        journal.jsonl                step transitions (rollup.engine.journal)
        audit.jsonl                  the hash-chained audit log (rollup.audit.log)
        evidence/<name>              MSI log tails and other evidence, redacted, written once

A RUN_ID is the UTC start time and a random suffix, ``20261121T104512Z-3f9c``: ids sort in start
order, and two runs started in the same second by different operators still differ. Commands
name a run by its id, a unique prefix of it, or ``last``.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shlex
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, JsonValue, ValidationError

from rollup.audit.durable import fsync_dir, make_dir, make_dirs, write_once
from rollup.audit.redact import SecretRegistry, redact_value
from rollup.errors import RollupError, UsageError

RUNS_DIR_ENV = "ROLLUP_RUNS_DIR"
RUNS_SUBDIR = "runs"
"""The runs directory's name in the state directory (``rollup.state``)."""
RUN_ID_PATTERN = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{4}")
EVIDENCE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,127}")

_MAX_CANDIDATES = 5


def runs_dir_arg(runs_dir: Path) -> str:
    """
    `` --runs-dir PATH`` for a command shown to the operator, when ``runs_dir`` is not where such
    a command would look by itself (``ROLLUP_RUNS_DIR``, else the state directory's); else ``""``.
    """
    if resolve_runs_dir(None) == runs_dir:
        return ""
    return " --runs-dir " + shlex.quote(str(runs_dir))


def resolve_runs_dir(
    option: str | Path | None, environ: Mapping[str, str] | None = None, cwd: Path | None = None
) -> Path:
    """
    The runs directory: ``--runs-dir`` if given, else ``ROLLUP_RUNS_DIR``, else ``runs`` in the
    state directory (``ROLLUP_HOME``, else the user state directory: ``rollup.state``).

    A relative path is taken from ``cwd`` (default: the working directory); the result is absolute.
    """
    from rollup.state import state_home

    env = os.environ if environ is None else environ
    if option:
        chosen = Path(option)
    elif env.get(RUNS_DIR_ENV):
        chosen = Path(env[RUNS_DIR_ENV])
    else:
        chosen = state_home(env, cwd) / RUNS_SUBDIR
    return chosen if chosen.is_absolute() else (Path.cwd() if cwd is None else cwd) / chosen


def new_run_id(now: datetime, suffix: str) -> str:
    """``YYYYMMDDTHHMMSSZ-<suffix>`` from an aware datetime (converted to UTC)."""
    return f"{now.astimezone(UTC):%Y%m%dT%H%M%SZ}-{suffix}"


def operator_name() -> str:
    """
    The operating-system account running rollup, from the process's user id.

    Not from ``USER`` or ``LOGNAME``, which anyone can set to anything.
    """
    import pwd

    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return f"uid {os.geteuid()}"


def control_host_name() -> str:
    """The name of the machine rollup runs on (the control host)."""
    return socket.gethostname()


class RunFacts(BaseModel):
    """``run.json``: what a run is, written once when it starts and never changed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: int = 1
    run_id: str
    started_at: AwareDatetime
    operator: str
    control_host: str
    tool_version: str
    inventory_source: str
    inventory_digest: str
    """The digest of the whole inventory (before ``--limit``), which names the run's lock."""
    manifest_id: str
    manifest_digest: str
    plan_fingerprint: str
    hosts: tuple[str, ...] = ()
    options: dict[str, JsonValue] = Field(default_factory=dict)
    """The command-line options that shaped the run (``--limit``, ``--wave-size``, ...)."""


@dataclass(frozen=True, slots=True)
class Evidence:
    """An evidence file of a run, identified by its content hash."""

    name: str
    sha256: str
    size_bytes: int


@dataclass(frozen=True, slots=True)
class RunDir:
    """One run's directory; the paths of its files."""

    path: Path

    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def facts_path(self) -> Path:
        return self.path / "run.json"

    @property
    def journal_path(self) -> Path:
        return self.path / "journal.jsonl"

    @property
    def audit_path(self) -> Path:
        return self.path / "audit.jsonl"

    @property
    def evidence_dir(self) -> Path:
        return self.path / "evidence"

    def write_facts(self, facts: RunFacts) -> None:
        """
        Write ``run.json``, durably, once.

        Raises:
            RollupError: the file exists already (facts are immutable), or ``facts`` names
                another run.
        """
        if facts.run_id != self.run_id:
            raise RollupError(f"{self.facts_path}: facts of run {facts.run_id} do not belong here")
        text = facts.model_dump_json(indent=2) + "\n"
        try:
            write_once(self.facts_path, text.encode("utf-8"))
        except FileExistsError:
            raise RollupError(f"{self.facts_path}: already written; run facts never change") from None

    def read_facts(self) -> RunFacts:
        """
        Read ``run.json``.

        Raises:
            RollupError: it is missing, not JSON, or not the shape ``RunFacts`` describes.
        """
        try:
            text = self.facts_path.read_text(encoding="utf-8")
        except OSError as exc:
            raise RollupError(f"{self.facts_path}: cannot read: {exc.strerror or exc}") from None
        try:
            return RunFacts.model_validate_json(text)
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(part) for part in error["loc"]) or "(top level)"
            raise RollupError(f"{self.facts_path}: {where}: {error['msg']}") from None

    def write_evidence(self, name: str, text: str, *, registry: SecretRegistry | None = None) -> Evidence:
        """
        Keep ``text`` (an MSI log tail, a command's output) as ``evidence/<name>``, redacted.

        Returns the file's name, SHA-256 and size, for the audit record that refers to it.

        Raises:
            ValueError: ``name`` is not a plain file name (letters, digits, ``._@-``).
            RollupError: evidence with that name exists already.
        """
        if not EVIDENCE_NAME.fullmatch(name):
            raise ValueError(f"evidence name {name!r}: use letters, digits and . _ @ - only")
        data = str(redact_value(text, registry)).encode("utf-8")
        make_dir(self.evidence_dir)
        try:
            write_once(self.evidence_dir / name, data)
        except FileExistsError:
            raise RollupError(f"{self.evidence_dir / name}: evidence is written once") from None
        return Evidence(name, hashlib.sha256(data).hexdigest(), len(data))

    def evidence(self) -> tuple[Evidence, ...]:
        """The run's evidence files, by name, with their hashes as they are now on disk."""
        if not self.evidence_dir.is_dir():
            return ()
        found = []
        for path in sorted(self.evidence_dir.iterdir()):
            if path.is_file():
                data = path.read_bytes()
                found.append(Evidence(path.name, hashlib.sha256(data).hexdigest(), len(data)))
        return tuple(found)


class RunDirLost(RollupError):
    """A run's directory was removed, replaced, or can no longer be written during the run."""


class RunDirWatch:
    """
    Notices, between steps, that a run's directory is gone: removed or replaced (another
    inode), its journal or audit log removed or replaced, or no longer writable. A process that
    keeps writing to removed files would report a run whose record no longer exists.
    """

    def __init__(self, run: RunDir) -> None:
        self.run = run
        self._files = (run.path, run.journal_path, run.audit_path)
        self._identity = {path: _identity(path) for path in self._files}

    def check(self) -> None:
        """
        Raises:
            RunDirLost: one line saying what happened to the directory.
        """
        for path in self._files:
            now = _identity(path)
            if now != self._identity[path]:
                what = "was removed" if now is None else "was replaced"
                where = "its directory" if path == self.run.path else path.name
                self._lost(f"{where} {what} during the run ({path})")
        probe = self.run.path / f".write-probe-{os.getpid()}-{threading.get_ident()}"
        try:
            fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.close(fd)
            probe.unlink()
        except OSError as exc:
            raise self.unwritable(f"{self.run.path}: {exc.strerror or exc}") from None

    def unwritable(self, detail: str) -> RunDirLost:
        """The error for a run directory that refused a write (``detail``: the file and why)."""
        return self._error(f"its directory can no longer be written ({detail})")

    def _lost(self, what: str) -> None:
        raise self._error(what)

    def _error(self, what: str) -> RunDirLost:
        return RunDirLost(
            f"run {self.run.run_id}: {what}; the run stopped, steps already running finished",
            hint="the hosts keep what was done: restore the directory (or make it writable) and "
            f"`rollup apply --resume {self.run.run_id}`, or start a new run, whose guards find "
            "what is in place",
        )


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    return (info.st_dev, info.st_ino)


def create_run(runs_dir: Path, *, now: datetime | None = None) -> RunDir:
    """
    Create a new, empty run directory under ``runs_dir`` (created if needed), durably.

    The random suffix is drawn again in the unlikely case the directory exists.
    """
    make_dirs(runs_dir)
    moment = datetime.now(UTC) if now is None else now
    while True:
        path = runs_dir / new_run_id(moment, secrets.token_hex(2))
        try:
            path.mkdir()
        except FileExistsError:
            continue
        fsync_dir(runs_dir)
        return RunDir(path)


def list_runs(runs_dir: Path) -> tuple[RunDir, ...]:
    """Every run directory under ``runs_dir``, oldest first (an absent directory has none)."""
    if not runs_dir.is_dir():
        return ()
    return tuple(
        RunDir(path)
        for path in sorted(runs_dir.iterdir())
        if path.is_dir() and RUN_ID_PATTERN.fullmatch(path.name)
    )


def counts_as_last(run: RunDir) -> bool:
    """
    Whether ``run`` may be what ``last`` names: it holds a run's files (not an empty directory
    a crash at start left), and it was not refused before its first step: a run that could not
    even start is never the one to resume or show.
    """
    from rollup.engine.journal import read_journal
    from rollup.engine.journal_state import RunFinished

    if not any(path.is_file() for path in (run.facts_path, run.journal_path, run.audit_path)):
        return False
    try:
        entries = read_journal(run.journal_path).entries
    except RollupError:
        return True  # a damaged journal is shown and refused by the command, not skipped here
    return not (entries and isinstance(entries[-1], RunFinished) and entries[-1].state == "refused")


def resolve_run(runs_dir: Path, ref: str) -> RunDir:
    """
    The run ``ref`` names: ``last`` (the most recent run that ``counts_as_last``), a full RUN_ID,
    or a prefix shared by exactly one run.

    Raises:
        UsageError: no runs yet, no run matches, or the prefix matches several (listed).
    """
    runs = list_runs(runs_dir)
    if not runs:
        raise UsageError(f"{runs_dir}: no runs yet")
    if ref == "last":
        for run in reversed(runs):
            if counts_as_last(run):
                return run
        raise UsageError(f"{runs_dir}: no run to name as last (every run was refused before its first step)")
    matches = [run for run in runs if run.run_id.startswith(ref)] if ref else []
    exact = [run for run in matches if run.run_id == ref]
    if exact:
        return exact[0]
    if not matches:
        raise UsageError(
            f"{runs_dir}: no run {ref!r}", hint=f"`rollup runs list{runs_dir_arg(runs_dir)}` shows the runs"
        )
    if len(matches) > 1:
        shown = ", ".join(run.run_id for run in matches[:_MAX_CANDIDATES])
        more = len(matches) - _MAX_CANDIDATES
        extra = f" and {more} more" if more > 0 else ""
        raise UsageError(f"{runs_dir}: run id prefix {ref!r} is ambiguous: {shown}{extra}")
    return matches[0]
