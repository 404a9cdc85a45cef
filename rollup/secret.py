"""
Secrets as a type, so that redaction does not depend on a pattern match.

A ``Secret`` never shows its value through ``str``, ``repr`` or formatting; code that needs
the value asks for it explicitly with ``reveal()``, which makes every use easy to find.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

REDACTED = "***"


@dataclass(frozen=True, slots=True)
class Secret:
    """A value (a password) that must not appear in logs, journals, output or errors."""

    _value: str = field(repr=False)

    def reveal(self) -> str:
        """The secret's value, for the one place that must send it."""
        return self._value

    def __str__(self) -> str:
        return REDACTED

    def __repr__(self) -> str:
        return f"Secret({REDACTED})"

    def __format__(self, spec: str) -> str:
        return REDACTED

    def forms(self) -> tuple[str, ...]:
        """
        The value and the encodings it could leak in: base64 of UTF-8 and of UTF-16LE.

        Used by redaction and by the tests that scan every artifact of a run for a secret.
        """
        raw = self._value
        if not raw:
            return ()
        utf8 = raw.encode("utf-8")
        utf16 = raw.encode("utf-16-le")
        return (
            raw,
            base64.b64encode(utf8).decode("ascii"),
            base64.b64encode(utf16).decode("ascii"),
        )
