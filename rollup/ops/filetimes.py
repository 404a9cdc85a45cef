"""
``files.set_time``: give a file the last write time (UTC) it had where it came from.

An upload writes a new file, so Windows stamps it with the time of the upload. The KB's file
table dates every package file, and `rollup verify` compares the files in C:\\MSIShare with
those dates, as an operator comparing with the KB would; copying on Windows keeps a file's last
write time, so the uploaded package keeps its own from here on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from rollup.errors import CommandFailed, ResultParseError
from rollup.ops.base import CommandResult, Operation, compact_body
from rollup.ops.results import OPT_STR, result_field, result_object

if TYPE_CHECKING:
    pass

_FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)


def to_filetime(moment: datetime) -> int:
    """A Windows FILETIME: 100-nanosecond intervals since 1601-01-01 UTC."""
    if moment.tzinfo is None:
        raise ValueError("a FILETIME needs an aware datetime")
    return (moment - _FILETIME_EPOCH) // timedelta(microseconds=1) * 10


def from_filetime(value: int) -> datetime:
    """The UTC datetime of a Windows FILETIME."""
    return _FILETIME_EPOCH + timedelta(microseconds=value // 10)


@dataclass(frozen=True, slots=True, kw_only=True)
class SetTimeParams:
    """The file, and its new last write time as a FILETIME (``to_filetime``)."""

    path: str
    filetime: int


SET_TIME_BODY = compact_body(r"""
$e=$m=$null
try{
[IO.File]::SetLastWriteTimeUtc($p_path,[DateTime]::FromFileTimeUtc($p_filetime))
$m=[IO.File]::GetLastWriteTimeUtc($p_path)
}catch{$e=$_.Exception.Message}
Write-RollupResult @{path=$p_path;mtime=$m;error=$e}
exit ([int][bool]$e)
""")


def parse_set_time(result: CommandResult, params: SetTimeParams) -> datetime:
    """
    The file's last write time after the change (UTC).

    Raises:
        CommandFailed: the host could not set it (no such file, file in use).
    """
    data = result_object(result)
    error = result_field(data, "error", OPT_STR, result)
    if error:
        raise CommandFailed(f"{result.host}: cannot set the time of {params.path}: {error}")
    text = result_field(data, "mtime", str, result)
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        raise ResultParseError(f"{result.host}: files.set_time: {text!r} is not a time") from None


OPERATIONS: tuple[Operation[Any, Any], ...] = (
    Operation(
        id="files.set_time",
        params=SetTimeParams,
        body=SET_TIME_BODY,
        parse=parse_set_time,
        kind="fact",
        mutates=True,
        examples=(
            SetTimeParams(
                path="C:\\temp\\QFERollupPackage\\DNSClient.msi",
                filetime=to_filetime(datetime(2011, 3, 10, 10, 4, tzinfo=UTC)),
            ),
            SetTimeParams(path='C:\\temp\\it\'s $(x);`n"q".msi', filetime=0),
        ),
    ),
)
