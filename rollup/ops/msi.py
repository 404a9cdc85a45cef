"""
Windows Installer operations: ``msi.install`` and ``msi.uninstall``, and what msiexec's exit codes mean.

The body runs ``msiexec /i <package>`` or ``/x <package | {ProductCode}>`` always with
``/qn /norestart /l*v <log>``: without ``/qn`` msiexec can wait forever on a dialog nobody sees
(session 0), and without ``/norestart`` a 3010 package may restart the host mid-rollup. It runs
through ``[Diagnostics.Process]`` (PowerShell 2.0's ``Start-Process`` joins arguments without
quoting) and, when msiexec fails, reads the last 40 lines of the verbose log (opened shared, so
an installer still writing it does not stop us; a UTF-16 BOM is honoured) and every
``Return value 3`` action line, the marker of the action that failed.

``outcome_for`` is the exit-code policy (windows-ops §3.1), shared with anything else that runs
msiexec (the Deployment Tool's logs): 0 ok; 3010 and 1641 ok with a reboot flag; 1605 on an
uninstall: already absent, ok; 1618: the installer mutex is held, retryable (the engine waits and
retries with backoff); 1603, 1619, 1638 and anything else: failed, with a hint.

The simulation reads the package's identity from the real MSI bytes in the lab's blob store,
registers or removes the Uninstall entry from those properties, and writes a verbose log shaped
like msiexec's. ``install_from_file`` and ``uninstall_product`` are the reusable core other
simulations call (the Deployment Tool's site command installs and removes its components with
them). The DNS Client follows its KB's "run it two times": with an older DNS Client installed,
the first run removes it and exits 0 without installing; the second run installs the new one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import TYPE_CHECKING, Any

from rollup.errors import ResultParseError
from rollup.ops.base import CommandResult, Operation, SimContext, SimResult
from rollup.ops.files import (
    compact_body,
    host_file,
    msi_properties,
    put_text,
    result_field,
    result_object,
    utc,
    write_problem,
)

if TYPE_CHECKING:
    from rollup.lab.state import HostState, MsiProps

INSTALL = "msi.install"
UNINSTALL = "msi.uninstall"
TAIL_LINES = 40
SUCCESS = frozenset({0, 1641, 3010})
"""Exit codes after which the body does not read the log."""

EXIT_CODES: Mapping[int, str] = {
    0: "ERROR_SUCCESS",
    1602: "ERROR_INSTALL_USEREXIT",
    1603: "ERROR_INSTALL_FAILURE",
    1605: "ERROR_UNKNOWN_PRODUCT",
    1618: "ERROR_INSTALL_ALREADY_RUNNING",
    1619: "ERROR_INSTALL_PACKAGE_OPEN_FAILED",
    1620: "ERROR_INSTALL_PACKAGE_INVALID",
    1622: "ERROR_INSTALL_LOG_FAILURE",
    1638: "ERROR_PRODUCT_VERSION",
    1641: "ERROR_SUCCESS_REBOOT_INITIATED",
    3010: "ERROR_SUCCESS_REBOOT_REQUIRED",
}

_HINTS: Mapping[int, str] = {
    1603: "the installation failed: the 'Return value 3' lines name the failed action; read the whole log",
    1618: "another installation holds the Windows Installer mutex (_MSIExecute): wait for it and retry",
    1619: "the package could not be opened: check the path, that the copy is complete (size and SHA-256), "
    "and that no process holds the file open",
    1620: "the file is not a valid Windows Installer package: copy it again and check its SHA-256",
    1622: "msiexec could not write its log: check that the log's folder exists and the disk has room",
    1638: "another version of this product is installed: uninstall it first",
    1641: "the installer has started a restart of the host: wait for it to come back",
}


class MsiStatus(StrEnum):
    """How an msiexec run ended, as the engine acts on it."""

    OK = "ok"
    ABSENT = "absent"
    """An uninstall found nothing to remove (1605): the goal is met."""
    BUSY = "busy"
    """Another installation holds the installer mutex (1618): retry later."""
    FAILED = "failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class MsiOutcome:
    """The policy's verdict on one msiexec run, with the evidence from its log."""

    status: MsiStatus
    exit_code: int
    reboot_required: bool = False
    retryable: bool = False
    hint: str | None = None
    log: str = ""
    log_tail: tuple[str, ...] = ()
    failed_actions: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether the run reached its goal (installed, removed, or already absent)."""
        return self.status in (MsiStatus.OK, MsiStatus.ABSENT)


def outcome_for(
    exit_code: int,
    *,
    uninstall: bool,
    log: str = "",
    log_tail: tuple[str, ...] = (),
    failed_actions: tuple[str, ...] = (),
) -> MsiOutcome:
    """The exit-code policy of msiexec (windows-ops §3.1, peers §6.6)."""
    status, reboot, retryable = MsiStatus.FAILED, False, False
    if exit_code in (0, 3010, 1641):
        status, reboot = MsiStatus.OK, exit_code != 0
    elif exit_code == 1605 and uninstall:
        status = MsiStatus.ABSENT
    elif exit_code == 1618:
        status, retryable = MsiStatus.BUSY, True
    hint = _HINTS.get(exit_code)
    if hint is None and status is MsiStatus.FAILED:
        hint = (
            f"msiexec exited with {exit_code} ({EXIT_CODES.get(exit_code, 'not a Windows Installer code')})"
        )
    return MsiOutcome(
        status=status,
        exit_code=exit_code,
        reboot_required=reboot,
        retryable=retryable,
        hint=hint,
        log=log,
        log_tail=log_tail,
        failed_actions=failed_actions,
    )


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


# ---------------------------------------------------------------------------------------------
# Simulation
# ---------------------------------------------------------------------------------------------

REBOOT_REASONS: Mapping[int, str] = {3010: "msi 3010", 1641: "msi 1641"}
"""What a reboot-requesting exit code adds to ``HostState.pending_reboot``."""
RUN_TWICE_FILES = ("DNSClient.msi",)
"""Packages whose KB says to run them two times: remove the old build, then install the new one."""

_GUID = re.compile(r"\{[0-9A-F]{8}(-[0-9A-F]{4}){3}-[0-9A-F]{12}\}", re.IGNORECASE)
_MESSAGES: Mapping[int, str] = {
    1605: "This action is only valid for products that are currently installed.",
    1618: "Another installation is already in progress. "
    "Complete that installation before proceeding with this install.",
    1619: "This installation package could not be opened. "
    "Verify that the package exists and that you can access it.",
    1620: "This installation package could not be opened. "
    "Contact the application vendor to verify that this is a valid Windows Installer package.",
    1638: "Another version of this product is already installed. "
    "Installation of this version cannot continue.",
}


@cache
def _run_twice_upgrade_codes() -> frozenset[str]:
    from rollup.lab.msi import load_products

    table = load_products()
    return frozenset(table.product(name).upgrade_code for name in RUN_TWICE_FILES)


def _version(text: str) -> tuple[int, ...]:
    """The fields Windows Installer compares: the first three of ProductVersion."""
    return tuple(int(part) if part.isdigit() else 0 for part in text.split(".")[:3])


def _forced(state: HostState, op_id: str) -> int | None:
    """The next exit code a fault scenario queued for ``op_id``, consumed."""
    queue = state.forced_exit_codes.get(op_id)
    if not queue:
        return None
    code = queue.pop(0)
    if not queue:
        del state.forced_exit_codes[op_id]
    return code


def _log_text(
    code: int, *, uninstall: bool, package: str, props: MsiProps | None, now: float, events: tuple[str, ...]
) -> str:
    """A verbose log shaped like msiexec's, ending in ``MainEngineThread is returning <code>``."""
    moment = utc(now)
    clock = moment.strftime("%H:%M:%S")
    date = f"{moment.month}/{moment.day}/{moment.year}"
    lines = [
        f"=== Verbose logging started: {date}  {clock}  Build type: SHIP UNICODE 3.01.4001.5512  "
        "Calling process: C:\\WINDOWS\\system32\\msiexec.exe ===",
        f"MSI (c) (C4:A0) [{clock}:000]: Resetting cached policy values",
        f"MSI (c) (C4:A0) [{clock}:000]: ******* RunEngine:",
        f"           ******* Product: {package}",
        "           ******* Action: ",
        f"           ******* CommandLine: {'REMOVE=ALL' if uninstall else '**********'}",
    ]
    if code == 1618:
        lines.append(f"MSI (c) (C4:A0) [{clock}:015]: Failed to grab execution mutex. System error 258.")
    if code in _MESSAGES:
        lines.append(f"MSI (c) (C4:A0) [{clock}:015]: Product: {package} -- {_MESSAGES[code]}")
    else:
        ok = code in SUCCESS
        lines.append(f"Action start {clock}: INSTALL.")
        lines.extend(f"MSI (s) (D8:9C) [{clock}:100]: {event}" for event in events)
        if not ok:
            lines.append(f"Action ended {clock}: InstallFinalize. Return value 3.")
        lines.append(f"Action ended {clock}: INSTALL. Return value {1 if ok else 3}.")
        if props is not None:
            lines += [f"Property(S): {name} = {getattr(props, key)}" for name, key in _LOGGED]
            verb = "Removal" if uninstall else "Installation"
            done = "completed successfully" if ok else "operation failed"
            lines.append(f"MSI (s) (D8:9C) [{clock}:500]: Product: {props.product_name} -- {verb} {done}.")
            did = "removed" if uninstall else "installed"
            lines.append(
                f"MSI (s) (D8:9C) [{clock}:500]: Windows Installer {did} the product. "
                f"Product Name: {props.product_name}. Product Version: {props.product_version}. "
                f"Product Language: 1033. Manufacturer: {props.manufacturer}. "
                f"Installation success or error status: {code}."
            )
    lines.append(f"MSI (c) (C4:A0) [{clock}:531]: MainEngineThread is returning {code}")
    lines.append(f"=== Verbose logging stopped: {date}  {clock} ===")
    return "\r\n".join(lines) + "\r\n"


