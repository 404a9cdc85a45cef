"""
``service.state``: the status and start mode of named Windows services.

The script reads WMI's ``Win32_Service`` (``State``, ``StartMode``): PowerShell 2.0's
``Get-Service`` has no start type (``StartType`` is PowerShell 5.0). Every service is read once
and matched by name in the script (case-insensitively, as Windows does), so no name ever enters
a WQL query. A name with no service is reported as ``found: false``, not as an error: pre-flight
and verify decide what a missing service means.

"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from rollup.errors import CommandFailed, ResultParseError
from rollup.ops.base import CommandResult, Operation, compact_body
from rollup.ops.results import ResultModel, read_object

if TYPE_CHECKING:
    pass

Win32State = Literal[
    "Running",
    "Stopped",
    "Start Pending",
    "Stop Pending",
    "Continue Pending",
    "Pause Pending",
    "Paused",
    "Unknown",
]
"""``Win32_Service.State``, as WMI spells it."""

StartMode = Literal["Auto", "Manual", "Disabled", "Boot", "System", "Unknown"]
"""``Win32_Service.StartMode``, as WMI spells it."""


@dataclass(frozen=True, slots=True)
class ServiceParams:
    """The service names to read (``W3SVC``, ``COMSysApp``...); compared ignoring case."""

    names: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.names or any(not n.strip() for n in self.names):
            raise ValueError("service.state: give at least one non-blank service name")


class ServiceState(ResultModel):
    """One requested service: ``query`` is the name asked for, ``name`` the service's own spelling."""

    query: str
    found: bool
    name: str | None = None
    state: Win32State | None = None
    start_mode: StartMode | None = None

    @property
    def running(self) -> bool:
        """Whether the service exists and is running."""
        return self.found and self.state == "Running"


class ServiceStates(ResultModel):
    """The requested services, in the order asked for."""

    services: tuple[ServiceState, ...]

    def get(self, name: str) -> ServiceState | None:
        """The entry asked for as ``name`` (ignoring case), or ``None`` when it was not asked for."""
        return next((s for s in self.services if s.query.lower() == name.lower()), None)


SERVICE_FACTS = compact_body(r"""
function Get-RollupServices($names) {
    $all = @(Get-WmiObject -Class Win32_Service)
    $o = @()
    foreach ($n in $names) {
        $e = @{ query = $n; found = $false }
        foreach ($s in $all) {
            if ($s.Name -eq $n) {
                $e.found = $true
                $e.name = [string]$s.Name
                $e.state = [string]$s.State
                $e.start_mode = [string]$s.StartMode
            }
        }
        $o += $e
    }
    return ,$o
}
""")
"""``Get-RollupServices names``: each name's Win32_Service entry; ``verify.facts`` calls it too."""

BODY = (
    SERVICE_FACTS
    + "\n"
    + compact_body(r"""
$ErrorActionPreference = 'Stop'
try {
    Write-RollupResult @{ services = (Get-RollupServices $p_names) }
}
catch {
    Write-RollupResult @{ error = 'wmi'; message = $_.Exception.Message }
    exit 1
}
exit 0
""")
)


def parse(result: CommandResult, params: ServiceParams) -> ServiceStates:
    """
    The services' states, one entry per requested name in the order asked for.

    Raises:
        CommandFailed: WMI could not be queried (the script reports the exception's message).
        ResultParseError: No result line, a malformed one, or entries that do not answer the
            names asked for.
    """
    data = read_object(result)
    if "error" in data:
        raise CommandFailed(f"{result.host}: service.state: {data.get('message')}")
    outcome = ServiceStates.read(result, data)
    if tuple(s.query for s in outcome.services) != params.names:
        raise ResultParseError(f"{result.host}: service.state: the result does not list the names asked for")
    return outcome


STATE: Operation[ServiceParams, ServiceStates] = Operation(
    id="service.state",
    params=ServiceParams,
    body=BODY,
    parse=parse,
    kind="fact",
    mutates=False,
    timeout_s=120.0,
    examples=(
        ServiceParams(names=("W3SVC", "IISADMIN")),
        ServiceParams(names=("COMSysApp", "MSDTC", "WinRM")),
        ServiceParams(names=('it\'s "odd"; $(Stop-Service W3SVC)', "na\u00efve\r\nline")),
    ),
)

OPERATIONS = (STATE,)
