"""
``lock.read``, ``lock.acquire``, ``lock.release``: the run lock on the Deployment Tool host.

Two runs against one deployment would interleave uninstalls and reinstalls, so a run takes a
lock first: a marker file on the ``deployment_tool`` host, ``C:\\ConfigShare\\rollup.lock`` by
default (``DEFAULT_PATH``), beside the Deployment Tool's own Config and Log folders, where an
operator of that host sees it. Its content is one line of JSON, written by the result writer's
``ConvertTo-RollupJson`` (keys sorted, printable ASCII)::

    {"acquired_at":"2011-03-10T10:00:00Z","control_host":"ops01","inventory":"prod",
     "operator":"HOSTING\\\\admin","run_id":"20110310-100000-ab12","version":1}

- ``lock.acquire`` creates the file with create-new semantics (``[IO.File]::Open(path,
  'CreateNew')``), so of two runs racing, exactly one creates it. When the file exists the
  holder's marker is reported; a marker already holding this run id counts as acquired (a
  resumed run takes its own lock back).
- ``lock.release`` deletes the marker only when it names this run id, or with ``force``
  (a stale lock of a crashed run); otherwise it refuses and reports the holder. Releasing an
  absent lock is not an error.
- ``lock.read`` reports the marker, if any.

The scripts find "this run's marker" by the exact JSON text of ``"run_id":<id>`` that the
writer produces; the parser reads the whole marker with ``json``. A marker that is not such
JSON (edited by hand, half-written) is reported as held with ``holder`` ``None`` and its text.
The parameters and the marker's model are ``rollup.ops.lockmarker``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rollup.errors import CommandFailed, LockHeld
from rollup.ops.base import CommandResult, Operation, compact_body
from rollup.ops.lockmarker import (
    LockAcquireParams,
    LockReadParams,
    LockReleaseParams,
    LockState,
    holder_of,
)
from rollup.ops.results import ResultModel, read_object

if TYPE_CHECKING:
    pass


def held_error(host: str, state: LockState) -> LockHeld:
    """The error a run raises when ``lock.acquire`` found the lock held by another run."""
    holder = state.holder
    if holder is None:
        return LockHeld(
            f"{host}: {state.path} exists but is not a rollup lock marker",
            hint="look at the file; if no run is active, release it with --force",
        )
    return LockHeld(
        f"{host}: locked by run {holder.run_id} of {holder.operator} on {holder.control_host} "
        f"(inventory {holder.inventory}, since {holder.acquired_at})",
        hint="wait for that run to finish; if it crashed, release its lock with --force",
    )


BODY_READ = compact_body(r"""
try {
    $t = $null
    if ([IO.File]::Exists($p_path)) { $t = [IO.File]::ReadAllText($p_path) }
    Write-RollupResult @{ path = $p_path; held = ($null -ne $t); text = $t }
}
catch {
    Write-RollupResult @{ error = 'failed'; message = $_.Exception.Message }
    exit 1
}
exit 0
""")

BODY_ACQUIRE = compact_body(r"""
$ErrorActionPreference = 'Stop'
$mine = '"run_id":' + (ConvertTo-RollupJson $p_run_id)
$text = ConvertTo-RollupJson @{ version = 1; run_id = $p_run_id; operator = $p_operator
    control_host = $p_control_host; inventory = $p_inventory; acquired_at = $p_acquired_at }
