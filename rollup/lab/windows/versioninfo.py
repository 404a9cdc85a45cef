"""
A file's version resource, as Windows reads it (``GetFileVersionInfo`` and ``VerQueryValue``).

Windows Installer compares installed files by it, and .NET's ``FileVersionInfo`` reports it. The
lab reads it from a file's real bytes with ``pefile`` (a maintained PE parser): the fixed file
information (``VS_FIXEDFILEINFO``: the file and product version as four numbers each) and the
strings of the table the ``Translation`` variable names, falling back to the tables .NET tries
(``040904B0``, ``040904E4``, ``04090000``). A file that is not a PE image, or has no version
resource, has none (``None``).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pefile  # type: ignore[import-untyped]

_FALLBACK_TABLES = ("040904B0", "040904E4", "04090000")
"""The string tables .NET's FileVersionInfo tries after the one the Translation names."""


@dataclass(frozen=True, slots=True)
class VersionResource:
    """What a file's version resource holds."""

    file_parts: tuple[int, int, int, int]
    product_parts: tuple[int, int, int, int]
    strings: Mapping[str, str] = field(default_factory=dict)
    """The string table's values (``FileVersion``, ``ProductVersion``, ``CompanyName``...);
    empty when no table .NET looks for is there."""

    @property
    def file_version(self) -> str:
        """The fixed information's file version, ``a.b.c.d``: what Windows Installer compares."""
        return ".".join(str(part) for part in self.file_parts)


_cache: dict[str, VersionResource | None] = {}
_lock = threading.Lock()


def read_version(data: bytes, *, key: str) -> VersionResource | None:
    """The version resource of a file's bytes (``key``: their SHA-256, for the cache), or ``None``."""
    with _lock:
        if key in _cache:
            return _cache[key]
    found = _parse(data)
    with _lock:
        _cache[key] = found
    return found


def _parts(ms: int, ls: int) -> tuple[int, int, int, int]:
    return ms >> 16, ms & 0xFFFF, ls >> 16, ls & 0xFFFF


def _parse(data: bytes) -> VersionResource | None:
    if not data.startswith(b"MZ"):
        return None
    try:
        image = pefile.PE(data=data, fast_load=True)
        image.parse_data_directories([pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_RESOURCE"]])
    except pefile.PEFormatError:
        return None
    fixed = getattr(image, "VS_FIXEDFILEINFO", None)
    if not fixed:
        return None
    info = fixed[0]
    return VersionResource(
        file_parts=_parts(info.FileVersionMS, info.FileVersionLS),
        product_parts=_parts(info.ProductVersionMS, info.ProductVersionLS),
        strings=_strings(image),
    )


def _strings(image: Any) -> dict[str, str]:
    tables: dict[str, dict[str, str]] = {}
    translation: str | None = None
    for group in getattr(image, "FileInfo", None) or ():
        for entry in group:
            for table in getattr(entry, "StringTable", ()):
                tables[table.LangID.decode("ascii", "replace").upper()] = {
                    k.decode("utf-8", "replace"): v.decode("utf-8", "replace")
                    for k, v in table.entries.items()
                }
            for var in getattr(entry, "Var", ()):
                value = var.entry.get(b"Translation")
                if value and translation is None:
                    language, codepage = (int(part, 16) for part in value.split()[:2])
                    translation = f"{language:04X}{codepage:04X}"
    for name in (translation, *_FALLBACK_TABLES):
        if name is not None and name in tables:
            return tables[name]
    return {}
