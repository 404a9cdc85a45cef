"""
``rollup.msifiles``: the files a package installs, from its File, Component and Directory tables
(read in pure Python; msitools only writes the test packages), paths resolved to a standard
folder, versions from the File table, SHA-256 of the unversioned files from the cabinet; a folder
verify cannot resolve is refused naming the file.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from rollup.errors import ConfigError, PackageError
from rollup.msifiles import extract_msi_files, read_msi_files

WXS = """<?xml version="1.0" encoding="utf-8"?>
<Wix xmlns="http://schemas.microsoft.com/wix/2006/wi">
  <Product Id="0A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D" Name="Test" Version="4.0.2491.0"
           Manufacturer="Microsoft Corporation" Language="1033">
    <Package InstallerVersion="200" Compressed="yes" />
    <Media Id="1" Cabinet="files.cab" EmbedCab="yes" />
    <Directory Id="TARGETDIR" Name="SourceDir">
      <Directory Id="{folder}">
        <Directory Id="Vendor" Name="Microsoft Hosting">
          <Directory Id="App" Name="Provisioning Tools">
            <Component Id="Main" Guid="6F1B6C0A-6A4B-4C39-9A55-0D6E6C1C2B11">
              <File Id="Dll" Name="Tool.dll" Source="tool.dll" KeyPath="yes" />
              <File Id="Config" Name="Tool.dll.config" Source="tool.config" />
            </Component>
          </Directory>
        </Directory>
      </Directory>
    </Directory>
    <Feature Id="Complete" Level="1"><ComponentRef Id="Main" /></Feature>
  </Product>
</Wix>
"""
CONFIG = b'<?xml version="1.0"?>\r\n<configuration />\r\n'


def _package(
    tmp_path: Path, folder: str = "ProgramFilesFolder", *, version: str = "4.0.2491.7", config: bytes = CONFIG
) -> Path:
    (tmp_path / "tool.dll").write_bytes(b"MZ" + bytes(510))
    (tmp_path / "tool.config").write_bytes(config)
    (tmp_path / "package.wxs").write_text(WXS.replace("{folder}", folder))
    out = tmp_path / "Tool.msi"
    subprocess.run(
        ["wixl", "-o", out.name, "package.wxs"], cwd=tmp_path, check=True, capture_output=True, timeout=60
    )
    # wixl leaves the Version column empty: write it, as build.py does for the lab's packages
    exported = subprocess.run(["msiinfo", "export", out.name, "File"], cwd=tmp_path, check=True,
                              capture_output=True, text=True, timeout=60).stdout  # fmt: skip
    rows = [line.split("\t") for line in exported.splitlines()]
    for row in rows[3:]:
        if row[0] == "Dll":
            row[4], row[5] = version, "1033"
    (tmp_path / "File.idt").write_text("".join("\t".join(r) + "\r\n" for r in rows))
    subprocess.run(
        ["msibuild", out.name, "-i", "File.idt"], cwd=tmp_path, check=True, capture_output=True, timeout=60
    )
    return out


def test_the_files_are_read_with_their_paths_versions_and_hashes(tmp_path: Path) -> None:
    dll, config = read_msi_files(_package(tmp_path))

    folder = "[ProgramFilesFolder]Microsoft Hosting\\Provisioning Tools\\"
    assert (dll.file_id, dll.path, dll.size, dll.version, dll.sha256) == ("Dll", f"{folder}Tool.dll", 512,
                                                                          "4.0.2491.7", None)  # fmt: skip
    assert (config.path, config.size, config.version) == (f"{folder}Tool.dll.config", len(CONFIG), None)
    assert config.sha256 == hashlib.sha256(CONFIG).hexdigest()
    assert dll.component == config.component == "{6F1B6C0A-6A4B-4C39-9A55-0D6E6C1C2B11}"


def test_the_bytes_of_every_file_come_out_of_the_cabinet(tmp_path: Path) -> None:
    package = _package(tmp_path)
    rows = read_msi_files(package, hashes=False)

    contents = extract_msi_files(package, rows)

    assert contents == {"Dll": b"MZ" + bytes(510), "Config": CONFIG}


def test_a_file_installed_under_a_folder_verify_cannot_resolve_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(PackageError) as refused:
        read_msi_files(_package(tmp_path, "SystemFolder"), error=PackageError, display="Tool.msi")

    assert str(refused.value) == (
        "Tool.msi: File Dll installs under 'App', which is not under ProgramFilesFolder, CommonFilesFolder, "
        "WindowsFolder: verify cannot tell where it is on a host"
    )


def test_a_file_that_is_no_msi_is_refused_with_one_line(tmp_path: Path) -> None:
    junk = tmp_path / "Junk.msi"
    junk.write_bytes(bytes.fromhex("D0CF11E0A1B11AE1") + bytes(1000))

    with pytest.raises(ConfigError) as refused:
        read_msi_files(junk, display="Junk.msi")

    assert str(refused.value).startswith("Junk.msi: not a readable MSI database")
    assert "\n" not in str(refused.value)


def test_a_file_of_many_cabinet_blocks_hashes_as_its_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 200 KB file spans several MSZIP blocks of the cabinet; no msitools is needed to read it."""
    config = b"".join(b"<add key='%d' value='%x' />\r\n" % (i, i * 7919) for i in range(8000))
    package = _package(tmp_path, config=config)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))

    _, read = read_msi_files(package)

    assert len(config) > 4 * 32_768
    assert (read.size, read.sha256) == (len(config), hashlib.sha256(config).hexdigest())


def test_a_database_without_a_file_table_is_refused_naming_it(tmp_path: Path) -> None:
    db = tmp_path / "NoFiles.msi"
    query = "CREATE TABLE `Property` (`Property` CHAR(72) NOT NULL, `Value` CHAR(0) PRIMARY KEY `Property`)"
    subprocess.run(["msibuild", str(db), "-q", query], check=True, capture_output=True, timeout=60)

    with pytest.raises(PackageError) as refused:
        read_msi_files(db, error=PackageError, display="NoFiles.msi")

    assert str(refused.value) == "NoFiles.msi: not an MSI database (it has no File table)"


def test_a_file_missing_from_the_cabinet_is_refused_naming_it(tmp_path: Path) -> None:
    """The cabinet's entry renamed: the File key is no longer in it."""
    package = _package(tmp_path)
    data = package.read_bytes()
    package.write_bytes(data.replace(b"Config\0", b"Cfgxxx\0", 1))

    with pytest.raises(ConfigError) as refused:
        read_msi_files(package, display="Tool.msi")

    assert str(refused.value) == (
        "Tool.msi: File Config ([ProgramFilesFolder]Microsoft Hosting\\Provisioning Tools\\Tool.dll.config) "
        "is not in the package's cabinet"
    )
