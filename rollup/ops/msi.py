"""
Windows Installer operations: ``msi.install`` and ``msi.uninstall``, and what msiexec's exit codes mean.

The body runs ``msiexec /i <package>`` or ``/x <package | {ProductCode}>`` always with
``/qn /norestart /l*v <log>``: without ``/qn`` msiexec can wait forever on a dialog nobody sees
(session 0), and without ``/norestart`` a 3010 package may restart the host mid-rollup. It runs
through ``[Diagnostics.Process]`` (PowerShell 2.0's ``Start-Process`` joins arguments without
quoting) and, when msiexec fails, reads the last 40 lines of the verbose log (opened shared, so
an installer still writing it does not stop us; a UTF-16 BOM is honoured) and every
``Return value 3`` action line, the marker of the action that failed.

What the exit codes mean is ``rollup.ops.msiexec`` (``outcome_for``); what the lab does when it
receives either operation is ``rollup.ops.msisim``, driven by ``install_from_file`` and
``uninstall_product``, the reusable core other simulations call (the Deployment Tool's site
command installs and removes its components with them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rollup.errors import ResultParseError
from rollup.ops.base import CommandResult, Operation, compact_body
from rollup.ops.msiexec import TAIL_LINES as TAIL_LINES  # noqa: PLC0414 - the log lines a failure keeps
from rollup.ops.msiexec import MsiOutcome, outcome_for
from rollup.ops.results import result_field, result_object

if TYPE_CHECKING:
    pass

INSTALL = "msi.install"
UNINSTALL = "msi.uninstall"


@dataclass(frozen=True, slots=True, kw_only=True)
class InstallParams:
    """``msiexec /i <path>``: a local package path, the verbose log's path, ``NAME=value`` properties."""

    path: str
    log: str
    properties: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class UninstallParams:
    """``msiexec /x <target>``: a local package path or a ``{ProductCode}``; log; properties."""

    target: str
    log: str
    properties: tuple[str, ...] = ()


_RUN = r"""
$d = [IO.Path]::GetDirectoryName($p_log)
if ($d) { [void][IO.Directory]::CreateDirectory($d) }
$q = @(foreach ($v in $p_properties) {
    if ($v -match '(?s)^([^=]+)=(.*)$') { '{0}="{1}"' -f $matches[1], ($matches[2] -replace '"', '""') }
    else { $v }
})
$i = New-Object Diagnostics.ProcessStartInfo
$i.FileName = [IO.Path]::Combine([Environment]::SystemDirectory, 'msiexec.exe')
$i.Arguments = (@($a, ('"{0}"' -f $t), '/qn', '/norestart', '/l*v', ('"{0}"' -f $p_log)) + $q) -join ' '
$i.UseShellExecute = $false
$x = [Diagnostics.Process]::Start($i)
$x.WaitForExit()
$c = $x.ExitCode
$l = @()
if (@(0, 1641, 3010) -notcontains $c -and [IO.File]::Exists($p_log)) {
    $s = New-Object IO.FileStream ($p_log, 'Open', 'Read', 'ReadWrite')
    $r = New-Object IO.StreamReader ($s, $true)
    try { $l = @($r.ReadToEnd() -split "`r?`n" | Where-Object { $_ -ne '' }) }
    finally { $r.Close() }
}
$f = @($l | Where-Object { $_ -match 'Return value 3\.' })
if ($l.Count -gt 40) { $l = $l[($l.Count - 40)..($l.Count - 1)] }
Write-RollupResult @{ exit_code = $c; log = $p_log; log_tail = @($l); failed_actions = $f }
exit $c
"""

INSTALL_BODY = compact_body("$a = '/i'\n$t = $p_path" + _RUN)
UNINSTALL_BODY = compact_body("$a = '/x'\n$t = $p_target" + _RUN)


def _strings(data: dict[str, Any], key: str, result: CommandResult) -> tuple[str, ...]:
    items = result_field(data, key, list, result)
    if not all(isinstance(item, str) for item in items):
        raise ResultParseError(f"{result.host}: {result.op}: result field {key!r} is not a list of strings")
    return tuple(items)


def _parse(result: CommandResult, *, uninstall: bool) -> MsiOutcome:
    data = result_object(result)
    return outcome_for(
        result_field(data, "exit_code", int, result),
        uninstall=uninstall,
        log=result_field(data, "log", str, result),
        log_tail=_strings(data, "log_tail", result),
        failed_actions=_strings(data, "failed_actions", result),
    )


def parse_install(result: CommandResult, params: InstallParams) -> MsiOutcome:
    """The outcome of ``msiexec /i`` (see ``outcome_for``)."""
    return _parse(result, uninstall=False)


def parse_uninstall(result: CommandResult, params: UninstallParams) -> MsiOutcome:
    """The outcome of ``msiexec /x``; 1605 (not installed) is ``ABSENT``, which is ok."""
    return _parse(result, uninstall=True)


_HOSTILE = 'C:\\temp\\it\'s $(here); `n"q"\nline\u2019.msi'

OPERATIONS: tuple[Operation[Any, Any], ...] = (
    Operation(
        id=INSTALL,
        params=InstallParams,
        body=INSTALL_BODY,
        parse=parse_install,
        kind="msi",
        mutates=True,
        timeout_s=1800.0,
        examples=(
            InstallParams(
                path="C:\\temp\\QFERollupPackage\\DNSClient.msi",
                log="C:\\temp\\rollup\\logs\\DNSClient.msi.install.log",
            ),
            InstallParams(
                path="C:\\temp\\QFERollupPackage\\SharedOABUtility.msi",
                log="C:\\temp\\rollup\\logs\\SharedOABUtility.log",
                properties=("REBOOT=ReallySuppress", 'INSTALLDIR=C:\\Program Files\\It\'s "here"'),
            ),
            InstallParams(path=_HOSTILE, log=_HOSTILE + ".log", properties=("X=$(whoami); `a", "\n")),
        ),
    ),
    Operation(
        id=UNINSTALL,
        params=UninstallParams,
        body=UNINSTALL_BODY,
        parse=parse_uninstall,
        kind="msi",
        mutates=True,
        timeout_s=1800.0,
        examples=(
            UninstallParams(
                target="{F34BD00E-1B46-5B11-B434-21ABF73AF4BE}",
                log="C:\\temp\\rollup\\logs\\DNSClient.uninstall.log",
            ),
            UninstallParams(target=_HOSTILE, log=_HOSTILE + ".log", properties=("REBOOT=ReallySuppress",)),
        ),
    ),
)
