"""rollup.msi: reading an MSI's identity in pure Python (no msitools), and hashing package files."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from rollup.errors import ConfigError, ManifestError, PackageError
from rollup.msi import MsiInfo, read_msi, sha256_file
from rollup.msiformat import encode_stream_name

WXS = """<?xml version="1.0" encoding="utf-8"?>
<Wix xmlns="http://schemas.microsoft.com/wix/2006/wi">
  <Product Id="{product_code}" UpgradeCode="{upgrade_code}" Name="Hosted Email 2007 Namespace"
           Version="4.0.2491.0" Manufacturer="Microsoft Corporation" Language="1033">
    <Package InstallerVersion="200" Compressed="yes" />
    <Directory Id="TARGETDIR" Name="SourceDir">
      <Component Id="Main" Guid="6F1B6C0A-6A4B-4C39-9A55-0D6E6C1C2B11">
        <RegistryValue Root="HKLM" Key="SOFTWARE\\Test" Name="V" Type="string" Value="1" KeyPath="yes" />
      </Component>
    </Directory>
    <Feature Id="Complete" Level="1"><ComponentRef Id="Main" /></Feature>
  </Product>
</Wix>
"""

PRODUCT_CODE = "{0A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D}"
UPGRADE_CODE = "{1A2B3C4D-5E6F-4A7B-8C9D-0E1F2A3B4C5D}"


def _wixl(tmp_path: Path, *, product_code: str = PRODUCT_CODE, upgrade_code: str = UPGRADE_CODE) -> Path:
    source = tmp_path / "package.wxs"
    text = WXS.format(product_code=product_code.strip("{}"), upgrade_code=upgrade_code.strip("{}"))
    source.write_text(text)
    out = tmp_path / "HostedEmail2007NS.msi"
    subprocess.run(["wixl", "-o", str(out), str(source)], check=True, capture_output=True, timeout=60)
    return out


def _msibuild_database(path: Path, *queries: str) -> Path:
    args = ["msibuild", str(path)]
    for query in queries:
        args += ["-q", query]
    subprocess.run(args, check=True, capture_output=True, timeout=60)
    return path


def _one_line_naming(exc: BaseException, path: Path) -> bool:
    text = str(exc)
    return "\n" not in text and str(path) in text


def test_reads_identity_of_a_wixl_package(tmp_path: Path) -> None:
    """ProductCode, ProductName, ProductVersion, UpgradeCode and Manufacturer come from the Property table."""
    msi = _wixl(tmp_path)

    info = read_msi(msi)

    assert info == MsiInfo(
        product_code=PRODUCT_CODE,
        product_name="Hosted Email 2007 Namespace",
        product_version="4.0.2491.0",
        upgrade_code=UPGRADE_CODE,
        manufacturer="Microsoft Corporation",
    )


def test_reading_does_not_modify_the_file(tmp_path: Path) -> None:
    """The package's bytes and modification time are the same after reading."""
    msi = _wixl(tmp_path)
    before = (msi.read_bytes(), msi.stat().st_mtime_ns)

    read_msi(msi)

    assert (msi.read_bytes(), msi.stat().st_mtime_ns) == before


def test_guids_are_reported_in_upper_case(tmp_path: Path) -> None:
    """A package written with lower-case GUIDs reads back with upper-case ones, as Windows records them."""
    msi = _wixl(tmp_path, product_code=PRODUCT_CODE.lower(), upgrade_code=UPGRADE_CODE.lower())

    info = read_msi(msi)

    assert (info.product_code, info.upgrade_code) == (PRODUCT_CODE, UPGRADE_CODE)


def test_file_padded_with_zero_sectors_still_reads(tmp_path: Path) -> None:
    """Whole zero 512-byte sectors appended to a package do not stop it from being read."""
    msi = _wixl(tmp_path)
    with msi.open("ab") as stream:
        stream.write(bytes(512 * 600))

    info = read_msi(msi)

    assert info.product_code == PRODUCT_CODE


def test_missing_file_is_a_one_line_error_naming_it(tmp_path: Path) -> None:
    """A path that does not exist gives one line naming it."""
    missing = tmp_path / "DNSClient.msi"

    with pytest.raises(ConfigError) as caught:
        read_msi(missing)

    assert _one_line_naming(caught.value, missing)
    assert "no such file" in str(caught.value)


