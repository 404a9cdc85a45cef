"""
``rollup manifest pin``: record what each file of the rollup package is, in the manifest's lock file.

The package is read either from a local folder (SHA-256 computed here, ProductCode and
ProductVersion read with ``rollup.msi.read_msi``, and the files each MSI installs with
``rollup.msifiles.read_msi_files``) or from a folder on a host, through one ``files.stat`` with
MSI properties (the host computes the hash and opens each MSI read-only; the installed files are
then not pinned, and verify reports them ``unknown``).
Every file of the manifest must be there at the KB's byte size, and be a readable MSI; a file
the manifest itself pins must have the pinned values. Otherwise the package is refused with
the list of mismatches, and nothing is written.

A manifest that is pinned already (by its lock file) is only pinned again with the same
package, unless ``force``: a different package is refused, saying which files differ and how.
The lock is written atomically (``rollup.model.lock`` has its format), so a reader never sees
half of one.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PureWindowsPath

from rollup.credentials import CredentialCache
from rollup.errors import ManifestError, PackageError, UsageError
from rollup.load import read_yaml
from rollup.model.fields import windows_key
from rollup.model.inventory import Host
from rollup.model.lock import LOCK_VERSION, Lock, LockedFile, check_lock, pin_path, read_lock, render_lock
from rollup.model.manifest import InstalledFile, Manifest, parse_manifest
from rollup.msi import read_msi, sha256_file
from rollup.msifiles import read_msi_files
from rollup.ops.files import FileStat, StatParams
from rollup.ops.registry import operation
from rollup.transport.base import TransportRegistry


class PinRefused(PackageError):
    """The package does not fit the manifest, or differs from the pinned one: ``problems`` says how."""

    def __init__(self, message: str, *, problems: Sequence[str], hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.problems = tuple(problems)


@dataclass(frozen=True, slots=True, kw_only=True)
class FoundFile:
    """One package file as found in a package; ``problem`` says why its identity is not known."""

    name: str
    """The manifest's spelling."""
    where: str
    size: int | None
    """``None``: the file is missing."""
    sha256: str | None = None
    product_code: str | None = None
    product_version: str | None = None
    installs: tuple[InstalledFile, ...] | None = None
    """The files the MSI installs; ``None`` when not read (from a host)."""
    problem: str | None = None


def installed_files(path: Path, *, error: type[PackageError] = PackageError) -> tuple[InstalledFile, ...]:
    """
    The files the MSI at ``path`` installs, as the lock records them.

    Raises:
        PackageError (of class ``error``): the tables or the cabinet cannot be read (one line).
    """
    return tuple(
        InstalledFile(
            path=f.path, component=f.component, size_bytes=f.size, version=f.version, sha256=f.sha256
        )
        for f in read_msi_files(path, error=error)
    )


def read_local(manifest: Manifest, folder: Path, *, identity: bool = True) -> tuple[FoundFile, ...]:
    """
    Each package file of ``manifest`` in ``folder`` (names compared as Windows compares them),
    with its size and, with ``identity``, its SHA-256, ProductCode and ProductVersion.

    Raises:
        PackageError: ``folder`` is not a readable directory.
    """
    try:
        on_disk = {windows_key(p.name): p for p in sorted(folder.iterdir()) if p.is_file()}
    except OSError as exc:
        raise PackageError(f"{folder}: cannot be read as a package folder: {exc.strerror}") from None
    found = []
    for entry in manifest.package.files:
        path = on_disk.get(windows_key(entry.name))
        if path is None:
            found.append(FoundFile(name=entry.name, where=str(folder / entry.name), size=None))
            continue
        size = path.stat().st_size
        if not identity:
            found.append(FoundFile(name=entry.name, where=str(path), size=size))
            continue
        try:
            digest = sha256_file(path, error=PackageError)
            info = read_msi(path, error=PackageError)
            installs = installed_files(path)
        except PackageError as exc:
            found.append(FoundFile(name=entry.name, where=str(path), size=size, problem=str(exc)))
            continue
        found.append(
            FoundFile(
                name=entry.name,
                where=str(path),
                size=size,
                sha256=digest,
                product_code=info.product_code,
                product_version=info.product_version,
                installs=installs,
            )
        )
    return tuple(found)


