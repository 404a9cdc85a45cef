"""
File steps: ``extract``, ``transfer``, ``backup``, ``copy``.

Each guard compares the files on the host (``files.stat``: size and SHA-256) with the package
as checked on the control host, so a file counts as there only when its bytes are the right ones:

- ``extract`` and ``transfer`` send each file that is missing or different (``Transport.put``
  verifies the bytes on the host before they replace anything, and sends nothing for a file that
  already matches);
- ``backup`` keeps, as ``<name>.<stamp>.bak`` beside it, each file of the MSI share that is not
  yet the package's: a second run, or a resume after the copy, finds the share holding the new
  files and keeps nothing more. ``files.backup`` never overwrites an earlier backup and never
  backs up the same bytes twice, so no original is lost whatever order a crash leaves things in;
- ``copy`` copies from the extraction folder into the MSI share each file not yet identical.
"""

from __future__ import annotations

import ntpath
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rollup.engine.package import LocalFile
from rollup.engine.retry import StepFailed
from rollup.engine.steps.context import Acted, Guard, StepContext, op
from rollup.ops import files
from rollup.ops.filecopy import BackupParams, CopyParams, FileAction
from rollup.planner import PlanStep

_STAT = op("files.stat")
_BACKUP = op("files.backup")
_COPY = op("files.copy")


def _names(step_files: Iterable[Any]) -> tuple[str, ...]:
    return tuple(str(f["name"]) if isinstance(f, Mapping) else str(f) for f in step_files)


def stale(ctx: StepContext, folder: str, names: Sequence[str]) -> tuple[tuple[LocalFile, str], ...]:
    """The package files whose copy in ``folder`` on the host is missing or has other bytes."""
    wanted = [(ctx.package.file(name), ntpath.join(folder, name)) for name in names]
    stats: tuple[files.FileStat, ...] = ctx.call(_STAT, files.StatParams(paths=tuple(p for _, p in wanted)))
    return tuple(
        (local, path)
        for (local, path), stat in zip(wanted, stats, strict=True)
        if not (stat.exists and stat.size == local.size and (stat.sha256 or "").lower() == local.sha256)
    )


def _guard(found: Sequence[tuple[LocalFile, str]], total: int, folder: str) -> Guard:
    if not found:
        what = "the file is" if total == 1 else f"all {total} files are"
        return Guard(in_effect=True, reason=f"{what} already in {folder} with the package's SHA-256")
    shown = ", ".join(local.name for local, _ in found[:3]) + (" ..." if len(found) > 3 else "")
    return Guard(
        in_effect=False,
        reason=f"{len(found)} of {total} missing or different in {folder}: {shown}",
        facts=found,
    )


def _send(
    ctx: StepContext, found: Sequence[tuple[LocalFile, str]], folder: str, names: Sequence[str]
) -> Acted:
    sent = skipped = 0
    size = 0
    for local, remote in found:
        result = ctx.hosts.put(ctx.host, local.path, remote, sha256=local.sha256, size=local.size)
        if result.skipped:
            skipped += 1
        else:
            sent += 1
            size += result.bytes_sent
    left = stale(ctx, folder, names)
    if left:
        raise StepFailed(
            f"{ctx.host}: after sending, {len(left)} file(s) in {folder} still differ: "
            + ", ".join(local.name for local, _ in left)
        )
    return Acted(
        summary=f"sent {sent} file(s), {size} bytes, to {folder}"
        + (f" ({skipped} already there)" if skipped else "")
    )


class Extract:
    """``extract``: every package file into ``package.extract_to`` on the Deployment Tool host."""

    def describe(self, step: PlanStep) -> str:
        return f"send the {len(step.params['files'])} package files to {step.params['extract_to']}"

    def check(self, ctx: StepContext) -> Guard:
        names = _names(ctx.p["files"])
        return _guard(stale(ctx, str(ctx.p["extract_to"]), names), len(names), str(ctx.p["extract_to"]))

    def act(self, ctx: StepContext, guard: Guard) -> Acted:
        return _send(ctx, guard.facts, str(ctx.p["extract_to"]), _names(ctx.p["files"]))


