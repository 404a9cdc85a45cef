"""Fault scenarios: the file's validation, and each fault kind triggering as specified on a served lab."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from winrm.exceptions import InvalidCredentialsError, WSManFaultError
from winrm.protocol import Protocol

from rollup.errors import ConfigError
from rollup.lab.fleet import LabOptions, prepare_lab
from rollup.lab.labdir import LabPaths
from rollup.lab.report import host_report
from rollup.lab.scenario import check_hosts, load_scenario, operation_kinds, parse_scenario
from rollup.lab.store import FileBlobStore, FileStateStore
from rollup.lab.wsman import Action, RequestInfo
from rollup.ps.command import RemoteCommand
from rollup.ps.delivery import command_line, stdin_command, stdin_payload
from tests.lab import labkit
from tests.lab.conftest import DOMAIN_USER, PASSWORD, Lab

MPS01, DNS01, COLLAB01, COLLAB02 = (labkit.template_host(n) for n in (1, 2, 4, 5))
KINDS = ", ".join(sorted(operation_kinds()))
PACKAGE = "C:\\temp\\KB2492954\\HostedEmail2007NS.msi"


def _lab(template: LabPaths, tmp_path: Path, **scenario: Any) -> LabPaths:
    return labkit.copy_lab(template, tmp_path / "lab", {"time_factor": 0, **scenario})


def _state(paths: LabPaths, host: str) -> dict[str, Any]:
    names = ["MPS01", "DNS01", "MPSSQL", "COLLAB01", "COLLAB02"]
    return host_report(FileStateStore(paths.hosts, names).read(host), FileBlobStore(paths.blobs))


def _outcomes(client: labkit.Client, count: int) -> list[str]:
    """Run ``hostname`` ``count`` times: ``ok``, or the name of the exception pywinrm raised."""
    seen = []
    for _ in range(count):
        try:
            client.run("hostname")
            seen.append("ok")
        except (WSManFaultError, requests.RequestException) as exc:
            seen.append(type(exc).__name__)
    return seen


# ---- the file ---------------------------------------------------------------------------------


def test_the_documented_example_creates_a_lab(tmp_path: Path, cache: Path) -> None:
    """docs/lab.md's full example has every fault kind and drift section, and a default lab accepts it."""
    text = (labkit.ROOT / "docs" / "lab.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- scenario example -->\n```yaml\n(.*?)```", text, re.DOTALL)
    assert block is not None
    example = tmp_path / "example.yml"
    example.write_text(block.group(1), encoding="utf-8")
    options = LabOptions(manifest=labkit.MANIFEST, scenario=example, first_address="127.0.124.1")

    config = prepare_lab(LabPaths(tmp_path / "lab"), options, labkit.lab_env(cache))
    drift = config.scenario.drift

    assert {rule.kind for rule in config.scenario.faults} == {
        "http_500", "reset", "no_answer", "auth_failure", "host_down", "delay",
        "installer_busy", "exit_code", "disk_full", "locked_file", "slow",
    }  # fmt: skip
    assert all(
        any(getattr(d, section) for d in drift) for section in ("files", "products", "iis", "complus", "sql")
    )
    assert _state(LabPaths(tmp_path / "lab"), "DNS01")["iis"][0]["access_ssl"] is True


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"faults": [{"kind": "reset", "nth": 1, "hots": "MPS01"}]}, "s.yml: faults[0].hots: unknown key"),
        (
            {"faults": [{"kind": "reset", "nth": 1, "hosts": "COLLAB[0"}]},
            "s.yml: faults[0].hosts: 'COLLAB[0' is not a host name or glob "
            "(letters, digits, '-', '.', with * ? and [...] classes)",
        ),
        ({"faults": [{"kind": "reset"}]}, "s.yml: faults[0]: give exactly one of nth and probability"),
        (
            {"faults": [{"kind": "reset", "nth": 1, "op": "msi.instal"}]},
            "s.yml: faults[0].op: no operation 'msi.instal' (an operation id such as msi.install, or *)",
        ),
        (
            {"faults": [{"kind": "exit_code", "op": "files.copy", "nth": 1, "code": 1603}]},
            "s.yml: faults[0]: files.copy takes no forced exit code "
            "(these do: deploytool.command, iis.reset, msi.install, msi.uninstall)",
        ),
        (
            {"faults": [{"kind": "exit_code", "probability": 1.5, "code": 1603}]},
            "s.yml: faults[0].probability: Input should be less than or equal to 1",
        ),
        (
            {"faults": [{"kind": "reset", "nth": 1, "action": "create", "op": "msi.install"}]},
            "s.yml: faults[0]: a create request carries no operation; use op: '*'",
        ),
        (
            {"drift": [{"hosts": "DNS01", "iis": [{"vdir": "DNSProvider"}]}]},
            "s.yml: drift[0].iis[0]: says nothing to change beside vdir",
        ),
        (
            {"durations": {"msiexec": 3}},
            "s.yml: durations: no operation kind 'msiexec'; the kinds are " + KINDS,
        ),
    ],
)
def test_a_bad_scenario_is_one_line_with_its_key_path(document: dict[str, Any], message: str) -> None:
    """Unknown keys, bad globs, triggers, operation ids and values fail with the file and key path."""
    with pytest.raises(ConfigError) as error:
        parse_scenario(document, source="s.yml")

    assert str(error.value) == message


