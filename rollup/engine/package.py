"""
The rollup package on the control host: the files a run sends, checked before anything runs.

An operator extracts the hotfix into a directory (``--package-dir``, or the inventory's
``rollup_package_dir``). Before a run contacts any host, every file the manifest lists must be
there, with the manifest's size and, where the manifest pins them, its SHA-256, ProductCode and
ProductVersion. A wrong file is refused here, with one line naming it, rather than discovered on
the fortieth host.

For each MSI the properties the engine's guards need are read locally (``rollup.msi.read_msi``,
read-only): ProductCode, ProductName, ProductVersion and UpgradeCode. "Is the rollup's build of
this product already installed?" is answered from these, not from names in the manifest.

File names compare as Windows compares them (ignoring case), so a package extracted with other
capitalisation is still found.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from rollup.errors import PackageError
from rollup.model.manifest import Manifest, PackageFile
from rollup.msi import MsiInfo, read_msi, sha256_file


@dataclass(frozen=True, slots=True, kw_only=True)
class LocalFile:
    """One package file on the control host, as checked: where it is, its size, hash and identity."""

    name: str
    """The manifest's spelling."""
    path: Path
    size: int
    sha256: str
    pinned: bool
    """Whether the manifest pins the SHA-256 (else it was computed here and trusted as found)."""
    msi: MsiInfo | None
    """The MSI's identity, for ``.msi`` files."""

    @property
    def product_version(self) -> str | None:
        return None if self.msi is None else self.msi.product_version


@dataclass(frozen=True, slots=True, kw_only=True)
class Package:
    """The checked package: one ``LocalFile`` per manifest file."""

    root: Path
    files: Mapping[str, LocalFile]
    """Keyed by the case-folded file name."""

    def file(self, name: str) -> LocalFile:
        """
        The package file called ``name`` (any case).

        Raises:
            PackageError: the manifest has no such file.
        """
        found = self.files.get(name.casefold())
        if found is None:
            raise PackageError(f"{self.root}: the package has no file {name!r}")
        return found

    def unpinned(self) -> tuple[str, ...]:
        """Files whose SHA-256 the manifest does not pin (a notice, not an error)."""
        return tuple(f.name for f in self.files.values() if not f.pinned)


def load_package(root: Path, manifest: Manifest, *, display: str | None = None) -> Package:
    """
    Check the package directory ``root`` against ``manifest`` and read its MSIs' properties.

    Raises:
        PackageError: the directory is missing; a file is missing, has another size, another
            SHA-256, or (for an MSI) another ProductCode or ProductVersion than the manifest pins,
            or is not a readable MSI. One line naming the file.
    """
    shown = display or str(root)
    if not root.is_dir():
        raise PackageError(
            f"{shown}: no such package directory",
            hint="extract the hotfix there, or give --package-dir (or rollup_package_dir in the inventory)",
        )
    on_disk = {p.name.casefold(): p for p in root.iterdir() if p.is_file()}
    files: dict[str, LocalFile] = {}
    for entry in manifest.package.files:
        path = on_disk.get(entry.name.casefold())
        if path is None:
            raise PackageError(f"{shown}/{entry.name}: missing from the package directory")
        files[entry.name.casefold()] = _checked(path, entry, f"{shown}/{path.name}")
    return Package(root=root, files=MappingProxyType(files))


def _checked(path: Path, entry: PackageFile, shown: str) -> LocalFile:
    size = path.stat().st_size
    if size != entry.size_bytes:
        raise PackageError(f"{shown}: {size} bytes, but the manifest says {entry.size_bytes}")
    digest = sha256_file(path, error=PackageError, display=shown)
    if entry.sha256 is not None and digest != entry.sha256:
        raise PackageError(f"{shown}: SHA-256 {digest}, but the manifest pins {entry.sha256}")
    info = read_msi(path, error=PackageError, display=shown) if path.suffix.lower() == ".msi" else None
    if info is not None:
        if entry.product_code is not None and info.product_code != entry.product_code:
            raise PackageError(
                f"{shown}: ProductCode {info.product_code}, but the manifest pins {entry.product_code}"
            )
        if entry.product_version is not None and info.product_version != entry.product_version:
            raise PackageError(
                f"{shown}: ProductVersion {info.product_version}, "
                f"but the manifest pins {entry.product_version}"
            )
    return LocalFile(
        name=entry.name, path=path, size=size, sha256=digest, pinned=entry.sha256 is not None, msi=info
    )