class Transfer:
    """``transfer``: one package file to ``to_dir`` on each host of the step."""

    def describe(self, step: PlanStep) -> str:
        return f"send {step.params['file']['name']} to {step.params['to_dir']}"

    def check(self, ctx: StepContext) -> Guard:
        names = _names([ctx.p["file"]])
        return _guard(stale(ctx, str(ctx.p["to_dir"]), names), 1, str(ctx.p["to_dir"]))

    def act(self, ctx: StepContext, guard: Guard) -> Acted:
        return _send(ctx, guard.facts, str(ctx.p["to_dir"]), _names([ctx.p["file"]]))


class Backup:
    """``backup``: keep each file of the MSI share that the copy will replace, under a new name."""

    def describe(self, step: PlanStep) -> str:
        count, method = len(step.params["files"]), step.params["method"]
        return f"keep {count} files of the MSI share as <name>.<stamp>.bak ({method})"

    def _share(self, ctx: StepContext) -> str:
        return ctx.manifest.package.msishare

    def check(self, ctx: StepContext) -> Guard:
        share = self._share(ctx)
        names = _names(ctx.p["files"])
        paths = tuple(ntpath.join(share, n) for n in names)
        stats: tuple[files.FileStat, ...] = ctx.call(_STAT, files.StatParams(paths=paths))
        keep = tuple(
            name
            for name, stat in zip(names, stats, strict=True)
            if stat.exists and (stat.sha256 or "").lower() != ctx.package.file(name).sha256
        )
        if not keep:
            return Guard(
                in_effect=True, reason=f"no file of {share} differs from the package (nothing to keep)"
            )
        return Guard(in_effect=False, reason=f"{len(keep)} file(s) of {share} will be replaced", facts=keep)

    def act(self, ctx: StepContext, guard: Guard) -> Acted:
        share = self._share(ctx)
        params = BackupParams(share=share, names=tuple(guard.facts), method=str(ctx.p["method"]))
        done: tuple[FileAction, ...] = ctx.call(_BACKUP, params)
        failed = [a for a in done if a.action == "failed"]
        record = "\n".join(f"{a.name}\t{a.action}\t{a.backup or ''}\t{a.sha256 or ''}" for a in done) + "\n"
        evidence = {"backups.tsv": record}
        if failed:
            raise StepFailed(
                f"{ctx.host}: could not keep {len(failed)} file(s) of {share}: "
                + "; ".join(f"{a.name}: {a.error}" for a in failed)
            )
        kept = [a for a in done if a.action in ("renamed", "copied")]
        already = len(done) - len(kept)
        return Acted(
            summary=f"kept {len(kept)} file(s) of {share} as backups"
            + (f" ({already} kept before)" if already else ""),
            evidence=evidence,
        )


class Copy:
    """``copy``: the package's files from the extraction folder into the MSI share."""

    def describe(self, step: PlanStep) -> str:
        count, source, share = len(step.params["files"]), step.params["extract_to"], step.params["msishare"]
        return f"copy {count} files from {source} to {share}"

    def check(self, ctx: StepContext) -> Guard:
        names = _names(ctx.p["files"])
        return _guard(stale(ctx, str(ctx.p["msishare"]), names), len(names), str(ctx.p["msishare"]))

    def act(self, ctx: StepContext, guard: Guard) -> Acted:
        names = tuple(local.name for local, _ in guard.facts)
        params = CopyParams(source_dir=str(ctx.p["extract_to"]), dest_dir=str(ctx.p["msishare"]), names=names)
        done: tuple[FileAction, ...] = ctx.call(_COPY, params)
        bad = [a for a in done if a.action in ("missing", "failed")]
        if bad:
            raise StepFailed(
                f"{ctx.host}: could not copy into {ctx.p['msishare']}: "
                + "; ".join(f"{a.name}: {a.error or 'not in ' + str(ctx.p['extract_to'])}" for a in bad)
            )
        left = stale(ctx, str(ctx.p["msishare"]), _names(ctx.p["files"]))
        if left:
            raise StepFailed(
                f"{ctx.host}: after the copy, {len(left)} file(s) of {ctx.p['msishare']} still differ"
            )
        copied = sum(a.action == "copied" for a in done)
        return Acted(summary=f"copied {copied} file(s) into {ctx.p['msishare']}")
