"""
The files an MSI package installs: its File table, with paths resolved through its Component and
Directory tables, and the SHA-256 of each unversioned file, read from the package's own cabinet.

``rollup manifest pin`` records them in the lock file, and ``rollup verify`` reads each one on
the hosts its component lives on. The tables are read with ``rollup.msidb`` and the files out of
the package's cabinet with ``rollup.msicab``, both pure Python, as ``rollup.msi`` reads the
Property table. A cabinet is the stream the Media table names (``#name``) or a file beside the
package. A cabinet ``rollup.msicab`` does not read (LZX or Quantum, or spanning several
cabinets) is extracted with msitools' ``msiextract`` when it is on PATH, and refused with one
line naming the package when it is not.

A path is written as Windows Installer resolves it, from a standard folder property:
``[ProgramFilesFolder]Microsoft Hosting\\Provisioning\\DNSClient\\x.dll``. Only the folders a
host can tell without Windows Installer (``RESOLVABLE``) are accepted; a package installing
elsewhere is refused with one line naming the file and its folder.

A file is versioned when its File table row has a version (``4.0.2491.0``); Windows Installer
then compares it by the version resource, and so does verify ("or later" is compliant). An
unversioned file (a configuration file) is compared by its size and SHA-256.
"""

from __future__ import annotations

import bisect
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
from rollup.msi import open_msi
from rollup.msicab import Cabinet, CabinetNotRead
from rollup.msidb import MsiDatabase, MsiFormatError, Table

RESOLVABLE = ("ProgramFilesFolder", "CommonFilesFolder", "WindowsFolder")
"""The standard folders ``files.installed`` resolves on a host (from its environment)."""

_VERSION = re.compile(r"^\d{1,5}(\.\d{1,5}){0,3}$")
MSIEXTRACT_TIMEOUT_S = 300.0
"""How long ``msiextract`` may take over a package whose cabinet ``rollup.msicab`` does not read."""


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
    """
    source = display or str(path)
    with open_msi(path, error=error, display=source) as db:
        files = _rows(db.table("File"), ("File", "Component_", "FileName", "FileSize", "Version"))
        components = _rows(db.table("Component"), ("Component", "ComponentId", "Directory_"))
        directories = _rows(db.table("Directory"), ("Directory", "Directory_Parent", "DefaultDir"))
        found = _files(files, components, directories, source=source, error=error)
        if hashes and any(f.version is None for f in found):
            unversioned = [f for f in found if f.version is None]
            contents = _extract(db, path, unversioned, source=source, error=error)
            found = [
                f if f.version is not None
                else dataclasses.replace(f, sha256=hashlib.sha256(contents[f.file_id]).hexdigest())
                for f in found
            ]  # fmt: skip
    return tuple(found)


def _files(
    files: list[dict[str, str]],
    components: list[dict[str, str]],
    directories: list[dict[str, str]],
    *,
    source: str,
    error: type[ConfigError],
) -> list[MsiFile]:
    """The File table's rows with their components and installed paths."""
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
    return found


def split_folder(path: str) -> tuple[str, str]:
    """``[ProgramFilesFolder]a\\b.dll`` as ``("ProgramFilesFolder", "a\\b.dll")``."""
    token, _, rest = path.partition("]")
    return token.removeprefix("["), rest


def _rows(table: Table, required: tuple[str, ...]) -> list[dict[str, str]]:
    """
    The rows of ``table`` as text, as an .idt export shows them (NULL as ``""``).

    Raises:
        MsiFormatError: the table lacks one of the ``required`` columns.
    """
    names = {c.name for c in table.columns}
    missing = [name for name in required if name not in names]
    if missing:
        raise MsiFormatError(f"its {table.name} table has no {', '.join(missing)} column")
    return [{k: "" if v is None else str(v) for k, v in row.items()} for row in table.records()]


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


def extract_msi_files(
    path: Path,
    files: Sequence[MsiFile],
    *,
    error: type[ConfigError] = ConfigError,
    display: str | None = None,
) -> dict[str, bytes]:
    """
    The bytes of ``files`` (rows of the package at ``path``), by File key, out of the package's
    cabinets.

    Raises:
        ConfigError (of class ``error``): the package or a cabinet cannot be read, a file is in
            no cabinet, or is there at another size than its File table row says.
    """
    source = display or str(path)
    with open_msi(path, error=error, display=source) as db:
        return _extract(db, path, files, source=source, error=error)


