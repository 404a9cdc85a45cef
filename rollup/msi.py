"""
Reading the identity of a Windows Installer package: its ProductCode, ProductVersion and names.

``rollup manifest pin --package-dir`` records what each MSI of a rollup is, and verify compares
it with what the hosts have installed. Both need the package's own Property table, read without
changing the file. The reading is done by ``msiinfo export <file> Property`` (Debian msitools,
built on libmsi): a maintained reader of the compound-file format, run as a separate process,
so a malformed package cannot take rollup down with it.

Every failure is one line naming the file. The error class is the caller's choice (``error``),
because the same bad file is a manifest problem to one command and a usage problem to another;
only a missing ``msiinfo`` is always a plain ``ConfigError``, since it is about the machine.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from rollup.errors import ConfigError

MSIINFO_TIMEOUT_S = 60.0
"""An export of one Property table takes milliseconds; a minute means msiinfo is stuck."""

_COMPOUND_FILE_SIGNATURE = bytes.fromhex("D0CF11E0A1B11AE1")
"""The first eight bytes of every OLE compound file, which is what an MSI database is."""

_GUID = re.compile(r"\{[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}\}", re.IGNORECASE)
_GLIB_LOG_PREFIX = re.compile(r"^\*\* \([^)]*\): [A-Z]+ \*\*: [0-9:.]+: ")
_REQUIRED = ("ProductCode", "ProductName", "ProductVersion", "Manufacturer")
"""The properties Windows Installer requires of every package (UpgradeCode is optional)."""
_INSTALL_HINT = "install msitools (Debian: apt-get install msitools; bin/bootstrap does it)"


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
        ConfigError: msiinfo is not installed (the hint says how to install it).
    """
    source = display or str(path)
    _check_compound_file(path, source=source, error=error)
    properties = _export_properties(path, source=source, error=error)
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


def _export_properties(path: Path, *, source: str, error: type[ConfigError]) -> dict[str, str]:
    """Run ``msiinfo export`` on the Property table and return its rows as a mapping."""
    text = export_table(path, "Property", source=source, error=error)
    return _parse_idt(text, source=source, error=error)


def export_table(path: Path, table: str, *, source: str, error: type[ConfigError]) -> str:
    """
    ``msiinfo export <file> <table>``: the table as a Windows Installer archive (.idt) text.

    Raises:
        ConfigError (of class ``error``): the file is not a readable MSI database, or has no
            such table (``<file>: not an MSI database (it has no <table> table)``).
        ConfigError: msiinfo is not installed.
    """
    msiinfo = shutil.which("msiinfo")
    if msiinfo is None:
        message = f"{source}: cannot read MSI properties: msiinfo is not installed"
        raise ConfigError(message, hint=_INSTALL_HINT)
    # An absolute path, so a file name starting with "-" cannot be taken for an option.
    target = os.fspath(path.absolute())
    try:
        proc = subprocess.run(
            [msiinfo, "export", target, table],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=MSIINFO_TIMEOUT_S,
            check=False,
            env={**os.environ, "LC_ALL": "C"},  # untranslated messages, which are matched below
        )
    except subprocess.TimeoutExpired:
        raise error(f"{source}: msiinfo did not finish reading it within {MSIINFO_TIMEOUT_S:g} s") from None
    except OSError as exc:
        raise ConfigError(f"{source}: cannot run msiinfo: {exc.strerror}", hint=_INSTALL_HINT) from None
    stderr = proc.stderr.decode("utf-8", errors="replace")
    if proc.returncode != 0:
        if "table not found" in stderr:
            raise error(f"{source}: not an MSI database (it has no {table} table)")
        message = _last_message(stderr).replace(target, path.name)
        raise error(f"{source}: not a readable MSI database (msiinfo: {message})")
    return proc.stdout.decode("utf-8", errors="replace")


def _parse_idt(text: str, *, source: str, error: type[ConfigError]) -> dict[str, str]:
    """
    Parse msiinfo's export of the Property table.

    The export is a Windows Installer archive (.idt) file: a line of column names, a line of
    column types, a line with the table name and its key, then one tab-separated row per property.
    """
    lines = text.splitlines()
    if len(lines) < 3 or lines[0].split("\t") != ["Property", "Value"]:
        raise error(f"{source}: msiinfo printed something other than a Property table")
    properties: dict[str, str] = {}
    for line in lines[3:]:
        name, tab, value = line.partition("\t")
        if tab:
            properties[name] = value
    return properties


def _last_message(stderr: str) -> str:
    """The last line msiinfo wrote to stderr, without GLib's log prefix."""
    lines = [_GLIB_LOG_PREFIX.sub("", line).strip() for line in stderr.splitlines()]
    lines = [line for line in lines if line]
    return lines[-1] if lines else "msiinfo failed without a message"


def _describe_os_error(exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    if isinstance(exc, IsADirectoryError):
        return "is a directory, not a file"
    return f"cannot be read: {exc.strerror or exc}"
