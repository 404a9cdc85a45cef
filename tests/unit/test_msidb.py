"""
``rollup.msiformat``, ``rollup.msidb`` and ``rollup.msicab``: the MSI database format read in pure
Python. Stream names, the string pool (short and long string ids, strings of 64 KB and more, the
codepage), rows stored column by column with their integer bias, and cabinets; databases written
by msibuild (an independent writer) read back as msiinfo reads them.
"""

from __future__ import annotations

import struct
import subprocess
import zlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rollup.msicab import Cabinet, CabinetNotRead
from rollup.msidb import Column, MsiDatabase, read_rows
from rollup.msiformat import MsiFormatError, StringPool, decode_stream_name, encode_stream_name

STRING_KEY = Column("Key", 0x2D48)  # s72, primary key
STRING_NULLABLE = Column("Value", 0x1DFF)  # S255
SHORT = Column("Short", 0x1502)  # I2
LONG = Column("Long", 0x1104)  # I4


def _pool(strings: list[str | None], *, codepage: int = 1252, long_refs: bool = False) -> StringPool:
    """A string pool written the way Windows Installer writes one, parsed back."""
    header = codepage | (0x80000000 if long_refs else 0)
    pool, data = struct.pack("<I", header), b""
    for text in strings:
        if text is None:
            pool += struct.pack("<HH", 0, 0)
            continue
        raw = text.encode("utf-8" if codepage == 65001 else f"cp{codepage}")
        if len(raw) > 0xFFFF:
            pool += struct.pack("<HH", 0, 1) + struct.pack("<HH", len(raw) & 0xFFFF, len(raw) >> 16)
        else:
            pool += struct.pack("<HH", len(raw), 1)
        data += raw
    return StringPool.parse(pool, data)


def test_table_stream_names_decode_as_msiinfo_lists_them() -> None:
    """Two characters to a unit from U+3800, one from U+4800, the table prefix U+4840."""
    assert decode_stream_name("\u4840\u3f7f\u4164\u422f\u4836") == ("_Tables", True)
    assert decode_stream_name("\u4840\u430f\u422f") == ("File", True)
    assert decode_stream_name("\x05SummaryInformation") == ("\x05SummaryInformation", False)
    assert encode_stream_name("_StringPool", table=True)[0] == "\u4840"
    assert decode_stream_name(encode_stream_name("files.cab", table=False)) == ("files.cab", False)


@given(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40))
def test_stream_names_round_trip(name: str) -> None:
    """Any printable ASCII name, packed characters and others mixed, decodes to itself."""
    assert decode_stream_name(encode_stream_name(name, table=True)) == (name, True)


def test_the_string_pool_keeps_ids_codepage_and_unused_entries() -> None:
    """Id 0 is NULL; an entry (0, 0) is an unused id that still takes its number; cp1252 decodes."""
    pool = _pool(["ProductCode", None, "Caf\u00e9"])

    assert pool.strings == (None, "ProductCode", None, "Caf\u00e9")
    assert (pool.codepage, pool.ref_size) == (1252, 2)


def test_a_pool_flagged_for_long_refs_has_three_byte_ids() -> None:
    assert _pool(["a"], codepage=65001, long_refs=True).ref_size == 3
    assert _pool(["\u00e9"], codepage=65001).strings == (None, "\u00e9")


def test_a_string_of_64_kb_or_more_takes_two_entries() -> None:
    """The first entry is (0, refs), the next holds the length as two words, low first."""
    long = "x" * 70_000 + "y"

    pool = _pool(["before", long, "after"])

    assert pool.strings == (None, "before", long, "after")


def test_a_pool_pointing_past_its_data_is_refused() -> None:
    with pytest.raises(MsiFormatError, match="past the end of the string data"):
        StringPool.parse(struct.pack("<IHH", 1252, 10, 1), b"short")
    with pytest.raises(MsiFormatError, match="not a whole number of entries"):
        StringPool.parse(b"\xe4\x04\x00\x00\x01", b"")


def test_rows_are_read_column_by_column_with_their_bias() -> None:
    """Every value of a column, then the next column; integers have their top bit flipped, 0 is NULL."""
    pool = _pool(["k1", "k2", "v1"])
    data = (
        struct.pack("<HH", 1, 2)  # Key: k1, k2
        + struct.pack("<HH", 3, 0)  # Value: v1, NULL
        + struct.pack("<HH", 0x8000 + 5, 0x8000 - 1)  # Short: 5, -1
        + struct.pack("<II", 0x80000000 + 123_456, 0)  # Long: 123456, NULL
    )

    rows = read_rows("T", data, (STRING_KEY, STRING_NULLABLE, SHORT, LONG), pool)

    assert rows == [("k1", "v1", 5, 123_456), ("k2", None, -1, None)]


def test_rows_with_three_byte_string_ids() -> None:
    pool = _pool([f"s{i}" for i in range(5)], long_refs=True)
    data = bytes([1, 0, 0, 5, 0, 0]) + struct.pack("<HH", 0x8000 + 7, 0x8000 - 7)

    assert read_rows("T", data, (STRING_KEY, SHORT), pool) == [("s0", 7), ("s4", -7)]


def test_a_table_stream_that_is_not_whole_rows_or_names_an_unknown_string_is_refused() -> None:
    pool = _pool(["a"])
    with pytest.raises(MsiFormatError, match="its T table is 3 bytes, not a whole number of 4-byte rows"):
        read_rows("T", b"\x01\x00\x00", (STRING_KEY, SHORT), pool)
    with pytest.raises(MsiFormatError, match="refers to string 9, but the pool has 1"):
        read_rows("T", struct.pack("<HH", 9, 0x8001), (STRING_KEY, SHORT), pool)


