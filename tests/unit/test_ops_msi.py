"""msi.install and msi.uninstall: the exit-code policy, the rendered scripts, and the lab's msiexec."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from rollup.errors import ResultParseError
from rollup.lab.context import SimContext
from rollup.lab.prerollup import PACKAGE_SOURCE
from rollup.lab.state import HostState, LabFile, path_key
from rollup.lab.windows.installer import install_from_file, uninstall_product
from rollup.model.roles import Role
from rollup.ops import msi
from rollup.ops.base import CommandResult
from rollup.ops.msi import InstallParams, UninstallParams
from rollup.ops.msiexec import MsiStatus, outcome_for
from rollup.ps.check import assert_ps2_clean
from rollup.ps.command import bindings_of, read_header
from rollup.ps.result import format_result
from tests.simkit import PrerollupLab as Lab
from tests.simkit import Ran, answered, prerollup_lab, run_op

HOSTS = (
    ("MPS01", frozenset({Role.DEPLOYMENT_TOOL, Role.MPS_ENGINE})),
    ("DNS01", frozenset({Role.DNS})),
    ("MPSSQL", frozenset({Role.MPSSQL})),
)
NOW = datetime(2011, 3, 21, 9, 30, tzinfo=UTC).timestamp()
LOG = "C:\\temp\\rollup\\logs\\run.log"
INSTALL, UNINSTALL = msi.OPERATIONS


@pytest.fixture(scope="module", name="lab")
def _lab(tmp_path_factory: pytest.TempPathFactory) -> Lab:
    return prerollup_lab(tmp_path_factory, HOSTS, now=NOW)


def as_result(ran: Ran, op: str = "msi.install", host: str = "MPS01") -> CommandResult:
    """What the transport hands the parser after the script's run ``ran``."""
    return answered(host, op, ran)


def printed(exit_code: int, tail: tuple[str, ...] = (), failed: tuple[str, ...] = ()) -> CommandResult:
    """A result as the body prints it on Windows."""
    line = format_result(
        {"exit_code": exit_code, "log": LOG, "log_tail": list(tail), "failed_actions": list(failed)}
    )
    return CommandResult(
        host="MPS01",
        op="msi.install",
        command="",
        exit_code=exit_code,
        stdout=f"{line}\r\n",
        stderr="",
        duration_s=1.0,
    )


def versions(state: HostState, name: str) -> list[str]:
    return sorted(p.display_version for p in state.products.values() if p.display_name == name)


def copy_package(
    source: HostState, target: HostState, name: str, folder: str = "C:\\temp\\QFERollupPackage"
) -> str:
    """Put the rollup build of ``name`` (same blob) into ``folder`` on ``target``; its path."""
    entry = source.files[path_key(f"{PACKAGE_SOURCE}\\{name}")]
    path = f"{folder}\\{name}"
    target.files[path_key(path)] = entry.model_copy(update={"path": path})
    return path


@pytest.mark.parametrize(
    ("code", "uninstall", "status", "reboot", "retryable"),
    [
        (0, False, MsiStatus.OK, False, False),
        (3010, False, MsiStatus.OK, True, False),
        (1641, True, MsiStatus.OK, True, False),
        (1605, True, MsiStatus.ABSENT, False, False),
        (1605, False, MsiStatus.FAILED, False, False),
        (1618, False, MsiStatus.BUSY, False, True),
        (1603, False, MsiStatus.FAILED, False, False),
        (1619, False, MsiStatus.FAILED, False, False),
        (1638, False, MsiStatus.FAILED, False, False),
        (1620, True, MsiStatus.FAILED, False, False),
        (87, False, MsiStatus.FAILED, False, False),
    ],
)
def test_parse_maps_each_exit_code(
    code: int, uninstall: bool, status: MsiStatus, reboot: bool, retryable: bool
) -> None:
    """Every code of the table maps to its status, reboot flag and retryability."""
    parse = msi.parse_uninstall if uninstall else msi.parse_install
    params = UninstallParams(target="{X}", log=LOG) if uninstall else InstallParams(path="a.msi", log=LOG)

    outcome = parse(printed(code), params)  # type: ignore[arg-type]

    assert (outcome.status, outcome.exit_code, outcome.reboot_required, outcome.retryable) == (
        status,
        code,
        reboot,
        retryable,
    )
    assert outcome.ok is (status in (MsiStatus.OK, MsiStatus.ABSENT))


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (1619, "check the path"),
        (1638, "uninstall it first"),
        (1618, "mutex"),
        (1603, "Return value 3"),
        (87, "87"),
    ],
)
def test_failures_carry_a_hint(code: int, words: str) -> None:
    """1619, 1638, 1618, 1603 and unknown codes each come with advice naming what to do or the code."""
    outcome = outcome_for(code, uninstall=False)

    assert outcome.hint is not None
    assert words in outcome.hint