try {
    $created = $false
    try {
        $s = [IO.File]::Open($p_path, 'CreateNew', 'Write', 'None')
        $created = $true
    }
    catch { if (-not [IO.File]::Exists($p_path)) { throw $_ } }
    if ($created) {
        try {
            $b = [Text.Encoding]::UTF8.GetBytes($text)
            $s.Write($b, 0, $b.Length)
        }
        finally { $s.Close() }
        $t = $text
    }
    else { $t = [IO.File]::ReadAllText($p_path) }
    $ours = $t.Contains($mine)
    Write-RollupResult @{ path = $p_path; held = $true; text = $t; created = $created; acquired = $ours }
}
catch {
    Write-RollupResult @{ error = 'failed'; message = $_.Exception.Message }
    exit 1
}
if (-not $ours) { exit 1 }
exit 0
""")

BODY_RELEASE = compact_body(r"""
$ErrorActionPreference = 'Stop'
$mine = '"run_id":' + (ConvertTo-RollupJson $p_run_id)
try {
    $t = $null
    $ok = $true
    if ([IO.File]::Exists($p_path)) {
        $t = [IO.File]::ReadAllText($p_path)
        $ok = $t.Contains($mine) -or $p_force
        if ($ok) { [IO.File]::Delete($p_path) }
    }
    $gone = $ok -and $null -ne $t
    Write-RollupResult @{ path = $p_path; held = -not $ok; text = $t; released = $gone }
}
catch {
    Write-RollupResult @{ error = 'failed'; message = $_.Exception.Message }
    exit 1
}
if (-not $ok) { exit 1 }
exit 0
""")


class _Wire(ResultModel):
    path: str
    held: bool
    text: str | None
    created: bool = False
    acquired: bool = False
    released: bool = False


def _parse(result: CommandResult) -> LockState:
    data = read_object(result)
    if "error" in data:
        raise CommandFailed(f"{result.host}: {result.op}: {data.get('message')}")
    wire = _Wire.read(result, data)
    return LockState(
        path=wire.path,
        held=wire.held,
        holder=holder_of(wire.text),
        text=wire.text,
        acquired=wire.acquired,
        created=wire.created,
        released=wire.released,
    )


def parse_read(result: CommandResult, params: LockReadParams) -> LockState:
    """
    The lock's marker, if any.

    Raises:
        CommandFailed: The marker exists but could not be read.
        ResultParseError: No result line or a malformed one.
    """
    return _parse(result)


def parse_acquire(result: CommandResult, params: LockAcquireParams) -> LockState:
    """
    ``acquired`` true when this run holds the lock; otherwise ``holder`` is the run that does
    (raise ``held_error(host, state)`` to stop).

    Raises:
        CommandFailed: The marker could not be created or read (no such folder, access denied).
        ResultParseError: No result line or a malformed one.
    """
    return _parse(result)


def parse_release(result: CommandResult, params: LockReleaseParams) -> LockState:
    """
    ``released`` true when this call deleted the marker; ``held`` true (with ``holder``) when
    another run's lock was left in place because ``force`` was not given.

    Raises:
        CommandFailed: The marker could not be read or deleted.
        ResultParseError: No result line or a malformed one.
    """
    return _parse(result)


_ACQUIRE = LockAcquireParams(
    run_id="20110310-100000-ab12",
    operator="HOSTING\\admin",
    control_host="ops01",
    inventory="prod",
    acquired_at="2011-03-10T10:00:00Z",
)
_HOSTILE = 'x"}, "run_id": "other\'; $(Remove-Item C:\\) `n \u2019'

READ: Operation[LockReadParams, LockState] = Operation(
    id="lock.read",
    params=LockReadParams,
    body=BODY_READ,
    parse=parse_read,
    kind="lock",
    mutates=False,
    timeout_s=60.0,
    examples=(LockReadParams(), LockReadParams(path="D:\\It's $(here)\\rollup.lock")),
)

ACQUIRE: Operation[LockAcquireParams, LockState] = Operation(
    id="lock.acquire",
    params=LockAcquireParams,
    body=BODY_ACQUIRE,
    parse=parse_acquire,
    kind="lock",
    mutates=True,
    timeout_s=60.0,
    examples=(
        _ACQUIRE,
        LockAcquireParams(
            path="C:\\ConfigShare\\rollup.lock",
            run_id=_HOSTILE,
            operator="HOSTING\\o'brien",
            control_host="ctl;01",
            inventory='inventory/prod "eu".yml',
            acquired_at="2011-03-10T10:00:00Z",
        ),
    ),
)

RELEASE: Operation[LockReleaseParams, LockState] = Operation(
    id="lock.release",
    params=LockReleaseParams,
    body=BODY_RELEASE,
    parse=parse_release,
    kind="lock",
    mutates=True,
    timeout_s=60.0,
    examples=(
        LockReleaseParams(run_id="20110310-100000-ab12"),
        LockReleaseParams(run_id=_HOSTILE, force=True),
    ),
)

OPERATIONS = (READ, ACQUIRE, RELEASE)
