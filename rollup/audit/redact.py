"""
Redaction at the sink: every registered secret, in every form it can leak in, becomes ``***``.

``rollup.secret.Secret`` keeps a password out of ``str``/``repr``, but a password can still reach
a log the long way round: inside a rendered script (base64 of UTF-8 in a binding, the whole script
base64 of UTF-16LE in ``-EncodedCommand``), echoed by a remote command, URL-encoded in an error
from an HTTP library, or JSON-escaped inside a result line. The engine registers each password in a
``SecretRegistry`` when it resolves a credential, and every sink (the diagnostic log, the audit
log, the journal, evidence files) passes what it writes through the registry.

The forms of a value ``v`` that are replaced:

- ``v`` itself, and ``v`` as it appears inside a JSON string (``"`` and ``\\`` escaped, and with
  non-ASCII characters as ``\\uXXXX``);
- URL-encoded: ``quote(v)``, ``quote(v, safe="")`` and ``quote_plus(v)``, percent escapes in
  either case;
- base64 of UTF-8 and of UTF-16LE, with padding (``Secret.forms()``);
- the same bytes embedded in a longer base64 text at each of the three byte alignments: only the
  characters that depend on the value's bytes alone are matched, so the value is found whatever
  surrounds it. This is done for the value's bytes and for the bytes of its base64 forms, which
  covers a binding (``$p_x = ...FromBase64String('<b64 of v>')``) inside an encoded command.

Embedded fragments shorter than ``MIN_FRAGMENT`` characters are not registered: three base64
characters occur by chance everywhere and would erase the log. The plain value is always replaced,
whatever its length.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING
from urllib.parse import quote, quote_plus

from rollup.secret import REDACTED, Secret

if TYPE_CHECKING:
    from structlog.typing import EventDict, WrappedLogger

MIN_FRAGMENT = 4
"""Shortest embedded-base64 fragment that is registered (see the module docstring)."""

_PERCENT = re.compile(r"%[0-9A-F]{2}")


def embedded_base64(data: bytes) -> tuple[str, ...]:
    """
    The base64 characters that encode ``data`` at each byte alignment inside a longer stream.

    If ``data`` starts at byte offset ``k`` of a stream, ``(k mod 3) * 8`` bits of other bytes
    share its first characters and the bits after it share its last one. For each alignment
    ``o`` in 0, 1, 2 this returns the characters of ``b64(o zero bytes + data)`` that depend on
    ``data`` only: the first ``ceil(8o/6)`` are dropped, and everything after character
    ``floor(8(o + len)/6)``.
    """
    fragments = []
    for offset in range(3):
        text = base64.b64encode(bytes(offset) + data).decode("ascii").rstrip("=")
        start = -(-8 * offset // 6)
        end = 8 * (offset + len(data)) // 6
        fragment = text[start:end]
        if len(fragment) >= MIN_FRAGMENT:
            fragments.append(fragment)
    return tuple(fragments)


def secret_forms(value: str) -> tuple[str, ...]:
    """Every text a secret ``value`` is replaced in, longest first (the module docstring lists them)."""
    if not value:
        return ()
    forms = set(Secret(value).forms())
    forms.add(json.dumps(value)[1:-1])
    forms.add(json.dumps(value, ensure_ascii=False)[1:-1])
    forms.update((quote(value), quote(value, safe=""), quote_plus(value, safe="")))
    for text in (value, *Secret(value).forms()[1:]):
        forms.update(embedded_base64(text.encode("utf-8")))
        forms.update(embedded_base64(text.encode("utf-16-le")))
    return tuple(sorted(forms, key=lambda form: (-len(form), form)))


def _pattern(form: str) -> str:
    """A regular expression for ``form``; percent escapes match in upper or lower case."""
    parts = []
    last = 0
    for match in _PERCENT.finditer(form):
        parts.append(re.escape(form[last : match.start()]))
        hex_digits = match.group()[1:]
        parts.append(f"%(?:{hex_digits}|{hex_digits.lower()})")
        last = match.end()
    parts.append(re.escape(form[last:]))
    return "".join(parts)


class SecretRegistry:
    """
    The secret values this process must never write anywhere, with their encodings.

    Thread-safe: the engine adds credentials from host workers while other threads log. Values
    are only ever added; a registry lives as long as the process (or a test).
    """

    def __init__(self, secrets: Iterable[Secret | str] = ()) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._matcher: re.Pattern[str] | None = None
        for secret in secrets:
            self.add(secret)

    def add(self, secret: Secret | str) -> None:
        """Register a secret (a ``Secret`` or its revealed text); an empty value is ignored."""
        value = secret.reveal() if isinstance(secret, Secret) else secret
        if not value:
            return
        with self._lock:
            if value in self._values:
                return
            self._values.add(value)
            forms = sorted(
                {form for v in self._values for form in secret_forms(v)}, key=lambda f: (-len(f), f)
            )
            self._matcher = re.compile("|".join(_pattern(form) for form in forms))

    def __len__(self) -> int:
        return len(self._values)

    def redact_text(self, text: str) -> str:
        """``text`` with every form of every registered secret replaced by ``***``."""
        matcher = self._matcher
        if matcher is None:
            return text
        return matcher.sub(REDACTED, text)

    def redact(self, value: object) -> object:
        """
        ``value`` with every string inside it redacted, recursively.

        Mappings become dicts (keys redacted too), lists, tuples and sets become lists, a
        ``Secret`` becomes ``***``; numbers, booleans and ``None`` are kept; any other object is
        replaced by its redacted ``str()``, since that is what a renderer would print.
        """
        if isinstance(value, str):
            return self.redact_text(value)
        if isinstance(value, bool | int | float) or value is None:
            return value
        if isinstance(value, Secret):
            return REDACTED
        if isinstance(value, Mapping):
            return {self.redact_text(str(k)): self.redact(v) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self.redact(item) for item in value]
        return self.redact_text(str(value))


PROCESS_SECRETS = SecretRegistry()
"""The registry of this process: the engine adds every credential it resolves here."""


def redact_value(value: object, registry: SecretRegistry | None = None) -> object:
    """``value`` redacted with ``registry`` (default: ``PROCESS_SECRETS``); for the journal."""
    return (PROCESS_SECRETS if registry is None else registry).redact(value)


class RedactSecrets:
    """
    structlog processor: redacts every value of the event dict (nested values included).

    It runs after the timestamp and the exception formatting, so tracebacks are redacted too,
    and before the renderer, at every level: a debug line gets the same treatment as an error.
    """

    __slots__ = ("registry",)

    def __init__(self, registry: SecretRegistry | None = None) -> None:
        self.registry = PROCESS_SECRETS if registry is None else registry

    def __call__(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
        return {key: self.registry.redact(value) for key, value in event_dict.items()}
