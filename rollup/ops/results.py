"""
Reading what an operation's body printed: the ``#rollup-result`` line's object and its fields.

Every parser in ``rollup/ops/`` reads its result through these, so every malformed result is a
``ResultParseError`` naming the host and the operation. ``result_object`` and ``result_field``
check plain fields one by one; ``ResultModel`` (strict, frozen pydantic models) and
``read_object`` read a whole outcome at once.
"""

from __future__ import annotations

import json
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, ValidationError

from rollup.errors import ResultParseError
from rollup.ops.base import CommandResult
from rollup.ps.result import read_result

OPT_STR = (str, type(None))
"""A result field that is text or ``null``."""
OPT_INT = (int, type(None))
"""A result field that is a whole number or ``null``."""


def result_object(result: CommandResult) -> dict[str, Any]:
    """The result line as an object, or a ``ResultParseError`` naming the host and showing stderr."""
    data = read_result(result.stdout)
    if not isinstance(data, dict):
        shown = result.tail() or result.tail("stdout", 3) or "no output"
        shown = " | ".join(shown.splitlines())
        raise ResultParseError(
            f"{result.host}: {result.op}: no result object (exit {result.exit_code}): {shown}"
        )
    return data


def result_field(data: dict[str, Any], key: str, kind: type | tuple[type, ...], result: CommandResult) -> Any:
    """``data[key]`` checked against ``kind`` (``None`` allowed when ``kind`` includes ``type(None)``)."""
    value = data.get(key)
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _types(kind)):
        raise ResultParseError(f"{result.host}: {result.op}: result field {key!r} has the wrong type")
    return value


def _types(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def result_objects(result: CommandResult, key: str) -> list[dict[str, Any]]:
    """The result object's field ``key``, checked to be a list of objects."""
    items = result_field(result_object(result), key, list, result)
    if not all(isinstance(item, dict) for item in items):
        raise ResultParseError(f"{result.host}: {result.op}: result field {key!r} is not a list of objects")
    return list(items)


class ResultModel(BaseModel):
    """
    Base of the outcomes read from a result line: frozen, strict (no coercion: ``"1"`` is not an
    integer), and no unknown keys, so a script and its parser cannot drift apart silently.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    @classmethod
    def read(cls, result: CommandResult, data: object) -> Self:
        """
        ``data`` (a decoded result line) as this model.

        Raises:
            ResultParseError: The first mismatch, with the host, the operation and the key path.
        """
        try:
            return cls.model_validate_json(json.dumps(data))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "result"
            raise ResultParseError(f"{result.host}: {result.op}: result {where}: {first['msg']}") from None


def read_object(result: CommandResult) -> dict[str, Any]:
    """
    The result line's object (``result_object``), every error naming the host.

    Raises:
        ResultParseError: No result line, not an object, or not JSON.
    """
    try:
        return result_object(result)
    except ResultParseError as exc:
        if str(exc).startswith(f"{result.host}: "):
            raise
        raise ResultParseError(f"{result.host}: {result.op}: {exc}") from None
