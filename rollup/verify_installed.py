"""
Verify, the installed files: what each component's package installed, compared on every host the
component is on (pure; ``rollup.verify`` calls it for each host).

The expected files come from the lock (``PackageFile.installs``, pinned from the MSIs' File
tables). On a host, the files of every component of its roles are read (``verify.facts``'s
``installed`` group, one script per host still); a component's files are compared where its
Uninstall entry is found (a Deployment Tool component lives on some hosts of its roles only;
one missing where it should be is the products check's finding). A file several packages install
(a shared component) is checked once, under the first component that lists it.

Per file, as the KB's "file attributes (or later file attributes)" says:

- a versioned file: its version resource's file version; ``ok`` at the package's version or
  later, ``drift`` when older, without a version resource, or missing;
- an unversioned file: ``ok`` at the package's size and SHA-256, ``drift`` otherwise;
- ``error`` when the host could not read it; ``unknown`` for a component whose installed files
  are not pinned (a lock pinned from a host, or no lock and no package).

Each check's ``part_of`` is its component: the table shows one summary line per component
(``summary_line``), ``--files`` every file; JSON and JUnit carry every file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rollup.checks import Check, Status
from rollup.model.fields import windows_key
from rollup.model.manifest import InstalledFile, Manifest
from rollup.ops.installed import InstalledStat
from rollup.ops.verify import Unreadable, VerifyFacts

GROUP = "installed"


@dataclass(frozen=True, slots=True, kw_only=True)
class ExpectedFile:
    """A file a component's package installs, as expected on a host."""

    component: str
    file: InstalledFile


def expected_files(manifest: Manifest, components: Sequence[tuple[str, str]]) -> tuple[ExpectedFile, ...]:
    """
    The files of ``components`` (``(name, msi)`` pairs), each path once (the first component
    listing it), in order. A component whose installs are not pinned contributes none.
    """
    seen: set[str] = set()
    found = []
    for name, msi in components:
        for f in manifest.file(msi).installs or ():
            key = windows_key(f.path)
            if key not in seen:
                seen.add(key)
                found.append(ExpectedFile(component=name, file=f))
    return tuple(found)


def read_params(files: Sequence[ExpectedFile]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The ``installed`` and ``installed_hashed`` parameters of ``verify.facts`` for ``files``."""
    paths = tuple(e.file.path for e in files)
    return paths, tuple(e.file.path for e in files if e.file.version is None)


def version_key(text: str) -> tuple[int, ...]:
    """A file version as four numbers (``4.0.2491`` equals ``4.0.2491.0``)."""
    parts = [int(p) if p.isdigit() else 0 for p in text.strip().split(".")]
    return tuple([*parts, 0, 0, 0, 0][:4])


def installed_checks(
    manifest: Manifest,
    components: Sequence[tuple[str, str]],
    present: set[str] | None,
    facts: VerifyFacts,
) -> list[Check]:
    """
    The installed-file checks of one host: ``components`` are ``(name, msi)`` of its roles,
    ``present`` the names whose Uninstall entry is on the host (``None``: not known, every
    component is checked).
    """
    if facts.installed is None or not components:
        return []
    here = [(name, msi) for name, msi in components if present is None or name in present]
    why = "the lock has no file table for it: pin from a package folder (rollup manifest pin --package-dir)"
    checks = [
        Check(group=GROUP, name=f"{name}: installed files", expected="the files of its MSI",
              actual="not pinned", status=Status.UNKNOWN, detail=why, part_of=name)
        for name, msi in here if manifest.file(msi).installs is None
    ]  # fmt: skip
    if isinstance(facts.installed, Unreadable):
        message = facts.installed.message
        unread = Check(group=GROUP, name="installed files", expected="readable", actual=message,
                       status=Status.ERROR, detail="the installed files could not be read")  # fmt: skip
        return [*checks, unread]
    stats = {windows_key(s.path): s for s in facts.installed}
    for expected in expected_files(manifest, here):
        checks.append(file_check(expected, stats.get(windows_key(expected.file.path))))
    return checks


def file_check(expected: ExpectedFile, stat: InstalledStat | None) -> Check:
    """One installed file against what its package installs (see the module docstring)."""
    f = expected.file
    if f.version is not None:
        wanted = f"version {f.version} or later"
    else:
        wanted = f"{f.size_bytes:,} bytes, SHA-256 {(f.sha256 or '')[:16]}..."
    if stat is None or not stat.exists:
        actual, status, detail = "missing", Status.DRIFT, f"{expected.component} installs it; it is not there"
    elif stat.error:
        actual, status, detail = "unreadable", Status.ERROR, f"could not be read: {stat.error}"
    elif f.version is not None:
        actual, status, detail = _versioned(expected, stat.version)
    else:
        actual, status, detail = _unversioned(f, stat)
    name = stat.file if stat is not None else f.path
    return Check(group=GROUP, name=name, expected=wanted, actual=actual, status=status, detail=detail,
                 part_of=expected.component)  # fmt: skip


def _versioned(expected: ExpectedFile, found: str | None) -> tuple[str, Status, str]:
    wanted = expected.file.version or ""
    if found is None:
        return "no version resource", Status.DRIFT, f"not the versioned file {expected.component} installs"
    if version_key(found) < version_key(wanted):
        return f"version {found}", Status.DRIFT, f"older than the package's {wanted}"
    later = (
        f"later than the package's {wanted}: compliant" if version_key(found) > version_key(wanted) else ""
    )
    return f"version {found}", Status.OK, later


def _unversioned(f: InstalledFile, stat: InstalledStat) -> tuple[str, Status, str]:
    actual = f"{stat.size or 0:,} bytes, SHA-256 {(stat.sha256 or 'unreadable')[:16]}..."
    differs = []
    if stat.size != f.size_bytes:
        differs.append("size")
    if (stat.sha256 or "").lower() != f.sha256:
        differs.append("SHA-256")
    if differs:
        return actual, Status.DRIFT, f"differs from the package's in {' and '.join(differs)} ({f.sha256})"
    return actual, Status.OK, ""


def summary_line(part: str, checks: Sequence[Check]) -> Check:
    """
    The table's one line for the checks ``part_of`` one thing (``--files`` shows each): a
    component's installed files, or a host's files against a rehearsal's baseline.
    """
    statuses = {c.status for c in checks}
    worst = next((s for s in (Status.DRIFT, Status.ERROR, Status.UNKNOWN) if s in statuses), Status.OK)
    not_ok = [c for c in checks if c.status is not Status.OK]
    actual = f"{len(checks) - len(not_ok)} of {len(checks)} ok"
    detail = "; ".join(f"{c.name}: {c.actual} ({c.status.value}{', ' + c.detail if c.detail else ''})"
                       for c in not_ok)  # fmt: skip
    group = checks[0].group if checks else GROUP
    if group == GROUP:
        name, expected = f"{part}: installed files", f"{len(checks)} file(s) at the package's versions"
    else:
        name, expected = f"{part}: component folders", f"{len(checks)} file(s) as on the rehearsal's host"
    return Check(group=group, name=name, expected=expected, actual=actual, status=worst, detail=detail,
                 part_of=part)  # fmt: skip
