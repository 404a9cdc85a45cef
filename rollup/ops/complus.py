"""
``complus.state`` and ``complus.restart``: a COM+ application ("Provisioning Engine").

Both go through ``COMAdmin.COMAdminCatalog`` locally on the host (no DCOM ``Connect``, so no
firewall or second hop is involved):

- the ``Applications`` collection gives the application's ``Key`` (its AppID) and ``IsEnabled``;
- the ``ApplicationInstances`` collection lists running server processes (``Application`` is
  the AppID, ``ProcessID`` the process).

``complus.restart`` is ``ShutdownApplication``, a settle time, ``StartApplication``, then up to
ten one-second polls for a running instance. It refuses, before touching anything, an
application that does not exist (the failure names it) or is disabled: an earlier HMC hotfix
tells operators to "Enable and Start" the Provisioning Engine, and enabling it is a decision
for the operator, so the hint says "enable it first" and nothing is enabled silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rollup.errors import CommandFailed
from rollup.ops.base import CommandResult, Operation, compact_body
from rollup.ops.results import ResultModel, read_object

if TYPE_CHECKING:
    pass


@dataclass(frozen=True, slots=True)
class ComPlusParams:
    """The application, by name as Component Services shows it (compared ignoring case)."""

    application: str

    def __post_init__(self) -> None:
        if not self.application.strip():
            raise ValueError("complus: the application name is blank")


@dataclass(frozen=True, slots=True)
class RestartParams:
    """The application, and the seconds to wait between shutdown and start."""

    application: str
    settle_s: int = 5

    def __post_init__(self) -> None:
        if not self.application.strip():
            raise ValueError("complus.restart: the application name is blank")
        if not 0 <= self.settle_s <= 600:
            raise ValueError("complus.restart: settle_s must be 0-600")


class ComPlusState(ResultModel):
    """
    What the catalog says about the application. ``found`` false leaves the rest empty;
    ``process_ids`` lists the running instances (empty when it is not running).
    """

    application: str
    found: bool
    app_id: str | None = None
    enabled: bool | None = None
    process_ids: tuple[int, ...] = ()
    previous_process_ids: tuple[int, ...] | None = None
    """For a restart: the instances before the shutdown."""

    @property
    def running(self) -> bool:
        """Whether at least one instance of the application is running."""
        return bool(self.process_ids)


COMPLUS_FACTS = compact_body(r"""
function Get-RollupComPlusPids($cat, $key) {
    $ids = New-Object Collections.ArrayList
    $inst = $cat.GetCollection('ApplicationInstances')
    $inst.Populate()
    foreach ($i in $inst) {
        if ([string]$i.Value('Application') -eq $key) { [void]$ids.Add([int]$i.Value('ProcessID')) }
    }
    return ,$ids
}
function Get-RollupComPlusApp($cat, $name) {
    $apps = $cat.GetCollection('Applications')
    $apps.Populate()
    $r = @{ application = $name; found = $false }
    foreach ($a in $apps) {
        if ([string]$a.Name -eq $name) {
            $r.application = [string]$a.Name
            $r.found = $true
            $r.app_id = [string]$a.Key
            $r.enabled = [bool]$a.Value('IsEnabled')
            $r.process_ids = Get-RollupComPlusPids $cat $r.app_id
        }
    }
    return $r
}
""")
"""
``Get-RollupComPlusApp catalog name``: an application's description as ``complus.state`` reports
it (found, AppID, enabled, the process ids of its running instances). The one source of these
facts: ``complus.restart`` and ``verify.facts`` call the same functions.
"""

STATE_BODY = (
    COMPLUS_FACTS
    + "\n"
    + compact_body(r"""
try {
    $ErrorActionPreference = 'Stop'
    $cat = New-Object -ComObject COMAdmin.COMAdminCatalog
    $r = Get-RollupComPlusApp $cat $p_application
}
catch {
    Write-RollupResult @{ error = 'catalog'; message = $_.Exception.Message }
    exit 1
}
Write-RollupResult $r
exit 0
""")
)

RESTART_BODY = (
    COMPLUS_FACTS
    + "\n"
    + compact_body(r"""
