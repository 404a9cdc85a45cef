"""
The Windows Installer database format, read in pure Python on top of ``olefile``.

An MSI file is an OLE compound file. Each table is one stream, named ``\\u4840`` followed by the
table's name packed two characters per UTF-16 unit (``rollup.msiformat``). Every string of the
database lives once in the string pool (``_StringPool``: the codepage, then a length and a
reference count per string id; ``_StringData``: the strings, back to back), and tables hold
string ids. ``_Tables`` lists the tables, ``_Columns`` their columns (name, number, type), and a
table's stream holds its rows column by column: all values of the first column, then all of the
second, and so on. A string column takes 2 bytes a value (3 when the pool says so), a short
integer 2 and a long integer 4, each stored with its top bit flipped (0 is NULL).

Nothing here writes to the file. Every failure is a ``MsiFormatError`` whose message says what is
wrong without naming the file: ``rollup.msi`` adds the name and picks the error class.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import olefile

from rollup.msiformat import MsiFormatError, StringPool, decode_stream_name

__all__ = ["Column", "MsiDatabase", "MsiFormatError", "Table", "Value", "read_rows"]

Value = str | int | None
"""One field: a string, an integer, or ``None`` for NULL."""


_STRING = 0x0800
_NULLABLE = 0x1000
_KEY = 0x2000
_TEMPORARY = 0x4000
_VALID = 0x0100
_SIZE = 0x00FF

_TABLES_COLUMNS = "_Tables"
_COLUMNS_TABLE = "_Columns"
_BROKEN = (OSError, struct.error, ValueError, IndexError, KeyError, TypeError, OverflowError, MemoryError)
"""What olefile raises on a compound file whose sectors, allocation tables or directory are broken."""


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a table, as ``_Columns`` describes it."""

    name: str
    type: int

    @property
    def is_string(self) -> bool:
        return bool(self.type & _STRING)

    @property
    def nullable(self) -> bool:
        return bool(self.type & _NULLABLE)

    @property
    def is_key(self) -> bool:
        return bool(self.type & _KEY)

    @property
    def is_binary(self) -> bool:
        """A stream column (``v0``): the field names a stream ``<table>.<key>``."""
        return self.type & ~_NULLABLE == _STRING | _VALID

    def width(self, ref_size: int) -> int:
        """Bytes a value takes in the table's stream."""
        if self.is_binary:
            return 2
        if self.is_string:
            return ref_size
        return 2 if self.type & _SIZE <= 2 else 4


@dataclass(frozen=True, slots=True)
class Table:
    """A table: its columns in order and its rows, each a tuple of values in column order."""

    name: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[Value, ...], ...]

    def records(self) -> Iterator[dict[str, Value]]:
        """Each row as a mapping from column name to value."""
        names = [c.name for c in self.columns]
        for row in self.rows:
            yield dict(zip(names, row, strict=True))


_SYSTEM = {
    _TABLES_COLUMNS: (Column("Name", _VALID | _STRING | _KEY | 64),),
    _COLUMNS_TABLE: (
        Column("Table", _VALID | _STRING | _KEY | 64),
        Column("Number", _VALID | _KEY | 2),
        Column("Name", _VALID | _STRING | 64),
        Column("Type", _VALID | 2),
    ),
}