_LOGGED = (
    ("ProductCode", "product_code"),
    ("ProductName", "product_name"),
    ("ProductVersion", "product_version"),
)


@dataclass(frozen=True, slots=True)
class _Run:
    """One simulated msiexec run: where it logs, and how it answers."""

    state: HostState
    ctx: SimContext
    log_path: str
    uninstall: bool
    package: str

    def refusal(self) -> int | None:
        """What msiexec stops with first: 1622 (the log cannot be written), 1618 (the mutex is held)."""
        if write_problem(self.state, self.log_path) is not None:
            return 1622
        busy_until = self.state.installer_busy_until
        return 1618 if busy_until is not None and self.ctx.now < busy_until else None

    def answer(self, code: int, props: MsiProps | None = None, events: tuple[str, ...] = ()) -> SimResult:
        """Write the log (when it cannot be written, msiexec exits 1622) and answer as the body does."""
        state, now = self.state, self.ctx.now
        lines: list[str] = []
        if write_problem(state, self.log_path) is not None:
            code = 1622
        else:
            text = _log_text(
                code, uninstall=self.uninstall, package=self.package, props=props, now=now, events=events
            )
            put_text(state, self.log_path, text, now)
            lines = [line for line in text.split("\r\n") if line] if code not in SUCCESS else []
        if code in REBOOT_REASONS and REBOOT_REASONS[code] not in state.pending_reboot:
            state.pending_reboot.append(REBOOT_REASONS[code])
        failed = [line for line in lines if "Return value 3." in line]
        result = {
            "exit_code": code,
            "log": self.log_path,
            "log_tail": lines[-TAIL_LINES:],
            "failed_actions": failed,
        }
        return SimResult(exit_code=code, result=result)


