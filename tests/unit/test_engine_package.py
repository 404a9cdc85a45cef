"""The package on the control host: every file present, sized and hashed as the manifest says."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rollup.engine.package import load_package
from rollup.errors import PackageError
from rollup.lab.prerollup import rollup_package
from rollup.model.manifest import DEFAULT_MANIFEST, Manifest, load_manifest
from rollup.msi import sha256_file

DNS = "DNSClient.msi"


@pytest.fixture(scope="module", name="manifest")
def _manifest() -> Manifest:
    return load_manifest(DEFAULT_MANIFEST)


@pytest.fixture(name="folder")
def _folder(manifest: Manifest, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    files = rollup_package(manifest, tmp_path_factory.getbasetemp() / "msi-cache")
    folder = tmp_path / "package"
    folder.mkdir()
    for name, path in files.items():
        shutil.copyfile(path, folder / name)
    return folder


def _pinned(manifest: Manifest, name: str, **values: str) -> Manifest:
    data = manifest.model_dump(mode="json")
    for entry in data["package"]["files"]:
        if entry["name"] == name:
            entry.update(values)
    return Manifest.model_validate(data)


def test_every_file_is_read_with_its_hash_and_msi_identity(manifest: Manifest, folder: Path) -> None:
    """A complete package gives each file's path, size, SHA-256 and, for MSIs, its properties."""
    package = load_package(folder, manifest)

    dns = package.file("dnsclient.MSI")

    assert len(package.files) == 22
    assert dns.size == 679936
    assert dns.sha256 == sha256_file(folder / DNS)
    assert dns.msi is not None
    assert dns.msi.product_name == "DNS Client"
    assert dns.product_version == "4.0.2491.0"
    assert len(package.unpinned()) == 22


def test_file_names_compare_as_windows_compares_them(manifest: Manifest, folder: Path) -> None:
    """A package extracted with other capitalisation is still the package."""
    (folder / DNS).rename(folder / "DNSCLIENT.MSI")

    package = load_package(folder, manifest)

    assert package.file(DNS).path.name == "DNSCLIENT.MSI"


def test_a_missing_file_is_named(manifest: Manifest, folder: Path) -> None:
    """One line naming the file that is not there."""
    (folder / DNS).unlink()

    with pytest.raises(PackageError, match=r"/DNSClient.msi: missing from the package directory"):
        load_package(folder, manifest, display="package")


def test_a_file_of_another_size_is_refused(manifest: Manifest, folder: Path) -> None:
    """The KB's size is checked before anything is hashed or sent."""
    with (folder / DNS).open("ab") as stream:
        stream.write(b"\0" * 512)

    with pytest.raises(PackageError, match=r"DNSClient.msi: 680448 bytes, but the manifest says 679936"):
        load_package(folder, manifest)


def test_a_pinned_hash_that_differs_is_refused(manifest: Manifest, folder: Path) -> None:
    """A manifest that pins SHA-256 accepts only those bytes."""
    pinned = _pinned(manifest, DNS, sha256="ab" * 32)

    with pytest.raises(
        PackageError, match=r"DNSClient.msi: SHA-256 [0-9a-f]{64}, but the manifest pins abab"
    ):
        load_package(folder, pinned)


def test_pinned_values_that_match_are_accepted(manifest: Manifest, folder: Path) -> None:
    """Pinned hash, ProductCode and ProductVersion equal to the file's: the file counts as pinned."""
    real = load_package(folder, manifest).file(DNS)

    assert real.msi is not None
    pinned = _pinned(
        manifest,
        DNS,
        sha256=real.sha256,
        product_code=real.msi.product_code,
        product_version=real.msi.product_version,
    )

    package = load_package(folder, pinned)

    assert DNS not in package.unpinned()
    assert package.file(DNS).pinned


def test_a_pinned_product_version_that_differs_is_refused(manifest: Manifest, folder: Path) -> None:
    """A package of another build is refused by its ProductVersion."""
    pinned = _pinned(manifest, DNS, product_version="4.0.9999.0")

    with pytest.raises(PackageError, match=r"ProductVersion 4.0.2491.0, but the manifest pins 4.0.9999.0"):
        load_package(folder, pinned)


def test_a_file_that_is_not_an_msi_is_refused(manifest: Manifest, folder: Path) -> None:
    """Bytes of the right size that are no installer database are caught before any host sees them."""
    size = (folder / DNS).stat().st_size
    (folder / DNS).write_bytes(b"x" * size)

    with pytest.raises(PackageError, match=r"DNSClient.msi"):
        load_package(folder, manifest)


def test_a_missing_directory_says_how_to_name_one(manifest: Manifest, tmp_path: Path) -> None:
    """No such directory: the hint names --package-dir and rollup_package_dir."""
    with pytest.raises(PackageError, match=r"no such package directory") as caught:
        load_package(tmp_path / "nowhere", manifest)

    assert "rollup_package_dir" in (caught.value.hint or "")


def test_the_inventory_names_the_package_directory_relative_to_itself(tmp_path: Path) -> None:
    """``rollup_package_dir`` in all.vars is a path from the inventory file's folder; absent, it is None."""
    from rollup.model.inventory import load_inventory

    folder = tmp_path / "site"
    folder.mkdir()
    body = "all:\n  vars:\n{extra}  children:\n    deployment_tool:\n      hosts:\n        MPS01:\n"
    (folder / "with.yml").write_text(body.format(extra="    rollup_package_dir: ../KB2492954\n"))
    (folder / "without.yml").write_text(body.format(extra=""))

    given = load_inventory("site/with.yml", base_dir=tmp_path)
    absent = load_inventory("site/without.yml", base_dir=tmp_path)

    assert given.settings.package_dir == folder / ".." / "KB2492954"
    assert absent.settings.package_dir is None


def test_the_package_directory_is_an_inventory_wide_setting_only(tmp_path: Path) -> None:
    """Set on a host it is refused, as every inventory-wide setting is."""
    from rollup.errors import InventoryError
    from rollup.model.inventory import load_inventory

    (tmp_path / "bad.yml").write_text(
        "all:\n  children:\n    deployment_tool:\n      hosts:\n        MPS01: {rollup_package_dir: pkg}\n"
    )

    with pytest.raises(InventoryError, match=r"MPS01.rollup_package_dir: an inventory-wide setting"):
        load_inventory("bad.yml", base_dir=tmp_path)
