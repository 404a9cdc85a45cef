"""
The HMC Deployment Tool: ``deploytool.logs`` (its MSI logs) and ``deploytool.command`` (a site's
own command that drives it: the ``command`` strategy of a ``deployment_tool`` step).

``deploytool.logs`` reads the logs in ``C:\\ConfigShare\\Log`` last written at or after
``since``. The tool writes one per MSI, ``<MSIName> on <Server> <Date>_<Time>.log``, verbose and
flushed per line; each is opened for reading while allowing writers (a run in progress does not
stop the check) and decoded by its BOM. Per log: the last ``MainEngineThread is returning <n>``
and every ``Action ended ... Return value 3.`` line (the action that failed). A log is ``ok``
when it returned 0 or 3010 and has no such line.

``deploytool.command`` runs ``program`` with ``arguments``, as ``site_command`` builds them from a
step's ``command_template``: the template is split into words first (double quotes group), then
``{action}``, ``{name}`` and ``{msi}`` are filled in each word, so a value is always one
argument. The script quotes every argument (``"..."``, trailing backslashes doubled) into
``cmd.exe /d /v:off /s /c "<line> 2>&1"``: ``&``, ``|``, ``<``, ``>`` and ``^`` in a value stay
literal. ``"``, ``%`` and control characters cannot pass through cmd.exe literally, so a value
holding one is refused when the command is built. The template is one command, not a cmd.exe
line (its own ``&`` is an argument too). The result is the exit code and the last 40 lines of
output (stdout and stderr merged).

The simulated lab's Deployment Tool host has a site command, ``LAB_COMMAND``
(``C:\\ConfigShare\\Tools\\lab-deploytool.cmd``), so a lab run needs no operator.
``LAB_TEMPLATE`` (``... {action} "{name}" {msi}``) drives it for every action, and
``LAB_TEMPLATES`` holds the template of each action as a manifest step may write it::

    lab-deploytool.cmd uninstall "<component>" <msi>   remove it where installed, one log per server
    lab-deploytool.cmd reinstall "<component>" <msi>   install C:\\MSIShare\\<msi> where its role is
    lab-deploytool.cmd initialize "<node>"             run the node's Initialize, one log
    lab-deploytool.cmd start_deployment                one log (the lab acts at once, queues nothing)

The lab's site command is ``rollup.lab.sitecommand``, a program of the lab's Deployment Tool host.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from rollup.errors import CommandFailed, PlanError
from rollup.ops.base import CommandResult, Operation, compact_body
from rollup.ops.results import ResultModel, read_object

if TYPE_CHECKING:
    pass

Action = Literal["uninstall", "reinstall", "initialize", "start_deployment"]
LOG_DIR = "C:\\ConfigShare\\Log"
MSISHARE = "C:\\MSIShare"
OK_CODES = frozenset({0, 3010})
TAIL_LINES = 40
OP_COMMAND = "deploytool.command"
LAB_COMMAND = "C:\\ConfigShare\\Tools\\lab-deploytool.cmd"
"""The simulated lab's site command, on its Deployment Tool host."""
LAB_TEMPLATES: Mapping[Action, str] = {
    "uninstall": LAB_COMMAND + ' {action} "{name}" {msi}',
    "reinstall": LAB_COMMAND + ' {action} "{name}" {msi}',
    "initialize": LAB_COMMAND + ' {action} "{name}"',
    "start_deployment": LAB_COMMAND + " {action}",
}
"""The ``command_template`` of each action that drives the lab's site command (manifest steps)."""
LAB_TEMPLATE = LAB_COMMAND + ' {action} "{name}" {msi}'
"""One template for every action (an inventory's ``rollup_deployment_tool_command``)."""

_RETURNING = re.compile(r"MainEngineThread is returning (\d+)")
_FAILED_ACTION = re.compile(r"Action ended [^\r\n]*Return value 3\.")
_SINCE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,7})?Z")
_UNSAFE = re.compile(r'["%\x00-\x1f\x7f]')


@dataclass(frozen=True, slots=True)
class LogsParams:
    """The UTC time logs must be written at or after (``2011-03-10T10:04:00Z``), and their folder."""

    since: str
    log_dir: str = LOG_DIR

    def __post_init__(self) -> None:
        if not _SINCE.fullmatch(self.since):
            raise ValueError(f"deploytool.logs: since {self.since!r} is not like 2011-03-10T10:04:00Z")
        if not self.log_dir.strip():
            raise ValueError("deploytool.logs: log_dir is blank")


