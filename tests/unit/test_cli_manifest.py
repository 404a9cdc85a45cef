"""``rollup manifest show`` and ``rollup manifest check``, run in-process through ``main``."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from rollup.cli.main import main
from rollup.model.manifest import SHIPPED_DIR
from rollup.schemas import schema

SHIPPED = Path(__file__).resolve().parents[2] / "manifests" / "hmc40-rollup-2011-01.yml"
RAW = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))


@pytest.fixture(name="workdir")
def _workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory (no manifests folder); ROLLUP_MANIFEST, COLUMNS unset."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ROLLUP_MANIFEST", raising=False)
    monkeypatch.delenv("COLUMNS", raising=False)
    return tmp_path


def _package(folder: Path) -> Path:
    """A package folder with every file of the KB table at its byte size (sparse files)."""
    folder.mkdir()
    for f in RAW["package"]["files"]:
        with (folder / f["name"]).open("wb") as stream:
            stream.truncate(f["size_bytes"])
    return folder


def test_show_json_keeps_the_contract(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The JSON document has the guaranteed keys and types for files, components and steps."""
    code = main(["manifest", "show", "--json"])
    document = json.loads(capsys.readouterr().out)
    files, components, steps = document["package"]["files"], document["components"], document["steps"]

    assert code == 0
    assert len(files) == 22
    assert files[0] == {
        **files[0],
        "name": "DNSClient.msi",
        "size_bytes": 679936,
        "date": "2011-03-10T10:04:00Z",
        "to_msishare": True,
        "sha256": None,
    }
    assert all(f["date"].endswith("Z") and isinstance(f["to_msishare"], bool) for f in files)
    assert all({"name", "msi", "uninstall", "reinstall"} <= c.keys() for c in components)
    assert sum(c["uninstall"] for c in components) == sum(c["reinstall"] for c in components) == 17
    assert all({"id", "kind", "roles", "after"} <= s.keys() for s in steps)
    assert steps[0] == {**steps[0], "id": "confirm-prerequisites", "kind": "manual_gate", "after": []}
    assert steps[-1]["roles"] == ["web_services"]
    assert len(document["digest"]) == 64


