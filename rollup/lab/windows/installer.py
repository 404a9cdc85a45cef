"""
Windows Installer on the simulated host: what an install or a removal does.

It reads the package's identity from the real MSI bytes in the lab's blob store, registers or
removes the Uninstall entry from those properties, installs or removes the files of the
package's components (``rollup.lab.windows.installer_files``: Windows Installer's versioning
rules, shared components, files in use), and writes a verbose log shaped like msiexec's. ``msiexec.exe`` (``rollup.lab.windows.msiexec``) and the Deployment Tool's site
command (``rollup.lab.sitecommand``) drive it through ``install_from_file`` and
``uninstall_product``. The DNS Client follows its KB's "run it two times": with an older DNS
Client installed, the first run removes it and exits 0 without installing; the second run
installs the new one. A forced exit code queued in the host's state for an operation id (a
fault scenario's) is consumed by the run it applies to.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from rollup.lab.context import SimContext, SimResult
from rollup.lab.windows.hostfiles import (
    PayloadFile,
    host_file,
    msi_payload,
    msi_properties,
    put_text,
    utc,
    write_problem,
)
from rollup.lab.windows.installer_files import install_components, remove_components
from rollup.ops.msi import INSTALL, UNINSTALL
from rollup.ops.msiexec import SUCCESS

if TYPE_CHECKING:
    from rollup.lab.state import HostState, MsiProps

REBOOT_REASONS: Mapping[int, str] = {3010: "msi 3010", 1641: "msi 1641"}
"""What a reboot-requesting exit code adds to ``HostState.pending_reboot``."""
RESTART_STARTED = 1641
"""msiexec started a restart of the host: it goes down as soon as msiexec has returned."""
RUN_TWICE_FILES = ("DNSClient.msi",)
"""Packages whose KB says to run them two times: remove the old build, then install the new one."""
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


def _log_text(
    code: int,
    *,
    uninstall: bool,
    package: str,
    props: MsiProps | None,
    now: float,
    events: tuple[str, ...],
    properties: str = "",
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
        f"           ******* CommandLine: {properties or ('REMOVE=ALL' if uninstall else '**********')}",
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
class MsiexecRun:
    """One simulated msiexec run: where it logs, and how it answers."""

    state: HostState
    ctx: SimContext
    log_path: str
    uninstall: bool
    package: str
    properties: str = ""
    """The public properties given on the command line, as msiexec logs them."""

    def refusal(self) -> int | None:
        """What msiexec stops with first: 1622 (the log cannot be written), 1618 (the mutex is held)."""
        if write_problem(self.state, self.log_path) is not None:
            return 1622
        busy_until = self.state.installer_busy_until
        return 1618 if busy_until is not None and self.ctx.now < busy_until else None

    def answer(self, code: int, props: MsiProps | None = None, events: tuple[str, ...] = ()) -> SimResult:
        """Write the log (when it cannot be written, msiexec exits 1622); the exit code."""
        state, now = self.state, self.ctx.now
        if write_problem(state, self.log_path) is not None:
            code = 1622
        else:
            text = _log_text(
                code,
                uninstall=self.uninstall,
                package=self.package,
                props=props,
                now=now,
                events=events,
                properties=self.properties,
            )
            put_text(state, self.log_path, text, now)
        if code in REBOOT_REASONS and REBOOT_REASONS[code] not in state.pending_reboot:
            state.pending_reboot.append(REBOOT_REASONS[code])
        if code == RESTART_STARTED:
            state.restart_in_s = 0.0
        return SimResult(exit_code=code)


def open_package(run: MsiexecRun, path: str) -> tuple[MsiProps, tuple[PayloadFile, ...]] | int:
    """
    The package's properties and files, or the exit code msiexec stops with first:
    ``run.refusal()``, 1619 when the file is missing, locked or on a full disk, 1620 when it is
    not a package (or its files cannot be read).
    """
    state, ctx = run.state, run.ctx
    refusal = run.refusal()
    if refusal is not None:
        return refusal
    entry = host_file(state, path)
    if entry is None or write_problem(state, path) is not None:
        return 1619
    props = msi_properties(entry, ctx)
    payload = msi_payload(entry, ctx)
    if props is None or payload is None:
        return 1620
    entry.msi = props
    return props, payload


def register_product(
    state: HostState, props: MsiProps, package: str, payload: Sequence[PayloadFile], ctx: SimContext
) -> tuple[int, tuple[str, ...]]:
    """
    Install ``props``' product and its files (``payload``) as Windows Installer would: the exit
    code (3010 when a file was in use) and what the log tells.
    """
    now = ctx.now
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
        events.extend(remove_components(state, old.product_code.upper()))
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
    restart, copied = install_components(state, code, payload, ctx)
    return 3010 if restart else 0, (*events, *copied, *_run_sql(state, code))


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


_GUID = re.compile(r"\{[0-9A-F]{8}(-[0-9A-F]{4}){3}-[0-9A-F]{12}\}", re.IGNORECASE)


def install_from_file(
    state: HostState, path: str, ctx: SimContext, *, log_path: str, op_id: str = INSTALL, properties: str = ""
) -> SimResult:
    """
    ``msiexec /i <path> /qn /norestart /l*v <log_path>`` on the simulated host.

    In order: the log, the mutex and the package (``open_package``: 1622, 1618, 1619, 1620); a forced exit
    code queued for ``op_id`` (3010 and 1641 install and flag a reboot, any other fails without
    installing); then the install, from the package's own properties: the same ProductCode
    installed is a no-op (0); a newer version of the same UpgradeCode installed is 1638; an older
    one is upgraded (removed, the new one registered), except by a run-twice package (DNS
    Client), whose first run only removes the older one.
    """
    run = MsiexecRun(state, ctx, log_path, uninstall=False, package=path, properties=properties)
    opened = open_package(run, path)
    if isinstance(opened, int):
        return run.answer(opened)
    props, payload = opened
    forced = state.pop_forced_exit_code(op_id)
    if forced is not None and forced not in SUCCESS:
        return run.answer(forced, props)
    code, events = register_product(state, props, path, payload, ctx)
    return run.answer(forced if code == 0 and forced is not None else code, props, events)


def uninstall_product(
    state: HostState,
    product_code: str,
    ctx: SimContext,
    *,
    log_path: str,
    op_id: str = UNINSTALL,
    properties: str = "",
) -> SimResult:
    """
    ``msiexec /x {ProductCode} /qn /norestart /l*v <log_path>`` on the simulated host: 1618 while
    the mutex is held; a forced exit code queued for ``op_id``; 1605 when the product is not
    installed; else its Uninstall entry is removed (3010 and 1641 flag a reboot).
    """
    from rollup.lab.state import MsiProps

    run = MsiexecRun(state, ctx, log_path, uninstall=True, package=product_code, properties=properties)
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
    forced = state.pop_forced_exit_code(op_id)
    if forced is not None and forced not in SUCCESS:
        return run.answer(forced, props)
    if installed is None:
        return run.answer(1605)
    del state.products[product_code.upper()]
    events = remove_components(state, product_code.upper())
    return run.answer(forced or 0, props, events)
