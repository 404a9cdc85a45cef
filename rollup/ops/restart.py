"""
``host.restart``: schedule a restart of the host, for ``rollup_reboot_policy: reboot``.

The script runs ``shutdown.exe /r /t <delay> /d p:4:2 /c "<reason>"`` (present on Windows Server
2003 and 2008; ``Restart-Computer`` would restart at once, before WinRM has answered) and returns
at once: the delay lets the answer reach the control host before Windows closes the WinRM
service. ``/d p:4:2`` records the restart as planned, "Application: Installation" in the
system event log, with the reason as its comment. Before it, the script reads the boot time
(``Win32_OperatingSystem.LastBootUpTime``), so the caller can tell the restart from the host
that answers afterwards.

A restart already scheduled (``shutdown.exe`` exits 1190) is reported as such, not as a
failure: the host is going to restart either way.
"""

from __future__ import annotations

from dataclasses import dataclass

from rollup.errors import CommandFailed
from rollup.ops.base import CommandResult, Operation, compact_body
from rollup.ops.results import ResultModel, read_object

ALREADY_SCHEDULED = 1190


@dataclass(frozen=True, slots=True)
class RestartParams:
    """``delay_s``: seconds before Windows starts restarting; ``reason``: the event log's comment."""

    reason: str
    delay_s: int = 10

    def __post_init__(self) -> None:
        if not 1 <= self.delay_s <= 600:
            raise ValueError("host.restart: delay_s must be 1-600")
        if not self.reason.strip() or len(self.reason) > 127 or any(c in self.reason for c in '\r\n"'):
            raise ValueError(
                "host.restart: reason must be one line of 1-127 characters without double quotes"
            )


class RestartScheduled(ResultModel):
    """When the host last booted (a WMI date), and shutdown.exe's code (0, or 1190: already scheduled)."""

    boot_time: str | None
    exit_code: int
    output: str


BODY = compact_body(r"""
$ErrorActionPreference = 'Stop'
try {
    $b = [string](Get-WmiObject -Class Win32_OperatingSystem).LastBootUpTime
    $o = & "$env:SystemRoot\System32\shutdown.exe" /r /t $p_delay_s /d p:4:2 /c $p_reason | Out-String
    $rc = $LASTEXITCODE
    Write-RollupResult @{ boot_time = $b; exit_code = $rc; output = $o.Trim() }
}
catch {
    Write-RollupResult @{ error = 'failed'; message = $_.Exception.Message }
    exit 1
}
if ($rc -ne 0 -and $rc -ne 1190) { exit $rc }
exit 0
""")


def parse(result: CommandResult, params: RestartParams) -> RestartScheduled:
    """
    The boot time before the restart and shutdown.exe's code.

    Raises:
        CommandFailed: the script failed, or shutdown.exe refused (its code and output).
    """
    data = read_object(result)
    if data.get("error") is not None:
        raise CommandFailed(f"{result.host}: host.restart: {data.get('message') or data['error']}")
    code = data.get("exit_code")
    if code not in (0, ALREADY_SCHEDULED):
        output = str(data.get("output") or "").strip()
        raise CommandFailed(
            f"{result.host}: shutdown.exe /r exited {code}" + (f": {output}" if output else "")
        )
    return RestartScheduled.read(result, data)


RESTART: Operation[RestartParams, RestartScheduled] = Operation(
    id="host.restart",
    params=RestartParams,
    body=BODY,
    parse=parse,
    kind="restart",
    mutates=True,
    timeout_s=60.0,
    examples=(
        RestartParams(reason="rollup: a restart was pending before msiexec"),
        RestartParams(reason="it's $(calc) `; 'x' \u2019", delay_s=600),
    ),
)

OPERATIONS = (RESTART,)