def test_parse_keeps_the_log_tail_and_failed_actions() -> None:
    """A 1603 result keeps the log's last lines and the 'Return value 3' action lines."""
    tail = ("Action ended 10:04:01: InstallFinalize. Return value 3.", "MainEngineThread is returning 1603")

    outcome = msi.parse_install(printed(1603, tail, tail[:1]), InstallParams(path="a.msi", log=LOG))

    assert outcome.log_tail == tail
    assert outcome.failed_actions == tail[:1]
    assert outcome.log == LOG


@pytest.mark.parametrize(
    "stdout",
    [
        "",
        "msiexec chatter only\r\n",
        '#rollup-result {"exit_code":"0","log":"x","log_tail":[],"failed_actions":[]}\r\n',
        '#rollup-result {"exit_code":0,"log":"x","log_tail":[1],"failed_actions":[]}\r\n',
        "#rollup-result [1]\r\n",
    ],
)
def test_parse_refuses_a_malformed_result(stdout: str) -> None:
    """No result line, or one of the wrong shape, is a ResultParseError naming the host."""
    result = CommandResult(
        host="MPS01", op="msi.install", command="", exit_code=1, stdout=stdout, stderr="boom", duration_s=0
    )

    with pytest.raises(ResultParseError, match=r"^MPS01: msi\.install: "):
        msi.parse_install(result, InstallParams(path="a.msi", log=LOG))


