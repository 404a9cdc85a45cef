"""
The files an MSI package installs: its File table, with paths resolved through its Component and
Directory tables, and the SHA-256 of each unversioned file, read from the package's own cabinet.

``rollup manifest pin`` records them in the lock file, and ``rollup verify`` reads each one on
the hosts its component lives on. The tables are read with ``msiinfo export`` and the files
extracted with ``msiextract`` (both Debian msitools, as ``rollup.msi`` reads the Property table):
nothing here parses the compound-file format.

A path is written as Windows Installer resolves it, from a standard folder property:
``[ProgramFilesFolder]Microsoft Hosting\\Provisioning\\DNSClient\\x.dll``. Only the folders a
host can tell without Windows Installer (``RESOLVABLE``) are accepted; a package installing
elsewhere is refused with one line naming the file and its folder.

A file is versioned when its File table row has a version (``4.0.2491.0``); Windows Installer
then compares it by the version resource, and so does verify ("or later" is compliant). An
unversioned file (a configuration file) is compared by its size and SHA-256.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from rollup.errors import ConfigError
from rollup.msi import MSIINFO_TIMEOUT_S, export_table

RESOLVABLE = ("ProgramFilesFolder", "CommonFilesFolder", "WindowsFolder")
"""The standard folders ``files.installed`` resolves on a host (from its environment)."""

_VERSION = re.compile(r"^\d{1,5}(\.\d{1,5}){0,3}$")
_HINT = "install msitools (Debian: apt-get install msitools; bin/bootstrap does it)"


@dataclass(frozen=True, slots=True, kw_only=True)
class MsiFile:
    """One row of a package's File table, with its installed path."""

    file_id: str
    component: str
    """The component's GUID (upper case, in braces): Windows Installer shares files by it."""
    path: str
    """``[ProgramFilesFolder]folder\\name``: where the file is installed."""
    size: int
    version: str | None
    """The File table's version; ``None`` for an unversioned file."""
    sha256: str | None = None
    """Of an unversioned file, from the package's cabinet (``None`` when not extracted)."""


def read_msi_files(
    path: Path, *, error: type[ConfigError] = ConfigError, display: str | None = None, hashes: bool = True
) -> tuple[MsiFile, ...]:
    """
    The files the package at ``path`` installs, in File table order; with ``hashes``, each
    unversioned file's SHA-256 from the package's cabinet.

    Raises:
        ConfigError (of class ``error``): ``<file>: <what is wrong>``: not a readable MSI, a
            malformed table, a file installed under a folder verify cannot resolve, a file the
            cabinet lacks or holds at another size.
        ConfigError: msitools is not installed.
    """
    source = display or str(path)
    files = _rows(export_table(path, "File", source=source, error=error), "File", source, error)
    components = _rows(
        export_table(path, "Component", source=source, error=error), "Component", source, error
    )
    directories = _rows(
        export_table(path, "Directory", source=source, error=error), "Directory", source, error
    )
    parents = {row["Directory"]: (row["Directory_Parent"], row["DefaultDir"]) for row in directories}
    by_component = {row["Component"]: row for row in components}
    found = []
    for row in files:
        component = by_component.get(row["Component_"])
        if component is None:
            raise error(
                f"{source}: File {row['File']}: no component {row['Component_']!r} in the Component table"
            )
        folder = _folder(component["Directory_"], parents, source=source, error=error, file=row["File"])
        version = row["Version"] if _VERSION.fullmatch(row["Version"]) else None
        if not row["FileSize"].isdigit():
            raise error(f"{source}: File {row['File']}: FileSize {row['FileSize']!r} is not a number")
        found.append(
            MsiFile(
                file_id=row["File"],
                component=component["ComponentId"].upper(),
                path=folder + _long_name(row["FileName"]),
                size=int(row["FileSize"]),
                version=version,
            )
        )
    if hashes and any(f.version is None for f in found):
        found = _with_hashes(path, found, source=source, error=error)
    return tuple(found)


def split_folder(path: str) -> tuple[str, str]:
    """``[ProgramFilesFolder]a\\b.dll`` as ``("ProgramFilesFolder", "a\\b.dll")``."""
    token, _, rest = path.partition("]")
    return token.removeprefix("["), rest


