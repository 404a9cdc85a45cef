"""Every way a manifest can be wrong gives one line naming the file and the YAML key path."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from rollup.errors import ManifestError
from rollup.model.fields import check_file_name, check_windows_dir, windows_key
from rollup.model.manifest import load_manifest, parse_manifest
from tests.unit.documents import fresh as _fresh

SHIPPED = Path(__file__).resolve().parents[2] / "manifests" / "hmc40-rollup-2011-01.yml"
RAW = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))

Doc = dict[str, Any]


def _error(mutate: Callable[[Doc], object]) -> str:
    data = _fresh(RAW)
    mutate(data)
    with pytest.raises(ManifestError) as info:
        parse_manifest(data, source="m.yml")
    return str(info.value)


def _set(path: str, value: Any) -> Callable[[Doc], None]:
    """A mutation setting the dotted ``path`` (list indexes as numbers) to ``value``."""
    *parents, last = path.split(".")

    def mutate(data: Doc) -> None:
        node: Any = data
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return mutate


def _drop(path: str) -> Callable[[Doc], None]:
    *parents, last = path.split(".")

    def mutate(data: Doc) -> None:
        node: Any = data
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        del node[int(last) if isinstance(node, list) else last]

    return mutate


CASES: list[tuple[str, Callable[[Doc], object], str]] = [
    ("unknown top-level key", _set("owner", "x"), "m.yml: owner: unknown key"),
    ("unknown step key", _set("steps.3.bogus", 1), "m.yml: steps[3].bogus: unknown key"),
    ("unknown wrapped step key", _set("steps.20.step.bogus", 1), "m.yml: steps[20].step.bogus: unknown key"),
    ("missing top-level key", _drop("package"), "m.yml: package: required key is missing"),
    ("missing kind key", _drop("steps.3.files"), "m.yml: steps[3].files: required key is missing"),
    ("missing kind", _drop("steps.3.kind"), "m.yml: steps[3].kind: required key is missing"),
    ("step not a mapping", _set("steps.2", "extract"), "m.yml: steps[2]: Input should be a valid dictionary"),
    (
        "unknown kind",
        _set("steps.3.kind", "reboot"),
        "m.yml: steps[3].kind: unknown kind reboot; expected one of 'deployment_tool', 'extract', 'backup', "
        "'copy', 'transfer', 'msi_install', 'msi_uninstall', 'msi_run_twice', 'iis_setting', 'iis_restart', "
        "'sql_objects_check', 'complus_restart', 'manual_gate', 'conditional'",
    ),
    (
        "size as a string",
        _set("package.files.0.size_bytes", "679936"),
        "m.yml: package.files[0].size_bytes: Input should be a valid integer",
    ),
    (
        "flag as a string",
        _set("package.files.0.to_msishare", "yes"),
        "m.yml: package.files[0].to_msishare: Input should be a valid boolean",
    ),
    (
        "timeout out of range",
        _set("steps.3.timeout_s", 0),
        "m.yml: steps[3].timeout_s: must be between 1 and 86400",
    ),
    (
        "timeout as a float",
        _set("steps.3.timeout_s", 1.5),
        "m.yml: steps[3].timeout_s: Input should be a valid integer",
    ),
    (
        "too many attempts",
        _set("steps.10.retry.attempts", 21),
        "m.yml: steps[10].retry.attempts: must be between 1 and 20",
    ),
    (
        "exit codes without retries",
        _set("steps.10.retry", {"on_exit_codes": [1618]}),
        "m.yml: steps[10].retry.on_exit_codes: retrying an exit code needs attempts above 1",
    ),
    (
        "wait shrinking",
        _set("steps.10.retry", {"attempts": 2, "first_wait_s": 60, "max_wait_s": 30}),
        "m.yml: steps[10].retry.max_wait_s: must not be less than first_wait_s (60)",
    ),
    (
        "unknown role",
        _set("steps.3.roles", ["deployment_tool", "exchange"]),
        "m.yml: steps[3].roles[1]: 'exchange' is not one of 'deployment_tool', 'mps_engine', 'dns', "
        "'collab', 'mpssql' or 'web_services'",
    ),
    ("no role", _set("steps.3.roles", []), "m.yml: steps[3].roles: must list at least one entry"),
    ("role twice", _set("steps.9.roles", ["dns", "dns"]), "m.yml: steps[9].roles: lists 'dns' twice"),
    (
        "unknown dependency",
        _set("steps.3.after", ["extract"]),
        "m.yml: steps[3].after[0]: unknown step 'extract'",
    ),
    (
        "dependency on a wrapped step",
        _set("steps.21.after", ["install-shared-oab-utility"]),
        "m.yml: steps[21].after[0]: 'install-shared-oab-utility' is wrapped; depend on 'shared-oab-utility'",
    ),
    (
        "self dependency",
        _set("steps.2.after", ["extract-package"]),
        "m.yml: steps[2].after: dependency cycle extract-package -> extract-package "
        "(each waits for the next)",
    ),
    (
        "cycle",
        _set("steps.1.after", ["backup-msishare"]),
        "m.yml: steps[1].after: dependency cycle uninstall-components -> backup-msishare -> extract-package "
        "-> uninstall-components (each waits for the next)",
    ),
    ("duplicate step id", _set("steps.4.id", "backup-msishare"), "m.yml: steps[4].id: duplicate step id"),
    (
        "step id not kebab",
        _set("steps.0.id", "Confirm_Prereqs"),
        "m.yml: steps[0].id: String should match pattern",
    ),
    (
        "file name with a backslash",
        _set("package.files.0.name", "pkg\\DNSClient.msi"),
        "m.yml: package.files[0].name: must be a file name, not a path (no / or \\)",
    ),
    (
        "file name with a slash",
        _set("package.files.0.name", "pkg/DNSClient.msi"),
        "m.yml: package.files[0].name: must be a file name, not a path (no / or \\)",
    ),
    (
        "file name with dot dot",
        _set("package.files.0.name", "..DNSClient.msi"),
        "m.yml: package.files[0].name: must not contain '..'",
    ),
    (
        "file name with a drive letter",
        _set("package.files.0.name", "C:DNSClient.msi"),
        "m.yml: package.files[0].name: must not start with a drive letter",
    ),
    (
        "file names equal on Windows",
        _set("package.files.1", {**RAW["package"]["files"][0], "name": "dnsclient.msi"}),
        "m.yml: package.files[1].name: 'dnsclient.msi' is the same Windows file name as 'DNSClient.msi'",
    ),
    (
        "file name of another row",
        _set("package.files.1.name", "dnsclient.msi"),
        "m.yml: package.files[1].kb_name: is neither 'dnsclient.msi' nor a truncation of it",
    ),
    (
        "table name not a prefix",
        _set("package.files.3.kb_name", "Exchange2007oabresourcemgr"),
        "m.yml: package.files[3].kb_name: is neither 'Exchange2007OABResourceManagerNS.msi' "
        "nor a truncation of it",
    ),
    (
        "date without time zone",
        _set("package.files.0.date", "2011-03-10T10:04:00"),
        "m.yml: package.files[0].date: must state its time zone; the KB's dates are UTC: write e.g. "
        "2011-03-10T10:04:00Z",
    ),
    (
        "date not in UTC",
        _set("package.files.0.date", "2011-03-10T11:04:00+01:00"),
        "m.yml: package.files[0].date: must be in UTC (end with Z), as the KB's file table is",
    ),
    (
        "bad sha256",
        _set("package.files.0.sha256", "abc"),
        "m.yml: package.files[0].sha256: String should match",
    ),
    (
        "bad product code",
        _set("package.files.0.product_code", "6F1B0E3A-0000-0000-0000-000000000000"),
        "m.yml: package.files[0].product_code: String should match",
    ),
    (
        "bad product version",
        _set("package.files.0.product_version", "4.0.70000.0"),
        "m.yml: package.files[0].product_version: must be an MSI ProductVersion: fields up to 255.255.65535",
    ),
    (
        "relative folder",
        _set("package.msishare", "MSIShare"),
        "m.yml: package.msishare: must be an absolute local Windows path such as C:\\MSIShare",
    ),
    (
        "component MSI unknown",
        _set("components.0.msi", "HostedSharePoint2007.msi"),
        "m.yml: components[0].msi: no package file 'HostedSharePoint2007.msi'",
    ),
    (
        "component MSI spelled differently",
        _set("components.0.msi", "hostedsharepoint2007ns.msi"),
        "m.yml: components[0].msi: names 'hostedsharepoint2007ns.msi'; the package spells it "
        "'HostedSharePoint2007NS.msi'",
    ),
    (
        "component flag disagrees with the uninstall step",
        _set("components.0.uninstall", False),
        "m.yml: steps[1].components[0]: 'Hosted SharePoint 2007 Namespace' is not marked uninstall: true",
    ),
    (
        "flagged component not reinstalled",
        _set("steps.5.components", ["Hosted SharePoint 2007 Namespace"]),
        "m.yml: components[1].reinstall: no reinstall step lists 'Managed SharePoint 2007 Namespace'",
    ),
    (
        "hand-installed component flagged",
        _set("components.17.uninstall", True),
        "m.yml: components[17].managed_by: only Deployment Tool components are uninstalled or reinstalled",
    ),
    (
        "initialize node not initialized",
        _set("steps.7.nodes", ["Hosted SharePoint 2007"]),
        "m.yml: initialize[5]: no deployment_tool step initializes 'Managed SharePoint 2007'",
    ),
    (
        "command strategy without template",
        _set("steps.5.strategy", "command"),
        "m.yml: steps[5].command_template: the command strategy needs a command_template",
    ),
    (
        "template with an unknown placeholder",
        _set("steps.5.command_template", "dt.cmd {host}"),
        "m.yml: steps[5].command_template: {host} is not a placeholder; use {action}, {name} or {msi}",
    ),
    (
        "copy misses a file",
        _set("steps.4.files", [f for f in RAW["steps"][4]["files"] if f != "DNSClient.msi"]),
        "m.yml: package.files[0].to_msishare: no copy step copies 'DNSClient.msi'",
    ),
    (
        "copy of a file not for the share",
        _set("steps.4.files", [*RAW["steps"][4]["files"], "Servicebase.msi"]),
        "m.yml: steps[4].files[21]: 'Servicebase.msi' is not marked to_msishare: true",
    ),
    (
        "copy without backup",
        _set("steps.3.files", ["DNSClient.msi"]),
        "m.yml: steps[4].files[0]: 'HostedSharePoint2007NS.msi' would be replaced before any backup step",
    ),
    (
        "msi install with nothing staged",
        _set("steps.15.after", ["start-deployment"]),
        "m.yml: steps[15].from_dir: no step before this one puts WindowsSharePointServicesWebService.msi in "
        "C:\\temp\\QFERollupPackage on collab; add a transfer step",
    ),
    (
        "step names an unknown file",
        _set("steps.20.step.file", "SharedOAB.msi"),
        "m.yml: steps[20].step.file: no package file 'SharedOAB.msi'",
    ),
    (
        "wrapped step with its own dependencies",
        _set("steps.20.step.after", ["start-deployment"]),
        "m.yml: steps[20].step.after: a wrapped step follows its conditional; give after there",
    ),
    (
        "tool step on another role",
        _set("steps.1.roles", ["mps_engine"]),
        "m.yml: steps[1].roles: a deployment_tool step runs on deployment_tool only",
    ),
    (
        "threshold above the limit",
        _set("steps.20.when", {"fact": "offline_address_book_count", "at_least": 40000, "limit": 32000}),
        "m.yml: steps[20].when.at_least: must not exceed limit (32000)",
    ),
    (
        "multi-line title",
        _set("steps.0.title", "Confirm\nthe prerequisites"),
        "m.yml: steps[0].title: must be one line without control characters",
    ),
    ("unknown schema version", _set("schema_version", 2), "m.yml: schema_version: 2 is not one of 1"),
]


@pytest.mark.parametrize(("mutate", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_bad_manifest_names_the_key(mutate: Callable[[Doc], object], expected: str) -> None:
    """Each mutation of the shipped manifest is refused with one line naming its YAML key path."""
    message = _error(mutate)

    assert message.startswith(expected), message
    assert "\n" not in message


def test_the_shipped_manifest_is_valid() -> None:
    """The unmutated data the cases start from loads, so each case fails for its own reason."""
    manifest = parse_manifest(_fresh(RAW), source="m.yml")

    assert manifest.metadata.kb == "KB2492954"


def _load_text(tmp_path: Path, text: str) -> str:
    path = tmp_path / "bad.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ManifestError) as info:
        load_manifest(path, display="manifests/bad.yml")
    return str(info.value)


def test_malformed_yaml_names_the_file_line_and_column(tmp_path: Path) -> None:
    """YAML that does not parse is reported with the file, line and column."""
    message = _load_text(tmp_path, "schema_version: 1\nsteps: [\n  {id: a\n")

    assert message.startswith("manifests/bad.yml: ")
    assert "(line " in message
    assert "\n" not in message


def test_duplicate_keys_are_refused(tmp_path: Path) -> None:
    """A key given twice in one mapping is an error, not a silent last-one-wins."""
    message = _load_text(tmp_path, "schema_version: 1\nmetadata: {}\nmetadata: {}\n")

    assert message == "manifests/bad.yml: duplicate key 'metadata' (line 3, column 1)"


def test_an_empty_file_is_refused(tmp_path: Path) -> None:
    """An empty manifest says so instead of listing missing keys."""
    message = _load_text(tmp_path, "# nothing here\n")

    assert message == "manifests/bad.yml: the file is empty"


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    """A path that does not exist is one line naming it."""
    with pytest.raises(ManifestError) as info:
        load_manifest(tmp_path / "absent.yml", display="manifests/absent.yml")

    assert str(info.value) == "manifests/absent.yml: no such file"


def test_a_list_at_the_top_is_refused() -> None:
    """A document that is not a mapping is reported at the top level."""
    with pytest.raises(ManifestError) as info:
        parse_manifest([1, 2], source="m.yml")

    assert str(info.value).startswith("m.yml: (top level): Input should be a valid dictionary")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("a\\b.msi", "must be a file name, not a path"),
        ("a/b.msi", "must be a file name, not a path"),
        ("..", "must not contain '..'"),
        ("a..b.msi", "must not contain '..'"),
        ("C:a.msi", "must not start with a drive letter"),
        ("a\tb.msi", "must not contain control characters"),
        ("a*.msi", "must not contain '*'"),
        ('a"b|c.msi', "must not contain '\"|'"),
        ("a.msi.", "must not end with a dot or a space"),
        ("a.msi ", "must not end with a dot or a space"),
        ("NUL.msi", "is a reserved Windows device name"),
        ("com1", "is a reserved Windows device name"),
        ("", "must not be empty"),
        ("x" * 256, "must be at most 255 characters"),
    ],
)
def test_file_names_windows_refuses_are_refused(name: str, message: str) -> None:
    """Separators, '..', drive letters, control and forbidden characters and device names are refused."""
    with pytest.raises(ValueError, match=re.escape(message)):
        check_file_name(name)


def test_plain_file_names_are_accepted() -> None:
    """Ordinary names, including dots and spaces inside, pass unchanged."""
    names = ["DNSClient.msi", "Service base.v2.msi", "a", "CONSOLE.msi"]

    assert [check_file_name(n) for n in names] == names


@pytest.mark.parametrize(
    ("path", "ok"),
    [
        ("C:\\MSIShare", True),
        ("C:\\", True),
        ("d:\\temp\\QFERollupPackage", True),
        ("C:\\MSIShare\\", False),
        ("\\\\MPS01\\MSIShare", False),
        ("C:/MSIShare", False),
        ("C:\\temp\\..\\Windows", False),
        ("MSIShare", False),
    ],
)
def test_windows_folders_must_be_absolute_and_local(path: str, ok: bool) -> None:
    """Only absolute local folders without '..', UNC paths or a trailing backslash are accepted."""
    try:
        check_windows_dir(path)
        accepted = True
    except ValueError:
        accepted = False

    assert accepted is ok


def test_windows_key_maps_each_character_on_its_own() -> None:
    """Names compare case-insensitively, but a character never becomes two (ß stays ß)."""
    assert windows_key("DNSClient.msi") == windows_key("dnsclient.MSI")
    assert windows_key("straße") == "STRAßE"


def test_an_unknown_key_with_a_line_break_is_quoted_on_one_line() -> None:
    """A key carrying a newline is named JSON-quoted, so the error stays one line."""
    line = _error(lambda doc: doc["metadata"].__setitem__("bad\nkey", 1))

    assert '"bad\\nkey": unknown key' in line
    assert "\n" not in line
