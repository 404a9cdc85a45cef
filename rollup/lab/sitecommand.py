"""
The simulated lab's Deployment Tool site command, ``lab-deploytool.cmd`` (``deploytool.command``).

``rollup.ops.deploytool`` describes the command line (``LAB_COMMAND``, ``LAB_TEMPLATES``); this
is what the command does when it runs: installs and removes the components' packages through the
simulated msiexec (``rollup.ops.msi``) and writes the Deployment Tool's logs.
"""

from __future__ import annotations

from collections.abc import Mapping

from rollup.lab.context import SimContext, SimResult
from rollup.lab.state import HostState
from rollup.lab.windows.hostfiles import copy_file, host_file, put_text, remove_file, utc
from rollup.lab.windows.installer import install_from_file, uninstall_product
from rollup.ops.deploytool import LOG_DIR, MSISHARE, OK_CODES, OP_COMMAND, TAIL_LINES


def _log_path(deploy: HostState, stem: str, server: str, now: float) -> str:
    """``<stem> on <SERVER> <yyyy-MM-dd>_<HH-mm-ss>.log`` in the log folder, made unique."""
    base = f"{LOG_DIR}\\{stem} on {server.upper()} {utc(now):%Y-%m-%d_%H-%M-%S}"
    path, n = f"{base}.log", 1
    while host_file(deploy, path) is not None:
        n += 1
        path = f"{base} ({n}).log"
    return path


def _tool_log(deploy: HostState, title: str, code: int, ctx: SimContext) -> None:
    clock = f"{utc(ctx.now):%H:%M:%S}"
    lines = [
        f"=== Deployment Tool: {title} on {deploy.name.upper()} {utc(ctx.now):%Y-%m-%d} {clock} ===",
        f"Action start {clock}: {title}.",
        f"Action ended {clock}: {title}. Return value {1 if code in OK_CODES else 3}.",
        f"MainEngineThread is returning {code}",
    ]
    put_text(deploy, _log_path(deploy, title, deploy.name, ctx.now), "\r\n".join(lines) + "\r\n", ctx.now)


def _run_msi(deploy: HostState, target: HostState, msi: str, ctx: SimContext, code: str | None) -> int:
    """Uninstall ProductCode ``code``, or install ``msi`` from the share, on ``target``; log on ``deploy``."""
    final = _log_path(deploy, msi.rsplit(".", 1)[0], target.name, ctx.now)
    log = final if target is deploy else f"C:\\WINDOWS\\Temp\\{msi}.deploytool.log"
    if code is not None:
        answer = uninstall_product(target, code, ctx, log_path=log, op_id=OP_COMMAND)
    else:
        source = host_file(deploy, f"{MSISHARE}\\{msi}")
        path = f"{MSISHARE}\\{msi}" if target is deploy else f"C:\\WINDOWS\\Installer\\{msi}"
        if source is not None and target is not deploy:
            copy_file(target, source, path)
        answer = install_from_file(target, path, ctx, log_path=log, op_id=OP_COMMAND)
    written = host_file(target, log)
    if target is not deploy and written is not None and written.text is not None:
        put_text(deploy, final, written.text, ctx.now)
        remove_file(target, log)
    return answer.exit_code


def _answer(code: int, output: list[str]) -> SimResult:
    return SimResult(exit_code=code, result={"exit_code": code, "output": output[-TAIL_LINES:]})


USAGE = (
    "usage: lab-deploytool.cmd uninstall|reinstall <component> <msi> | initialize <node> | start_deployment"
)