def since_text(moment: datetime) -> str:
    """``LogsParams.since`` for an aware datetime: UTC, whole seconds."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class DeployLog(ResultModel):
    """One log: its name, size, last write (UTC), final return code and failed actions."""

    name: str
    size: int
    last_write: datetime
    return_code: int | None
    failed_actions: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """Returned 0 or 3010, with no ``Return value 3`` action."""
        return self.return_code in OK_CODES and not self.failed_actions


class DeployLogs(ResultModel):
    """The logs written since the time asked, oldest first."""

    log_dir: str
    logs: tuple[DeployLog, ...]

    @property
    def failed(self) -> tuple[DeployLog, ...]:
        """The logs that are not ``ok``."""
        return tuple(log for log in self.logs if not log.ok)


LOGS_BODY = compact_body(r"""
$ErrorActionPreference = 'Stop'
try {
    if (-not [IO.Directory]::Exists($p_log_dir)) {
        Write-RollupResult @{ error = 'no_dir'; message = "the folder $p_log_dir does not exist" }
        exit 1
    }
    $c = [Globalization.CultureInfo]::InvariantCulture
    $u = [Globalization.DateTimeStyles]'AdjustToUniversal, AssumeUniversal'
    $since = [DateTime]::Parse($p_since, $c, $u)
    $out = New-Object Collections.ArrayList
    foreach ($f in @([IO.Directory]::GetFiles($p_log_dir, '*.log'))) {
        $i = New-Object IO.FileInfo $f
        if ($i.Extension -ne '.log' -or $i.LastWriteTimeUtc -lt $since) { continue }
        $s = New-Object IO.FileStream ($f, 'Open', 'Read', 'ReadWrite')
        $rd = New-Object IO.StreamReader ($s, $true)
        try { $x = $rd.ReadToEnd() }
        finally { $rd.Close() }
        $rc = $null
        foreach ($m in [regex]::Matches($x, 'MainEngineThread is returning (\d+)')) {
            $rc = [int]$m.Groups[1].Value
        }
        $bad = @(foreach ($m in [regex]::Matches($x, 'Action ended [^\r\n]*Return value 3\.')) { $m.Value })
        $e = @{ name = $i.Name; size = $i.Length; last_write = $i.LastWriteTimeUtc; return_code = $rc }
        $e.failed_actions = $bad
        [void]$out.Add($e)
    }
    Write-RollupResult @{ log_dir = $p_log_dir; logs = $out }
}
catch {
    Write-RollupResult @{ error = 'failed'; message = $_.Exception.Message }
    exit 1
}
exit 0
""")


def parse_logs(result: CommandResult, params: LogsParams) -> DeployLogs:
    """
    The logs written since ``params.since``, oldest first (by last write, then name).

    Raises:
        CommandFailed: The log folder does not exist or could not be read.
        ResultParseError: No result line or a malformed one.
    """
    data = read_object(result)
    if "error" in data:
        raise CommandFailed(
            f"{result.host}: Deployment Tool logs: {data.get('message')}",
            hint="check the ConfigShare path the Deployment Tool was set up with",
        )
    logs = DeployLogs.read(result, data)
    ordered = tuple(sorted(logs.logs, key=lambda log: (log.last_write, log.name)))
    return DeployLogs(log_dir=logs.log_dir, logs=ordered)


@dataclass(frozen=True, slots=True)
class CommandParams:
    """The site's program and its arguments, each passed as one argument."""

    program: str
    arguments: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.program.strip():
            raise ValueError(f"{OP_COMMAND}: the program is blank")
        for value in (self.program, *self.arguments):
            if _UNSAFE.search(value.replace("%", "")):
                raise ValueError(f"{OP_COMMAND}: {value!r} cannot be passed through cmd.exe literally")


def _words(template: str) -> list[str]:
    """The template's words: split at spaces and tabs outside double quotes; quotes removed."""
    words: list[str] = []
    current: list[str] | None = None
    quoted = False
    for char in template:
        if char == '"':
            quoted = not quoted
            current = current if current is not None else []
        elif char in " \t" and not quoted:
            if current is not None:
                words.append("".join(current))
            current = None
        else:
            current = (current or []) + [char]
    if current is not None:
        words.append("".join(current))
    return words


