"""deploytool.logs and deploytool.command: log verdicts, safe site commands, the lab's site command."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from rollup.errors import CommandFailed, PlanError, ResultParseError
from rollup.lab.context import SimContext
from rollup.lab.msi import load_products
from rollup.lab.prerollup import PACKAGE_SOURCE, prerollup_states
from rollup.lab.sitecommand import run_site_command
from rollup.lab.state import HostState, InstalledProduct, LabFile, MemoryBlobStore, MsiProps
from rollup.lab.windows.hostfiles import copy_file, host_file
from rollup.model.manifest import DEFAULT_MANIFEST, load_manifest
from rollup.model.roles import Role
from rollup.model.steps import DeploymentToolStep
from rollup.ops import deploytool
from rollup.ops.base import CommandResult, Operation
from rollup.ops.deploytool import (
    LAB_COMMAND,
    LAB_TEMPLATES,
    CommandParams,
    DeployLogs,
    LogsParams,
    site_command,
)
from rollup.ps.check import assert_ps2_clean
from rollup.ps.command import bindings_of, read_header
from tests.simkit import Ran, RunContext, answered, run_context, run_op

ROOT = Path(__file__).resolve().parents[2]
NOW = 1_300_000_000.0
"""2011-03-13T07:06:40Z."""
STAMP = "2011-03-13_07-06-40"
PROVIDER, WEB = "DNSProvider.msi", "HostedEmail2007WS.msi"


def _ctx(now: float = NOW) -> RunContext:
    return run_context(now=now)


def _site_ctx(now: float = NOW, blobs: MemoryBlobStore | None = None) -> SimContext:
    """The context of the lab's site command called directly, for a run that reaches several hosts."""
    store = MemoryBlobStore() if blobs is None else blobs
    return SimContext(now=now, user="HOSTING\\admin", read_blob=store.get, write_blob=store.put)


def _result(op: str, ran: Ran, host: str = "MPS01") -> CommandResult:
    return answered(host, op, ran)


def _installed(msi: str) -> InstalledProduct:
    product = load_products().product(msi)
    return InstalledProduct(
        product_code=product.previous.product_code,
        display_name=product.name,
        display_version=product.previous.version,
        upgrade_code=product.upgrade_code,
        package=msi,
    )


def _share_file(msi: str) -> LabFile:
    product = load_products().product(msi)
    props = MsiProps(
        product_code=product.rollup.product_code,
        product_name=product.name,
        product_version=product.rollup.version,
        upgrade_code=product.upgrade_code,
    )
    when = datetime(2011, 3, 10, tzinfo=UTC)
    return LabFile(
        path=f"C:\\MSIShare\\{msi}", size=product.rollup.size, mtime=when, sha256="a" * 64, msi=props
    )


def _mps01() -> HostState:
    code = load_products().product(PROVIDER).previous.product_code
    return HostState(
        name="MPS01",
        roles=["deployment_tool", "mps_engine"],
        directories=["C:\\ConfigShare\\Log"],
        products={code: _installed(PROVIDER)},
        files={f"c:\\msishare\\{m.lower()}": _share_file(m) for m in (PROVIDER, WEB)},
    )


def _prov01() -> HostState:
    code = load_products().product(WEB).previous.product_code
    return HostState(name="PROV01", roles=["web_services"], products={code: _installed(WEB)})


def _run_lab(state: HostState, *argv: str, now: float = NOW) -> CommandResult:
    params = CommandParams(program=LAB_COMMAND, arguments=argv)
    return _result("deploytool.command", run_op(state, deploytool.COMMAND, params, _ctx(now)))


def _lab_ok(state: HostState, *argv: str, now: float = NOW) -> int:
    """Run the lab's site command; its exit code once the parser accepted the run."""
    return deploytool.parse_command(_run_lab(state, *argv, now=now), CommandParams(LAB_COMMAND)).exit_code


def _read_logs(state: HostState, since: str, log_dir: str = "C:\\ConfigShare\\Log") -> DeployLogs:
    params = LogsParams(since, log_dir=log_dir)
    return deploytool.parse_logs(
        _result("deploytool.logs", run_op(state, deploytool.LOGS, params, _ctx())), params
    )


def _logs(state: HostState) -> dict[str, str]:
    return {f.path.rsplit("\\", 1)[-1]: f.text or "" for f in state.files.values() if f.path.endswith(".log")}


@pytest.mark.parametrize(
    ("op", "params"),
    [
        pytest.param(op, p, id=f"{op.id}[{n}]")
        for op in deploytool.OPERATIONS
        for n, p in enumerate(op.examples)
    ],
)
def test_every_example_renders_as_clean_powershell_2(op: Operation[Any, Any], params: object) -> None:
    """Each example renders as a PowerShell 2.0 script that parses and binds what its header says."""
    script = op.command(params).render()

    assert_ps2_clean(script)
    assert read_header(script) == (op.id, bindings_of(script))
    assert script.rstrip().endswith(("exit 0", "exit $c"))


