"""
A remote action as a value: operation id, parameters and a PowerShell 2.0 body.

``RemoteCommand.render()`` gives the exact text sent to a host::

    #rollup-op 2 msi.install
    <prelude functions the body uses: the result writer, named helpers>
    $p_path = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String('...'))
    <body, which only reads the $p_* variables>

Values never enter the script text except as base64 inside single-quoted literals, so no
value can close a quote, start a subexpression or end a statement, whatever characters it
holds (typographic quotes included, which PowerShell also treats as quotes).

The header names the operation, and the parameters that are secret (``#rollup-op 2 op.id
secret=name,name``); it carries no value, so a script costs each value once on the wire.
``read_header`` gives the operation id and the parameters decoded back from the bindings
(``bindings_of``), secrets as ``Secret``.

Secrets are sent (the host needs them) but never shown: ``redacted()``, ``str()`` and
``repr()`` replace each secret's binding with ``'***'``.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TypeAlias

from rollup.errors import ResultParseError
from rollup.ps.prelude import HELPERS, render_prelude
from rollup.secret import REDACTED, Secret

Param: TypeAlias = str | int | bool | tuple[str, ...] | Secret | None
"""
A parameter value. No ``float``: no operation needs one, and a decimal literal is the one
binding whose meaning would depend on the host's parsing rules; pass a string instead.
"""

HEADER_MARKER = "#rollup-op"
HEADER_VERSION = "2"
WRITER_CALL = "Write-RollupResult"

_OP = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+")
_NAME = re.compile(r"[a-z][a-z0-9_]*")
_INT_LIMIT = 2**63 - 1
"""PowerShell reads ``-9223372036854775808`` as a negated too-large literal, so both ends stop here."""

_STRING_FORM = "[Text.Encoding]::UTF8.GetString([Convert]::FromBase64String('{}'))"
_STRING_EXPR = re.compile(
    r"\[Text\.Encoding\]::UTF8\.GetString\(\[Convert\]::FromBase64String\('([A-Za-z0-9+/=]*)'\)\)"
)
_REDACTED_BINDING = f"'{REDACTED}'"
_BINDING_LINE = re.compile(r"\$p_([a-z][a-z0-9_]*) = (.*)")
_PARAM_USE = re.compile(r"\$\{?p_([A-Za-z0-9_]*)", re.IGNORECASE)
_PARAM_ASSIGN = re.compile(r"\$\{?p_[A-Za-z0-9_]*\}?\s*(?:[-+*/%]?=(?!=)|\+\+|--)", re.IGNORECASE)


def _helper_call(name: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w-]){re.escape(name)}(?![\w-])", re.IGNORECASE)


_HELPER_CALLS = {name: _helper_call(name) for name in HELPERS}
_WRITER_USE = _helper_call(WRITER_CALL)


def _utf8(text: str, where: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"{where}: not encodable as UTF-8 (lone surrogate)") from exc


def _string_binding(text: str) -> str:
    return _STRING_FORM.format(base64.b64encode(text.encode("utf-8")).decode("ascii"))


def _check_value(where: str, value: object) -> None:
    """Refuse a value ``render`` could not bind faithfully (wrong type, out of range, unencodable)."""
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, int):
        if not -_INT_LIMIT <= value <= _INT_LIMIT:
            raise ValueError(f"{where}: integer outside the signed 64-bit range")
    elif isinstance(value, str):
        _utf8(value, where)
    elif isinstance(value, Secret):
        _utf8(value.reveal(), where)
    elif isinstance(value, tuple):
        for item in value:
            if not isinstance(item, str):
                raise TypeError(f"{where}: tuple items must be str, not {type(item).__name__}")
            _utf8(item, where)
    else:
        raise TypeError(f"{where}: unsupported parameter type {type(value).__name__}")


def _binding(value: Param, *, redact: bool) -> str:
    """The PowerShell expression a parameter is bound to."""
    if value is None:
        return "$null"
    if isinstance(value, bool):
        return "$true" if value else "$false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Secret):
        return _REDACTED_BINDING if redact else _string_binding(value.reveal())
    if isinstance(value, tuple):
        return "@(" + ", ".join(_string_binding(item) for item in value) + ")"
    return _string_binding(value)


@dataclass(frozen=True, slots=True, repr=False)
class RemoteCommand:
    """
    One remote action: ``op`` (dotted id such as ``msi.install``), ``params`` bound as
    ``$p_<name>``, a PowerShell 2.0 ``body``, and the prelude ``helpers`` the body calls.

    Construction checks what can be checked without PowerShell, so a mistake in an operation
    fails when it is defined rather than on a host: the id and parameter names, the value
    types, that the body reads only declared parameters and never assigns them (bindings are
    read back from the text, and the body must see what the header says), and that it calls
    no helper it did not name. ``params`` is copied, ordered by name and made read-only;
    ``helpers`` is kept in prelude order.

    Raises:
        ValueError, TypeError: The command is malformed (a programming error in an operation).
    """

    op: str
    params: Mapping[str, Param]
    body: str
    helpers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.op, str) or not _OP.fullmatch(self.op):
            raise ValueError(f"operation id {self.op!r} is not dotted lower-case words (msi.install)")
        params: dict[str, Param] = {}
        for name in sorted(self.params):
            if not isinstance(name, str) or not _NAME.fullmatch(name):
                raise ValueError(f"{self.op}: parameter name {name!r} is not a lower-case identifier")
            value = self.params[name]
            _check_value(f"{self.op}: parameter {name!r}", value)
            params[name] = value
        object.__setattr__(self, "params", MappingProxyType(params))
        unknown = sorted(set(self.helpers) - set(HELPERS))
        if unknown:
            raise ValueError(f"{self.op}: unknown helper {unknown[0]!r}; known: {', '.join(HELPERS)}")
        object.__setattr__(self, "helpers", tuple(h for h in HELPERS if h in self.helpers))
        self._check_body()

    def _check_body(self) -> None:
        if not isinstance(self.body, str) or not self.body.strip():
            raise ValueError(f"{self.op}: body is empty")
        for used in sorted({name.lower() for name in _PARAM_USE.findall(self.body)}):
            if used not in self.params:
                raise ValueError(f"{self.op}: body reads $p_{used}, which is not a parameter")
        if _PARAM_ASSIGN.search(self.body):
            raise ValueError(f"{self.op}: body assigns a $p_ variable; parameters are read-only")
        for name, call in _HELPER_CALLS.items():
            if name not in self.helpers and call.search(self.body):
                raise ValueError(f"{self.op}: body calls {name} but helpers does not name it")

    @property
    def reports(self) -> bool:
        """Whether the body calls ``Write-RollupResult`` (and so the script carries the writer)."""
        return _WRITER_USE.search(self.body) is not None

    def _header(self) -> str:
        secret = [name for name, v in self.params.items() if isinstance(v, Secret)]
        tail = f" secret={','.join(secret)}" if secret else ""
        return f"{HEADER_MARKER} {HEADER_VERSION} {self.op}{tail}"

    def _text(self, *, redact: bool) -> str:
        lines = [self._header()]
        prelude = render_prelude(self.helpers, writer=self.reports)
        if prelude:
            lines.append(prelude)
        lines.extend(f"$p_{name} = {_binding(v, redact=redact)}" for name, v in self.params.items())
        lines.append(self.body.strip("\r\n"))
        return "\n".join(lines) + "\n"

    def render(self) -> str:
        """The exact script sent to the host, secrets included. Never log it: use ``redacted()``."""
        return self._text(redact=False)

    def redacted(self) -> str:
        """The script with every secret shown as ``***``: for logs, plans, journals and errors."""
        return self._text(redact=True)

    def __str__(self) -> str:
        return self.redacted()

    def __repr__(self) -> str:
        params = ", ".join(f"{name!r}: {value!r}" for name, value in self.params.items())
        return (
            f"RemoteCommand(op={self.op!r}, params={{{params}}}, helpers={self.helpers!r}, "
            f"body=<{len(self.body)} characters>)"
        )

    def __hash__(self) -> int:
        return hash((self.op, tuple(self.params.items()), self.body, self.helpers))


def _header_error(problem: str) -> ResultParseError:
    return ResultParseError(f"script header: {problem}")


def _header_line(script: str) -> tuple[str, frozenset[str]] | None:
    """The operation id and secret parameter names of a script's header line, or ``None``."""
    first = script.split("\n", 1)[0].rstrip("\r")
    if first != HEADER_MARKER and not first.startswith(HEADER_MARKER + " "):
        return None
    parts = first.split(" ")
    if len(parts) not in (3, 4) or parts[1] != HEADER_VERSION:
        raise _header_error(f"expected '{HEADER_MARKER} {HEADER_VERSION} <operation id> [secret=<names>]'")
    op = parts[2]
    if not _OP.fullmatch(op):
        raise _header_error("the operation is not a dotted operation id")
    secret: frozenset[str] = frozenset()
    if len(parts) == 4:
        if not parts[3].startswith("secret="):
            raise _header_error(f"{op}: expected secret=<names> after the operation")
        names = parts[3][len("secret=") :].split(",")
        if not all(_NAME.fullmatch(n) for n in names):
            raise _header_error(f"{op}: secret does not list parameter names")
        secret = frozenset(names)
    return op, secret


