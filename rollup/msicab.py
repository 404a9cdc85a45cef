"""
Files out of a Microsoft cabinet (.cab), the archive an MSI package keeps its files in.

A cabinet is a header, a list of folders (each a run of compressed data blocks), and a list of
files, each a range of the uncompressed bytes of one folder. Blocks are stored as they are or
compressed with MSZIP: each block is ``CK`` and a raw deflate stream that may refer back to the
previous block's output (up to 32 KB). Those two are what ``wixl`` (gcab) and WiX's ``mszip`` and
``none`` levels write; a cabinet using LZX or Quantum is refused by name, as is one that spans
several cabinets (``CabinetNotRead``, which says which).

Every failure is a ``MsiFormatError`` whose message does not name the file (the caller does).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

from rollup.msidb import MsiFormatError

_SIGNATURE = b"MSCF"
_PREV_CABINET = 0x0001
_NEXT_CABINET = 0x0002
_RESERVE_PRESENT = 0x0004
_COMPRESSION = {0: "none", 1: "MSZIP", 2: "Quantum", 3: "LZX"}
_HISTORY = 32 * 1024
"""MSZIP's window: a block may refer to the last 32 KB of the folder's output."""
_CONTINUED = (0xFFFD, 0xFFFE, 0xFFFF)
"""``iFolder`` values of files continued from or into another cabinet."""
_SPANNING = ", which rollup does not read"


class CabinetNotRead(MsiFormatError):
    """A well-formed cabinet this module does not read: ``what`` it is (``is compressed with LZX``)."""

    def __init__(self, name: str, what: str, why: str) -> None:
        self.cabinet = name
        self.what = what
        super().__init__(f"its cabinet {name} {what}{why}")


@dataclass(frozen=True, slots=True)
class CabFile:
    """One file of a cabinet: where its bytes are in a folder's uncompressed data."""

    name: str
    size: int
    folder: int
    offset: int


@dataclass(frozen=True, slots=True)
class _Folder:
    start: int
    blocks: int
    compression: int


class Cabinet:
    """A cabinet held in memory; ``read(names)`` decompresses the folders those files are in."""

    def __init__(self, data: bytes, *, name: str) -> None:
        """
        Parse the header, folder and file lists of the cabinet ``data`` (called ``name`` in messages).

        Raises:
            MsiFormatError: not a cabinet, cut short, spanning cabinets, or an unknown compression.
        """
        self.name = name
        self._data = data
        try:
            self._folders, self.files = self._parse()
        except struct.error:
            raise MsiFormatError(f"its cabinet {name} is cut short") from None

    def _parse(self) -> tuple[tuple[_Folder, ...], dict[str, CabFile]]:
        data = self._data
        if data[:4] != _SIGNATURE:
            raise MsiFormatError(f"its cabinet {self.name} is not a cabinet (no MSCF signature)")
        size, files_at = struct.unpack_from("<I4xI", data, 8)
        folders, files, flags = struct.unpack_from("<HHH", data, 26)
        if size > len(data):
            raise MsiFormatError(f"its cabinet {self.name} is cut short: {len(data)} of {size} bytes")
        if flags & (_PREV_CABINET | _NEXT_CABINET):
            raise CabinetNotRead(self.name, "spans several cabinets", _SPANNING)
        at = 36
        folder_reserve = self._block_reserve = 0
        if flags & _RESERVE_PRESENT:
            header_reserve, folder_reserve, self._block_reserve = struct.unpack_from("<HBB", data, at)
            at += 4 + header_reserve
        found = []
        for _ in range(folders):
            start, blocks, compression = struct.unpack_from("<IHH", data, at)
            at += 8 + folder_reserve
            kind = compression & 0x000F
            if kind not in (0, 1):
                method = _COMPRESSION.get(kind, f"type {kind}")
                raise CabinetNotRead(
                    self.name, f"is compressed with {method}", "; rollup reads stored and MSZIP ones"
                )
            found.append(_Folder(start, blocks, kind))
        entries: dict[str, CabFile] = {}
        at = files_at
        for _ in range(files):
            file_size, offset, folder, _date, _time, attributes = struct.unpack_from("<IIHHHH", data, at)
            end = data.find(b"\0", at + 16)
            if end < 0:
                raise MsiFormatError(f"its cabinet {self.name} is cut short in its file list")
            raw = data[at + 16 : end]
            at = end + 1
            if folder in _CONTINUED:
                raise CabinetNotRead(self.name, "spans several cabinets", _SPANNING)
            if folder >= len(found):
                raise MsiFormatError(
                    f"its cabinet {self.name} puts a file in folder {folder}, of {len(found)}"
                )
            name = raw.decode("utf-8" if attributes & 0x80 else "cp1252", errors="replace")
            entries[name] = CabFile(name=name, size=file_size, folder=folder, offset=offset)
        return tuple(found), entries

    def read(self, names: Iterable[str]) -> dict[str, bytes]:
        """
        The bytes of the files ``names``.

        Raises:
            MsiFormatError: a name is not in the cabinet, or its folder does not decompress.
        """
        wanted = list(names)
        missing = [n for n in wanted if n not in self.files]
        if missing:
            raise MsiFormatError(f"its cabinet {self.name} has no file {missing[0]}")
        folders = {i: self._folder(i) for i in sorted({self.files[n].folder for n in wanted})}
        out = {}
        for name in wanted:
            entry = self.files[name]
            content = folders[entry.folder][entry.offset : entry.offset + entry.size]
            if len(content) != entry.size:
                raise MsiFormatError(
                    f"its cabinet {self.name} holds {len(content)} of the {entry.size} bytes of {name}"
                )
            out[name] = content
        return out

    def _folder(self, index: int) -> bytes:
        """The uncompressed bytes of folder ``index``: its blocks, one after the other."""
        folder = self._folders[index]
        output = bytearray()
        at = folder.start
        try:
            for number in range(folder.blocks):
                _checksum, packed, unpacked = struct.unpack_from("<IHH", self._data, at)
                at += 8 + self._block_reserve
                block = self._data[at : at + packed]
                at += packed
                if len(block) != packed:
                    raise MsiFormatError(f"its cabinet {self.name} is cut short in folder {index}")
                plain = block if folder.compression == 0 else self._inflate(block, output, index, number)
                if len(plain) != unpacked:
                    raise MsiFormatError(
                        f"its cabinet {self.name}: block {number} of folder {index} gives {len(plain)} "
                        f"bytes, not {unpacked}"
                    )
                output += plain
        except struct.error:
            raise MsiFormatError(f"its cabinet {self.name} is cut short in folder {index}") from None
        return bytes(output)

    def _inflate(self, block: bytes, history: bytearray, folder: int, number: int) -> bytes:
        if block[:2] != b"CK":
            raise MsiFormatError(f"its cabinet {self.name}: block {number} of folder {folder} is not MSZIP")
        window = bytes(history[-_HISTORY:])
        inflater = zlib.decompressobj(-15, zdict=window) if window else zlib.decompressobj(-15)
        try:
            return inflater.decompress(block[2:]) + inflater.flush()
        except zlib.error as exc:
            raise MsiFormatError(
                f"its cabinet {self.name}: block {number} of folder {folder} does not decompress ({exc})"
            ) from None