def _msiinfo_rows(path: Path, table: str) -> list[str]:
    text = subprocess.run(["msiinfo", "export", str(path), table], check=True, capture_output=True,
                          text=True, timeout=120).stdout  # fmt: skip
    return text.splitlines()[3:]


def test_a_database_with_long_string_ids_reads_as_msiinfo_reads_it(tmp_path: Path) -> None:
    """msibuild writes 3-byte string ids past 65,535 strings; every row matches msiinfo's export."""
    rows = [f"k{i}\tv{i}\t{i - 35_000}" for i in range(70_000)]
    (tmp_path / "Big.idt").write_text(
        "\r\n".join(["Key\tValue\tNum", "s72\tS255\tI4", "Big\tKey", *rows, ""])
    )
    subprocess.run(["msibuild", "big.msi", "-i", "Big.idt"], cwd=tmp_path, check=True, capture_output=True,
                   timeout=120)  # fmt: skip

    with MsiDatabase(tmp_path / "big.msi") as db:
        assert db.strings.ref_size == 3
        table = db.table("Big")

    assert [f"{k}\t{v}\t{n}" for k, v, n in table.rows] == _msiinfo_rows(tmp_path / "big.msi", "Big")


def test_a_string_of_more_than_64_kb_written_by_msibuild_reads_whole(tmp_path: Path) -> None:
    long = "x" * 70_000 + "y"
    (tmp_path / "Long.idt").write_text(f"Key\tValue\r\ns72\tS0\r\nLong\tKey\r\nbig\t{long}\r\nsmall\tz\r\n")
    subprocess.run(["msibuild", "long.msi", "-i", "Long.idt"], cwd=tmp_path, check=True, capture_output=True,
                   timeout=120)  # fmt: skip

    with MsiDatabase(tmp_path / "long.msi") as db:
        assert db.table("Long").rows == (("big", long), ("small", "z"))


def _cab(files: dict[str, bytes], *, compression: int = 1, block: int = 32_768) -> bytes:
    """A one-folder cabinet, MSZIP blocks each referring to the output before it, as gcab writes them."""
    plain = b"".join(files.values())
    blocks, history = [], b""
    for start in range(0, len(plain), block):
        chunk = plain[start : start + block]
        if compression == 1:
            packer = zlib.compressobj(9, zlib.DEFLATED, -15, zdict=history[-32_768:]) if history else (
                zlib.compressobj(9, zlib.DEFLATED, -15))  # fmt: skip
            packed = b"CK" + packer.compress(chunk) + packer.flush()
        else:
            packed = chunk
        blocks.append(struct.pack("<IHH", 0, len(packed), len(chunk)) + packed)
        history += chunk
    entries, offset = b"", 0
    for name, content in files.items():
        entries += struct.pack("<IIHHHH", len(content), offset, 0, 0, 0, 0x20) + name.encode() + b"\0"
        offset += len(content)
    files_at = 36 + 8
    data_at = files_at + len(entries)
    body = b"".join(blocks)
    header = b"MSCF" + struct.pack("<IIIIIBBHHHHH", 0, data_at + len(body), 0, files_at, 0, 3, 1, 1,
                                   len(files), 0, 0, 0)  # fmt: skip
    folder = struct.pack("<IHH", data_at, len(blocks), compression)
    return header + folder + entries + body


def test_a_cabinet_of_several_mszip_blocks_gives_every_file_back() -> None:
    """Each MSZIP block may refer back into the one before it; files may span blocks."""
    first = bytes(range(256)) * 300
    second = b"".join(i.to_bytes(4, "little") for i in range(20_000))

    cabinet = Cabinet(_cab({"First": first, "Second": second}), name="files.cab")

    assert cabinet.read(["Second", "First"]) == {"Second": second, "First": first}
    assert Cabinet(_cab({"Plain": b"abc"}, compression=0), name="p.cab").read(["Plain"]) == {"Plain": b"abc"}


def test_cabinets_rollup_cannot_read_are_refused_by_name() -> None:
    data = _cab({"A": b"abc"})
    lzx = data[:36] + struct.pack("<IHH", *struct.unpack_from("<IH", data, 36), 0x1503) + data[44:]
    with pytest.raises(
        CabinetNotRead, match=r"files.cab is compressed with LZX; rollup reads stored and MSZIP"
    ) as refused:
        Cabinet(lzx, name="files.cab")
    assert (refused.value.cabinet, refused.value.what) == ("files.cab", "is compressed with LZX")
    spanning = data[:30] + struct.pack("<H", 0x0002) + data[32:]
    with pytest.raises(CabinetNotRead, match=r"files\.cab spans several cabinets, which rollup"):
        Cabinet(spanning, name="files.cab")
    with pytest.raises(MsiFormatError, match="is not a cabinet"):
        Cabinet(b"PK\3\4" + data[4:], name="files.cab")
    with pytest.raises(MsiFormatError, match="cut short"):
        Cabinet(data[:20], name="files.cab")
    with pytest.raises(MsiFormatError, match="has no file B"):
        Cabinet(data, name="files.cab").read(["B"])
    broken = data[:-3] + b"\xff\xff\xff"
    with pytest.raises(MsiFormatError, match=r"does not decompress|gives"):
        Cabinet(broken, name="files.cab").read(["A"])