class MsiDatabase:
    """An open MSI database; use as a context manager, or call ``close``."""

    def __init__(self, path: Path) -> None:
        """
        Open ``path`` and read its string pool and table catalogue.

        Raises:
            MsiFormatError: not a compound file, or not a readable installer database.
            OSError: the file cannot be opened.
        """
        if not olefile.isOleFile(str(path)):
            raise MsiFormatError("not an MSI file (it is not an OLE compound file)")
        try:
            self._ole = olefile.OleFileIO(str(path))
        except _BROKEN as exc:
            raise MsiFormatError(f"not a readable MSI database (a broken compound file: {exc})") from None
        try:
            self._streams = self._stream_names()
            if self._path_of("_StringPool", table=True) is None:
                raise MsiFormatError("not an MSI database (it has no string pool)")
            self.strings = StringPool.parse(
                self._read("_StringPool", table=True), self._read("_StringData", table=True, optional=True)
            )
            names = self._read_table(_TABLES_COLUMNS, _SYSTEM[_TABLES_COLUMNS])
            self.tables = tuple(str(row[0]) for row in names if row[0] is not None)
            self._columns = self._catalogue()
        except BaseException:
            self._ole.close()
            raise

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._ole.close()

    def table(self, name: str) -> Table:
        """
        The table ``name`` with all its rows.

        Raises:
            MsiFormatError: no such table, or its stream does not fit its columns.
        """
        columns = _SYSTEM.get(name) or self._columns.get(name)
        if columns is None:
            raise MsiFormatError(f"not an MSI database (it has no {name} table)")
        return Table(name=name, columns=columns, rows=tuple(self._read_table(name, columns)))

    def has_table(self, name: str) -> bool:
        return name in self._columns

    def stream(self, name: str) -> bytes:
        """
        The bytes of the non-table stream ``name`` (an embedded cabinet, a ``Binary`` row's data).

        Raises:
            MsiFormatError: no such stream, or it cannot be read.
        """
        if self._path_of(name, table=False) is None:
            raise MsiFormatError(f"it has no stream {name!r}")
        return self._read(name, table=False)

    def _stream_names(self) -> dict[tuple[str, bool], str]:
        try:
            entries = self._ole.listdir(streams=True, storages=False)
        except _BROKEN as exc:
            raise MsiFormatError(f"not a readable MSI database (a broken directory: {exc})") from None
        return {decode_stream_name(entry[0]): entry[0] for entry in entries if len(entry) == 1}

    def _path_of(self, name: str, *, table: bool) -> str | None:
        return self._streams.get((name, table))

    def _read(self, name: str, *, table: bool, optional: bool = False) -> bytes:
        stream = self._path_of(name, table=table)
        if stream is None:
            if optional:
                return b""
            raise MsiFormatError(f"not an MSI database (it has no {name} stream)")
        try:
            size = self._ole.get_size(stream)
            with self._ole.openstream(stream) as handle:
                data: bytes = handle.read()
        except _BROKEN as exc:
            raise MsiFormatError(f"its {name} stream cannot be read: {exc}") from None
        if len(data) != size:
            raise MsiFormatError(f"its {name} stream is cut short: {len(data)} of {size} bytes")
        return data

    def _catalogue(self) -> dict[str, tuple[Column, ...]]:
        by_table: dict[str, list[tuple[int, Column]]] = {name: [] for name in self.tables}
        for table, number, name, kind in self._read_table(_COLUMNS_TABLE, _SYSTEM[_COLUMNS_TABLE]):
            if not isinstance(table, str) or not isinstance(name, str):
                raise MsiFormatError("its _Columns table has a row without a table or column name")
            if not isinstance(number, int) or not isinstance(kind, int):
                raise MsiFormatError(f"its _Columns table has no number or type for {table}.{name}")
            if table not in by_table:
                raise MsiFormatError(f"its _Columns table describes {table}, which _Tables does not list")
            if not kind & _TEMPORARY:
                by_table[table].append((number, Column(name, kind & 0xFFFF)))
        return {
            table: tuple(c for _, c in sorted(cols, key=lambda nc: nc[0])) for table, cols in by_table.items()
        }

    def _read_table(self, name: str, columns: tuple[Column, ...]) -> list[tuple[Value, ...]]:
        return read_rows(name, self._read(name, table=True, optional=True), columns, self.strings)


def read_rows(
    name: str, data: bytes, columns: tuple[Column, ...], strings: StringPool
) -> list[tuple[Value, ...]]:
    """
    The rows of the table ``name`` from its stream ``data``: column by column, each value
    ``width`` bytes (little-endian); a string is an id of ``strings``, an integer is stored with
    its top bit flipped (0 is NULL), a stream column's value is only whether there is a stream.

    Raises:
        MsiFormatError: ``data`` is not a whole number of rows, or names a string the pool lacks.
    """
    widths = [c.width(strings.ref_size) for c in columns]
    row_size = sum(widths)
    if not columns or not data:
        return []
    if len(data) % row_size:
        raise MsiFormatError(
            f"its {name} table is {len(data)} bytes, not a whole number of {row_size}-byte rows"
        )
    count = len(data) // row_size
    fields: list[list[Value]] = []
    offset = 0
    for column, width in zip(columns, widths, strict=True):
        raw = [
            int.from_bytes(data[offset + i * width : offset + (i + 1) * width], "little")
            for i in range(count)
        ]
        offset += width * count
        fields.append([_value(column, value, strings) for value in raw])
    return list(zip(*fields, strict=True))


def _value(column: Column, raw: int, strings: StringPool) -> Value:
    if column.is_binary:
        return None if raw == 0 else raw
    if column.is_string:
        return strings.get(raw)
    if raw == 0:
        return None
    return raw - 0x8000 if column.type & _SIZE <= 2 else raw - 0x80000000
