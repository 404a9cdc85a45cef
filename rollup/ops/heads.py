"""
``heads.record``, ``heads.read``: a copy of each run's audit head on the Deployment Tool host.

A run's audit log and journal live on the control host, where whoever can cut records off the
end of the log can cut the journal's copy of its head too. So when a run ends (``done``,
``failed``, ``waiting``), it also appends its head to ``C:\\ConfigShare\\rollup-heads.log``
beside the run lock's marker (``rollup.ops.lock``), on the host every run of the deployment
goes through; ``rollup audit verify RUN --remote`` reads it back and checks that every head kept
there is still in the run's chain. Each line is one JSON object written by the result writer's
``ConvertTo-RollupJson`` (keys sorted, printable ASCII)::

    {"at":"2011-03-10T10:42:00Z","audit_head":"9f86...","run_id":"20110310-100000-ab12","state":"done"}

``heads.read`` returns the lines that name the run (found by the exact ``"run_id":<id>`` text
the writer produces), so a long history costs nothing to ship; the parser reads each with
``json`` and reports a line that is not such JSON as unreadable rather than skipping it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from pydantic import ValidationError

from rollup.errors import CommandFailed
from rollup.ops.base import CommandResult, Operation, compact_body
from rollup.ops.lockmarker import check_one_line
from rollup.ops.results import ResultModel, read_object

DEFAULT_PATH = "C:\\ConfigShare\\rollup-heads.log"
_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordParams:
    """The run, how it ended, its audit head (64 hex digits) and when (UTC ISO 8601)."""

    path: str = DEFAULT_PATH
    run_id: str
    state: str
    audit_head: str
    at: str

    def __post_init__(self) -> None:
        check_one_line("heads.record", path=self.path, run_id=self.run_id, state=self.state, at=self.at)
        if len(self.audit_head) != 64 or not set(self.audit_head) <= _HEX:
            raise ValueError("heads.record: audit_head must be 64 lower-case hex digits")


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadParams:
    """Where the heads are kept, and the run whose lines to return."""

    path: str = DEFAULT_PATH
    run_id: str

    def __post_init__(self) -> None:
        check_one_line("heads.read", path=self.path, run_id=self.run_id)


class KeptHead(ResultModel):
    """One line of the heads file."""

    run_id: str
    state: str
    audit_head: str
    at: str


@dataclass(frozen=True, slots=True)
class KeptHeads:
    """The lines of the heads file that name the run (in file order), and those that are not rollup's JSON."""

    path: str
    heads: tuple[KeptHead, ...]
    unreadable: tuple[str, ...]


BODY_RECORD = compact_body(r"""
$ErrorActionPreference = 'Stop'
try {
    $line = ConvertTo-RollupJson @{ run_id = $p_run_id; state = $p_state; audit_head = $p_audit_head
        at = $p_at }
    [IO.File]::AppendAllText($p_path, $line + "`r`n", [Text.Encoding]::ASCII)
    Write-RollupResult @{ path = $p_path; recorded = $true }
}
catch {
    Write-RollupResult @{ error = 'failed'; message = $_.Exception.Message }
    exit 1
}
exit 0
""")

BODY_READ = compact_body(r"""
$ErrorActionPreference = 'Stop'
try {
    $mine = '"run_id":' + (ConvertTo-RollupJson $p_run_id)
    $lines = @()
    if ([IO.File]::Exists($p_path)) {
        foreach ($l in [IO.File]::ReadAllLines($p_path)) { if ($l.Contains($mine)) { $lines += $l } }
    }
    Write-RollupResult @{ path = $p_path; lines = $lines }
}
catch {
    Write-RollupResult @{ error = 'failed'; message = $_.Exception.Message }
    exit 1
}
exit 0
""")


def _failed(result: CommandResult, data: dict[str, object]) -> None:
    if "error" in data:
        raise CommandFailed(f"{result.host}: {result.op}: {data.get('message')}")


def parse_record(result: CommandResult, params: RecordParams) -> str:
    """
    The path the head was appended to.

    Raises:
        CommandFailed: The file could not be written (no such folder, access denied).
    """
    data = read_object(result)
    _failed(result, data)
    return str(data.get("path"))


def parse_read(result: CommandResult, params: ReadParams) -> KeptHeads:
    """
    The run's lines. A line naming the run that is not a head record is listed as unreadable.

    Raises:
        CommandFailed: The file exists but could not be read.
        ResultParseError: No result line or a malformed one.
    """
    data = read_object(result)
    _failed(result, data)
    lines = data.get("lines")
    texts = [str(x) for x in lines] if isinstance(lines, list) else []
    heads: list[KeptHead] = []
    unreadable: list[str] = []
    for text in texts:
        try:
            head = KeptHead.model_validate_json(text.strip())
        except (ValidationError, json.JSONDecodeError):
            unreadable.append(text)
            continue
        if head.run_id == params.run_id:
            heads.append(head)
    return KeptHeads(path=str(data.get("path")), heads=tuple(heads), unreadable=tuple(unreadable))


_HEAD = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
_HOSTILE = 'x"}, "run_id": "other\'; $(Remove-Item C:\\) `n \u2019'

RECORD: Operation[RecordParams, str] = Operation(
    id="heads.record",
    params=RecordParams,
    body=BODY_RECORD,
    parse=parse_record,
    kind="lock",
    mutates=True,
    timeout_s=60.0,
    examples=(
        RecordParams(
            run_id="20110310-100000-ab12", state="done", audit_head=_HEAD, at="2011-03-10T10:42:00Z"
        ),
        RecordParams(path="D:\\It's $(x)\\h.log", run_id=_HOSTILE, state="w'x", audit_head=_HEAD, at="`t"),
    ),
)

READ: Operation[ReadParams, KeptHeads] = Operation(
    id="heads.read",
    params=ReadParams,
    body=BODY_READ,
    parse=parse_read,
    kind="lock",
    mutates=False,
    timeout_s=60.0,
    examples=(ReadParams(run_id="20110310-100000-ab12"), ReadParams(run_id=_HOSTILE)),
)

OPERATIONS = (RECORD, READ)
