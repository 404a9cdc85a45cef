"""`rollup lab up/state/down` through the CLI, with the lab in a background process and pywinrm as client."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import winrm
from winrm.exceptions import InvalidCredentialsError

from rollup.cli.main import main
from rollup.lab.labdir import DEFAULT_USER, LabPaths, read_pid
from rollup.lab.store import FileStateStore
from rollup.model.manifest import load_manifest

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "manifests" / "hmc40-rollup-2011-01.yml"
HOSTS = ["MPS01", "DNS01", "MPSSQL", "COLLAB01", "COLLAB02", "COLLAB03"]


@pytest.fixture(name="cache_env", scope="module")
def _cache_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The session's MSI cache, and no lab account variables, for the CLI and its lab process."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ROLLUP_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "rollup-cache"))
        patch.delenv("ROLLUP_LAB_USER", raising=False)
        patch.delenv("ROLLUP_LAB_PASSWORD", raising=False)
        yield


def _up(state_dir: Path, *args: str) -> int:
    return main(["lab", "up", "--state-dir", str(state_dir), "--manifest", str(MANIFEST), "--detach", *args])


@pytest.fixture(name="lab", scope="module")
def _lab(tmp_path_factory: pytest.TempPathFactory, cache_env: None) -> Iterator[LabPaths]:
    """`rollup lab up --collab 3 --detach`, stopped with `rollup lab down` after the module's tests."""
    paths = LabPaths(tmp_path_factory.mktemp("cli-lab"))
    code = _up(paths.root, "--collab", "3", "--first-address", "127.0.130.1")
    assert code == 0
    yield paths
    main(["lab", "down", "--state-dir", str(paths.root)])


def _password(paths: LabPaths) -> str:
    """The lab's own password (each lab draws one when it is created)."""
    return paths.password.read_text(encoding="utf-8").strip()


def _session(address: str, password: str) -> winrm.Session:
    return winrm.Session(
        f"http://{address}:5985/wsman",
        auth=(DEFAULT_USER, password),
        transport="ntlm",
        message_encryption="always",
    )


def _addresses(paths: LabPaths) -> dict[str, str]:
    return {h["name"]: h["address"] for h in json.loads(paths.config.read_text())["hosts"]}


def _state(paths: LabPaths, host: str, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["lab", "state", host, "--state-dir", str(paths.root), "--json"]) == 0
    return dict(json.loads(capsys.readouterr().out))


def test_every_host_answers_hostname_over_ntlm_with_encryption(lab: LabPaths) -> None:
    """Unmodified pywinrm, NTLM with message encryption, runs `hostname` on every host and gets its name."""
    addresses = _addresses(lab)

    password = _password(lab)
    names = {name: _session(where, password).run_cmd("hostname").std_out for name, where in addresses.items()}

    assert list(addresses) == HOSTS
    assert names == {name: f"{name}\r\n".encode() for name in HOSTS}
    assert addresses["MPS01"] == "127.0.130.1"
    assert read_pid(lab) is not None


def test_a_wrong_password_is_refused_as_windows_refuses_it(lab: LabPaths) -> None:
    """A wrong password raises pywinrm's InvalidCredentialsError."""
    with pytest.raises(InvalidCredentialsError):
        _session("127.0.130.2", password="not-the-password").run_cmd("hostname")


def test_a_command_line_over_8191_characters_fails_as_cmd_fails(lab: LabPaths) -> None:
    """A 9,000-character command line reaches cmd.exe, which refuses it with exit code 1."""
    result = _session("127.0.130.4", _password(lab)).run_cmd("echo " + "x" * 8995)

    assert (result.status_code, result.std_out, result.std_err) == (
        1,
        b"",
        b"The command line is too long.\r\n",
    )