def test_site_command_passes_each_value_as_one_argument() -> None:
    """Words are split before filling: a name with spaces and cmd.exe operators stays one argument."""
    command = site_command(
        '"C:\\Site Tools\\dt-queue.cmd" {action} --component={name} {msi}',
        action="uninstall",
        name="Hosted & Managed | Email <2007> ^x",
        msi="HostedEmail2007WS.msi",
    )

    assert command.program == "C:\\Site Tools\\dt-queue.cmd"
    assert command.arguments == (
        "uninstall",
        "--component=Hosted & Managed | Email <2007> ^x",
        "HostedEmail2007WS.msi",
    )
    assert site_command(
        LAB_TEMPLATES["initialize"], action="initialize", name="Hosted Email 2007"
    ).arguments == (
        "initialize",
        "Hosted Email 2007",
    )


def test_one_template_serves_every_action() -> None:
    """A placeholder with no value for the action is empty, and a word it leaves empty is dropped."""
    template = deploytool.LAB_TEMPLATE

    commands = [
        site_command(template, action="uninstall", name="DNS Provider", msi=PROVIDER),
        site_command(template, action="initialize", name="Hosted Email 2007"),
        site_command(template, action="start_deployment"),
    ]

    assert [c.arguments for c in commands] == [
        ("uninstall", "DNS Provider", PROVIDER),
        ("initialize", "Hosted Email 2007"),
        ("start_deployment",),
    ]
    assert {c.program for c in commands} == {LAB_COMMAND}


@pytest.mark.parametrize(
    ("template", "name", "message"),
    [
        (LAB_TEMPLATES["uninstall"], 'say "hi"', "cannot be passed to a command literally"),
        (LAB_TEMPLATES["uninstall"], "100%DATA%", "cannot be passed to a command literally"),
        (LAB_TEMPLATES["uninstall"], "two\nlines", "cannot be passed to a command literally"),
        ("dt.cmd {name} {node}", "x", "is not a placeholder"),
        ("   ", "x", "names no program"),
    ],
)
def test_site_command_refuses_what_cannot_pass_literally(
    template: str, name: str | None, message: str
) -> None:
    """Quotes, percent signs, control characters, a placeholder with no value, or no program: refused."""
    with pytest.raises(PlanError, match=message):
        site_command(template, action="uninstall", name=name, msi=None if name is None else PROVIDER)


def test_lab_uninstall_removes_the_component_and_logs_it() -> None:
    """The lab's site command uninstalls the component on MPS01 and writes the tool's log, ending in 0."""
    state = _mps01()
    upgrade_code = load_products().product(PROVIDER).upgrade_code

    code = _lab_ok(state, "uninstall", "DNS Provider", PROVIDER)

    assert code == 0
    assert [p for p in state.products.values() if p.upgrade_code == upgrade_code] == []
    logs = _logs(state)
    assert list(logs) == [f"DNSProvider on MPS01 {STAMP}.log"]
    assert "MainEngineThread is returning 0" in logs[f"DNSProvider on MPS01 {STAMP}.log"].splitlines()[-2]
    assert _read_logs(state, "2011-03-13T07:00:00Z").failed == ()


def test_lab_uninstall_reaches_every_host_it_is_given() -> None:
    """Given every lab host, a web-services component is removed from PROV01, its log kept on MPS01."""
    mps01, prov01 = _mps01(), _prov01()
    states = {"MPS01": mps01, "PROV01": prov01}

    sim = run_site_command(states, "MPS01", ("uninstall", "Hosted Email 2007 Web Services", WEB), _site_ctx())

    assert sim.exit_code == 0
    assert prov01.products == {}
    assert list(_logs(mps01)) == [f"HostedEmail2007WS on PROV01 {STAMP}.log"]
    assert _logs(prov01) == {}


def test_lab_reinstall_queues_and_start_deployment_installs_from_the_share() -> None:
    """
    Reinstall only queues, as the tool's Install command does; Start Deployment installs the new
    build from C:\\MSIShare where its role is, naming roles not reached, and empties the queue.
    """
    state = _mps01()
    _lab_ok(state, "uninstall", "DNS Provider", PROVIDER)

    code = _lab_ok(state, "reinstall", "DNS Provider", PROVIDER, now=NOW + 60)
    web = _lab_ok(state, "reinstall", "Web", WEB, now=NOW + 90)
    again = _lab_ok(state, "reinstall", "Web", WEB, now=NOW + 100)
    queued = (dict(state.products), list(state.deployment_queue))
    output = _run_lab(state, "start_deployment").stdout

    assert (code, web, again) == (0, 0, 0)
    assert queued == ({}, [("DNS Provider", PROVIDER), ("Web", WEB)])
    assert {p.display_name: p.display_version for p in state.products.values()} == {
        "DNS Provider": "4.0.2491.0"
    }
    assert "reinstall Web: no web_services host reached" in output
    assert state.deployment_queue == []


