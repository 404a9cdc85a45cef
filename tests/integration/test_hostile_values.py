"""
Hostile values through the real CLI: refused when they come from the operator's files, carried as
inert data when they come from a host.

- An inventory whose host names or values carry quotes, ``;``, ``$(...)``, backticks or line
  breaks, and a manifest whose file names carry ``..`` or path separators, are refused by
  ``rollup apply`` with exit 2 and one line naming the file and the key, before any host is
  contacted and without creating a run. (``tests/unit/test_inventory_errors.py`` and
  ``test_manifest_errors.py`` hold the loader's exact lines; these go through the command.)
- A host that reports hostile text, PowerShell and cmd.exe metacharacters, quotes, backticks,
  line breaks, Rich markup and non-ASCII, in an IIS setting (a scenario's drift) and in the
  version of an installed product (which then also fills a failed msiexec's log), is read, shown,
  journaled and audited as data: the run fails and resumes as it would with plain text, the audit
  chain verifies, every console line stays one line with the text shown escaped, and the text
  never steers where a file goes on the host.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from rollup.engine.journal import read_journal, replay
from rollup.engine.rundir import RunDir, list_runs
from rollup.lab.store import FileStateStore
from rollup.testing.labproc import ROOT, LabProcess

GATE = "confirm-prerequisites"

INVENTORY = """\
all:
  vars:
    rollup_user: HOSTING\\svc-rollup
    rollup_password: {env: ROLLUP_HOSTILE_PASSWORD}
    rollup_package_dir: package
  children:
    deployment_tool:
      hosts:
        MPS01: {address: 192.0.2.11}
    mps_engine:
      hosts:
        MPS01:
    dns:
      hosts:
        DNS01: {address: 192.0.2.21}
    mpssql:
      hosts:
        MPSSQL: {address: 192.0.2.22}
    collab:
      hosts:
        COLLAB01: {address: 192.0.2.31}