def test_lab_state_shows_the_prerollup_state_from_real_msis(
    lab: LabPaths, capsys: pytest.CaptureFixture[str]
) -> None:
    """MSIShare holds the previous builds; C:\\temp\\KB2492954 and DIR/package the KB-size rollup builds."""
    manifest = load_manifest(MANIFEST)
    mps01 = _state(lab, "MPS01", capsys)
    collab = _state(lab, "collab02", capsys)
    files = {f["path"]: f for f in mps01["files"]}
    share = [f for path, f in files.items() if path.startswith("C:\\MSIShare\\")]
    downloaded = {
        path.rsplit("\\", 1)[1]: f for path, f in files.items() if path.startswith("C:\\temp\\KB2492954\\")
    }
    package = {p.name: p.stat().st_size for p in lab.package.iterdir()}
    kb_sizes = {f.name: f.size_bytes for f in manifest.package.files}

    assert len(share) == 21
    assert {f["product_version"] for f in share} == {"4.0.2379.0"}
    assert {name: f["size"] for name, f in downloaded.items()} == kb_sizes == package
    assert {f["product_version"] for f in downloaded.values()} == {"4.0.2491.0"}
    assert mps01["roles"] == ["deployment_tool", "mps_engine", "web_services"]
    assert mps01["complus"][0]["name"] == "Provisioning Engine"
    assert [p["name"] for p in collab["products"]] == ["Windows SharePoint Services Web Service"]
    assert (collab["mutations"], collab["pending_reboot"]) == (0, [])


def test_lab_state_text_names_each_section(lab: LabPaths, capsys: pytest.CaptureFixture[str]) -> None:
    """Without --json, `lab state` prints files, products, IIS, COM+, SQL, reboot and operations."""
    capsys.readouterr()
    code = main(["lab", "state", "DNS01", "--state-dir", str(lab.root)])
    out = capsys.readouterr().out

    assert code == 0
    assert out.startswith("DNS01: dns\n")
    sections = [
        "Files (2):",  # the DNS Client's DLL and its configuration
        "Installed products (1):",
        "IIS virtual directories:",
        "COM+ applications: none",
    ]
    sections += ["SQL objects: none", "Pending reboot: no", "Operations received:"]
    assert [section in out for section in sections] == [True] * len(sections)
    assert 'Default Web Site/DNSProvider: default logon domain "", SSL required no, Basic yes' in out


def test_lab_release_lifts_held_faults_while_the_lab_runs(
    lab: LabPaths, capsys: pytest.CaptureFixture[str]
) -> None:
    """`lab release` clears locked files, full disks and the installer mutex; an unknown path is exit 2."""
    store = FileStateStore(lab.hosts, HOSTS)
    with store.update("COLLAB03") as state:
        state.locked_files = ["C:\\temp\\a.msi", "C:\\temp\\b.msi"]
        state.disk_full_paths = ["C:\\temp"]
        state.installer_busy_until = 4102444800.0
    capsys.readouterr()

    one = main(["lab", "release", "COLLAB03", "--state-dir", str(lab.root), "--path", "c:/TEMP/a.msi"])
    one_out = capsys.readouterr().out
    rest = main(["lab", "release", "COLLAB03", "--state-dir", str(lab.root)])
    rest_out = capsys.readouterr().out
    missing = main(["lab", "release", "COLLAB03", "--state-dir", str(lab.root), "--path", "C:\\nothing"])
    missing_err = capsys.readouterr().err
    after = store.read("COLLAB03")

    assert (one, one_out) == (0, "COLLAB03: released locked files: C:\\temp\\a.msi\n")
    assert rest == 0
    assert rest_out == (
        "COLLAB03: released locked files: C:\\temp\\b.msi; disk full paths: C:\\temp; the installer mutex\n"
    )
    assert (missing, missing_err) == (
        2,
        "rollup: COLLAB03: C:\\nothing is neither locked nor on a full disk\n",
    )
    assert (after.locked_files, after.disk_full_paths, after.installer_busy_until) == ([], [], None)
    assert after.mutations == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["lab", "state", "WEB01", "--state-dir", "{lab}"],
            "rollup: no host 'WEB01' in the lab (its hosts: ",
        ),
        (["lab", "state", "MPS01", "--state-dir", "{empty}"], "rollup: {empty}: no lab here (no lab.json); "),
        (["lab", "down", "--state-dir", "{empty}"], "rollup: {empty}: no lab here (no lab.json); "),
        (
            ["lab", "up", "--state-dir", "{lab}", "--detach"],
            "rollup: {lab}: a lab is already running here (pid ",
        ),
        (
            ["lab", "up", "--state-dir", "{file}/lab"],
            "rollup: {file}/lab: cannot create the lab's directory: ",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    lab: LabPaths, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    """Unknown host, no lab in DIR, a lab already running, a DIR that cannot be made: one line, exit 2."""
    (tmp_path / "file").write_text("not a directory")
    places = {"lab": str(lab.root), "empty": str(tmp_path), "file": str(tmp_path / "file")}
    capsys.readouterr()

    code = main([arg.format(**places) for arg in args])
    err = capsys.readouterr().err

    assert code == 2
    assert err.startswith(message.format(**places))
    assert err.count("\n") == 1


def test_scenario_errors_stop_lab_up_with_the_key_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], cache_env: None
) -> None:
    """A scenario with an unknown key, or a glob matching no host, stops `lab up` with one line."""
    unknown = tmp_path / "unknown.yml"
    unknown.write_text("faults:\n  - {kind: reset, nth: 1, hosts: MPS01, prob: 0.5}\n")
    glob = tmp_path / "glob.yml"
    glob.write_text("faults:\n  - {kind: reset, nth: 1, hosts: 'WEB*'}\n")

    first = _up(tmp_path / "a", "--scenario", str(unknown))
    first_err = capsys.readouterr().err
    second = _up(tmp_path / "b", "--scenario", str(glob), "--first-address", "127.0.131.1")
    second_err = capsys.readouterr().err

    assert (first, first_err) == (2, f"rollup: {unknown}: faults[0].prob: unknown key\n")
    assert (second, second_err) == (
        2,
        f"rollup: {glob}: faults[0].hosts: 'WEB*' matches no host of the lab\n",
    )
    assert not (tmp_path / "b" / "lab.json").exists()