def _rows(text: str, table: str, source: str, error: type[ConfigError]) -> list[dict[str, str]]:
    lines = text.splitlines()
    if len(lines) < 3:
        raise error(f"{source}: msiinfo printed something other than the {table} table")
    columns = lines[0].split("\t")
    rows = []
    for line in lines[3:]:
        values = line.split("\t")
        if len(values) != len(columns):
            raise error(f"{source}: {table} table: a row has {len(values)} columns, not {len(columns)}")
        rows.append(dict(zip(columns, values, strict=True)))
    return rows


def _long_name(default_dir: str) -> str:
    """The target long name of a FileName or DefaultDir value (``short|long[:source]``)."""
    target = default_dir.split(":", 1)[0]
    return target.split("|", 1)[-1]


def _folder(
    directory: str,
    parents: dict[str, tuple[str, str]],
    *,
    source: str,
    error: type[ConfigError],
    file: str,
) -> str:
    """``[Folder]a\\b\\``: the directory resolved up to the standard folder it is in."""
    names: list[str] = []
    seen: set[str] = set()
    current = directory
    while current not in RESOLVABLE:
        if current in seen or current not in parents or not parents[current][0]:
            raise error(
                f"{source}: File {file} installs under {directory!r}, which is not under "
                f"{', '.join(RESOLVABLE)}: verify cannot tell where it is on a host"
            )
        seen.add(current)
        parent, default_dir = parents[current]
        name = _long_name(default_dir)
        if name != ".":
            names.append(name)
        current = parent
    return f"[{current}]" + "".join(f"{name}\\" for name in reversed(names))


def _with_hashes(path: Path, found: list[MsiFile], *, source: str, error: type[ConfigError]) -> list[MsiFile]:
    """``found`` with each unversioned file's SHA-256, from the package's cabinet."""
    unversioned = [f for f in found if f.version is None]
    contents = extract_msi_files(path, unversioned, error=error, display=source)
    return [
        f
        if f.version is not None
        else dataclasses.replace(f, sha256=hashlib.sha256(contents[f.file_id]).hexdigest())
        for f in found
    ]


def extract_msi_files(
    path: Path,
    files: Sequence[MsiFile],
    *,
    error: type[ConfigError] = ConfigError,
    display: str | None = None,
) -> dict[str, bytes]:
    """
    The bytes of ``files`` (rows of the package at ``path``), by File key, as ``msiextract``
    writes them out of the package's cabinet.

    Raises:
        ConfigError (of class ``error``): the files cannot be extracted, or one is missing from
            the cabinet or there at another size than its File table row says.
        ConfigError: msiextract is not installed.
    """
    source = display or str(path)
    msiextract = shutil.which("msiextract")
    if msiextract is None:
        raise ConfigError(f"{source}: cannot extract its files: msiextract is not installed", hint=_HINT)
    with tempfile.TemporaryDirectory(prefix="rollup-msi-") as folder:
        try:
            proc = subprocess.run(
                [msiextract, "--directory", folder, os.fspath(path.absolute())],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=MSIINFO_TIMEOUT_S,
                check=False,
                env={**os.environ, "LC_ALL": "C"},
            )
        except subprocess.TimeoutExpired:
            raise error(f"{source}: msiextract did not finish within {MSIINFO_TIMEOUT_S:g} s") from None
        if proc.returncode != 0:
            message = " ".join(proc.stderr.decode("utf-8", "replace").split()) or "no message"
            raise error(f"{source}: its files cannot be extracted (msiextract: {message})")
        extracted = [
            PurePosixPath(line) for line in proc.stdout.decode("utf-8", "replace").splitlines() if line
        ]
        contents = {}
        for f in files:
            # msiextract names the standard folders its own way: match the part below the folder.
            tail = split_folder(f.path)[1].split("\\")
            matches = [p for p in extracted if list(p.parts[-len(tail) :]) == tail]
            if len(matches) != 1:
                raise error(f"{source}: File {f.file_id} ({f.path}) is not in the package's cabinet")
            data = Path(folder, matches[0]).read_bytes()
            if len(data) != f.size:
                raise error(
                    f"{source}: File {f.file_id}: {len(data)} bytes in the cabinet, {f.size} in its row"
                )
            contents[f.file_id] = data
        return contents