def _extract(
    db: MsiDatabase, path: Path, files: Sequence[MsiFile], *, source: str, error: type[ConfigError]
) -> dict[str, bytes]:
    """``extract_msi_files`` on an open database: each file found by its Sequence in the Media table."""
    sequences = {
        row["File"]: row["Sequence"]
        for row in _rows(db.table("File"), ("File", "Sequence"))
    }  # fmt: skip
    media = sorted(
        (int(row["LastSequence"]), row["Cabinet"])
        for row in _rows(db.table("Media"), ("LastSequence", "Cabinet"))
        if row["LastSequence"].lstrip("-").isdigit()
    )
    wanted: dict[str, list[MsiFile]] = {}
    for f in files:
        sequence = sequences.get(f.file_id, "")
        at = bisect.bisect_left(media, (int(sequence),)) if sequence.isdigit() else len(media)
        if at == len(media) or not media[at][1]:
            raise error(f"{source}: File {f.file_id} ({f.path}) is not in the package's cabinet")
        wanted.setdefault(media[at][1], []).append(f)
    contents: dict[str, bytes] = {}
    refused: list[tuple[CabinetNotRead, list[MsiFile]]] = []
    for name, members in wanted.items():
        try:
            cabinet = Cabinet(
                _cabinet_bytes(db, path, name, source=source, error=error), name=name.lstrip("#")
            )
        except CabinetNotRead as exc:
            refused.append((exc, members))
            continue
        for f in members:
            if f.file_id not in cabinet.files:
                raise error(f"{source}: File {f.file_id} ({f.path}) is not in the package's cabinet")
        for key, data in cabinet.read(f.file_id for f in members).items():
            size = next(f.size for f in members if f.file_id == key)
            if len(data) != size:
                raise error(f"{source}: File {key}: {len(data)} bytes in the cabinet, {size} in its row")
            contents[key] = data
    if refused:
        unsafe = _unsafe_name(db)
        if unsafe is not None:
            raise error(
                f"{source}: {unsafe!r} in its tables is no plain name: msiextract would write outside its "
                "folder"
            )
        members = [f for _, group in refused for f in group]
        contents |= _msiextract(path, members, refused[0][0], source=source, error=error)
    return contents


def _msiextract(
    path: Path, files: Sequence[MsiFile], why: CabinetNotRead, *, source: str, error: type[ConfigError]
) -> dict[str, bytes]:
    """
    ``files`` as msitools' ``msiextract`` writes them into a temporary folder: the way to a
    cabinet ``rollup.msicab`` does not read (``why`` says what it is).
    """
    program = shutil.which("msiextract")
    if program is None:
        raise error(
            f"{source}: its cabinet {why.cabinet} {why.what}: reading it needs msitools' msiextract "
            "installed (e.g. apt-get install msitools)"
        )
    with tempfile.TemporaryDirectory(prefix="rollup-msiextract-") as folder:
        try:
            proc = subprocess.run(
                [program, "--directory", folder, os.fspath(path.absolute())],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=MSIEXTRACT_TIMEOUT_S,
                check=False,
                env={**os.environ, "LC_ALL": "C"},
            )
        except subprocess.TimeoutExpired:
            raise error(f"{source}: msiextract did not finish within {MSIEXTRACT_TIMEOUT_S:g} s") from None
        except OSError as exc:
            raise error(f"{source}: msiextract cannot be run: {exc.strerror or exc}") from None
        extracted = _regular_files(Path(folder))
        contents = {}
        for f in files:
            # msiextract names the standard folders its own way: match the part below the folder.
            tail = tuple(split_folder(f.path)[1].split("\\"))
            matches = [p for p in extracted if p.parts[-len(tail) :] == tail]
            if len(matches) != 1:
                message = " ".join(proc.stderr.decode("utf-8", "replace").split()[:40])
                raise error(
                    f"{source}: File {f.file_id} ({f.path}): msiextract did not extract it from its "
                    f"cabinet {why.cabinet} ({why.what.removeprefix('is ')})"
                    + (f"; msiextract: {message}" if message else "")
                )
            data = Path(folder, *matches[0].parts).read_bytes()
            if len(data) != f.size:
                raise error(
                    f"{source}: File {f.file_id}: {len(data)} bytes in the cabinet, {f.size} in its row"
                )
            contents[f.file_id] = data
        return contents


def _unsafe_name(db: MsiDatabase) -> str | None:
    """A Directory or File table name with a path separator, or ``..``, if there is one."""
    names = [row["DefaultDir"] for row in _rows(db.table("Directory"), ("DefaultDir",))]
    names += [row["FileName"] for row in _rows(db.table("File"), ("FileName",))]
    for value in names:
        for part in re.split(r"[:|]", value):
            if part == ".." or "/" in part or "\\" in part:
                return value
    return None


def _regular_files(folder: Path) -> list[PurePosixPath]:
    """The regular files under ``folder``, relative to it; symbolic links are neither followed nor listed."""
    found = []
    for root, _dirs, names in os.walk(folder, followlinks=False):
        for name in names:
            full = Path(root, name)
            if full.is_file() and not full.is_symlink():
                found.append(PurePosixPath(full.relative_to(folder).as_posix()))
    return found


def _cabinet_bytes(db: MsiDatabase, path: Path, name: str, *, source: str, error: type[ConfigError]) -> bytes:
    """The cabinet the Media table names: ``#stream`` inside the package, else a file beside it."""
    if name.startswith("#"):
        return db.stream(name[1:])
    if "/" in name or "\\" in name or name in (".", ".."):
        raise error(f"{source}: its Media table names the cabinet {name!r}, which is not a plain file name")
    beside = path.parent / name
    try:
        return beside.read_bytes()
    except OSError as exc:
        raise error(f"{source}: its cabinet {name} beside it cannot be read: {exc.strerror or exc}") from None
