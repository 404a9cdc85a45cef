"""
The lowest layer of the Windows Installer database format: how streams are named, and the string
pool every table's strings live in.

A table's stream is named ``\\u4840`` followed by the table's name with the 64 characters
``0-9 A-Z a-z . _`` packed two to a UTF-16 unit (U+3800..U+47FF) or one (U+4800..U+483F); other
characters are kept as they are. The string pool is two streams: ``_StringPool`` (the codepage,
then a length and a reference count per string id) and ``_StringData`` (the strings, back to back).
"""

from __future__ import annotations

import codecs
import struct
from dataclasses import dataclass
from typing import Self

TABLE_PREFIX = "\u4840"
"""The first character of every table stream's name."""

_CHARSET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz._"
"""The 64 characters that are packed into U+3800..U+47FF (two a unit) or U+4800..U+483F (one)."""

_LONG_REFS = 0x80000000
"""The flag of the string pool's codepage word that makes string ids 3 bytes long."""


class MsiFormatError(ValueError):
    """The file is not a readable Windows Installer database; the message says why (no file name)."""


def decode_stream_name(name: str) -> tuple[str, bool]:
    """
    An OLE stream name as the database names it, and whether it is a table's stream.

    >>> decode_stream_name("\\u4840\\u3f7f\\u4164\\u422f\\u4836")
    ('_Tables', True)
    """
    table = name.startswith(TABLE_PREFIX)
    out = []
    for char in name[1:] if table else name:
        code = ord(char)
        if 0x3800 <= code < 0x4800:
            code -= 0x3800
            out.append(_CHARSET[code & 0x3F])
            out.append(_CHARSET[code >> 6])
        elif 0x4800 <= code < 0x4840:
            out.append(_CHARSET[code - 0x4800])
        else:
            out.append(char)
    return "".join(out), table


def encode_stream_name(name: str, *, table: bool) -> str:
    """The OLE stream name of the database stream ``name`` (the inverse of ``decode_stream_name``)."""
    out = [TABLE_PREFIX] if table else []
    index = 0
    while index < len(name):
        first = _CHARSET.find(name[index])
        if first < 0:
            out.append(name[index])
            index += 1
            continue
        second = _CHARSET.find(name[index + 1]) if index + 1 < len(name) else -1
        if second < 0:
            out.append(chr(0x4800 + first))
            index += 1
        else:
            out.append(chr(0x3800 + first + (second << 6)))
            index += 2
    return "".join(out)


@dataclass(frozen=True, slots=True)
class StringPool:
    """The database's strings by id (id 0 is NULL), its codepage, and how many bytes an id takes."""

    strings: tuple[str | None, ...]
    codepage: int
    ref_size: int

    @classmethod
    def parse(cls, pool: bytes, data: bytes) -> Self:
        """
        Read ``_StringPool`` and ``_StringData``.

        The pool starts with the codepage (its top bit: ids are 3 bytes), then one entry of two
        16-bit words per id from 1: the string's length and its reference count. An entry (0, 0)
        is an unused id; an entry (0, refs) says the string is 64 KB or longer, and the next
        entry holds its length as two words, low first.

        Raises:
            MsiFormatError: the pool is cut short or points past the end of the data.
        """
        if len(pool) < 4 or len(pool) % 4:
            raise MsiFormatError(f"its string pool is {len(pool)} bytes, not a whole number of entries")
        (header,) = struct.unpack_from("<I", pool)
        ref_size = 3 if header & _LONG_REFS else 2
        codepage = header & ~_LONG_REFS
        words = struct.unpack(f"<{len(pool) // 2}H", pool)
        strings: list[str | None] = [None]
        encoding = _python_codec(codepage)
        entry, offset = 1, 0
        while entry < len(words) // 2:
            length, refs = words[entry * 2], words[entry * 2 + 1]
            entry += 1
            if length == 0 and refs != 0:
                if entry >= len(words) // 2:
                    raise MsiFormatError("its string pool ends inside the entry of a long string")
                length = words[entry * 2] | words[entry * 2 + 1] << 16
                entry += 1
            elif length == 0:
                strings.append(None)
                continue
            if offset + length > len(data):
                raise MsiFormatError(
                    f"its string pool points past the end of the string data ({len(data)} bytes)"
                )
            strings.append(data[offset : offset + length].decode(encoding, errors="replace"))
            offset += length
        return cls(strings=tuple(strings), codepage=codepage, ref_size=ref_size)

    def get(self, string_id: int) -> str | None:
        """The string of ``string_id`` (``None`` for 0).

        Raises:
            MsiFormatError: no such id.
        """
        if string_id >= len(self.strings):
            raise MsiFormatError(
                f"a table refers to string {string_id}, but the pool has {len(self.strings) - 1}"
            )
        return self.strings[string_id]


def _python_codec(codepage: int) -> str:
    """
    The Python codec of a database codepage (0, the neutral codepage, is read as Windows-1252).

    Raises:
        MsiFormatError: a codepage Python does not know.
    """
    if codepage == 0:
        return "cp1252"
    if codepage == 65001:
        return "utf-8"
    name = f"cp{codepage}"
    try:
        codecs.lookup(name)
    except LookupError:
        raise MsiFormatError(f"its string pool has the unknown codepage {codepage}") from None
    return name