def read_remote(
    manifest: Manifest,
    host: Host,
    folder: str,
    *,
    transports: TransportRegistry,
    credentials: CredentialCache,
) -> tuple[FoundFile, ...]:
    """
    Each package file of ``manifest`` in ``folder`` on ``host``, read there by one ``files.stat``.

    Raises:
        CredentialError, TransportError, ResultParseError: the host could not be read.
    """
    from rollup.survey import ReadSession

    stat = operation("files.stat")
    if stat is None:
        raise RuntimeError("the files.stat operation is not registered")
    paths = tuple(str(PureWindowsPath(folder, f.name)) for f in manifest.package.files)
    params = StatParams(paths=paths, sha256=True, msi=True)
    with transports.create(host, credentials.get(host)) as transport:
        stats: tuple[FileStat, ...] = ReadSession(transport).call(stat, params)
    return tuple(
        FoundFile(
            name=entry.name,
            where=f"{host.name}:{s.path}",
            size=s.size if s.exists else None,
            sha256=s.sha256.lower() if s.sha256 else None,
            product_code=s.product_code.upper() if s.product_code else None,
            product_version=s.product_version,
            problem=s.error if s.exists and (s.error or not (s.product_code and s.product_version)) else None,
        )
        for entry, s in zip(manifest.package.files, stats, strict=True)
    )


def mismatches(manifest: Manifest, found: Sequence[FoundFile]) -> tuple[str, ...]:
    """
    How ``found`` differs from the manifest: missing files, sizes other than the KB's, files
    whose identity cannot be read, and values other than those the manifest pins. Empty: it fits.
    """
    problems = []
    for f in found:
        entry = manifest.file(f.name)
        if f.size is None:
            problems.append(f"{f.name}: missing ({f.where})")
        elif f.size != entry.size_bytes:
            problems.append(f"{f.name}: {f.size:,} bytes, the KB says {entry.size_bytes:,}")
        elif f.problem or not (f.sha256 and f.product_code and f.product_version):
            problems.append(
                f"{f.name}: not a readable MSI: {f.problem or 'no ProductCode or ProductVersion'}"
            )
        else:
            problems += [f"{f.name}: {change}" for change in _changes(entry.sha256, entry.product_code,
                                                                      entry.product_version, f)]  # fmt: skip
            problems += [f"{f.name}: {change}" for change in _install_changes(entry.installs, f)]
    return tuple(problems)


def _install_changes(pinned: tuple[InstalledFile, ...] | None, f: FoundFile) -> list[str]:
    """How the files ``f`` installs differ from pinned ones, one line per path (``None``: not known)."""
    if pinned is None or f.installs is None:
        return []
    old = {windows_key(i.path): i for i in pinned}
    new = {windows_key(i.path): i for i in f.installs}
    changes = [f"installs {i.path}, pinned without it" for k, i in new.items() if k not in old]
    changes += [f"does not install {i.path}, pinned with it" for k, i in old.items() if k not in new]
    for k, i in new.items():
        if k in old and old[k] != i:
            was = old[k].version or f"SHA-256 {old[k].sha256}"
            changes.append(f"installs {i.path} at {i.version or f'SHA-256 {i.sha256}'}, pinned {was}")
    return changes


def _changes(sha256: str | None, code: str | None, version: str | None, f: FoundFile) -> list[str]:
    """How ``f`` differs from pinned values (``None``: not pinned, nothing to differ from)."""
    changes = []
    for label, pinned, new in (
        ("SHA-256", sha256, f.sha256),
        ("ProductCode", code, f.product_code),
        ("ProductVersion", version, f.product_version),
    ):
        if pinned is not None and new is not None and pinned.lower() != new.lower():
            changes.append(f"{label} {new}, pinned {pinned}")
    return changes


@dataclass(frozen=True, slots=True, kw_only=True)
class PinResult:
    """What pinning did: the lock file, the files pinned, and whether an earlier lock was replaced."""

    lock: Path
    files: tuple[FoundFile, ...]
    replaced: tuple[str, ...]
    """With ``force``: how the earlier lock differed (empty when there was none or it was the same)."""
    unchanged: bool
    """The lock already pinned exactly this package (it is rewritten with the new time and source)."""


def pin(
    manifest_path: Path,
    found: Sequence[FoundFile],
    *,
    source: str,
    force: bool = False,
    now: datetime | None = None,
) -> PinResult:
    """
    Write the lock file of the manifest at ``manifest_path`` from ``found``.

    Raises:
        ManifestError: the manifest is invalid.
        PinRefused: the package does not fit the manifest (``problems`` lists every mismatch),
            or it differs from the one pinned already and ``force`` is not set.
    """
    manifest = parse_manifest(read_yaml(manifest_path, error=ManifestError), source=str(manifest_path))
    problems = mismatches(manifest, found)
    if problems:
        raise PinRefused(
            f"{source}: refused, nothing written: {len(problems)} file(s) do not match {manifest_path}, "
            f"the first: {problems[0]}",
            problems=problems,
            hint="pin the package the KB describes: every file at its byte size, each a readable MSI",
        )
    path = pin_path(manifest_path)
    try:
        earlier = _earlier(path, manifest)
    except PinRefused:
        if not force:
            raise
        earlier = {}
    replaced = tuple(
        f"{f.name}: {change}"
        for f in found
        if (old := earlier.get(windows_key(f.name))) is not None
        for change in (*_changes(old.sha256, old.product_code, old.product_version, f),
                       *_install_changes(old.installs, f))
    )  # fmt: skip
    if earlier and replaced and not force:
        raise PinRefused(
            f"{path}: pins another package, nothing written: {len(replaced)} difference(s), "
            f"the first: {replaced[0]}",
            problems=replaced,
            hint="to pin this package instead, run it again with --force",
        )
    lock = Lock(
        lock_version=LOCK_VERSION,
        manifest=manifest.metadata.id,
        kb=manifest.metadata.kb,
        pinned_at=(now or datetime.now(UTC)).replace(microsecond=0),
        source=" ".join(source.split())[:200],
        files=tuple(
            LockedFile(
                name=manifest.file(f.name).name,
                size_bytes=f.size or 0,
                sha256=f.sha256 or "",
                product_code=f.product_code or "",
                product_version=f.product_version or "",
                installs=f.installs,
            )
            for f in found
        ),
    )
    check_lock(lock, manifest, source=str(path))
    _write_atomically(path, render_lock(lock).encode("utf-8"))
    return PinResult(
        lock=path, files=tuple(found), replaced=replaced, unchanged=bool(earlier) and not replaced
    )