def test_unknown_fault_kind_and_glob_matching_no_host(tmp_path: Path) -> None:
    """An unknown kind lists the kinds; a glob that matches no host of the lab is refused at lab up."""
    bad_kind = tmp_path / "kind.yml"
    bad_kind.write_text("faults:\n  - {kind: timeout, nth: 1}\n")
    typo = tmp_path / "typo.yml"
    typo.write_text("faults:\n  - {kind: reset, hosts: [MPS01, COLAB*], nth: 1}\n")

    with pytest.raises(ConfigError) as kind:
        load_scenario(bad_kind)
    with pytest.raises(ConfigError) as glob:
        check_hosts(load_scenario(typo), ["MPS01", "COLLAB01"], source=str(typo))

    assert str(kind.value).startswith(f"{bad_kind}: faults[0]: unknown kind; one of auth_failure, delay, ")
    assert str(glob.value) == f"{typo}: faults[0].hosts[1]: 'COLAB*' matches no host of the lab"


# ---- HTTP-level faults --------------------------------------------------------------------------


def test_http_500_triggers_on_the_nth_calls_only(template: LabPaths, tmp_path: Path, cache: Path) -> None:
    """A rule with nth [2, 3] answers the second and third Command with a WS-Man fault; the rest run."""
    rule = {"kind": "http_500", "hosts": "COLLAB0[1]", "nth": [2, 3]}
    paths = _lab(template, tmp_path, faults=[rule])
    with labkit.serving(paths, cache):
        client = labkit.Client(COLLAB01)
        seen = _outcomes(client, 2)
        with pytest.raises(WSManFaultError) as fault:
            client.run("hostname")
        seen += _outcomes(client, 2)
        other = _outcomes(labkit.Client(COLLAB02), 3)

    assert seen == ["ok", "WSManFaultError", "ok", "ok"]
    assert other == ["ok", "ok", "ok"]
    assert (fault.value.code, fault.value.wsman_fault_code) == (500, 2150858755)
    assert fault.value.fault_subcode == "w:InternalError"


def test_probability_is_repeatable_with_its_seed(template: LabPaths, tmp_path: Path, cache: Path) -> None:
    """Seeded resets fall on the same calls in two runs with one seed, and on others with another seed."""
    patterns = []
    for run, seed in enumerate((7, 7, 8)):
        paths = labkit.copy_lab(
            template,
            tmp_path / f"lab{run}",
            {
                "time_factor": 0,
                "seed": seed,
                "faults": [{"kind": "reset", "hosts": "DNS01", "probability": 0.5}],
            },
        )
        with labkit.serving(paths, cache):
            patterns.append(_outcomes(labkit.Client(DNS01), 12))

    assert patterns[0] == patterns[1]
    assert patterns[0] != patterns[2]
    assert {"ok", "ConnectionError"} == set(patterns[0])