def test_show_json_is_the_same_for_the_same_manifest(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two runs print byte-identical JSON, so the output can be diffed and hashed."""
    main(["manifest", "show", "--json"])
    first = capsys.readouterr().out
    main(["manifest", "show", "--json"])

    assert capsys.readouterr().out == first


def test_show_prints_the_tables(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The readable view lists files, components, Initialize nodes, SQL objects and steps."""
    code = main(["manifest", "show"])
    out = capsys.readouterr().out

    assert code == 0
    for text in (
        "KB2492954",
        "Servicebase.msi",
        "Managed Email2007 Web Services",
        "Hosted Exchange > Exchange Provisioning Configuration > Hosted Email 2007",
        "SeleteAndAssembleReallocateOrgMailStores",
        "check-resource-manager-objects",
        "deployment_tool uninstall",
    ):
        assert text in out, text


def test_rollup_manifest_env_overrides_the_default(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """ROLLUP_MANIFEST names the manifest when --manifest is not given."""
    data = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    data["metadata"]["title"] = "Site copy of the January 2011 rollup"
    (workdir / "site.yml").write_text(yaml.safe_dump(data), encoding="utf-8")
    monkeypatch.setenv("ROLLUP_MANIFEST", "site.yml")

    code = main(["manifest", "show"])

    assert code == 0
    assert "Site copy of the January 2011 rollup" in capsys.readouterr().out


def test_the_default_manifest_is_the_shipped_one_from_any_directory(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With no manifests folder in the working directory, the default is the shipped manifest."""
    code = main(["manifest", "check"])

    assert code == 0
    assert capsys.readouterr().out.startswith(f"{SHIPPED_DIR / SHIPPED.name}: valid: 22 files")


def test_a_shipped_manifest_is_named_by_id_and_a_file_by_path(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """
    --manifest ID is the shipped manifest; ./NAME is a file of that name, even a kebab one; `show`
    also takes it as its argument, but not both ways at once.
    """
    site = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    site["metadata"]["title"] = "Site copy"
    (workdir / "hmc40-rollup-2011-01").write_text(yaml.safe_dump(site), encoding="utf-8")

    by_id = main(["manifest", "show", "--json", "--manifest", "hmc40-rollup-2011-01"])
    shipped = json.loads(capsys.readouterr().out)
    by_path = main(["manifest", "show", "--json", "--manifest", "./hmc40-rollup-2011-01"])
    local = json.loads(capsys.readouterr().out)
    as_argument = main(["manifest", "show", "--json", "./hmc40-rollup-2011-01"])
    argument = json.loads(capsys.readouterr().out)
    twice = main(["manifest", "show", "hmc40-rollup-2011-01", "--manifest", "hmc40-rollup-2011-01"])

    assert (by_id, by_path, as_argument, twice) == (0, 0, 0, 2)
    assert shipped["metadata"]["title"] == RAW["metadata"]["title"]
    assert local["metadata"]["title"] == argument["metadata"]["title"] == "Site copy"
    assert capsys.readouterr().err == "rollup: name the manifest once: as the argument or with --manifest\n"


def test_an_unknown_manifest_id_exits_2_listing_the_shipped_ones(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An id no shipped manifest has: one line naming it and the shipped ids, exit 2; from the env too."""
    code = main(["manifest", "show", "--manifest", "hmc40-rollup-2099-01"])
    err = capsys.readouterr().err.splitlines()
    monkeypatch.setenv("ROLLUP_MANIFEST", "nope")
    from_env = main(["plan", "--inventory", "x"])

    assert (code, from_env) == (2, 2)
    assert (
        err[0]
        == "rollup: hmc40-rollup-2099-01: no shipped manifest has this id (shipped: hmc40-rollup-2011-01)"
    )
    assert err[1].startswith("hint: `rollup manifest list` lists them")
    assert capsys.readouterr().err.startswith("rollup: nope: no shipped manifest has this id")


def test_manifest_list_names_the_shipped_manifests(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The table has each shipped manifest's id, KB, title and file; --json follows its schema."""
    table = main(["manifest", "list"])
    out = capsys.readouterr().out
    as_json = main(["manifest", "list", "--json"])
    document = json.loads(capsys.readouterr().out)

    assert (table, as_json) == (0, 0)
    assert "hmc40-rollup-2011-01" in out
    assert "KB2492954" in out
    assert str(SHIPPED_DIR) in out.replace("\n", "")
    jsonschema.validate(document, schema("manifest-list"))
    assert document == {
        "format": 1,
        "kind": "manifest-list",
        "manifests": [
            {
                "id": "hmc40-rollup-2011-01",
                "kb": "KB2492954",
                "title": RAW["metadata"]["title"],
                "path": str(SHIPPED_DIR / "hmc40-rollup-2011-01.yml"),
            }
        ],
    }


def test_every_shipped_manifest_is_named_by_its_id() -> None:
    """A shipped manifest's file name is its metadata id, so --manifest ID finds it."""
    shipped = sorted(SHIPPED_DIR.glob("*.yml"))

    assert shipped
    for path in shipped:
        assert yaml.safe_load(path.read_text(encoding="utf-8"))["metadata"]["id"] == path.stem


def test_a_bad_manifest_exits_2_with_one_line(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A manifest error is printed once, on stderr, naming the file and key; exit code 2."""
    data = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    data["steps"][3]["timeout_s"] = 0
    (workdir / "bad.yml").write_text(yaml.safe_dump(data), encoding="utf-8")

    code = main(["manifest", "show", "--json", "--manifest", "bad.yml"])
    captured = capsys.readouterr()

    assert code == 2
    assert captured.out == ""
    assert captured.err == "rollup: bad.yml: steps[3].timeout_s: must be between 1 and 86400\n"


def test_check_validates_the_manifest(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without --package-dir, check validates and prints the counts and digest; exit 0."""
    code = main(["manifest", "check"])
    out = capsys.readouterr().out

    assert code == 0
    assert out.startswith(f"{SHIPPED_DIR / SHIPPED.name}: valid: 22 files, 21 components, 23 steps; digest ")


def test_check_accepts_a_complete_package(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Every file present at its KB size, names in any case: exit 0 and nothing on stderr."""
    folder = _package(workdir / "pkg")
    (folder / "DNSClient.msi").rename(folder / "dnsclient.MSI")

    code = main(["manifest", "check", "--package-dir", str(folder)])
    captured = capsys.readouterr()

    assert code == 0
    assert captured.err == ""
    assert "dnsclient.MSI" in captured.out


def test_check_reports_missing_and_wrong_sized_files(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One stderr line per problem naming the file; unknown files are listed but not a failure; exit 1."""
    folder = _package(workdir / "pkg")
    (folder / "Servicebase.msi").unlink()
    with (folder / "DNSClient.msi").open("r+b") as stream:
        stream.truncate(679935)
    (folder / "readme.txt").write_text("notes", encoding="utf-8")

    code = main(["manifest", "check", "--package-dir", str(folder)])
    captured = capsys.readouterr()

    assert code == 1
    assert captured.err.splitlines() == [
        "DNSClient.msi: 679,935 bytes, the KB says 679,936",
        "Servicebase.msi: missing",
    ]
    assert "not in the manifest (ignored): readme.txt" in captured.out


def test_check_refuses_names_that_collide_on_windows(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two files differing only in case would be one file on Windows: reported, exit 1."""
    folder = _package(workdir / "pkg")
    with (folder / "dnsclient.msi").open("wb") as stream:
        stream.truncate(679936)

    code = main(["manifest", "check", "--package-dir", str(folder)])

    assert code == 1
    assert capsys.readouterr().err == "DNSClient.msi: 2 files match it case-insensitively\n"


def test_check_compares_pinned_hashes(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A file whose SHA-256 is pinned must match it, not only its size."""
    folder = _package(workdir / "pkg")
    zeros = hashlib.sha256(bytes(679936)).hexdigest()
    data = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    data["package"]["files"][0]["sha256"] = zeros
    data["package"]["files"][1]["sha256"] = "0" * 64
    (workdir / "pinned.yml").write_text(yaml.safe_dump(data), encoding="utf-8")

    code = main(["manifest", "check", "--manifest", "pinned.yml", "--package-dir", str(folder)])
    err = capsys.readouterr().err

    assert code == 1
    assert err.startswith("DNSProvider.msi: SHA-256 ")
    assert "DNSClient.msi" not in err


def test_check_refuses_a_missing_package_dir(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A --package-dir that does not exist is a usage error (exit 2)."""
    code = main(["manifest", "check", "--package-dir", str(workdir / "absent")])

    assert code == 2
    assert "--package-dir" in capsys.readouterr().err