def test_a_queued_install_that_fails_stays_queued_for_the_next_start_deployment() -> None:
    state = _mps01()
    _lab_ok(state, "uninstall", "DNS Provider", PROVIDER)
    _lab_ok(state, "reinstall", "DNS Provider", PROVIDER, now=NOW + 60)
    state.forced_exit_codes["deploytool.command"] = [1603]

    with pytest.raises(CommandFailed, match=r"exited 1603"):
        _lab_ok(state, "start_deployment", now=NOW + 90)
    kept = list(state.deployment_queue)
    final = _lab_ok(state, "start_deployment", now=NOW + 120)

    assert kept == [("DNS Provider", PROVIDER)]
    assert (final, state.deployment_queue) == (0, [])
    assert [p.display_version for p in state.products.values()] == ["4.0.2491.0"]


def test_forced_failure_leaves_a_failing_log() -> None:
    """A queued 1603 fails the command, keeps the component, and the log check sees Return value 3."""
    state = _mps01()
    state.forced_exit_codes["deploytool.command"] = [1603]

    with pytest.raises(CommandFailed, match=r"exited 1603"):
        _lab_ok(state, "uninstall", "DNS Provider", PROVIDER)

    assert len(state.products) == 1
    logs = _read_logs(state, "2011-03-13T07:00:00Z")
    assert [(log.return_code, log.ok) for log in logs.logs] == [(1603, False)]
    assert logs.failed[0].failed_actions[0].endswith("Return value 3.")


def test_initialize_and_start_deployment_write_their_logs() -> None:
    """Initialize and Start Deployment each write one log that the log check accepts."""
    state = _mps01()
    _lab_ok(state, "initialize", "Hosted Email 2007")
    _lab_ok(state, "start_deployment")

    logs = _read_logs(state, deploytool.since_text(datetime(2011, 3, 13, 7, tzinfo=UTC)))

    assert sorted(log.name for log in logs.logs) == [
        f"Initialize Hosted Email 2007 on MPS01 {STAMP}.log",
        f"Start Deployment on MPS01 {STAMP}.log",
    ]
    assert logs.failed == ()


def test_unknown_programs_and_bad_arguments_fail() -> None:
    """Another program, or the lab command off MPS01, is not found (9009); bad arguments are a usage error."""
    state = _mps01()
    other = CommandParams("C:\\Tools\\dt.cmd", ("uninstall",))
    answer = _result("deploytool.command", run_op(state, deploytool.COMMAND, other, _ctx()))

    with pytest.raises(CommandFailed, match=r"exited 9009: operable program or batch file\."):
        deploytool.parse_command(answer, other)
    with pytest.raises(CommandFailed, match=r"exited 2: usage: lab-deploytool\.cmd"):
        _lab_ok(state, "uninstall", "DNS Provider")
    elsewhere = run_op(
        _prov01(), deploytool.COMMAND, CommandParams(LAB_COMMAND, ("start_deployment",)), _ctx()
    )
    assert elsewhere.exit_code == 9009


def test_logs_since_a_time_only() -> None:
    """Logs last written before ``since`` are left out; an absent folder is a failure naming it."""
    state = _mps01()
    _lab_ok(state, "start_deployment")

    logs = _read_logs(state, "2011-03-13T07:06:41Z")

    assert logs.logs == ()
    with pytest.raises(CommandFailed, match="the folder D:\\\\Log does not exist"):
        _read_logs(state, "2011-03-13T07:00:00Z", log_dir="D:\\Log")


def test_logs_parse_windows_output() -> None:
    """The verdict per log: 0 or 3010 without a Return value 3 line is ok; no marker at all is not."""
    logs = [
        {
            "name": "a.log",
            "size": 10,
            "last_write": "2011-03-13T07:10:00.000Z",
            "return_code": 3010,
            "failed_actions": [],
        },
        {
            "name": "b.log",
            "size": 10,
            "last_write": "2011-03-13T07:05:00.000Z",
            "return_code": None,
            "failed_actions": [],
        },
        {
            "name": "c.log",
            "size": 10,
            "last_write": "2011-03-13T07:07:00.000Z",
            "return_code": 0,
            "failed_actions": ["Action ended 7:07:00: InstallFinalize. Return value 3."],
        },
    ]
    stdout = "#rollup-result " + json.dumps({"log_dir": "C:\\ConfigShare\\Log", "logs": logs})
    result = CommandResult(
        host="MPS01", op="deploytool.logs", command="", exit_code=0, stdout=stdout, stderr="", duration_s=1
    )

    parsed = deploytool.parse_logs(result, LogsParams("2011-03-13T07:00:00Z"))

    assert [(log.name, log.ok) for log in parsed.logs] == [
        ("b.log", False),
        ("c.log", False),
        ("a.log", True),
    ]


