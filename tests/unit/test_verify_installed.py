"""
Verify's installed-file checks against crafted facts: "or later" versions, unversioned files by
size and SHA-256, missing and unreadable files, components not installed on a host, a shared
file checked once, not-pinned components, and the table's summary line per component.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from rollup.checks import Status
from rollup.cli.report import shown
from rollup.errors import ManifestError
from rollup.load import read_yaml
from rollup.model.manifest import Manifest, load_manifest, parse_manifest
from rollup.model.roles import Role
from rollup.ops.installed import InstalledStat
from rollup.ops.products import InstalledEntry
from rollup.ops.verify import FACTS, Unreadable, VerifyFacts
from rollup.ps.delivery import fits_command_line
from rollup.testing.fleet import fleet_inventory, fleet_roles
from rollup.verify import verify_params
from rollup.verify_installed import expected_files, file_check, installed_checks, summary_line

MANIFEST = Path(__file__).resolve().parents[2] / "manifests" / "hmc40-rollup-2011-01.yml"
VERSION = "4.0.2491.0"
ROOT = "[ProgramFilesFolder]Microsoft Hosting\\Provisioning"
SHARED = f"{ROOT}\\Shared\\Common.dll"
HOSTS = {h.name: h for h in fleet_inventory(fleet_roles(1)).hosts}


def dll(stem: str) -> str:
    return f"{ROOT}\\{stem}\\Microsoft.Provisioning.{stem}.dll"


def config_sha(stem: str) -> str:
    return hashlib.sha256(stem.encode()).hexdigest()


def pinned_with_files() -> Manifest:
    """Every package pinned with two installed files (a DLL, its config); the *WS packages share one DLL."""
    data = read_yaml(MANIFEST, error=ManifestError)
    for i, f in enumerate(data["package"]["files"]):
        stem = f["name"].removesuffix(".msi")
        component = f"{{{i:08X}-0000-4000-8000-{i:012X}}}"
        f["sha256"] = hashlib.sha256(f["name"].encode()).hexdigest()
        f["product_code"] = f"{{{i:08X}-1111-4000-8000-{i:012X}}}"
        f["product_version"] = VERSION
        f["installs"] = [
            {"path": dll(stem), "component": component, "size_bytes": 1536, "version": VERSION},
            {
                "path": dll(stem) + ".config",
                "component": component,
                "size_bytes": 200,
                "sha256": config_sha(stem),
            },
        ]
        if stem.endswith("WS"):
            shared = {
                "path": SHARED,
                "component": "{EEEEEEEE-0000-4000-8000-000000000000}",
                "size_bytes": 1536,
            }
            f["installs"].append({**shared, "version": VERSION})
    return parse_manifest(data, source="pinned.yml")


PINNED = pinned_with_files()
COLLAB = [("SharePoint 2007 Provider Web Services", "WindowsSharePointServicesWebService.msi")]
WSS = "WindowsSharePointServicesWebService"


def stats(paths: dict[str, tuple[str | None, int, str | None]]) -> tuple[InstalledStat, ...]:
    """``path -> (version, size, sha256)`` as read on a host (resolved under C:\\Program Files)."""
    return tuple(
        InstalledStat(path=p, file=p.replace("[ProgramFilesFolder]", "C:\\Program Files\\"), exists=True,
                      version=v, size=s, sha256=h)
        for p, (v, s, h) in paths.items()
    )  # fmt: skip


def collab_facts(version: str | None = VERSION, *, size: int = 200, sha: str | None = None) -> VerifyFacts:
    found = {dll(WSS): (version, 1536, None), dll(WSS) + ".config": (None, size, sha or config_sha(WSS))}
    return VerifyFacts(installed=stats(found))


@pytest.mark.parametrize(
    ("found", "status", "detail"),
    [
        (VERSION, Status.OK, ""),
        ("4.0.2491", Status.OK, ""),
        ("4.0.2491.1", Status.OK, "later than the package's 4.0.2491.0: compliant"),
        ("4.1.0.0", Status.OK, "later than the package's 4.0.2491.0: compliant"),
        ("4.0.2490.9", Status.DRIFT, "older than the package's 4.0.2491.0"),
        ("4.0.2379.0", Status.DRIFT, "older than the package's 4.0.2491.0"),
        ("3.9.9999.9", Status.DRIFT, "older than the package's 4.0.2491.0"),
        (None, Status.DRIFT, "not the versioned file SharePoint 2007 Provider Web Services installs"),
    ],
)
def test_a_versioned_file_is_ok_at_the_package_s_version_or_later(
    found: str | None, status: Status, detail: str
) -> None:
    checks = installed_checks(PINNED, COLLAB, None, collab_facts(found))

    (check,) = [c for c in checks if c.name.endswith(".dll")]
    assert (check.status, check.detail) == (status, detail)
    assert check.expected == f"version {VERSION} or later"
    assert check.actual == (f"version {found}" if found else "no version resource")
    assert (
        check.name
        == f"C:\\Program Files\\Microsoft Hosting\\Provisioning\\{WSS}\\Microsoft.Provisioning.{WSS}.dll"
    )
    assert check.part_of == "SharePoint 2007 Provider Web Services"


@pytest.mark.parametrize(
    ("size", "sha", "status", "why"),
    [
        (200, None, Status.OK, ""),
        (201, None, Status.DRIFT, "in size ("),
        (200, "00" * 32, Status.DRIFT, "in SHA-256 ("),
        (10, "00" * 32, Status.DRIFT, "in size and SHA-256 ("),
    ],
)
def test_an_unversioned_file_is_compared_by_size_and_sha256(
    size: int, sha: str | None, status: Status, why: str
) -> None:
    checks = installed_checks(PINNED, COLLAB, None, collab_facts(size=size, sha=sha))

    (check,) = [c for c in checks if c.name.endswith(".config")]
    assert check.status is status
    assert why in check.detail
    assert check.expected == f"200 bytes, SHA-256 {config_sha(WSS)[:16]}..."


def test_a_missing_file_drifts_and_an_unreadable_one_is_an_error() -> None:
    (expected, config) = expected_files(PINNED, COLLAB)

    missing = file_check(expected, None)
    gone = file_check(expected, InstalledStat(path=expected.file.path, file="C:\\x.dll", exists=False))
    busy = InstalledStat(path=config.file.path, file="C:\\x.config", exists=True, size=200,
                         error="The process cannot access the file")  # fmt: skip
    locked = file_check(config, busy)

    assert (missing.status, missing.actual, missing.name) == (Status.DRIFT, "missing", expected.file.path)
    assert (gone.status, gone.actual, gone.name) == (Status.DRIFT, "missing", "C:\\x.dll")
    assert (locked.status, locked.actual) == (Status.ERROR, "unreadable")
    assert "The process cannot access the file" in locked.detail


def test_files_the_host_could_not_read_are_one_error() -> None:
    checks = installed_checks(PINNED, COLLAB, None, VerifyFacts(installed=Unreadable("Access is denied")))

    assert [(c.name, c.status, c.actual) for c in checks] == [
        ("installed files", Status.ERROR, "Access is denied")
    ]


def test_only_the_components_installed_on_the_host_are_checked() -> None:
    """A Deployment Tool component not on this host: its files are not read (its product check tells)."""
    components = [("Hosted Email 2007 Web Services", "HostedEmail2007WS.msi"),
                  ("Managed Email2007 Web Services", "ManagedEmail2007WS.msi")]  # fmt: skip
    facts = VerifyFacts(installed=stats({dll("ManagedEmail2007WS"): (VERSION, 1536, None)}))

    checks = installed_checks(PINNED, components, {"Managed Email2007 Web Services"}, facts)

    assert {c.part_of for c in checks} == {"Managed Email2007 Web Services"}
    assert len(checks) == 3  # its DLL, its config and the shared DLL


def test_a_shared_file_is_checked_once_under_the_first_component() -> None:
    components = [("Hosted Email 2007 Web Services", "HostedEmail2007WS.msi"),
                  ("Managed Email2007 Web Services", "ManagedEmail2007WS.msi")]  # fmt: skip

    files = expected_files(PINNED, components)

    assert [e.file.path for e in files].count(SHARED) == 1
    assert next(e.component for e in files if e.file.path == SHARED) == "Hosted Email 2007 Web Services"
    assert len(files) == 5


def test_a_component_without_pinned_files_is_unknown_never_a_silent_pass() -> None:
    unpinned = load_manifest(MANIFEST)

    checks = installed_checks(unpinned, COLLAB, None, VerifyFacts(installed=()))

    assert [(c.status, c.actual) for c in checks] == [(Status.UNKNOWN, "not pinned")]
    assert "rollup manifest pin --package-dir" in checks[0].detail


def test_verify_reads_the_installed_files_of_every_component_of_the_host_s_roles() -> None:
    """MPS01 reads its 17 components' files and the shared DLL once; only the configs are hashed."""
    params = verify_params(PINNED, HOSTS["MPS01"].roles)
    collab = verify_params(PINNED, HOSTS["COLLAB01"].roles)

    assert (
        len(params.installed) == 2 * 18 + 1
    )  # the Shared OAB Utility's files too: installed under a condition
    assert params.installed.count(SHARED) == 1
    assert set(params.installed_hashed) == {p for p in params.installed if p.endswith(".config")}
    assert collab.installed == (dll(WSS), dll(WSS) + ".config")
    assert verify_params(load_manifest(MANIFEST), HOSTS["COLLAB01"].roles).installed == ()


