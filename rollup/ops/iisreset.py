"""
``iis.reset``: ``iisreset /restart /timeout:<n>``, then the IIS services' states.

The script reads the IIS services afterwards: ``W3SVC`` and ``IISADMIN`` on IIS 6, ``W3SVC`` and
``WAS`` on IIS 7. In the lab it honours the host's ``forced_exit_codes["iis.reset"]``.
``rollup.ops.iis`` lists it with the virtual directory operations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rollup.errors import CommandFailed
from rollup.ops.base import CommandResult, compact_body
from rollup.ops.results import ResultModel, read_object

if TYPE_CHECKING:
    pass


def not_installed(result: CommandResult) -> CommandFailed:
    """The failure of an IIS operation on a host without IIS."""
    return CommandFailed(f"{result.host}: IIS is not installed", hint="check the inventory's roles")


@dataclass(frozen=True, slots=True)
class ResetParams:
    """Seconds iisreset waits for the services to stop before killing them (its default is 20)."""

    timeout_s: int = 120

    def __post_init__(self) -> None:
        if not 1 <= self.timeout_s <= 3600:
            raise ValueError("iis.reset: timeout_s must be 1-3600")


class IisReset(ResultModel):
    """iisreset's exit code and output, and each IIS service's ``Win32_Service.State`` (None: absent)."""

    iis_version: int
    exit_code: int
    services: dict[str, str | None]
    output: tuple[str, ...]


RESET_BODY = compact_body(r"""
$ErrorActionPreference = 'Stop'
try {
    $k = Get-ItemProperty 'HKLM:\SOFTWARE\Microsoft\InetStp' -ErrorAction SilentlyContinue
    if (-not $k) { Write-RollupResult @{ error = 'iis_not_installed' }; exit 1 }
    $v = [int]$k.MajorVersion
    $names = @('W3SVC', 'IISADMIN')
    if ($v -ge 7) { $names = @('W3SVC', 'WAS') }
    $o = & "$env:SystemRoot\System32\iisreset.exe" /restart "/timeout:$p_timeout_s" | Out-String
    $rc = $LASTEXITCODE
    $st = @{}
    foreach ($n in $names) { $st[$n] = $null }
    foreach ($s in @(Get-WmiObject -Class Win32_Service)) {
        foreach ($n in $names) { if ($s.Name -eq $n) { $st[$n] = [string]$s.State } }
    }
    $lines = @($o.Split("`n") | ForEach-Object { $_.Trim() } | Where-Object { $_ } | Select-Object -Last 10)
    Write-RollupResult @{ iis_version = $v; exit_code = $rc; services = $st; output = $lines }
}
catch {
    Write-RollupResult @{ error = 'failed'; message = $_.Exception.Message }
    exit 1
}
if ($rc -ne 0) { exit $rc }
foreach ($n in $names) { if ($st[$n] -ne 'Running') { exit 1 } }
exit 0
""")


def parse_reset(result: CommandResult, params: ResetParams) -> IisReset:
    """
    iisreset's outcome when it succeeded and every IIS service is running.

    Raises:
        CommandFailed: IIS is not installed, iisreset failed, or a service is not running
            (the message names the exit code and each service's state).
        ResultParseError: No result line or a malformed one.
    """
    data = read_object(result)
    if "error" in data:
        if data["error"] == "iis_not_installed":
            raise not_installed(result)
        raise CommandFailed(f"{result.host}: iisreset: {data.get('message')}")
    outcome = IisReset.read(result, data)
    states = ", ".join(f"{name} {state or 'absent'}" for name, state in sorted(outcome.services.items()))
    if outcome.exit_code != 0 or any(s != "Running" for s in outcome.services.values()):
        last = outcome.output[-1] if outcome.output else "no output"
        raise CommandFailed(f"{result.host}: iisreset exited {outcome.exit_code} ({last}); {states}")
    return outcome


_RESET_LINES = ("Attempting stop...", "Internet services successfully stopped", "Attempting start...")
"""iisreset's output before the last line ("Internet services successfully restarted" or a failure)."""
