"""
The rollback's pre-flight: are the backups the applied run kept still what it recorded? Read-only.

On the host that kept them, one ``files.stat`` (with MSI properties) reads each backup and the
file of the share it replaced. A file's previous bytes are *there* when its backup has the
SHA-256 the run recorded, or when the share's file has it already (a rollback that restored it
and was stopped). Anything else refuses the rollback before any host is changed, one line per
file naming the host and the path: the backup is missing, or its SHA-256 differs.

What the backups hold becomes the rollback's package (``rollup.engine.package.Package``): the
previous build of each file, with its size, SHA-256 and MSI identity as the host read them. The
MSIs another host must install again are read back to the control host (``files.read``), checked
against the recorded SHA-256 and kept in ``<runs dir>/.rollback/<applied run>/``, from where the
rollback's ``transfer`` steps send them, as the package's files are sent by an apply.
"""

from __future__ import annotations

import ntpath
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from rollup.engine.package import LocalFile, Package
from rollup.engine.steps.context import Hosts, op
from rollup.errors import RunFailed
from rollup.msi import MsiInfo
from rollup.ops.filerestore import FileData, ReadParams
from rollup.ops.files import FileStat, StatParams
from rollup.rollback.record import AppliedRun, Backup

_STAT = op("files.stat")
_READ = op("files.read")


class RollbackRefused(RunFailed):
    """The backups are not what the applied run recorded: nothing was changed. Exit 1."""

    def __init__(self, message: str, *, problems: tuple[str, ...], hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.problems = problems


@dataclass(frozen=True, slots=True, kw_only=True)
class Found:
    """Where one file's previous bytes are on the host now, with what the host read of them."""

    backup: Backup
    path: str
    stat: FileStat


def refuse(applied: AppliedRun, problems: Iterable[str]) -> RollbackRefused:
    """The refusal naming the first problem (every one is in ``problems``)."""
    found = tuple(problems)
    more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
    return RollbackRefused(
        f"rollback of run {applied.run_id} refused: {found[0]}{more}; nothing was changed",
        problems=found,
        hint="a backup the run kept is gone or changed: the previous build cannot be restored from it",
    )


def check_backups(hosts: Hosts, applied: AppliedRun, share: str) -> dict[str, Found]:
    """
    Each backed-up file (by case-folded name) and where its previous bytes are now.

    Raises:
        RollbackRefused: a backup is missing or differs from its recorded SHA-256.
    """
    kept = [k for k in applied.backups if k.backup]
    paths: list[str] = []
    for k in kept:
        paths += [k.backup, ntpath.join(share, k.name)]
    stats: tuple[FileStat, ...] = hosts.call(
        applied.backup_host, _STAT, StatParams(paths=tuple(paths), msi=True)
    )
    found: dict[str, Found] = {}
    problems: list[str] = []
    host = applied.backup_host
    for n, k in enumerate(kept):
        backup, current = stats[2 * n], stats[2 * n + 1]
        if backup.exists and (backup.sha256 or "").lower() == k.sha256:
            found[k.name.casefold()] = Found(backup=k, path=k.backup, stat=backup)
        elif current.exists and (current.sha256 or "").lower() == k.sha256:
            found[k.name.casefold()] = Found(backup=k, path=current.path, stat=current)
        elif not backup.exists:
            problems.append(f"{host}: {k.backup}: missing (the backup run {applied.run_id} kept of {k.name})")
        else:
            problems.append(
                f"{host}: {k.backup}: SHA-256 {backup.sha256 or 'unreadable'} differs from the one run "
                f"{applied.run_id} recorded ({k.sha256})"
            )
    if problems:
        raise refuse(applied, problems)
    return found


def previous_package(found: Mapping[str, Found], folder: Path) -> Package:
    """The previous build of each file as the host read it; its bytes (once fetched) in ``folder``."""
    files: dict[str, LocalFile] = {}
    for key, f in found.items():
        s = f.stat
        info = None
        if s.product_code and s.product_name and s.product_version:
            info = MsiInfo(
                product_code=s.product_code.upper(),
                product_name=s.product_name,
                product_version=s.product_version,
                upgrade_code=None,
                manufacturer="",
            )
        files[key] = LocalFile(
            name=f.backup.name,
            path=folder / f.backup.name,
            size=s.size or 0,
            sha256=f.backup.sha256,
            pinned=True,
            msi=info,
        )
    return Package(root=folder, files=MappingProxyType(files))


def fetch(
    hosts: Hosts, applied: AppliedRun, found: Mapping[str, Found], names: Iterable[str], folder: Path
) -> None:
    """
    Bring the named files' previous bytes to ``folder`` (a file there with the recorded SHA-256 is
    kept), each checked against the recorded SHA-256 before it is kept.

    Raises:
        RollbackRefused: a file could not be read, or its bytes are not the recorded ones.
    """
    import hashlib

    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        f = found[name.casefold()]
        target = folder / f.backup.name
        if target.is_file() and hashlib.sha256(target.read_bytes()).hexdigest() == f.backup.sha256:
            continue
        data: FileData = hosts.call(applied.backup_host, _READ, ReadParams(path=f.path))
        if data.error is not None or hashlib.sha256(data.data).hexdigest() != f.backup.sha256:
            why = data.error or f"read with SHA-256 {hashlib.sha256(data.data).hexdigest()}"
            raise refuse(
                applied, [f"{applied.backup_host}: {f.path}: {why}, not the recorded {f.backup.sha256}"]
            )
        partial = target.with_name(target.name + ".partial")
        partial.write_bytes(data.data)
        os.replace(partial, target)