def run_site_command(
    states: Mapping[str, HostState], deploy_host: str, argv: tuple[str, ...], ctx: SimContext
) -> SimResult:
    """
    What the lab's site command does, on ``states`` (by host name; ``deploy_host`` among them).

    As in the Deployment Tool, ``uninstall`` runs at once and ``reinstall`` (the tool's Install
    command) only queues the component; ``start_deployment`` runs the queue, then writes its own
    log. ``uninstall <component> <msi>`` removes the product of ``<msi>`` (its UpgradeCode, from
    the lab's package table) from every given host that has it; a queued reinstall installs
    ``C:\\MSIShare\\<msi>`` on every given host of the roles the package belongs to. Each run
    goes through ``rollup.ops.msi`` (mutex, versions, forced exit codes of ``deploytool.command``)
    and its log becomes ``<MSI> on <SERVER> <date>_<time>.log`` in ``C:\\ConfigShare\\Log`` on
    the Deployment Tool host; another host gets the package in its ``C:\\WINDOWS\\Installer``
    cache, as Windows Installer keeps it. ``initialize <node>`` writes one log, returning 0 or
    the next forced exit code. A role none of ``states`` plays is named in the output as not
    reached. The exit code is the first failing run's, else 0; a queued install that fails stays
    queued.
    """
    from rollup.lab.msi import load_products

    deploy = states[deploy_host]
    action, rest = (argv[0], argv[1:]) if argv else ("", ())
    if action == "initialize" and len(rest) == 1:
        code = deploy.pop_forced_exit_code(OP_COMMAND) or 0
        _tool_log(deploy, f"Initialize {rest[0]}", code, ctx)
        return _answer(code, [f"{' '.join(argv)}: {code}"])
    if action == "start_deployment" and not rest:
        return _start_deployment(states, deploy, ctx)
    if action not in ("uninstall", "reinstall") or len(rest) != 2:
        return _answer(2, [USAGE])
    name, msi = rest
    try:
        load_products().product(msi)
    except KeyError:
        return _answer(2, [f"{msi}: not a component package"])
    if action == "reinstall":
        if (name, msi) not in deploy.deployment_queue:
            deploy.deployment_queue.append((name, msi))
        return _answer(0, [f"reinstall {name}: queued until Start Deployment"])
    codes, output = _deploy(states, deploy, action, name, msi, ctx=ctx)
    return _answer(next((c for c in codes if c not in OK_CODES), 0), output)


def _start_deployment(states: Mapping[str, HostState], deploy: HostState, ctx: SimContext) -> SimResult:
    """Run the queued installs, keeping the failed ones queued, then log Start Deployment."""
    codes: list[int] = []
    output: list[str] = []
    for name, msi in list(deploy.deployment_queue):
        done, lines = _deploy(states, deploy, "reinstall", name, msi, ctx=ctx)
        codes += done
        output += lines
        if all(c in OK_CODES for c in done):
            deploy.deployment_queue.remove((name, msi))
    failed = next((c for c in codes if c not in OK_CODES), None)
    code = failed if failed is not None else deploy.pop_forced_exit_code(OP_COMMAND) or 0
    _tool_log(deploy, "Start Deployment", code, ctx)
    return _answer(code, [*output, f"start_deployment: {code}"])


def _deploy(
    states: Mapping[str, HostState], deploy: HostState, action: str, name: str, msi: str, *, ctx: SimContext
) -> tuple[list[int], list[str]]:
    """Uninstall or install one component on every host of ``states`` it concerns: exit codes, output."""
    from rollup.lab.msi import load_products

    product = load_products().product(msi)
    order = [deploy, *(states[h] for h in sorted(states) if states[h] is not deploy)]
    output: list[str] = []
    codes: list[int] = []
    for target in order:
        runs: list[str | None] = [None] if set(target.roles) & set(product.installed_on) else []
        if action == "uninstall":
            installed = target.products.values()
            runs = [p.product_code for p in installed if p.upgrade_code == product.upgrade_code]
        for product_code in runs:
            codes.append(_run_msi(deploy, target, product.file, ctx, product_code))
            output.append(f"{action} {name} on {target.name.upper()}: {codes[-1]}")
    if not codes:
        output.append(f"{action} {name}: nothing to do on {', '.join(s.name.upper() for s in order)}")
    if action == "reinstall":
        reached = {role for s in order for role in s.roles}
        missing = [role for role in product.installed_on if role not in reached]
        output += [f"{action} {name}: no {role} host reached" for role in missing]
    return codes, output
