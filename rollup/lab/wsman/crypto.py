"""
MS-WSMV message encryption over HTTP (the ``multipart/encrypted`` framing of NTLM-sealed SOAP).

Byte layout, shared by pywinrm and pypsrp and required byte for byte::

    --Encrypted Boundary\\r\\n
    \\tContent-Type: application/HTTP-SPNEGO-session-encrypted\\r\\n
    \\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=<plaintext length>\\r\\n
    --Encrypted Boundary\\r\\n
    \\tContent-Type: application/octet-stream\\r\\n
    <int32 LE 16><16-byte NTLM signature><RC4-sealed SOAP, same length>--Encrypted Boundary--\\r\\n

NTLM sealing keeps one RC4 state and sequence number per direction, so messages must be
unwrapped and wrapped in order on the security context of their own TCP connection.
"""

from __future__ import annotations

import re
import struct
from typing import Protocol

PROTOCOL = "application/HTTP-SPNEGO-session-encrypted"
CONTENT_TYPE = f'multipart/encrypted;protocol="{PROTOCOL}";boundary="Encrypted Boundary"'

_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
_LENGTH = re.compile(rb"Length=(\d+)")
_OCTET_STREAM = b"\tContent-Type: application/octet-stream\r\n"


class FramingError(ValueError):
    """An encrypted body that does not follow the MS-WSMV framing, or fails to decrypt."""


class _WrapResult(Protocol):
    header: bytes
    data: bytes


class SealingContext(Protocol):
    """The two calls of a pyspnego security context that message encryption needs."""

    def wrap_winrm(self, data: bytes) -> _WrapResult: ...

    def unwrap_winrm(self, header: bytes, data: bytes) -> bytes: ...


def is_encrypted(content_type: str) -> bool:
    """Whether a request's Content-Type announces an encrypted body."""
    return content_type.strip().lower().startswith("multipart/encrypted")


def unwrap(context: SealingContext, content_type: str, body: bytes) -> bytes:
    """
    The plaintext SOAP of an encrypted request.

    Raises:
        FramingError: bad framing, a failed signature check, or a length that does not match.
    """
    if PROTOCOL.lower() not in content_type.lower():
        raise FramingError("unsupported encryption protocol")
    found = _BOUNDARY.search(content_type)
    marker = b"--" + (found.group(1).encode("ascii") if found else b"Encrypted Boundary")
    closing = marker + b"--\r\n"
    if not body.startswith(marker) or not body.endswith(closing):
        raise FramingError("body is not framed by the boundary")
    head, separator, payload = body[: -len(closing)].partition(marker + b"\r\n" + _OCTET_STREAM)
    length = _LENGTH.search(head)
    if not separator or length is None or len(payload) < 4:
        raise FramingError("missing part header or length")
    (signature_length,) = struct.unpack("<i", payload[:4])
    if signature_length != 16 or len(payload) < 4 + signature_length:
        raise FramingError("bad signature length")
    signature, sealed = payload[4 : 4 + signature_length], payload[4 + signature_length :]
    try:
        plaintext = context.unwrap_winrm(signature, sealed)
    except Exception as exc:  # pyspnego raises several error types for a bad signature or sequence
        raise FramingError(f"cannot decrypt: {type(exc).__name__}") from None
    if len(plaintext) != int(length.group(1)):
        raise FramingError("decrypted length does not match OriginalContent")
    return plaintext


def wrap(context: SealingContext, soap: bytes) -> bytes:
    """An encrypted response body for ``soap``, to send with ``CONTENT_TYPE``."""
    sealed = context.wrap_winrm(soap)
    return b"".join(
        (
            b"--Encrypted Boundary\r\n",
            b"\tContent-Type: " + PROTOCOL.encode("ascii") + b"\r\n",
            b"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=%d\r\n" % len(soap),
            b"--Encrypted Boundary\r\n",
            _OCTET_STREAM,
            struct.pack("<i", len(sealed.header)),
            sealed.header,
            sealed.data,
            b"--Encrypted Boundary--\r\n",
        )
    )
