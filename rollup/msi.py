"""
Reading the identity of a Windows Installer package: its ProductCode, ProductVersion and names.

``rollup manifest pin --package-dir`` records what each MSI of a rollup is, and verify compares
it with what the hosts have installed. Both need the package's own Property table, read without
changing the file. The database is read in pure Python (``rollup.msidb``, on ``olefile``), so a
control host needs no Windows Installer tools.

Every failure is one line naming the file. The error class is the caller's choice (``error``),
because the same bad file is a manifest problem to one command and a usage problem to another.
"""

from __future__ import annotations

import hashlib
import re
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rollup.errors import ConfigError
from rollup.msidb import MsiDatabase, MsiFormatError, Table

_COMPOUND_FILE_SIGNATURE = bytes.fromhex("D0CF11E0A1B11AE1")
"""The first eight bytes of every OLE compound file, which is what an MSI database is."""

_GUID = re.compile(r"\{[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}\}", re.IGNORECASE)
_REQUIRED = ("ProductCode", "ProductName", "ProductVersion", "Manufacturer")
"""The properties Windows Installer requires of every package (UpgradeCode is optional)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MsiInfo:
    """
    The identity of one MSI package, from its Property table.

    GUIDs are upper case in braces, as Windows Installer writes them in the Uninstall key.
    ``upgrade_code`` is ``None`` for a package that has none (Windows Installer allows that).
    """

    product_code: str
    product_name: str
    product_version: str
    upgrade_code: str | None
    manufacturer: str


def read_msi(path: Path, *, error: type[ConfigError] = ConfigError, display: str | None = None) -> MsiInfo:
    """
    Read the identity of the MSI at ``path``, without modifying it.

    Args:
        path: the package file.
        error: the class raised when the file is missing, not an MSI or incomplete.
        display: how to name the file in messages (default: ``path`` as given).

    Raises:
        ConfigError (of class ``error``): ``<file>: <what is wrong>``, for a missing or unreadable
            file, a file that is not an MSI database, or a Property table without ProductCode,
            ProductName, ProductVersion or Manufacturer (or with a ProductCode that is not a GUID).
    """
    source = display or str(path)
    with open_msi(path, error=error, display=source) as db:
        properties = _properties(db.table("Property"), source=source, error=error)
    missing = [name for name in _REQUIRED if not properties.get(name)]
    if missing:
        raise error(f"{source}: the Property table has no {', '.join(missing)}")
    product_code = properties["ProductCode"]
    if not _GUID.fullmatch(product_code):
        raise error(f"{source}: ProductCode {product_code!r} is not a GUID in braces")
    upgrade_code = properties.get("UpgradeCode") or None
    if upgrade_code is not None and not _GUID.fullmatch(upgrade_code):
        raise error(f"{source}: UpgradeCode {upgrade_code!r} is not a GUID in braces")
    return MsiInfo(
        product_code=product_code.upper(),
        product_name=properties["ProductName"],
        product_version=properties["ProductVersion"],
        upgrade_code=upgrade_code.upper() if upgrade_code else None,
        manufacturer=properties["Manufacturer"],
    )


def sha256_file(path: Path, *, error: type[ConfigError] = ConfigError, display: str | None = None) -> str:
    """
    The SHA-256 of the file at ``path``, as lower-case hex, read in chunks (MSIs can be large).

    Raises:
        ConfigError (of class ``error``): ``<file>: no such file`` and the like.
    """
    source = display or str(path)
    try:
        _require_regular_file(path, source=source, error=error)
        with path.open("rb") as stream:
            return hashlib.file_digest(stream, "sha256").hexdigest()
    except OSError as exc:
        raise error(f"{source}: {_describe_os_error(exc)}") from None


def _check_compound_file(path: Path, *, source: str, error: type[ConfigError]) -> None:
    """Refuse a missing file, a directory, a device, or a file that does not start like a compound file."""
    try:
        _require_regular_file(path, source=source, error=error)
        with path.open("rb") as stream:
            head = stream.read(len(_COMPOUND_FILE_SIGNATURE))
    except OSError as exc:
        raise error(f"{source}: {_describe_os_error(exc)}") from None
    if head != _COMPOUND_FILE_SIGNATURE:
        raise error(f"{source}: not an MSI file (it is not an OLE compound file)")


def _require_regular_file(path: Path, *, source: str, error: type[ConfigError]) -> None:
    """Refuse directories and devices up front: reading a FIFO would block forever."""
    mode = path.stat().st_mode
    if stat.S_ISDIR(mode):
        raise error(f"{source}: is a directory, not a file")
    if not stat.S_ISREG(mode):
        raise error(f"{source}: not a regular file")


@contextmanager
def open_msi(
    path: Path, *, error: type[ConfigError] = ConfigError, display: str | None = None
) -> Iterator[MsiDatabase]:
    """
    The MSI database at ``path``, open for reading; any ``MsiFormatError`` raised while it is
    open (a missing table, a table that does not fit its columns) becomes one line naming the file.

    Raises:
        ConfigError (of class ``error``): ``<file>: <what is wrong>``: no such file, not a
            compound file, not an installer database, a stream cut short or corrupt.
    """
    source = display or str(path)
    _check_compound_file(path, source=source, error=error)
    try:
        with MsiDatabase(path) as db:
            yield db
    except MsiFormatError as exc:
        raise error(f"{source}: {exc}") from None
    except OSError as exc:
        raise error(f"{source}: {_describe_os_error(exc)}") from None


def _properties(table: Table, *, source: str, error: type[ConfigError]) -> dict[str, str]:
    """The Property table as a mapping (a NULL value reads as empty, as msiexec sees it)."""
    names = [c.name for c in table.columns]
    if names[:2] != ["Property", "Value"]:
        raise error(f"{source}: its Property table has the columns {', '.join(names)}")
    return {str(row[0]): "" if row[1] is None else str(row[1]) for row in table.rows if row[0] is not None}


def _describe_os_error(exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    if isinstance(exc, IsADirectoryError):
        return "is a directory, not a file"
    return f"cannot be read: {exc.strerror or exc}"