try {
    $ErrorActionPreference = 'Stop'
    $cat = New-Object -ComObject COMAdmin.COMAdminCatalog
    $r = Get-RollupComPlusApp $cat $p_application
    if (-not $r.found) {
        $r.error = 'missing'
        Write-RollupResult $r
        exit 1
    }
    if (-not $r.enabled) {
        $r.error = 'disabled'
        Write-RollupResult $r
        exit 1
    }
    $r.previous_process_ids = $r.process_ids
    $cat.ShutdownApplication($r.app_id)
    Start-Sleep -Seconds $p_settle_s
    $cat.StartApplication($r.app_id)
    for ($n = 0; $n -lt 10; $n++) {
        $r.process_ids = Get-RollupComPlusPids $cat $r.app_id
        if ($r.process_ids.Count -gt 0) { break }
        Start-Sleep -Seconds 1
    }
}
catch {
    Write-RollupResult @{ error = 'catalog'; message = $_.Exception.Message; application = $p_application }
    exit 1
}
if ($r.process_ids.Count -eq 0) {
    $r.error = 'not_running'
    Write-RollupResult $r
    exit 1
}
Write-RollupResult $r
exit 0
""")
)


def _outcome(result: CommandResult, data: dict[str, object]) -> ComPlusState:
    return ComPlusState.read(result, {k: v for k, v in data.items() if k != "error"})


def parse_state(result: CommandResult, params: ComPlusParams) -> ComPlusState:
    """
    The application's state; a missing application is ``found: false``, not an error.

    Raises:
        CommandFailed: The COM+ catalog could not be read (message from the host).
        ResultParseError: No result line or a malformed one.
    """
    data = read_object(result)
    if data.get("error") == "catalog":
        raise CommandFailed(f"{result.host}: COM+ catalog: {data.get('message')}")
    return _outcome(result, data)


def parse_restart(result: CommandResult, params: RestartParams) -> ComPlusState:
    """
    The application's state after the restart: running, with its new process ids.

    Raises:
        CommandFailed: The application does not exist (named), is disabled (hint: enable it
            first), did not start within the polls, or the catalog call failed.
        ResultParseError: No result line or a malformed one.
    """
    data = read_object(result)
    error = data.get("error")
    name = params.application
    if error == "catalog":
        raise CommandFailed(f"{result.host}: COM+ application {name!r}: {data.get('message')}")
    outcome = _outcome(result, data)
    if error == "missing" or not outcome.found:
        raise CommandFailed(
            f"{result.host}: COM+ application {name!r} does not exist",
            hint="check the name in Component Services (COM+ Applications)",
        )
    if error == "disabled" or not outcome.enabled:
        raise CommandFailed(
            f"{result.host}: COM+ application {outcome.application!r} is disabled",
            hint="enable it first (Component Services, right-click the application, Enable), then rerun",
        )
    if error == "not_running" or not outcome.running:
        raise CommandFailed(
            f"{result.host}: COM+ application {outcome.application!r} is not running 10 s after its start",
            hint="look for the application's errors in the Application event log",
        )
    return outcome


STATE: Operation[ComPlusParams, ComPlusState] = Operation(
    id="complus.state",
    params=ComPlusParams,
    body=STATE_BODY,
    parse=parse_state,
    kind="fact",
    mutates=False,
    timeout_s=120.0,
    examples=(
        ComPlusParams(application="Provisioning Engine"),
        ComPlusParams(application="Engine 'A' \"B\" $(calc) `n;"),
    ),
)

RESTART: Operation[RestartParams, ComPlusState] = Operation(
    id="complus.restart",
    params=RestartParams,
    body=RESTART_BODY,
    parse=parse_restart,
    kind="complus",
    mutates=True,
    timeout_s=600.0,
    examples=(
        RestartParams(application="Provisioning Engine"),
        RestartParams(application="Provisioning Engine", settle_s=0),
        RestartParams(application="x'; Remove-Item C:\\ -Recurse; '\u2019", settle_s=30),
    ),
)

OPERATIONS = (STATE, RESTART)