"""
HOST = "COLLAB01: {address: 192.0.2.31}"
ADDRESS = "192.0.2.31"
USER = "HOSTING\\svc-rollup"
NAME_RULE = (
    "not a valid host name (letters, digits and hyphens, in dot-separated labels of at most 63 characters)"
)
CONTROL = "the value contains a control character or a line break"
USER_RULE = 'must be a Windows user name (DOMAIN\\user or user@domain; none of "/[]:;|=,+*?<>)'

INVENTORY_CASES: list[tuple[str, str, str, str]] = [
    # (what, replaced, replacement as YAML, the key and problem rollup names)
    ("double quote in a host name", HOST, "'COLLAB\"01': {address: 192.0.2.31}",
     f'all.children.collab.hosts."COLLAB\\"01": {NAME_RULE}'),
    ("semicolon in a host name", HOST, "'COLLAB01;calc': {address: 192.0.2.31}",
     f'all.children.collab.hosts."COLLAB01;calc": {NAME_RULE}'),
    ("subexpression in a host name", HOST, "'CO$(calc)': {address: 192.0.2.31}",
     f'all.children.collab.hosts."CO$(calc)": {NAME_RULE}'),
    ("backticks in a host name", HOST, "'CO`whoami`': {address: 192.0.2.31}",
     f'all.children.collab.hosts."CO`whoami`": {NAME_RULE}'),
    ("line break in a host name", HOST, '"CO\\nLLAB01": {address: 192.0.2.31}',
     'all.children.collab.hosts."CO\\nLLAB01": the name contains a control character or a line break'),
    ("semicolon in an address", ADDRESS, "'192.0.2.31; calc'",
     "all.children.collab.hosts.COLLAB01.address: must be an IP address or a DNS name"),
    ("subexpression in an address", ADDRESS, "'$(Remove-Item C:\\ -Recurse)'",
     "all.children.collab.hosts.COLLAB01.address: must be an IP address or a DNS name"),
    ("backticks and quotes in an address", ADDRESS, "'\"`whoami`\".example'",
     "all.children.collab.hosts.COLLAB01.address: must be an IP address or a DNS name"),
    ("line break in an address", ADDRESS, '"192.0.2.31\\n10.0.0.1"',
     f"all.children.collab.hosts.COLLAB01.address: {CONTROL}"),
    ("double quote in the user", USER, "'HOSTING\\svc\"rollup'", f"all.vars.rollup_user: {USER_RULE}"),
    ("semicolon in the user", USER, "'HOSTING\\svc;rollup'", f"all.vars.rollup_user: {USER_RULE}"),
    ("line break in the user", USER, '"HOSTING\\\\svc\\nrollup"', f"all.vars.rollup_user: {CONTROL}"),
    ("line break in the package folder", "rollup_package_dir: package",
     'rollup_package_dir: "package\\n$(calc)"', f"all.vars.rollup_package_dir: {CONTROL}"),
]  # fmt: skip

MANIFEST = ROOT / "manifests" / "hmc40-rollup-2011-01.yml"
_STEPS = {
    step["id"]: n for n, step in enumerate(yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))["steps"])
}
MANIFEST_CASES: list[tuple[str, str, str, str]] = [
    # (what, key path to set, value, the key and problem rollup names)
    ("dot-dot and backslashes in a file name", "package.files.0.name", "..\\..\\Windows\\DNSClient.msi",
     "package.files[0].name: must be a file name, not a path (no / or \\)"),
    ("a slash in a file name", "package.files.0.name", "../DNSClient.msi",
     "package.files[0].name: must be a file name, not a path (no / or \\)"),
    ("a file named ..", "package.files.0.name", "..", "package.files[0].name: must not contain '..'"),
    ("a separator in a component's package", "components.0.msi", "sub\\HostedSharePoint2007NS.msi",
     "components[0].msi: must be a file name, not a path (no / or \\)"),
    ("a separator in a step's file list", f"steps.{_STEPS['backup-msishare']}.files.0",
     "..\\HostedSharePoint2007NS.msi",
     f"steps[{_STEPS['backup-msishare']}].files[0]: must be a file name, not a path (no / or \\)"),
    ("dot-dot in a step's folder", f"steps.{_STEPS['transfer-dnsclient']}.to_dir", "C:\\temp\\..\\Windows",
     f"steps[{_STEPS['transfer-dnsclient']}].to_dir: folder name '..' must not contain '..'"),
]  # fmt: skip


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ROLLUP_HOSTILE_PASSWORD": "x"}
    return subprocess.run(
        [sys.executable, "-m", "rollup", *args],
        cwd=ROOT, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def _refusals(tmp_path: Path, cases: list[tuple[str, list[str], str]]) -> tuple[list[str], list[str]]:
    """Run each ``(name, apply arguments, expected line)``, four at a time; what came out and what should."""
    runs = tmp_path / "runs"

    def one(case: tuple[str, list[str], str]) -> str:
        name, args, _ = case
        done = _cli("apply", *args, "--runs-dir", str(runs))
        created = sorted(p.name for p in runs.iterdir()) if runs.exists() else []
        return (
            f"{name}: exit {done.returncode}, stdout {done.stdout!r}, stderr {done.stderr!r}, runs {created}"
        )

    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(one, cases))
    wanted = [
        f"{name}: exit 2, stdout '', stderr {f'rollup: {line}' + chr(10)!r}, runs []"
        for name, _, line in cases
    ]
    return got, wanted


def test_hostile_inventories_are_refused_with_one_line_naming_the_key(tmp_path: Path) -> None:
    """Quotes, `;`, `$(...)`, backticks and line breaks in host names and values: exit 2, one line."""
    cases = []
    for n, (name, old, new, problem) in enumerate(INVENTORY_CASES):
        assert old in INVENTORY, old
        path = tmp_path / f"inventory{n}.yml"
        path.write_text(INVENTORY.replace(old, new, 1), encoding="utf-8")
        cases.append((name, ["--inventory", str(path)], f"{path}: {problem}"))

    got, wanted = _refusals(tmp_path, cases)

    assert got == wanted


def _set(data: Any, dotted: str, value: str) -> None:
    *parents, last = dotted.split(".")
    for key in parents:
        data = data[int(key)] if isinstance(data, list) else data[key]
    data[int(last) if isinstance(data, list) else last] = value


def test_manifests_with_paths_for_file_names_are_refused_with_one_line_naming_the_key(tmp_path: Path) -> None:
    """A copy of the manifest with `..` or separators in a file name or folder: exit 2, one line."""
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(INVENTORY, encoding="utf-8")
    original = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    cases = []
    for n, (name, dotted, value, problem) in enumerate(MANIFEST_CASES):
        data = copy.deepcopy(original)
        _set(data, dotted, value)
        path = tmp_path / f"manifest{n}.yml"
        path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
        cases.append((name, ["--inventory", str(inventory), "--manifest", str(path)], f"{path}: {problem}"))

    got, wanted = _refusals(tmp_path, cases)

    assert got == wanted


# ---- a host that reports hostile text ------------------------------------------------------------

PAYLOAD = (
    "$(Remove-Item C:\\ -Recurse); & del /s /q C:\\* | \"dq\" 'sq' `whoami` "
    + "%PATH% [bold red]x[/] \u00e9\u2019\u00fc"
)
"""PowerShell, cmd.exe and Rich metacharacters, quotes, backticks and non-ASCII: one line."""
VERSION = "4.0.2400.0\r\n" + PAYLOAD + "\nMSI (s) (D8:9C) [12:00:00:000]: Product: forged line"
"""The old build's DisplayVersion as the host reports it: the payload on lines of its own."""
WSS = "Windows SharePoint Services Web Service"


@dataclass(frozen=True, slots=True)
class Hostile:
    lab: LabProcess
    run: RunDir
    dry: subprocess.CompletedProcess[str]
    failed: subprocess.CompletedProcess[str]
    resumed: subprocess.CompletedProcess[str]
    verified: subprocess.CompletedProcess[str]