def test_directory_is_refused_by_reader_and_hasher(tmp_path: Path) -> None:
    """A directory named like a package is refused by both functions with one line naming it."""
    folder = tmp_path / "ManagedHelpers.msi"
    folder.mkdir()

    errors = []
    for function in (read_msi, sha256_file):
        with pytest.raises(ConfigError) as caught:
            function(folder)
        errors.append(str(caught.value))

    assert errors == [f"{folder}: is a directory, not a file"] * 2


def test_text_file_is_not_an_msi(tmp_path: Path) -> None:
    """A file that is not a compound file is refused, naming the file."""
    bogus = tmp_path / "DNSProvider.msi"
    bogus.write_text("this is not an installer\n")

    with pytest.raises(ConfigError) as caught:
        read_msi(bogus)

    assert _one_line_naming(caught.value, bogus)
    assert "not an MSI file" in str(caught.value)


def test_truncated_package_is_not_readable(tmp_path: Path) -> None:
    """A package cut short keeps its signature but is not readable: one line naming the file."""
    msi = _wixl(tmp_path)
    cut = tmp_path / "Cut.msi"
    cut.write_bytes(msi.read_bytes()[:2000])

    with pytest.raises(ConfigError) as caught:
        read_msi(cut)

    assert _one_line_naming(caught.value, cut)
    assert "not a readable MSI database" in str(caught.value)


def test_database_without_property_table_is_refused(tmp_path: Path) -> None:
    """A compound file that is an installer database but has no Property table is not an MSI package."""
    db = _msibuild_database(
        tmp_path / "Empty.msi", "CREATE TABLE `Foo` (`A` CHAR(10) NOT NULL PRIMARY KEY `A`)"
    )

    with pytest.raises(ConfigError) as caught:
        read_msi(db)

    assert _one_line_naming(caught.value, db)
    assert "no Property table" in str(caught.value)


def test_missing_required_properties_are_named(tmp_path: Path) -> None:
    """A Property table without ProductCode, ProductVersion or Manufacturer: the error lists them."""
    db = _msibuild_database(
        tmp_path / "Partial.msi",
        "CREATE TABLE `Property` (`Property` CHAR(72) NOT NULL, `Value` CHAR(0) NOT NULL LOCALIZABLE "
        "PRIMARY KEY `Property`)",
        "INSERT INTO `Property` (`Property`, `Value`) VALUES ('ProductName', 'Managed Helpers')",
    )

    with pytest.raises(ConfigError) as caught:
        read_msi(db)

    assert _one_line_naming(caught.value, db)
    assert "ProductCode, ProductVersion, Manufacturer" in str(caught.value)


def test_product_code_must_be_a_guid(tmp_path: Path) -> None:
    """A ProductCode that is not a GUID in braces is refused, quoting it."""
    db = _msibuild_database(
        tmp_path / "BadCode.msi",
        "CREATE TABLE `Property` (`Property` CHAR(72) NOT NULL, `Value` CHAR(0) NOT NULL LOCALIZABLE "
        "PRIMARY KEY `Property`)",
        "INSERT INTO `Property` (`Property`, `Value`) VALUES ('ProductCode', 'not-a-guid')",
        "INSERT INTO `Property` (`Property`, `Value`) VALUES ('ProductName', 'X')",
        "INSERT INTO `Property` (`Property`, `Value`) VALUES ('ProductVersion', '1.0.0')",
        "INSERT INTO `Property` (`Property`, `Value`) VALUES ('Manufacturer', 'Y')",
    )

    with pytest.raises(ConfigError) as caught:
        read_msi(db)

    assert _one_line_naming(caught.value, db)
    assert "'not-a-guid'" in str(caught.value)


def test_package_without_upgrade_code_reads_with_none(tmp_path: Path) -> None:
    """UpgradeCode is optional in Windows Installer, so its absence is reported as None, not an error."""
    db = _msibuild_database(
        tmp_path / "NoUpgrade.msi",
        "CREATE TABLE `Property` (`Property` CHAR(72) NOT NULL, `Value` CHAR(0) NOT NULL LOCALIZABLE "
        "PRIMARY KEY `Property`)",
        "INSERT INTO `Property` (`Property`, `Value`) VALUES ('ProductCode', "
        "'{0A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D}')",
        "INSERT INTO `Property` (`Property`, `Value`) VALUES ('ProductName', 'Shared OAB Utility')",
        "INSERT INTO `Property` (`Property`, `Value`) VALUES ('ProductVersion', '4.0.2491.0')",
        "INSERT INTO `Property` (`Property`, `Value`) VALUES ('Manufacturer', 'Microsoft Corporation')",
    )

    info = read_msi(db)

    assert info.upgrade_code is None
    assert info.product_name == "Shared OAB Utility"