def site_command(
    template: str, *, action: Action, name: str | None = None, msi: str | None = None
) -> CommandParams:
    """
    The command a ``command_template`` gives for one action (and component or node).

    One template may serve every action (an inventory's ``rollup_deployment_tool_command``): a
    placeholder with no value here (``{msi}`` for ``initialize``) is empty, and a word left
    empty by that is dropped, so ``x.cmd {action} "{name}" {msi}`` gives ``x.cmd
    start_deployment`` for Start Deployment.

    Raises:
        PlanError: A value cannot be passed literally (``"``, ``%``, control characters, blank),
            the template has a placeholder other than ``{action}``, ``{name}`` and ``{msi}``
            or an unbalanced brace, or it names no program.
    """
    given = {"action": action, "name": name, "msi": msi}
    for key, value in given.items():
        if value is not None and (_UNSAFE.search(value) or not value.strip()):
            raise PlanError(f"command_template: {key} {value!r} cannot be passed to a command literally")
    values = {key: value or "" for key, value in given.items()}
    raw = _words(template)
    try:
        filled = [word.format_map(values) for word in raw]
    except (KeyError, ValueError, IndexError) as exc:
        raise PlanError(f"command_template: {template!r}: {exc} is not a placeholder") from None
    words = [word for word, before in zip(filled, raw, strict=True) if word or not before]
    if not words or not words[0].strip():
        raise PlanError(f"command_template: {template!r} names no program")
    return CommandParams(program=words[0], arguments=tuple(words[1:]))


class CommandRun(ResultModel):
    """The site command's exit code and the last lines of its output."""

    exit_code: int
    output: tuple[str, ...]


COMMAND_BODY = compact_body(r"""
$ErrorActionPreference = 'Stop'
try {
    $q = @(foreach ($a in @($p_program) + @($p_arguments)) { '"' + ($a -replace '(\\+)$', '$1$1') + '"' })
    $i = New-Object Diagnostics.ProcessStartInfo
    $i.FileName = $env:ComSpec
    $i.Arguments = '/d /v:off /s /c "' + ($q -join ' ') + ' 2>&1"'
    $i.UseShellExecute = $false
    $i.RedirectStandardOutput = $true
    $x = [Diagnostics.Process]::Start($i)
    $o = $x.StandardOutput.ReadToEnd()
    $x.WaitForExit()
    $c = $x.ExitCode
    $l = @($o -split "`r?`n" | Where-Object { $_ -ne '' })
    if ($l.Count -gt 40) { $l = $l[($l.Count - 40)..($l.Count - 1)] }
    Write-RollupResult @{ exit_code = $c; output = $l }
}
catch {
    Write-RollupResult @{ error = 'failed'; message = $_.Exception.Message }
    exit 1
}
exit $c
""")


def parse_command(result: CommandResult, params: CommandParams) -> CommandRun:
    """
    The command's run when it exited 0.

    Raises:
        CommandFailed: It could not be started, or exited non-zero (message: the code and the
            last output line; the step's retry decides whether to run it again).
        ResultParseError: No result line or a malformed one.
    """
    data = read_object(result)
    if "error" in data:
        raise CommandFailed(f"{result.host}: site command {params.program}: {data.get('message')}")
    run = CommandRun.read(result, data)
    if run.exit_code != 0:
        last = run.output[-1] if run.output else "no output"
        raise CommandFailed(
            f"{result.host}: site command {params.program} exited {run.exit_code}: {last}",
            hint="the Deployment Tool's logs and state may be partial: check them before a retry",
        )
    return run


_MSI = "DNSProvider.msi"

LOGS: Operation[LogsParams, DeployLogs] = Operation(
    id="deploytool.logs",
    params=LogsParams,
    body=LOGS_BODY,
    parse=parse_logs,
    kind="fact",
    mutates=False,
    timeout_s=300.0,
    examples=(
        LogsParams(since="2011-03-10T10:04:00Z"),
        LogsParams(since="2011-03-10T10:04:00.125Z", log_dir="D:\\Config 'Share' $(x)\\Log`n"),
    ),
)

COMMAND: Operation[CommandParams, CommandRun] = Operation(
    id=OP_COMMAND,
    params=CommandParams,
    body=COMMAND_BODY,
    parse=parse_command,
    kind="deploytool",
    mutates=True,
    timeout_s=14400.0,
    examples=(
        site_command(LAB_TEMPLATES["uninstall"], action="uninstall", name="DNS Provider", msi=_MSI),
        site_command(LAB_TEMPLATES["start_deployment"], action="start_deployment"),
        CommandParams(program="C:\\Site Tools\\dt.cmd", arguments=("a & b", "x|y<z>^", "$(c);'q'", "C:\\")),
    ),
)

OPERATIONS = (LOGS, COMMAND)
