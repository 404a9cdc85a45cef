"""
The golden baseline: every file the components installed on the rehearsal's hosts, recorded after
a passing rehearsal, and compared with production by ``rollup verify --baseline`` (pure).

The MSIs' File tables (``rollup.verify_installed``) do not name every file a component leaves: a
configuration it generates at install, a file a custom action writes. The baseline does: after a
passing rehearsal, each lab host's component folders (the folders of the files its roles'
components install, ``baseline_folders``) are listed with ``files.listing``, every file below them
with its size, version resource and SHA-256, and kept in the rehearsal record.

``rollup verify --baseline REHEARSAL|last`` reads the same folders on each production host (the
``listing`` group of its one ``verify.facts``) and compares them with the baseline of a rehearsal
host of the same roles (the first such host in the record): each baselined file must be there, a
versioned one at the rehearsal's version or later, an unversioned one at its SHA-256; a file the
rehearsal's host did not have is drift too. A production host whose roles no rehearsal host had is
``unknown``. A file a component writes per host (its name in a configuration) differs by nature:
the baseline reports it, and the operator judges.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PureWindowsPath

from pydantic import BaseModel, ConfigDict

from rollup.checks import Check, Status
from rollup.model.fields import windows_key
from rollup.model.manifest import Manifest
from rollup.model.roles import Role
from rollup.ops.listing import ListedFile
from rollup.ops.verify import Unreadable
from rollup.verify import components_on
from rollup.verify_installed import version_key

GROUP = "baseline"
PART = "rehearsal baseline"
"""The table's one line for a host's baseline checks (``--files`` shows each)."""


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BaselineFile(_Frozen):
    """A file found on a rehearsal host: ``path`` as the lock writes installed paths."""

    path: str
    size: int | None
    version: str | None
    sha256: str | None


class HostBaseline(_Frozen):
    """What one rehearsal host had in its component folders once the rehearsal passed."""

    host: str
    roles: tuple[str, ...]
    folders: tuple[str, ...]
    files: tuple[BaselineFile, ...] = ()
    error: str | None = None
    """Why the host could not be read (then it has no files)."""


def baseline_folders(manifest: Manifest, roles: Sequence[Role] | frozenset[Role]) -> tuple[str, ...]:
    """The folders of the files the components of ``roles`` install (pinned), each once, in order."""
    folders: dict[str, str] = {}
    for component in components_on(manifest, roles):
        for f in manifest.file(component.msi).installs or ():
            folder = str(PureWindowsPath(f.path).parent)
            folders.setdefault(windows_key(folder), folder)
    return tuple(folders.values())


def host_baseline(
    host: str, roles: frozenset[Role], folders: tuple[str, ...], listed: Sequence[ListedFile] | str
) -> HostBaseline:
    """A rehearsal host's baseline from what ``files.listing`` found (or why it could not)."""
    names = tuple(sorted(r.value for r in roles))
    if isinstance(listed, str):
        return HostBaseline(host=host, roles=names, folders=folders, error=listed)
    files = tuple(BaselineFile(path=f.path, size=f.size, version=f.version, sha256=f.sha256) for f in listed)
    return HostBaseline(host=host, roles=names, folders=folders, files=files)


def for_roles(baseline: Sequence[HostBaseline], roles: frozenset[Role]) -> HostBaseline | None:
    """The first rehearsal host read with exactly ``roles``."""
    names = tuple(sorted(r.value for r in roles))
    return next((b for b in baseline if b.roles == names and b.error is None), None)


