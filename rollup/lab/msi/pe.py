"""
The lab's installed DLLs: minimal but valid PE32 images whose only content is a version resource.

Windows reads a file's version from the ``VS_VERSIONINFO`` resource of a PE image
(``GetFileVersionInfo``, which ``[Diagnostics.FileVersionInfo]`` calls), and Windows Installer
compares files by the same resource. The lab's MSI packages install such files, so a version
read on a simulated host comes from the bytes the package installed, as on Windows.

An image is a DOS header, the PE headers of an x86 DLL, and one ``.rsrc`` section holding one
``RT_VERSION`` resource (language 1033): the fixed file information (file and product version
as four 16-bit numbers) and a string table ``040904B0`` (US English, Unicode) with the usual
strings, plus the ``Translation`` variable that names that table. No code, no imports: the
images are never loaded, only read. Every byte is a function of the arguments (the time stamp is
fixed), so the same package builds to the same bytes.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping

_FILE_ALIGNMENT = 0x200
_SECTION_ALIGNMENT = 0x1000
_RSRC_RVA = 0x1000
_RT_VERSION = 16
_LANGUAGE = 0x0409
_CODEPAGE = 0x04B0
_TIME_STAMP = 0x4D2A3C00
"""2011-01-09, fixed: the images must build to the same bytes every time."""


def version_parts(version: str) -> tuple[int, int, int, int]:
    """``"4.0.2491.0"`` as four 16-bit numbers (missing fields are 0).

    Raises:
        ValueError: not up to four dot-separated numbers of 0 to 65535.
    """
    fields = version.split(".")
    if not 1 <= len(fields) <= 4 or not all(f.isdigit() and int(f) <= 0xFFFF for f in fields):
        raise ValueError(f"{version!r} is not a file version (up to four numbers of 0 to 65535)")
    numbers = [int(f) for f in fields] + [0] * (4 - len(fields))
    return numbers[0], numbers[1], numbers[2], numbers[3]


def version_dll(file_version: str, strings: Mapping[str, str]) -> bytes:
    """
    A PE32 DLL image with a version resource: ``file_version`` is both the file and the product
    version of the fixed information; ``strings`` fill the ``040904B0`` string table
    (``FileVersion`` and ``ProductVersion`` are set from ``file_version`` unless given).
    """
    parts = version_parts(file_version)
    table = {"FileVersion": file_version, "ProductVersion": file_version, **strings}
    resource = _resource_tree(_version_info(parts, table))
    raw_size = _align(len(resource), _FILE_ALIGNMENT)
    virtual_size = len(resource)
    headers = _headers(raw_size, virtual_size, len(resource))
    return headers + resource + bytes(raw_size - len(resource))


def _align(value: int, alignment: int) -> int:
    return (value + alignment - 1) // alignment * alignment


def _headers(raw_size: int, virtual_size: int, resource_size: int) -> bytes:
    dos = bytearray(0x40)
    dos[0:2] = b"MZ"
    struct.pack_into("<I", dos, 0x3C, 0x40)
    coff = struct.pack("<HHIIIHH", 0x14C, 1, _TIME_STAMP, 0, 0, 224, 0x2102)
    image_size = _RSRC_RVA + _align(virtual_size, _SECTION_ALIGNMENT)
    optional = struct.pack(
        "<HBBIIIIIIIIIHHHHHHIIIIHHIIIIII",
        0x10B,  # PE32
        8, 0,  # linker version
        0, raw_size, 0,  # sizes of code, initialised and uninitialised data
        0, 0, _RSRC_RVA,  # entry point (none), base of code, base of data
        0x10000000,  # image base
        _SECTION_ALIGNMENT, _FILE_ALIGNMENT,
        5, 0, 0, 0, 5, 0,  # OS, image and subsystem versions (Windows 2000 and later)
        0,  # Win32 version value
        image_size, _FILE_ALIGNMENT,  # size of image, size of headers
        0,  # checksum (not required for a DLL that is not a driver)
        2, 0x0400,  # subsystem GUI; DLL characteristics: NO_SEH
        0x100000, 0x1000, 0x100000, 0x1000,  # stack and heap reserve and commit
        0, 16,  # loader flags, number of data directories
    )  # fmt: skip
    directories = bytearray(16 * 8)
    struct.pack_into("<II", directories, 2 * 8, _RSRC_RVA, resource_size)
    section = struct.pack(
        "<8sIIIIIIHHI", b".rsrc", virtual_size, _RSRC_RVA, raw_size, _FILE_ALIGNMENT, 0, 0, 0, 0, 0x40000040
    )
    headers = bytes(dos) + b"PE\0\0" + coff + optional + bytes(directories) + section
    return headers + bytes(_FILE_ALIGNMENT - len(headers))


def _resource_tree(data: bytes) -> bytes:
    """The ``.rsrc`` section: type RT_VERSION -> name 1 -> language 1033 -> the data."""

    def directory(entry_id: int, target: int, *, leaf: bool) -> bytes:
        header = struct.pack("<IIHHHH", 0, 0, 0, 0, 0, 1)
        return header + struct.pack("<II", entry_id, target | (0 if leaf else 0x80000000))

    # Three directories of 24 bytes each, then the data entry (16 bytes), then the data.
    level = 16 + 8
    data_entry = 3 * level
    data_offset = data_entry + 16
    tree = (
        directory(_RT_VERSION, level, leaf=False)
        + directory(1, 2 * level, leaf=False)
        + directory(_LANGUAGE, data_entry, leaf=True)
        + struct.pack("<IIII", _RSRC_RVA + data_offset, len(data), 0, 0)
    )
    return tree + data


def _block(
    key: str, value: bytes, *, value_length: int, text: bool, children: tuple[bytes, ...] = ()
) -> bytes:
    """One ``VS_VERSIONINFO`` block: length, value length, type, key, padding, value, children."""
    body = bytearray(struct.pack("<HHH", 0, value_length, 1 if text else 0))
    body += (key + "\0").encode("utf-16-le")
    body += bytes(-len(body) % 4)
    body += value
    for child in children:
        body += bytes(-len(body) % 4)
        body += child
    struct.pack_into("<H", body, 0, len(body))
    return bytes(body)


def _string(key: str, value: str) -> bytes:
    encoded = (value + "\0").encode("utf-16-le")
    return _block(key, encoded, value_length=len(value) + 1, text=True)


def _version_info(parts: tuple[int, int, int, int], strings: Mapping[str, str]) -> bytes:
    ms = parts[0] << 16 | parts[1]
    ls = parts[2] << 16 | parts[3]
    fixed = struct.pack(
        "<13I",
        0xFEEF04BD,  # signature
        0x00010000,  # structure version 1.0
        ms, ls, ms, ls,  # file version, product version
        0x3F, 0,  # flags mask, flags
        0x00040004,  # VOS_NT_WINDOWS32
        2, 0,  # VFT_DLL, no subtype
        0, 0,  # file date
    )  # fmt: skip
    table = _block(
        f"{_LANGUAGE:04X}{_CODEPAGE:04X}",
        b"",
        value_length=0,
        text=True,
        children=tuple(_string(k, v) for k, v in strings.items()),
    )
    string_info = _block("StringFileInfo", b"", value_length=0, text=True, children=(table,))
    translation = _block("Translation", struct.pack("<HH", _LANGUAGE, _CODEPAGE), value_length=4, text=False)
    var_info = _block("VarFileInfo", b"", value_length=0, text=True, children=(translation,))
    return _block(
        "VS_VERSION_INFO", fixed, value_length=len(fixed), text=False, children=(string_info, var_info)
    )