def test_op_rules_see_the_operation_inline_and_through_stdin(
    template: LabPaths, tmp_path: Path, cache: Path
) -> None:
    """A rule for one operation spares others; a stdin-delivered script is known by the Send that ends it."""
    faults = [
        {"kind": "reset", "hosts": "DNS01", "op": "iis.get_vdir", "nth": 1},
        {"kind": "http_500", "hosts": "DNS01", "op": "host.facts", "action": "send", "nth": 1},
    ]
    paths = _lab(template, tmp_path, faults=faults)
    client = labkit.Client(DNS01)
    with labkit.serving(paths, cache):
        facts_first = _attempt(lambda: client.op("host.facts"))
        vdir_first = _attempt(lambda: client.op("iis.get_vdir", site="Default Web Site", vdir="DNSProvider"))
        vdir_again = client.op("iis.get_vdir", site="Default Web Site", vdir="DNSProvider")
        facts_again = client.op("host.facts")

    assert (facts_first, vdir_first) == ("WSManFaultError", "ConnectionError")
    assert (vdir_again.code, facts_again.code) == (0, 0)
    assert _state(paths, "DNS01")["operations"] == ["iis.get_vdir", "host.facts"]


def _attempt(call: Any) -> str:
    try:
        call()
    except (WSManFaultError, requests.RequestException) as exc:
        return type(exc).__name__
    return "ok"


def test_no_answer_auth_failure_and_delay(template: LabPaths, tmp_path: Path, cache: Path) -> None:
    """No answer runs into the client's read timeout, auth_failure is a wrong password, delay waits."""
    faults = [
        {"kind": "no_answer", "hosts": "COLLAB01", "nth": 1, "hold_s": 5},
        {"kind": "auth_failure", "hosts": "COLLAB02", "nth": 1},
        {"kind": "delay", "hosts": "DNS01", "nth": 1, "seconds": 0.3},
    ]
    paths = _lab(template, tmp_path, faults=faults)
    with labkit.serving(paths, cache):
        held = _attempt(
            lambda: labkit.Client(COLLAB01, read_timeout_s=2, operation_timeout_s=1).run("hostname")
        )
        with pytest.raises(InvalidCredentialsError):
            labkit.Client(COLLAB02).run("hostname")
        after_auth = labkit.Client(COLLAB02).run("hostname")
        started = time.monotonic()
        delayed = labkit.Client(DNS01).run("hostname")
        waited = time.monotonic() - started

    assert held == "ReadTimeout"
    assert after_auth.stdout == "COLLAB02\r\n"
    assert delayed.stdout == "DNS01\r\n"
    assert waited >= 0.3


def test_host_down_refuses_connections_then_comes_back(
    template: LabPaths, tmp_path: Path, cache: Path
) -> None:
    """The host drops the request (started first with processed), refuses connections, then serves again."""
    down = {"kind": "host_down", "op": "products.list", "nth": 1, "seconds": 1}
    paths = _lab(
        template,
        tmp_path,
        faults=[{**down, "hosts": "DNS01", "processed": True}, {**down, "hosts": "COLLAB01"}],
    )
    with labkit.serving(paths, cache):
        during = [_attempt(lambda a=a: labkit.Client(a).op("products.list")) for a in (DNS01, COLLAB01)]
        refused = [_attempt(lambda a=a: labkit.Client(a).run("hostname")) for a in (DNS01, COLLAB01)]
        time.sleep(1.5)
        back = [labkit.Client(a).run("hostname").stdout for a in (DNS01, COLLAB01)]

    assert during == refused == ["ConnectionError", "ConnectionError"]
    assert back == ["DNS01\r\n", "COLLAB01\r\n"]
    assert _state(paths, "DNS01")["operations"] == ["products.list"]
    assert _state(paths, "COLLAB01")["operations"] == []