def _earlier(path: Path, manifest: Manifest) -> dict[str, LockedFile]:
    """The files of the lock at ``path`` by Windows name key; none when there is no lock.

    Raises:
        PinRefused: the lock no longer reads, or no longer fits the manifest (it is not replaced
            silently: the operator removes it, or pins again with ``force``).
    """
    if not path.exists():
        return {}
    try:
        lock = read_lock(path)
        check_lock(lock, manifest, source=str(path))
    except ManifestError as exc:
        raise PinRefused(f"{exc}", problems=(str(exc),), hint=f"remove {path}, then pin again") from None
    return {windows_key(f.name): f for f in lock.files}


def _write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``: a reader sees the old file or the new one, never a part."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with temporary.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise PackageError(f"{path}: cannot be written: {exc.strerror}") from None


def pin_from(
    manifest_path: Path,
    *,
    package_dir: Path | None,
    from_host: str | None,
    inventory_ref: str | None,
    remote_path: str | None,
    force: bool,
    transports: TransportRegistry,
    credentials: CredentialCache,
) -> PinResult:
    """
    ``rollup manifest pin``: read the package from ``package_dir``, or from ``remote_path`` on
    the inventory host ``from_host``, and pin it (see ``pin``).

    Raises:
        UsageError: not exactly one source, or a host source without its inventory and path.
        PinRefused, ManifestError, InventoryError, TransportError: as their names say.
    """
    from rollup.model.fields import check_windows_dir
    from rollup.model.inventory import load_inventory

    if (package_dir is None) == (from_host is None):
        raise UsageError("give --package-dir DIR, or --from-host HOST with --inventory and --path")
    manifest = parse_manifest(read_yaml(manifest_path, error=ManifestError), source=str(manifest_path))
    if package_dir is not None:
        return pin(manifest_path, read_local(manifest, package_dir), source=str(package_dir), force=force)
    if not inventory_ref or not remote_path:
        raise UsageError("--from-host needs --inventory NAME|PATH and --path WINPATH")
    try:
        check_windows_dir(remote_path)
    except ValueError as exc:
        raise UsageError(f"--path {remote_path!r}: {exc}") from None
    host = load_inventory(inventory_ref).host(from_host or "")
    found = read_remote(manifest, host, remote_path, transports=transports, credentials=credentials)
    return pin(manifest_path, found, source=f"{host.name}:{remote_path}", force=force)


def with_package(manifest: Manifest, folder: Path) -> Manifest:
    """
    ``manifest`` with each file's SHA-256, ProductCode, ProductVersion and installed files read
    from the package in ``folder`` (as ``rollup apply`` reads them), in memory: nothing is written. What
    ``rollup verify --package-dir`` compares hosts with when the manifest is not pinned.

    Raises:
        PackageError: a file is missing, not at the KB's size, not a readable MSI, or differs
            from a value the manifest pins (the first problem named, with how many there are).
    """
    found = read_local(manifest, folder, identity=True)
    problems = mismatches(manifest, found)
    if problems:
        raise PackageError(
            f"{folder}: {len(problems)} package file(s) do not fit the manifest, the first: {problems[0]}",
            hint="give the folder the rollup was extracted to (--package-dir), or pin the manifest",
        )
    by_name = {windows_key(f.name): f for f in found}
    files = tuple(
        entry.model_copy(
            update={
                "sha256": (by_name[windows_key(entry.name)].sha256 or "").lower(),
                "product_code": by_name[windows_key(entry.name)].product_code,
                "product_version": by_name[windows_key(entry.name)].product_version,
                "installs": by_name[windows_key(entry.name)].installs,
            }
        )
        for entry in manifest.package.files
    )
    return manifest.model_copy(update={"package": manifest.package.model_copy(update={"files": files})})
