"""
``rollup preflight`` against the simulated lab over HTTP (real pywinrm, NTLM): a ready lab passes,
each condition that would break a rollout is detected and named on its host, a wrong password
is a failed check rather than a crash, and nothing on any host changes.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from rollup.checks import CONTROL_HOST, Report, Status
from rollup.cli.main import main
from rollup.errors import ExitCode
from rollup.lab.prerollup import CONFIG_SHARE
from rollup.lab.state import HostState, path_key
from rollup.preflight import run_preflight
from rollup.transport.base import default_registry
from tests.integration.test_verify_lab import (  # noqa: F401 - _fleet is the fleet fixture
    PASSWORD,
    PASSWORD_ENV,
    Fleet,
    HttpLab,
    _fleet,
    serving,
)


def preflight(lab: HttpLab, fleet: Fleet, package: Path | None) -> Report:
    """Pre-flight of the whole lab with the pinned manifest."""
    return run_preflight(
        fleet.manifest,
        lab.inventory,
        transports=default_registry(),
        credentials=lab.credentials(),
        package_dir=package,
    )


def failures(report: Report) -> dict[tuple[str, str], Status]:
    """``(host, check) -> status`` of every check that did not pass."""
    return {(h.host, c.name): c.status for h, c in report.checks() if c.status is not Status.OK}


def by_name(states: list[HostState]) -> dict[str, HostState]:
    return {s.name: s for s in states}


def test_a_ready_lab_passes_and_nothing_changes(fleet: Fleet, tmp_path: Path) -> None:
    """The pre-rollup lab with the package at hand passes every check; each host ran two read-only scripts."""
    with serving(fleet.fresh(), fleet.blobs, tmp_path) as lab:
        report = preflight(lab, fleet, fleet.package)
        mutations = lab.mutations()
        operations = {name: lab.state(name).operations for name in lab.store.names()}

    assert failures(report) == {}
    assert report.exit_code == ExitCode.OK
    assert [h.host for h in report.hosts] == [
        CONTROL_HOST,
        "MPS01",
        "DNS01",
        "MPSSQL",
        "COLLAB01",
        "COLLAB02",
    ]
    assert len(report.hosts[0].checks) == 22
    assert mutations == dict.fromkeys(mutations, 0)
    assert operations == {name: ["host.facts", "verify.facts"] for name in operations}


def test_each_preflight_failure_is_detected_and_named(fleet: Fleet, tmp_path: Path) -> None:
    """Low disk, a pending reboot, a busy installer, no Domain Admin, no Deployment Tool: each on its host."""
    states = by_name(fleet.fresh())
    states["COLLAB01"].disk_free_bytes = 200 * 1024**2
    states["DNS01"].pending_reboot = ["PendingFileRenameOperations"]
    states["MPSSQL"].installer_busy_until = time.time() + 3600
    states["COLLAB02"].domain_admins = []
    tool = states["MPS01"]
    tool.products = {k: p for k, p in tool.products.items() if "Deployment Tool" not in p.display_name}
    del tool.files[path_key(f"{CONFIG_SHARE}\\Config\\MpsConfig.xml")]

    with serving(list(states.values()), fleet.blobs, tmp_path) as lab:
        report = preflight(lab, fleet, fleet.package)
        mutations = lab.mutations()

    assert failures(report) == {
        ("COLLAB01", "free space on C:"): Status.FAIL,
        ("DNS01", "pending reboot"): Status.FAIL,
        ("MPSSQL", "Windows Installer"): Status.FAIL,
        ("COLLAB02", "Domain Admins"): Status.FAIL,
        ("MPS01", "Deployment Tool"): Status.FAIL,
    }
    actual = {(h.host, c.name): c.actual for h, c in report.checks()}
    assert actual[("COLLAB01", "free space on C:")] == "0.2 GB"
    assert actual[("DNS01", "pending reboot")] == "PendingFileRenameOperations"
    assert actual[("COLLAB02", "Domain Admins")] == "HOSTING\\rollup-lab: not a member"
    assert report.exit_code == ExitCode.RUN_FAILED
    assert mutations == dict.fromkeys(mutations, 0)


def test_a_wrong_password_fails_the_session_check_of_every_host(fleet: Fleet, tmp_path: Path) -> None:
    """Credentials the hosts refuse are each host's failed WinRM check, with the 401 named; no crash."""
    with serving(fleet.fresh(), fleet.blobs, tmp_path, password="not-" + PASSWORD) as lab:
        report = preflight(lab, fleet, fleet.package)

    sessions = {h.host: h.checks for h in report.hosts if h.host != CONTROL_HOST}
    assert all(len(checks) == 1 for checks in sessions.values())
    assert {checks[0].status for checks in sessions.values()} == {Status.FAIL}
    assert all("refused the credentials" in checks[0].actual for checks in sessions.values())
    assert all("HTTP 401" in checks[0].actual for checks in sessions.values())
    assert report.exit_code == ExitCode.RUN_FAILED


def test_a_missing_package_folder_fails_on_the_control_host(fleet: Fleet, tmp_path: Path) -> None:
    """With no package folder the control host's check fails, and the hosts are still checked."""
    with serving(fleet.fresh(), fleet.blobs, tmp_path) as lab:
        report = preflight(lab, fleet, None)

    assert failures(report) == {(CONTROL_HOST, "package folder"): Status.FAIL}


def test_the_preflight_command_passes_on_a_ready_lab(
    fleet: Fleet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``rollup preflight --json --package-dir DIR`` over HTTP exits 0 on the ready lab."""
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)

    with serving(fleet.fresh(), fleet.blobs, tmp_path) as lab:
        inventory = lab.inventory_file(tmp_path)
        code = main([
            "preflight", "-i", str(inventory), "-m", str(fleet.manifest_path),
            "--package-dir", str(fleet.package), "--json", "--min-free-gb", "2",
        ])  # fmt: skip

    document = json.loads(capsys.readouterr().out)
    assert code == ExitCode.OK
    assert document["kind"] == "preflight"
    assert document["summary"]["fail"] == 0
    assert document["summary"]["hosts"] == 6