def test_latency_applies_to_every_http_answer_of_the_host(
    template: LabPaths, tmp_path: Path, cache: Path
) -> None:
    """host_latency_ms delays each HTTP answer of the matching hosts (a run is at least five requests)."""
    paths = _lab(template, tmp_path, host_latency_ms={"DNS0*": 100})
    with labkit.serving(paths, cache):
        started = time.monotonic()
        labkit.Client(DNS01).run("hostname")
        waited = time.monotonic() - started

    assert waited >= 0.5


# ---- operation-level faults ---------------------------------------------------------------------


def test_installer_busy_answers_1618_while_the_mutex_is_held(
    template: LabPaths, tmp_path: Path, cache: Path
) -> None:
    """While another installation holds the mutex msiexec exits 1618; once it is free the install runs."""
    rule = {"kind": "installer_busy", "hosts": "MPS01", "op": "msi.install", "nth": 1, "seconds": 1}
    paths = _lab(template, tmp_path, faults=[rule])
    client = labkit.Client(MPS01)
    with labkit.serving(paths, cache):
        first = client.op("msi.install", path=PACKAGE, log="C:\\temp\\a.log")
        second = client.op("msi.install", path=PACKAGE, log="C:\\temp\\b.log")
        time.sleep(1.2)
        third = client.op("msi.install", path=PACKAGE, log="C:\\temp\\c.log")
    products = {p["name"]: p["version"] for p in _state(paths, "MPS01")["products"]}

    assert (first.code, second.code, third.code) == (1618, 1618, 0)
    assert products["Hosted Email 2007 Namespace"] == "4.0.2491.0"


def test_exit_codes_1603_with_its_log_and_3010_with_a_reboot(
    template: LabPaths, tmp_path: Path, cache: Path
) -> None:
    """Forced 1603 reports the log's failed action; forced 3010 installs and leaves a reboot pending."""
    faults = [
        {"kind": "exit_code", "hosts": "MPS01", "op": "msi.install", "nth": 1, "code": 1603},
        {"kind": "exit_code", "hosts": "MPS01", "op": "msi.install", "nth": 2, "code": 3010},
    ]
    paths = _lab(template, tmp_path, faults=faults)
    client = labkit.Client(MPS01)
    with labkit.serving(paths, cache):
        failed = client.op("msi.install", path=PACKAGE, log="C:\\temp\\fail.log")
        reboot = client.op("msi.install", path=PACKAGE, log="C:\\temp\\ok.log")
    state = _state(paths, "MPS01")
    logs = {f["path"] for f in state["files"]}

    assert failed.code == 1603
    assert "Return value 3" in failed.stdout
    assert reboot.code == 3010
    assert state["pending_reboot"]
    assert {"C:\\temp\\fail.log", "C:\\temp\\ok.log"} <= logs


def test_disk_full_until_released_and_a_file_locked_for_seconds(
    template: LabPaths, tmp_path: Path, cache: Path
) -> None:
    """A full disk fails copies until released; a lock fails the backup, then lifts by itself."""
    faults = [
        {"kind": "disk_full", "hosts": "MPS01", "op": "files.copy", "nth": 1, "path": "C:\\MSIShare"},
        {
            "kind": "locked_file", "hosts": "MPS01", "op": "files.backup", "nth": 1,
            "path": "C:\\MSIShare\\DNSClient.msi", "seconds": 0.5,
        },
    ]  # fmt: skip
    paths = _lab(template, tmp_path, faults=faults)
    client = labkit.Client(MPS01)
    copy = {"source_dir": "C:\\temp\\KB2492954", "dest_dir": "C:\\MSIShare", "names": ("DNSProvider.msi",)}
    backup = {"share": "C:\\MSIShare", "names": ("DNSClient.msi",), "method": "rename"}
    with labkit.serving(paths, cache) as lab:
        full = client.op("files.copy", **copy)
        still_full = client.op("files.copy", **copy)
        with lab.store.update("MPS01") as state:  # what rollup lab release does
            state.disk_full_paths = []
        copied = client.op("files.copy", **copy)
        locked = client.op("files.backup", **backup)
        time.sleep(0.8)
        backed_up = client.op("files.backup", **backup)

    assert (full.code, still_full.code, copied.code) == (1, 1, 0)
    assert "There is not enough space on the disk." in full.stdout
    assert locked.code == 1
    assert "being used by another process" in locked.stdout
    assert backed_up.code == 0
    assert _state(paths, "MPS01")["faults"]["locked_files"] == []