def read_header(script: str) -> tuple[str, dict[str, Param]] | None:
    """
    The operation id a rendered script declares on its first line, and its parameters as the
    script binds them (``bindings_of``).

    Returns:
        ``None`` when the first line is not a ``#rollup-op`` header. Secret parameters come
        back as ``Secret``, tuples as tuples.

    Raises:
        ResultParseError: The header is malformed (version, operation id, secret list), a
            binding is not in a form ``render`` produces, or a secret names no binding.
    """
    line = _header_line(script)
    if line is None:
        return None
    op, secret = line
    params = bindings_of(script)
    if not secret <= set(params):
        raise _header_error(f"{op}: secret names a parameter the script does not bind")
    return op, params


def _decode_string(encoded: str) -> str:
    try:
        return base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ResultParseError("script binding: not base64 of UTF-8") from exc


def _decode_binding(name: str, text: str) -> Param:
    if text in ("$null", "$true", "$false"):
        return {"$null": None, "$true": True, "$false": False}[text]
    if re.fullmatch(r"-?[0-9]+", text):
        return int(text)
    if text == _REDACTED_BINDING:
        return Secret(REDACTED)
    single = _STRING_EXPR.fullmatch(text)
    if single:
        return _decode_string(single.group(1))
    if text.startswith("@(") and text.endswith(")"):
        items = _STRING_EXPR.findall(text)
        if text == "@(" + ", ".join(_STRING_FORM.format(i) for i in items) + ")":
            return tuple(_decode_string(item) for item in items)
    raise ResultParseError(f"script binding: $p_{name} is not a binding rollup renders")


def bindings_of(script: str) -> dict[str, Param]:
    """
    The ``$p_*`` bindings of a rendered script, decoded back into values.

    A string binding decodes to ``str``, or to ``Secret`` when the script's header lists the
    parameter as secret; a redacted binding (``'***'``) decodes to ``Secret("***")``.

    Raises:
        ResultParseError: A binding is not in a form ``render`` produces, appears twice, or the
            header is malformed.
    """
    header = _header_line(script)
    secret = header[1] if header else frozenset()
    found: dict[str, Param] = {}
    for line in script.splitlines():
        match = _BINDING_LINE.fullmatch(line)
        if match is None:
            continue
        name, value = match.group(1), _decode_binding(match.group(1), match.group(2))
        if name in found:
            raise ResultParseError(f"script binding: $p_{name} is bound twice")
        found[name] = Secret(value) if name in secret and isinstance(value, str) else value
    return found