def _open(run: _Run, path: str) -> MsiProps | int:
    """
    The package's properties, or the exit code msiexec stops with first: ``run.refusal()``,
    1619 when the file is missing, locked or on a full disk, 1620 when it is not a package.
    """
    state, ctx = run.state, run.ctx
    refusal = run.refusal()
    if refusal is not None:
        return refusal
    entry = host_file(state, path)
    if entry is None or write_problem(state, path) is not None:
        return 1619
    props = msi_properties(entry, ctx)
    if props is None:
        return 1620
    entry.msi = props
    return props


def _register(state: HostState, props: MsiProps, package: str, now: float) -> tuple[int, tuple[str, ...]]:
    """Install ``props``' product as Windows Installer would: the exit code and what the log tells."""
    from rollup.lab.state import InstalledProduct

    code = props.product_code.upper()
    if code in state.products:
        return 0, (f"Product {code} is already installed; nothing to do.",)
    upgrade = props.upgrade_code.upper()
    related = [p for p in state.products.values() if upgrade and p.upgrade_code.upper() == upgrade]
    if any(_version(p.display_version) > _version(props.product_version) for p in related):
        return 1638, ()
    events = []
    for old in related:
        del state.products[old.product_code.upper()]
        events.append(f"Removing older version {old.display_version} ({old.product_code}).")
    if related and upgrade in _run_twice_upgrade_codes():
        events.append("The older version was removed; run the package again to install this version.")
        return 0, tuple(events)
    state.products[code] = InstalledProduct(
        product_code=code,
        display_name=props.product_name,
        display_version=props.product_version,
        upgrade_code=upgrade,
        publisher=props.manufacturer,
        install_date=utc(now).strftime("%Y%m%d"),
        wow6432=state.arch == "AMD64",
        package=package.replace("/", "\\").rsplit("\\", 1)[-1],
    )
    return 0, (*events, *_run_sql(state, code))