@pytest.fixture(name="hostile", scope="module")
def _hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hostile]:
    scenario = {
        "faults": [
            {"kind": "exit_code", "hosts": ["COLLAB01"], "op": "msi.uninstall", "nth": 1, "code": 1603}
        ],
        "drift": [{"hosts": ["DNS01"], "iis": [{"vdir": "DNSProvider", "default_logon_domain": PAYLOAD}]}],
    }
    lab = LabProcess.start(
        tmp_path_factory.mktemp("hostile"), collab=1, first_address="127.0.93.1", scenario=scenario
    )
    try:
        # Windows keeps any text in DisplayVersion (REG_SZ); the drift grammar has no way to say so.
        store = FileStateStore(lab.state_dir / "hosts", lab.hosts())
        with store.update("COLLAB01") as state:
            (old,) = [p for p in state.products.values() if p.display_name == WSS]
            old.display_version = VERSION
        dry = lab.apply("--dry-run")
        failed = lab.apply("--confirm", GATE)
        (run,) = list_runs(lab.runs_dir)
        resumed = lab.apply("--resume", run.run_id)
        verified = lab.rollup("audit", "verify", run.run_id, "--runs-dir", str(lab.runs_dir))
        yield Hostile(lab, run, dry, failed, resumed, verified)
    finally:
        lab.stop()


def _records(run: RunDir) -> list[dict[str, Any]]:
    return [json.loads(line) for line in run.audit_path.read_text(encoding="utf-8").splitlines()]


def test_the_run_fails_resumes_and_verifies_as_with_plain_text(hostile: Hostile) -> None:
    """1603 on the uninstall, then done on --resume; the chain verifies; the journal replays."""
    state = replay(read_journal(hostile.run.journal_path).entries)

    assert hostile.dry.returncode == 0, hostile.dry.stdout + hostile.dry.stderr
    assert hostile.failed.returncode == 1, hostile.failed.stdout + hostile.failed.stderr
    assert hostile.resumed.returncode == 0, hostile.resumed.stdout + hostile.resumed.stderr
    assert hostile.verified.returncode == 0, hostile.verified.stdout
    assert state.status("uninstall-old-wss-web-service@COLLAB01").value == "done"
    assert state.status("dnsprovider-directory-security@DNS01").value == "done"
    assert [p["version"] for p in hostile.lab.state("COLLAB01")["products"] if p["name"] == WSS] == [
        "4.0.2491.0"
    ]
    assert hostile.lab.state("DNS01")["iis"][0]["default_logon_domain"] == "\\"


def test_the_audit_log_and_journal_carry_the_host_text_exactly(hostile: Hostile) -> None:
    """What the host said is data in the records: the exact text, as JSON, in the right fields."""
    records = _records(hostile.run)
    finished = {(r["step"], r["outcome"]): r["summary"] for r in records if r["event"] == "step_finished"}
    journal = hostile.run.journal_path.read_text(encoding="utf-8")

    assert VERSION in finished["uninstall-old-wss-web-service@COLLAB01", "failed"]
    assert VERSION in finished["uninstall-old-wss-web-service@COLLAB01", "done"]
    assert json.dumps(VERSION)[1:-1] in journal
    assert all("\n" not in line for line in hostile.run.audit_path.read_text(encoding="utf-8").splitlines())


def _console(done: subprocess.CompletedProcess[str]) -> list[str]:
    return (done.stdout + done.stderr).splitlines()


def test_console_lines_stay_one_line_with_the_text_escaped(hostile: Hostile) -> None:
    """No line break of the host's text reaches the console; its other characters appear literally."""
    shown = VERSION.replace("\r", "\\r").replace("\n", "\\n")
    forged = [
        line
        for done in (hostile.dry, hostile.failed, hostile.resumed)
        for line in _console(done)
        if line.startswith(("MSI (s) (D8:9C) [12:00:00:000]: Product: forged", PAYLOAD))
    ]
    failed, resumed = "\n".join(_console(hostile.failed)), "\n".join(_console(hostile.resumed))

    assert forged == []
    assert shown in failed
    assert shown in resumed
    assert "[bold red]x[/]" in hostile.dry.stdout
    assert "`whoami`" in hostile.dry.stdout
    assert f"first: COLLAB01: removing {WSS} {shown}" in hostile.failed.stderr
    assert len(hostile.failed.stderr.splitlines()) == 2, hostile.failed.stderr


_WINDOWS_NAME = re.compile(r'^[^<>:"/\\|?*\x00-\x1f]+$')


def test_the_host_text_never_chooses_where_files_go(hostile: Hostile) -> None:
    """Every msiexec log of the run lies directly in the run's folder, under a valid Windows file name."""
    folder = f"c:\\temp\\rollup\\{hostile.run.run_id}\\".lower()
    logs = [f["path"] for f in hostile.lab.state("COLLAB01")["files"] if f["path"].lower().startswith(folder)]

    assert logs
    assert all(_WINDOWS_NAME.match(path[len(folder) :]) for path in logs), logs