def test_timed_conditions_are_lifted_when_the_lab_stops(
    template: LabPaths, tmp_path: Path, cache: Path
) -> None:
    """A lock for an hour does not outlive the lab: stopping lifts it; an untimed one stays."""
    faults = [
        {
            "kind": "locked_file",
            "hosts": "MPS01",
            "op": "*",
            "nth": 1,
            "path": "C:\\MSIShare\\A.msi",
            "seconds": 3600,
        },
        {"kind": "locked_file", "hosts": "MPS01", "op": "*", "nth": 1, "path": "C:\\MSIShare\\B.msi"},
    ]
    paths = _lab(template, tmp_path, faults=faults)
    with labkit.serving(paths, cache):
        labkit.Client(MPS01).op("host.facts")
        during = _state(paths, "MPS01")["faults"]["locked_files"]

    assert during == ["C:\\MSIShare\\A.msi", "C:\\MSIShare\\B.msi"]
    assert _state(paths, "MPS01")["faults"]["locked_files"] == ["C:\\MSIShare\\B.msi"]
    assert _state(paths, "MPS01")["mutations"] == 0


def test_durations_per_kind_and_slow_operations(template: LabPaths, tmp_path: Path, cache: Path) -> None:
    """A kind's duration is scaled by the time factor; a slow rule replaces the duration of its call."""
    rule = {"kind": "slow", "hosts": "DNS01", "op": "iis.get_vdir", "nth": 1, "seconds": 40}
    paths = labkit.copy_lab(
        template, tmp_path / "lab", {"time_factor": 0.01, "durations": {"fact": 30}, "faults": [rule]}
    )
    client = labkit.Client(DNS01)
    with labkit.serving(paths, cache):
        started = time.monotonic()
        client.op("products.list")
        fact = time.monotonic() - started
        started = time.monotonic()
        client.op("iis.get_vdir", site="Default Web Site", vdir="DNSProvider")
        slow = time.monotonic() - started

    assert fact >= 0.3
    assert slow >= 0.4


# ---- drift --------------------------------------------------------------------------------------