def _run_sql(state: HostState, product_code: str) -> tuple[str, ...]:
    """The database objects the package's custom action creates (``SqlEffect`` in the lab's table)."""
    from rollup.lab.msi import load_products
    from rollup.lab.state import SqlObject

    effect = next(
        (p.rollup.sql for p in load_products().products if p.rollup.product_code.upper() == product_code),
        None,
    )
    database = state.databases.get(effect.database.lower()) if effect is not None else None
    if effect is None or database is None:
        return ()
    have = {(o.type, o.name.lower()) for o in database.objects}
    added = []
    for obj in effect.objects:
        if (obj.type, obj.name.lower()) not in have:
            database.objects.append(SqlObject(type=obj.type, name=obj.name, table=obj.table))
            added.append(f"Created {obj.type} {obj.name} in {effect.database}.")
    return tuple(added)


def install_from_file(
    state: HostState, path: str, ctx: SimContext, *, log_path: str, op_id: str = INSTALL
) -> SimResult:
    """
    ``msiexec /i <path> /qn /norestart /l*v <log_path>`` on the simulated host.

    In order: the log, the mutex and the package (``_open``: 1622, 1618, 1619, 1620); a forced exit
    code queued for ``op_id`` (3010 and 1641 install and flag a reboot, any other fails without
    installing); then the install, from the package's own properties: the same ProductCode
    installed is a no-op (0); a newer version of the same UpgradeCode installed is 1638; an older
    one is upgraded (removed, the new one registered), except by a run-twice package (DNS
    Client), whose first run only removes the older one.
    """
    run = _Run(state, ctx, log_path, uninstall=False, package=path)
    props = _open(run, path)
    if isinstance(props, int):
        return run.answer(props)
    forced = _forced(state, op_id)
    if forced is not None and forced not in SUCCESS:
        return run.answer(forced, props)
    code, events = _register(state, props, path, ctx.now)
    return run.answer(forced if code == 0 and forced is not None else code, props, events)


def uninstall_product(
    state: HostState, product_code: str, ctx: SimContext, *, log_path: str, op_id: str = UNINSTALL
) -> SimResult:
    """
    ``msiexec /x {ProductCode} /qn /norestart /l*v <log_path>`` on the simulated host: 1618 while
    the mutex is held; a forced exit code queued for ``op_id``; 1605 when the product is not
    installed; else its Uninstall entry is removed (3010 and 1641 flag a reboot).
    """
    from rollup.lab.state import MsiProps

    run = _Run(state, ctx, log_path, uninstall=True, package=product_code)
    refusal = run.refusal()
    if refusal is not None:
        return run.answer(refusal)
    installed = state.products.get(product_code.upper())
    props = None
    if installed is not None:
        props = MsiProps(
            product_code=installed.product_code,
            product_name=installed.display_name,
            product_version=installed.display_version,
            upgrade_code=installed.upgrade_code,
            manufacturer=installed.publisher,
        )
    forced = _forced(state, op_id)
    if forced is not None and forced not in SUCCESS:
        return run.answer(forced, props)
    if installed is None:
        return run.answer(1605)
    del state.products[product_code.upper()]
    return run.answer(forced or 0, props)


def simulate_install(state: HostState, params: InstallParams, ctx: SimContext) -> SimResult:
    """``msi.install`` in the lab (see ``install_from_file``)."""
    return install_from_file(state, params.path, ctx, log_path=params.log)


def simulate_uninstall(state: HostState, params: UninstallParams, ctx: SimContext) -> SimResult:
    """``msi.uninstall`` in the lab: a ``{ProductCode}``, or the one read from a package on the host."""
    target = params.target.strip()
    if _GUID.fullmatch(target):
        return uninstall_product(state, target, ctx, log_path=params.log)
    run = _Run(state, ctx, params.log, uninstall=True, package=target)
    props = _open(run, target)
    if isinstance(props, int):
        return run.answer(props)
    return uninstall_product(state, props.product_code, ctx, log_path=params.log)


_HOSTILE = 'C:\\temp\\it\'s $(here); `n"q"\nline\u2019.msi'

OPERATIONS: tuple[Operation[Any, Any], ...] = (
    Operation(
        id=INSTALL,
        params=InstallParams,
        body=INSTALL_BODY,
        parse=parse_install,
        simulate=simulate_install,
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
        simulate=simulate_uninstall,
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