def test_a_collab_host_s_script_goes_on_stdin_once_its_installed_files_are_read() -> None:
    """With the reading code and the hashing helper it exceeds cmd.exe's line: one Send (docs/verify.md)."""
    script = FACTS.command(verify_params(PINNED, HOSTS["COLLAB01"].roles)).render()

    assert not fits_command_line(script)
    assert "Get-RollupInstalledFiles" in script
    assert "function Get-RollupSha256" in script


def test_the_table_rolls_a_component_s_files_into_one_line() -> None:
    checks = installed_checks(PINNED, COLLAB, None, collab_facts("4.0.2379.0"))

    rows = shown(tuple(checks), every_file=False)
    every = shown(tuple(checks), every_file=True)
    (line,) = rows

    assert every == checks
    assert line == summary_line("SharePoint 2007 Provider Web Services", checks)
    assert (line.status, line.actual) == (Status.DRIFT, "1 of 2 ok")
    assert line.name == "SharePoint 2007 Provider Web Services: installed files"
    assert (
        f"Microsoft.Provisioning.{WSS}.dll: version 4.0.2379.0 (drift, older than the package's {VERSION})"
        in (line.detail)
    )


def test_installed_entries_decide_presence_through_verify_evaluate() -> None:
    """Through ``evaluate``: a COLLAB host with its product installed has its files checked."""
    from rollup.verify import evaluate

    host = HOSTS["COLLAB01"]
    entry = InstalledEntry(key="{00000014-1111-4000-8000-000000000014}", display_name=f"{WSS} ",
                           display_version=VERSION, publisher="Microsoft", install_date="",
                           windows_installer=True, wow6432=False)  # fmt: skip
    facts = VerifyFacts(products=(entry,), installed=collab_facts("4.0.2379.0").installed)

    (report,) = evaluate(PINNED, [(host, facts)])

    drifted = [c for c in report.checks if c.group == "installed" and c.status is Status.DRIFT]
    assert [c.actual for c in drifted] == ["version 4.0.2379.0"]
    assert Role.COLLAB.value in report.roles