def test_drift_is_applied_when_the_lab_is_created_and_shows_in_lab_state(tmp_path: Path, cache: Path) -> None:
    """Files, product versions, IIS, COM+ and SQL drift are in the hosts' states from the start."""
    scenario = tmp_path / "drift.yml"
    scenario.write_text(
        "drift:\n"
        "  - hosts: MPS01\n"
        "    files:\n"
        "      - {path: 'C:\\MSIShare\\DNSClient.msi', remove: true}\n"
        "      - {path: 'C:\\MSIShare\\DNSProvider.msi', size: 4096}\n"
        "      - {path: 'C:\\MSIShare\\ManagedHelpers.msi', version: 4.0.2300.0}\n"
        "    products:\n"
        "      - {product: Managed Helpers, version: 4.0.2400.0}\n"
        "      - {product: Service Base, remove: true}\n"
        "    complus:\n"
        "      - {application: Provisioning Engine, running: false}\n"
        "  - hosts: DNS*\n"
        "    iis:\n"
        "      - {vdir: DNSProvider, default_logon_domain: '\\', access_ssl: true}\n"
        "  - hosts: MPSSQL\n"
        "    sql:\n"
        "      - database: ResourceManager\n"
        "        add: [{type: P, name: SelectAndAssembleOrgMailStores}]\n"
    )
    paths = LabPaths(tmp_path / "lab")
    options = LabOptions(manifest=labkit.MANIFEST, scenario=scenario, first_address="127.0.123.1")

    prepare_lab(paths, options, labkit.lab_env(cache))
    mps01, dns01, sql = (_state(paths, h) for h in ("MPS01", "DNS01", "MPSSQL"))
    files = {f["path"]: f for f in mps01["files"]}
    products = {p["name"]: p["version"] for p in mps01["products"]}

    assert "C:\\MSIShare\\DNSClient.msi" not in files
    assert files["C:\\MSIShare\\DNSProvider.msi"]["size"] == 4096
    assert files["C:\\MSIShare\\DNSProvider.msi"]["product_version"] is None
    assert files["C:\\MSIShare\\ManagedHelpers.msi"]["product_version"] == "4.0.2300.0"
    assert products["Managed Helpers"] == "4.0.2400.0"
    assert "Service Base" not in products
    assert mps01["complus"][0]["running"] is False
    assert dns01["iis"][0]["default_logon_domain"] == "\\"
    assert dns01["iis"][0]["access_ssl"] is True
    assert {"type": "P", "name": "SelectAndAssembleOrgMailStores", "table": None} in sql["sql"][0]["objects"]


def test_drift_naming_what_a_host_lacks_is_refused(tmp_path: Path, cache: Path) -> None:
    """Drift of a product the host does not have fails lab creation with the key path and the host."""
    scenario = tmp_path / "drift.yml"
    scenario.write_text(
        "drift:\n  - hosts: DNS01\n    products: [{product: DNS Clinet, version: '4.0.1.0'}]\n"
    )
    options = LabOptions(manifest=labkit.MANIFEST, scenario=scenario, first_address="127.0.123.1")

    with pytest.raises(ConfigError) as error:
        prepare_lab(LabPaths(tmp_path / "lab"), options, labkit.lab_env(cache))

    assert str(error.value) == f"{scenario}: drift[0].products[0]: DNS01 has no product 'DNS Clinet'"


# ---- the server's side: the operation id a request is about -------------------------------------


def test_request_hooks_see_the_operation_of_inline_and_stdin_scripts(lab: Lab) -> None:
    """Command carries an inline script's operation; the Send that ends stdin carries the bootstrap's."""
    seen: list[RequestInfo] = []

    def hook(info: RequestInfo) -> None:
        seen.append(info)

    server = lab.start(lab.config(hook=hook))
    protocol = Protocol(
        server.endpoint("COLLAB01").http_url, transport="ntlm", username=DOMAIN_USER, password=PASSWORD
    )
    inline = RemoteCommand(op="lab.inline", params={}, body="exit 0").render()
    large = RemoteCommand(op="lab.large", params={"pad": "x" * 9000}, body="exit 0").render()
    shell = protocol.open_shell()
    first = protocol.run_command(shell, *_split(command_line(inline)))
    protocol.get_command_output(shell, first)
    second = protocol.run_command(shell, *_split(stdin_command()))
    protocol.send_command_input(shell, second, stdin_payload(large), end=True)
    protocol.get_command_output(shell, second)
    protocol.close_shell(shell)
    ops = [(info.action, info.op) for info in seen if info.action is not Action.RECEIVE]
    receives = {info.op for info in seen if info.action is Action.RECEIVE}

    assert ops == [
        (Action.CREATE, None),
        (Action.COMMAND, "lab.inline"),
        (Action.COMMAND, None),
        (Action.SEND, "lab.large"),
        (Action.DELETE, None),
    ]
    assert receives == {"lab.inline", "lab.large"}


def _split(line: tuple[str, tuple[str, ...]]) -> tuple[str, list[str]]:
    return line[0], list(line[1])