def test_a_change_survives_down_and_up_and_a_stale_pid_file_is_cleaned(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], cache_env: None
) -> None:
    """An install over WinRM stays after `down` and `up`; `down` reports and removes a stale pid file."""
    paths = LabPaths(tmp_path / "lab")
    assert _up(paths.root, "--collab", "1", "--first-address", "127.0.132.1", "--time-factor", "0") == 0
    install = _inline_op(
        "msi.install", path="C:\\temp\\KB2492954\\HostedEmail2007NS.msi", log="C:\\temp\\he.log"
    )
    changed = _session("127.0.132.1", _password(paths)).run_cmd(*install)
    assert main(["lab", "down", "--state-dir", str(paths.root)]) == 0
    refused = _refused("127.0.132.1")
    assert _up(paths.root) == 0
    after = _state(paths, "MPS01", capsys)
    assert main(["lab", "down", "--state-dir", str(paths.root)]) == 0
    capsys.readouterr()
    paths.pid.write_text("999999\n")

    stale = main(["lab", "down", "--state-dir", str(paths.root)])
    out = capsys.readouterr().out

    assert changed.status_code == 0
    assert refused
    assert {p["name"]: p["version"] for p in after["products"]}["Hosted Email 2007 Namespace"] == "4.0.2491.0"
    assert (after["operations"], after["mutations"]) == (["msi.install"], 1)
    assert stale == 0
    assert out == f"{paths.root}: the lab was not running; removed a stale pid file (pid 999999).\n"
    assert not paths.pid.exists()


def _inline_op(op_id: str, **params: Any) -> tuple[str, list[str]]:
    from rollup.ops.registry import operation
    from rollup.ps.delivery import command_line

    definition = operation(op_id)
    assert definition is not None
    command, arguments = command_line(definition.command(definition.params(**params)).render())
    return command, list(arguments)


def _refused(address: str) -> bool:
    try:
        socket.create_connection((address, 5985), timeout=1.0).close()
    except ConnectionRefusedError:
        return True
    return False


def test_without_detach_the_lab_serves_until_ctrl_c(tmp_path: Path, cache_env: None) -> None:
    """In the foreground `lab up` prints the endpoint table, serves, and stops cleanly on Ctrl-C."""
    state_dir = tmp_path / "lab"
    command = [sys.executable, "-m", "rollup", "lab", "up", "--state-dir", str(state_dir), "--collab", "1",
               "--first-address", "127.0.133.1", "--manifest", str(MANIFEST)]  # fmt: skip
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ)
    )
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if line.startswith("Serving"):
            break
    answer = _session("127.0.133.4", _password(LabPaths(state_dir))).run_cmd("hostname")
    # A client holding an idle keep-alive connection while the lab stops must not make it
    # print a traceback.
    with socket.create_connection(("127.0.133.1", 5985), timeout=5.0):
        time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)

    assert lines[0].split() == ["HOST", "ROLES", "ADDRESS", "HTTP", "HTTPS"]
    assert lines[1].split() == [
        "MPS01",
        "deployment_tool,mps_engine,web_services",
        "127.0.133.1",
        "5985",
        "5986",
    ]
    assert answer.std_out == b"COLLAB01\r\n"
    assert (process.returncode, out, err) == (0, "The lab has stopped.\n", "")
    assert not (state_dir / "lab.pid").exists()