HOSTILE = [
    "C:\\it's here.msi",
    'C:\\"q".msi',
    "C:\\$(Remove-Item C:\\).msi",
    "C:\\a`b;c.msi",
    "C:\\new\nline.msi",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_values_render_cleanly_and_round_trip(value: str) -> None:
    """Quotes, $(), backticks, ; and newlines in paths and properties bind as data, in PS 2.0."""
    params = InstallParams(path=value, log=value + ".log", properties=(f"PRODUCTNAME={value}",))
    script = INSTALL.command(params).render()

    header = read_header(script)

    assert_ps2_clean(script)
    assert header is not None
    assert header[1] == bindings_of(script)
    assert INSTALL.params_from(header[1]) == params
    assert value not in script


def test_the_body_always_runs_msiexec_quietly_with_a_verbose_log() -> None:
    """Both bodies pass /qn /norestart /l*v to msiexec and end with an explicit exit."""
    for body in (msi.INSTALL_BODY, msi.UNINSTALL_BODY):
        assert "'/qn', '/norestart', '/l*v'" in body
        assert body.rstrip().splitlines()[-1] == "exit $c"


def test_install_upgrades_from_the_packages_own_properties(lab: Lab) -> None:
    """/i of the rollup build replaces the previous build's Uninstall entry with the MSI's identity."""
    state = lab.host("MPS01")
    path = f"{PACKAGE_SOURCE}\\DNSProvider.msi"
    props = state.files[path_key(path)].msi
    assert props is not None

    answer = run_op(state, msi.INSTALL, InstallParams(path=path, log=LOG), lab.ctx())
    outcome = msi.parse_install(as_result(answer), InstallParams(path=path, log=LOG))

    assert outcome.status is MsiStatus.OK
    assert versions(state, "DNS Provider") == ["4.0.2491.0"]
    installed = state.products[props.product_code]
    assert (installed.display_version, installed.upgrade_code, installed.install_date) == (
        props.product_version,
        props.upgrade_code,
        "20110321",
    )
    log = state.files[path_key(LOG)].text or ""
    assert "Removing older version 4.0.2379.0" in log
    assert log.rstrip().splitlines()[-2].endswith("MainEngineThread is returning 0")


def test_installing_again_changes_no_product(lab: Lab) -> None:
    """A second /i of the same package finds its ProductCode installed: exit 0, nothing new."""
    state = lab.host("MPS01")
    params = InstallParams(path=f"{PACKAGE_SOURCE}\\ManagedHelpers.msi", log=LOG)
    run_op(state, msi.INSTALL, params, lab.ctx())
    before = dict(state.products)

    answer = run_op(state, msi.INSTALL, params, lab.ctx())

    assert answer.exit_code == 0
    assert state.products == before


def test_dns_client_is_run_twice(lab: Lab) -> None:
    """With the old DNS Client installed, the first run only removes it; the second installs the new one."""
    state = lab.host("DNS01")
    path = copy_package(lab.states["MPS01"], state, "DNSClient.msi")
    params = InstallParams(path=path, log=LOG)

    first = run_op(state, msi.INSTALL, params, lab.ctx())
    after_first = versions(state, "DNS Client")
    second = run_op(state, msi.INSTALL, params, lab.ctx())

    assert (first.exit_code, after_first) == (0, [])
    assert (second.exit_code, versions(state, "DNS Client")) == (0, ["4.0.2491.0"])


def test_installer_busy_answers_1618_and_changes_no_product(lab: Lab) -> None:
    """While the installer mutex is held, msiexec answers 1618: retryable, nothing installed."""
    state = lab.host("MPS01")
    state.installer_busy_until = NOW + 60
    params = InstallParams(path=f"{PACKAGE_SOURCE}\\DNSProvider.msi", log=LOG)

    busy = run_op(state, msi.INSTALL, params, lab.ctx())
    later = run_op(state, msi.INSTALL, params, lab.ctx(now=NOW + 61))

    outcome = msi.parse_install(as_result(busy), params)
    assert (outcome.status, outcome.retryable) == (MsiStatus.BUSY, True)
    assert later.exit_code == 0
    assert versions(state, "DNS Provider") == ["4.0.2491.0"]


def test_forced_1603_writes_a_log_with_the_failed_action(lab: Lab) -> None:
    """A queued 1603 fails without installing; the log tail shows Return value 3 and the engine's code."""
    state = lab.host("MPS01")
    state.forced_exit_codes["msi.install"] = [1603]
    params = InstallParams(path=f"{PACKAGE_SOURCE}\\DNSProvider.msi", log=LOG)

    outcome = msi.parse_install(as_result(run_op(state, msi.INSTALL, params, lab.ctx())), params)
    retried = run_op(state, msi.INSTALL, params, lab.ctx())

    assert outcome.status is MsiStatus.FAILED
    assert outcome.failed_actions
    assert all("Return value 3." in line for line in outcome.failed_actions)
    assert outcome.log_tail[-2].endswith("MainEngineThread is returning 1603")
    assert len(outcome.log_tail) <= msi.TAIL_LINES
    assert retried.exit_code == 0
    assert "msi.install" not in state.forced_exit_codes


def test_forced_3010_installs_and_flags_a_reboot(lab: Lab) -> None:
    """A queued 3010 installs the product and records the pending reboot."""
    state = lab.host("MPS01")
    state.forced_exit_codes["msi.install"] = [3010]
    params = InstallParams(path=f"{PACKAGE_SOURCE}\\DNSProvider.msi", log=LOG)

    outcome = msi.parse_install(as_result(run_op(state, msi.INSTALL, params, lab.ctx())), params)

    assert (outcome.status, outcome.reboot_required) == (MsiStatus.OK, True)
    assert versions(state, "DNS Provider") == ["4.0.2491.0"]
    assert state.pending_reboot == ["msi 3010"]


def test_second_uninstall_answers_1605_absent(lab: Lab) -> None:
    """Removing a product twice: the second /x finds nothing, which is the goal (ABSENT)."""
    state = lab.host("MPS01")
    code = next(p.product_code for p in state.products.values() if p.display_name == "Managed Helpers")
    params = UninstallParams(target=code.lower(), log=LOG)

    first = run_op(state, msi.UNINSTALL, params, lab.ctx())
    second = msi.parse_uninstall(
        as_result(run_op(state, msi.UNINSTALL, params, lab.ctx()), "msi.uninstall"), params
    )

    assert first.exit_code == 0
    assert versions(state, "Managed Helpers") == []
    assert (second.status, second.ok) == (MsiStatus.ABSENT, True)


def test_uninstall_by_package_path_reads_its_product_code(lab: Lab) -> None:
    """/x of a package on the host removes the product the package's ProductCode names."""
    state = lab.host("MPS01")

    answer = run_op(
        state, msi.UNINSTALL, UninstallParams(target="C:\\MSIShare\\DNSProvider.msi", log=LOG), lab.ctx()
    )

    assert answer.exit_code == 0
    assert versions(state, "DNS Provider") == []


def test_package_missing_locked_or_on_a_full_disk_answers_1619(lab: Lab) -> None:
    """A package that cannot be opened is 1619 with advice; nothing changes but the log."""
    state = lab.host("MPS01")
    locked = f"{PACKAGE_SOURCE}\\DNSProvider.msi"
    state.locked_files.append(locked)
    state.disk_full_paths.append("C:\\MSIShare")
    before = dict(state.products)

    codes = [
        run_op(state, msi.INSTALL, InstallParams(path=path, log=LOG), lab.ctx()).exit_code
        for path in ("C:\\temp\\missing.msi", locked, "C:\\MSIShare\\DNSProvider.msi")
    ]

    assert codes == [1619, 1619, 1619]
    assert state.products == before


def test_not_an_installer_package_answers_1620(lab: Lab) -> None:
    """A file that is not an MSI database cannot be opened as a package."""
    state = lab.host("MPS01")
    blob = lab.blobs.put(b"MZ not an msi")
    state.files[path_key("C:\\temp\\fake.msi")] = LabFile(
        path="C:\\temp\\fake.msi", size=13, mtime=datetime(2011, 1, 1, tzinfo=UTC), sha256="0" * 64, blob=blob
    )

    answer = run_op(state, msi.INSTALL, InstallParams(path="C:\\temp\\fake.msi", log=LOG), lab.ctx())

    assert answer.exit_code == 1620


def test_older_package_over_a_newer_install_answers_1638(lab: Lab) -> None:
    """Installing the previous build over the rollup build is 'another version installed'."""
    state = lab.host("MPS01")
    run_op(state, msi.INSTALL, InstallParams(path=f"{PACKAGE_SOURCE}\\DNSProvider.msi", log=LOG), lab.ctx())

    answer = run_op(
        state, msi.INSTALL, InstallParams(path="C:\\MSIShare\\DNSProvider.msi", log=LOG), lab.ctx()
    )

    outcome = msi.parse_install(as_result(answer), InstallParams(path="x", log=LOG))
    assert (outcome.exit_code, outcome.status) == (1638, MsiStatus.FAILED)
    assert versions(state, "DNS Provider") == ["4.0.2491.0"]


def test_a_log_that_cannot_be_written_answers_1622(lab: Lab) -> None:
    """msiexec cannot start logging on a full disk: 1622, no change."""
    state = lab.host("MPS01")
    state.disk_full_paths.append("C:\\temp\\rollup")
    before = dict(state.products)

    answer = run_op(
        state, msi.INSTALL, InstallParams(path=f"{PACKAGE_SOURCE}\\DNSProvider.msi", log=LOG), lab.ctx()
    )

    assert answer.exit_code == 1622
    assert state.products == before
    assert path_key(LOG) not in state.files


def test_reusable_functions_honour_their_own_forced_codes(lab: Lab) -> None:
    """install_from_file and uninstall_product consume the queue of the operation id they are given."""
    state = lab.host("MPS01")
    state.forced_exit_codes["deploytool.command"] = [1603]
    code = next(p.product_code for p in state.products.values() if p.display_name == "Managed Helpers")

    ctx = SimContext(now=NOW, user="HOSTING\\admin", read_blob=lab.blobs.get, write_blob=lab.blobs.put)
    removed = uninstall_product(state, code, ctx, log_path=LOG, op_id="msi.uninstall")
    failed = install_from_file(
        state, f"{PACKAGE_SOURCE}\\ManagedHelpers.msi", ctx, log_path=LOG, op_id="deploytool.command"
    )

    assert (removed.exit_code, failed.exit_code) == (0, 1603)
    assert versions(state, "Managed Helpers") == []


def test_database_package_creates_the_kb_objects(lab: Lab) -> None:
    """Installing ResourceManageDatabase.msi on MPSSQL adds the KB's index, procedures and functions."""
    source = lab.host("MPS01").files[path_key(f"{PACKAGE_SOURCE}\\ResourceManageDatabase.msi")]
    state = lab.host("MPSSQL")
    target = "C:\\temp\\QFERollupPackage\\ResourceManageDatabase.msi"
    state.files[path_key(target)] = source.model_copy(update={"path": target})
    before = {o.name for o in state.databases["resourcemanager"].objects}

    answer = run_op(state, msi.INSTALL, InstallParams(path=target, log=LOG), lab.ctx())
    again = run_op(state, msi.INSTALL, InstallParams(path=target, log=LOG), lab.ctx())
    after = [o.name for o in state.databases["resourcemanager"].objects]

    assert answer.exit_code == 0
    assert again.exit_code == 0
    assert set(after) - before == {
        "rmcore_candidates_ix_target_set_object_category_object_id_trans_id",
        "SeleteAndAssembleAllocateOrgMailStores",
        "SeleteAndAssembleReallocateOrgMailStores",
        "fn_min",
        "fn_ResourceCapacityOnAllocatedMailStores",
        "fn_ResourceCapacityOnUnallocatedMailStores",
    }
    assert len(after) == len(set(after))