@pytest.mark.parametrize(
    "logs",
    [
        [{"name": "a.log"}],
        [{"name": "a.log", "size": 1, "last_write": "yesterday", "return_code": 0, "failed_actions": []}],
        "none",
    ],
)
def test_malformed_log_results_are_parse_errors(logs: object) -> None:
    """Incomplete entries, unreadable times and a non-list are refused."""
    stdout = "#rollup-result " + json.dumps({"log_dir": "C:\\ConfigShare\\Log", "logs": logs})
    result = CommandResult(
        host="MPS01", op="deploytool.logs", command="", exit_code=0, stdout=stdout, stderr="", duration_s=1
    )

    with pytest.raises(ResultParseError, match=r"^MPS01: deploytool\.logs: result logs"):
        deploytool.parse_logs(result, LogsParams("2011-03-13T07:00:00Z"))


def test_since_must_be_a_utc_time() -> None:
    """``since`` is an explicit UTC time; a local or vague one is refused."""
    with pytest.raises(ValueError, match="is not like"):
        LogsParams("2011-03-13 07:00")


def _versions(host: HostState, msis: list[str]) -> dict[str, str]:
    """The installed version of each package's product on ``host`` (by UpgradeCode)."""
    table = load_products()
    codes = {table.product(m).upgrade_code: m for m in msis}
    return {
        codes[p.upgrade_code]: p.display_version for p in host.products.values() if p.upgrade_code in codes
    }


def test_the_kbs_deployment_tool_steps_run_end_to_end_in_the_lab(tmp_path: Path) -> None:
    """
    The manifest's uninstall, reinstall, Initialize and Start Deployment steps, through the lab's
    site command on the pre-rollup MPS01 and PROV01, leave each of the 17 components at the
    rollup's version on the host of its role, with every log of every phase ok.
    """
    manifest = load_manifest(ROOT / DEFAULT_MANIFEST)
    blobs = MemoryBlobStore()
    hosts = [
        ("MPS01", frozenset({Role.DEPLOYMENT_TOOL, Role.MPS_ENGINE})),
        ("PROV01", frozenset({Role.WEB_SERVICES})),
    ]
    mps01, prov01 = prerollup_states(manifest, hosts, blobs=blobs, msi_cache_dir=tmp_path)
    msi = {c.name: c.msi for c in manifest.components if c.managed_by == "deployment_tool"}
    starts, codes = [], []
    for n, step in enumerate(s for s in manifest.steps if isinstance(s, DeploymentToolStep)):
        ctx = _site_ctx(NOW + 3600 * n, blobs)
        if step.action == "reinstall":
            for name in msi.values():
                copy_file(
                    mps01,
                    host_file(mps01, f"{PACKAGE_SOURCE}\\{name}") or pytest.fail(name),
                    f"C:\\MSIShare\\{name}",
                )
        for item in step.components or step.nodes or (None,):
            command = site_command(
                LAB_TEMPLATES[step.action], action=step.action, name=item, msi=msi.get(item or "")
            )
            run = run_site_command({"MPS01": mps01, "PROV01": prov01}, "MPS01", command.arguments, ctx)
            codes.append(run.exit_code)
        starts.append(deploytool.since_text(datetime.fromtimestamp(ctx.now, UTC)))

    logs = [_read_logs(mps01, since) for since in starts]

    assert set(codes) == {0}
    # Logs written since each phase began: reinstall only queues (no log of its own); Start
    # Deployment writes the 17 queued installs' logs and its own.
    assert [len(phase.logs) for phase in logs] == [
        17 + 8 + 17 + 1,
        8 + 17 + 1,
        8 + 17 + 1,
        4 + 17 + 1,
        17 + 1,
    ]
    assert [phase.failed for phase in logs] == [()] * 5
    table = load_products()
    for host in (mps01, prov01):
        mine = [m for m in msi.values() if set(host.roles) & set(table.product(m).installed_on)]
        assert _versions(host, list(msi.values())) == {m: table.product(m).rollup.version for m in mine}
    assert len(_versions(mps01, list(msi.values()))) + len(_versions(prov01, list(msi.values()))) == 17