def test_error_class_and_display_name_are_the_callers(tmp_path: Path) -> None:
    """The caller chooses the error class and how the file is named in the message."""
    missing = tmp_path / "ManagedHelpers.msi"

    with pytest.raises(ManifestError) as caught:
        read_msi(missing, error=ManifestError, display="pkg/ManagedHelpers.msi")

    assert str(caught.value) == "pkg/ManagedHelpers.msi: no such file"


def test_reading_needs_no_msitools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With no msiinfo (nor anything else) on PATH, the identity still reads."""
    msi = _wixl(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))

    assert read_msi(msi).product_code == PRODUCT_CODE


def _directory_entry(data: bytes, name: str) -> int:
    """The offset of the compound-file directory entry of the stream ``name`` (UTF-16LE, 128 bytes each)."""
    at = data.find(name.encode("utf-16-le") + b"\0\0")
    assert at >= 0
    assert at % 128 == 0
    return at


def test_a_compound_file_that_is_no_installer_database_is_refused(tmp_path: Path) -> None:
    """An OLE file without the string pool: its stream renamed so it is no longer a table's stream."""
    data = bytearray(_wixl(tmp_path).read_bytes())
    at = _directory_entry(bytes(data), encode_stream_name("_StringPool", table=True))
    data[at : at + 2] = "X".encode("utf-16-le")
    other = tmp_path / "Other.doc"
    other.write_bytes(bytes(data))

    with pytest.raises(ConfigError) as caught:
        read_msi(other)

    assert str(caught.value) == f"{other}: not an MSI database (it has no string pool)"


def test_a_stream_cut_short_is_refused_naming_it(tmp_path: Path) -> None:
    """A directory entry that says the Property table is longer than its sectors: one line."""
    data = bytearray(_wixl(tmp_path).read_bytes())
    at = _directory_entry(bytes(data), encode_stream_name("Property", table=True))
    data[at + 120 : at + 124] = (1_000_000).to_bytes(4, "little")
    cut = tmp_path / "Cut.msi"
    cut.write_bytes(bytes(data))

    with pytest.raises(ConfigError) as caught:
        read_msi(cut, error=PackageError)

    assert isinstance(caught.value, PackageError)
    assert _one_line_naming(caught.value, cut)
    assert "Property" in str(caught.value)


def test_a_string_pool_cut_short_is_refused_naming_the_file(tmp_path: Path) -> None:
    """The string data's stream made shorter than the pool says: the pool points past its end."""
    data = bytearray(_wixl(tmp_path).read_bytes())
    at = _directory_entry(bytes(data), encode_stream_name("_StringData", table=True))
    size = int.from_bytes(data[at + 120 : at + 124], "little")
    data[at + 120 : at + 124] = (size // 2).to_bytes(4, "little")
    cut = tmp_path / "Pool.msi"
    cut.write_bytes(bytes(data))

    with pytest.raises(ConfigError) as caught:
        read_msi(cut)

    assert str(caught.value) == (
        f"{cut}: its string pool points past the end of the string data ({size // 2} bytes)"
    )


def test_sha256_file_matches_hashlib(tmp_path: Path) -> None:
    """The streamed digest equals hashlib's digest of the whole content, in lower-case hex."""
    data = bytes(range(256)) * 5000
    target = tmp_path / "ResourceManageDatabase.msi"
    target.write_bytes(data)

    digest = sha256_file(target)

    assert digest == hashlib.sha256(data).hexdigest()


def test_sha256_of_missing_file_is_a_one_line_error(tmp_path: Path) -> None:
    """Hashing a file that does not exist names it in one line."""
    missing = tmp_path / "Servicebase.msi"

    with pytest.raises(ConfigError) as caught:
        sha256_file(missing)

    assert _one_line_naming(caught.value, missing)