def baseline_checks(rehearsal_id: str, expected: HostBaseline | None, found: object) -> list[Check]:
    """
    One host's checks against the rehearsal's baseline (``found``: the ``listing`` facts, a
    tuple of ``ListedFile``, or ``Unreadable``).
    """
    source = f"rehearsal {rehearsal_id}"
    if expected is None:
        why = f"no host of the rehearsal {rehearsal_id} had this host's roles (or it could not be read)"
        return [
            _check("files of its roles", "as on the rehearsal's host", "no baseline", Status.UNKNOWN, why)
        ]
    if isinstance(found, Unreadable):
        return [_check("files of its roles", "readable", found.message, Status.ERROR, "could not be listed")]
    if not isinstance(found, tuple):
        return []
    on_host = {windows_key(f.path): f for f in found if isinstance(f, ListedFile)}
    checks = []
    for wanted in expected.files:
        checks.append(_compare(wanted, on_host.pop(windows_key(wanted.path), None), expected.host, source))
    for extra in on_host.values():
        why = f"{expected.host} had no such file in {source}"
        checks.append(_check(extra.path, "absent", _shown(extra), Status.DRIFT, why))
    return checks


def _compare(wanted: BaselineFile, found: ListedFile | None, host: str, source: str) -> Check:
    expected = _shown(wanted) + (" or later" if wanted.version else "")
    if found is None:
        return _check(wanted.path, expected, "missing", Status.DRIFT, f"{host} had it in {source}")
    if found.error:
        return _check(wanted.path, expected, "unreadable", Status.ERROR, found.error)
    if wanted.version is not None:
        if found.version is None or version_key(found.version) < version_key(wanted.version):
            return _check(
                wanted.path, expected, _shown(found), Status.DRIFT, f"older than on {host} in {source}"
            )
        return _check(wanted.path, expected, _shown(found), Status.OK)
    if (found.sha256 or "").lower() != (wanted.sha256 or "").lower():
        return _check(
            wanted.path, expected, _shown(found), Status.DRIFT, f"not the file {host} had in {source}"
        )
    return _check(wanted.path, expected, _shown(found), Status.OK)


def _shown(f: BaselineFile | ListedFile) -> str:
    if f.version:
        return f"version {f.version}"
    return f"{f.size or 0:,} bytes, SHA-256 {(f.sha256 or '?')[:16]}..."


def _check(name: str, expected: str, actual: str, status: Status, detail: str = "") -> Check:
    return Check(group=GROUP, name=name, expected=expected, actual=actual, status=status, detail=detail,
                 part_of=PART)  # fmt: skip


def chosen_baseline(records: Sequence[tuple[str, str, str, tuple[HostBaseline, ...] | None]], wanted: str,
                    *, digest: str, where: str) -> tuple[str, tuple[HostBaseline, ...]]:  # fmt: skip
    """
    The baseline ``--baseline`` names: a rehearsal id, or ``last`` (the latest passing rehearsal of
    this manifest with a baseline). ``records`` are ``(id, result, manifest digest, baseline)``,
    oldest first; ``where`` names the records folder in messages.

    Raises:
        UsageError: one line: no such rehearsal, it did not pass, it rehearsed another manifest,
            or it has no baseline; for ``last``, no passing rehearsal of this manifest has one.
    """
    from rollup.errors import UsageError

    if wanted == "last":
        usable = [r for r in records if r[1] == "passed" and r[2] == digest and r[3] is not None]
        if not usable:
            raise UsageError(f"--baseline last: no passing rehearsal of this manifest (digest {digest[:16]}) "
                             f"with a baseline in {where}")  # fmt: skip
        rehearsal, _, _, found = usable[-1]
        return rehearsal, found or ()
    match = [r for r in records if r[0] == wanted]
    if not match:
        raise UsageError(f"--baseline {wanted}: no such rehearsal in {where}")
    rehearsal, result, other, found = match[-1]
    if result != "passed":
        raise UsageError(f"--baseline {wanted}: the rehearsal {result}; only a passing one is a baseline")
    if other != digest:
        raise UsageError(f"--baseline {wanted}: it rehearsed another manifest (digest {other[:16]}, "
                         f"this one is {digest[:16]})")  # fmt: skip
    if found is None:
        raise UsageError(f"--baseline {wanted}: the rehearsal recorded no baseline (its verify did not pass, "
                         "or the lab's folders could not be read)")  # fmt: skip
    return rehearsal, found
