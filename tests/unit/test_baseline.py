"""
The golden baseline, pure: which rehearsal ``--baseline`` picks (and every refusal, one line), the
folders a host's roles list, and the comparison of a host's files with a rehearsal host's.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rollup.baseline import (
    BaselineFile,
    HostBaseline,
    baseline_checks,
    baseline_folders,
    chosen_baseline,
    for_roles,
)
from rollup.checks import Status
from rollup.cli.main import main
from rollup.cli.report import shown
from rollup.errors import ExitCode, UsageError
from rollup.model.roles import Role
from rollup.ops.listing import ListedFile
from rollup.ops.verify import Unreadable
from tests.unit.test_verify_installed import PINNED

ROOT = "[ProgramFilesFolder]Microsoft Hosting\\Provisioning\\X"
DIGEST = "d" * 64
HOST = HostBaseline(
    host="COLLAB01",
    roles=("collab",),
    folders=(ROOT,),
    files=(
        BaselineFile(path=f"{ROOT}\\x.dll", size=1536, version="4.0.2491.0", sha256="a" * 64),
        BaselineFile(path=f"{ROOT}\\x.generated.config", size=20, version=None, sha256="b" * 64),
    ),
)
RECORDS = [
    ("20110320T090000Z-aaaa", "passed", DIGEST, (HOST,)),
    ("20110321T090000Z-bbbb", "failed", DIGEST, None),
    ("20110322T090000Z-cccc", "passed", "e" * 64, (HOST,)),
    ("20110323T090000Z-dddd", "passed", DIGEST, None),
]


def test_last_is_the_latest_passing_rehearsal_of_this_manifest_with_a_baseline() -> None:
    assert chosen_baseline(RECORDS, "last", digest=DIGEST, where="r") == ("20110320T090000Z-aaaa", (HOST,))
    assert chosen_baseline(RECORDS, "20110320T090000Z-aaaa", digest=DIGEST, where="r")[0] == RECORDS[0][0]


@pytest.mark.parametrize(
    ("wanted", "digest", "message"),
    [
        (
            "last",
            "f" * 64,
            "--baseline last: no passing rehearsal of this manifest (digest ffffffffffffffff)",
        ),
        ("nope", DIGEST, "--baseline nope: no such rehearsal in r"),
        ("20110321T090000Z-bbbb", DIGEST, "the rehearsal failed; only a passing one is a baseline"),
        ("20110322T090000Z-cccc", DIGEST, "it rehearsed another manifest (digest eeeeeeeeeeeeeeee"),
        ("20110323T090000Z-dddd", DIGEST, "the rehearsal recorded no baseline"),
    ],
)
def test_a_baseline_that_cannot_be_used_is_refused_with_one_line(
    wanted: str, digest: str, message: str
) -> None:
    with pytest.raises(UsageError) as refused:
        chosen_baseline(RECORDS, wanted, digest=digest, where="r")

    assert message in str(refused.value)
    assert "\n" not in str(refused.value)


def _listed(*files: tuple[str, str | None, str | None]) -> tuple[ListedFile, ...]:
    return tuple(ListedFile(path=f"{ROOT}\\{n}", size=20, version=v, sha256=h) for n, v, h in files)


def test_the_same_files_are_ok_and_a_later_dll_too() -> None:
    found = _listed(("x.dll", "4.0.2500.0", "c" * 64), ("x.generated.config", None, "b" * 64))

    checks = baseline_checks("R1", HOST, found)

    assert [(c.status, c.part_of) for c in checks] == [(Status.OK, "rehearsal baseline")] * 2
    assert checks[0].expected == "version 4.0.2491.0 or later"


def test_missing_older_changed_and_extra_files_drift() -> None:
    found = _listed(("x.dll", "4.0.2379.0", "c" * 64), ("x.generated.config", None, "0" * 64),
                    ("left.tmp", None, "1" * 64))  # fmt: skip
    gone = _listed(("x.dll", "4.0.2491.0", "a" * 64))

    checks = {c.name.rsplit("\\", 1)[1]: c for c in baseline_checks("R1", HOST, found)}
    missing = baseline_checks("R1", HOST, gone)

    assert {n: (c.status, c.detail) for n, c in checks.items()} == {
        "x.dll": (Status.DRIFT, "older than on COLLAB01 in rehearsal R1"),
        "x.generated.config": (Status.DRIFT, "not the file COLLAB01 had in rehearsal R1"),
        "left.tmp": (Status.DRIFT, "COLLAB01 had no such file in rehearsal R1"),
    }
    assert [(c.status, c.actual) for c in missing] == [
        (Status.OK, "version 4.0.2491.0"),
        (Status.DRIFT, "missing"),
    ]


def test_a_host_of_roles_no_rehearsal_host_had_is_unknown_and_an_unreadable_one_an_error() -> None:
    unknown = baseline_checks("R1", for_roles([HOST], frozenset({Role.DNS})), ())
    error = baseline_checks("R1", HOST, Unreadable("Access is denied"))

    assert [(c.status, c.actual) for c in unknown] == [(Status.UNKNOWN, "no baseline")]
    assert [(c.status, c.actual) for c in error] == [(Status.ERROR, "Access is denied")]
    assert for_roles([HOST], frozenset({Role.COLLAB})) is HOST


def test_the_folders_are_those_of_the_components_files_each_once() -> None:
    collab = baseline_folders(PINNED, frozenset({Role.COLLAB}))
    web = baseline_folders(PINNED, frozenset({Role.WEB_SERVICES}))

    assert collab == (
        "[ProgramFilesFolder]Microsoft Hosting\\Provisioning\\WindowsSharePointServicesWebService",
    )
    assert web.count("[ProgramFilesFolder]Microsoft Hosting\\Provisioning\\Shared") == 1
    assert len(web) == 17 + 1  # the Deployment Tool's components live on web_services hosts too


def test_the_cli_refuses_a_baseline_it_cannot_find_before_contacting_any_host(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inventory = Path(__file__).resolve().parents[2] / "inventory" / "lab.yml"

    code = main(["verify", "-i", str(inventory), "--baseline", "last", "--runs-dir", str(tmp_path / "runs")])

    err = capsys.readouterr().err
    assert code == ExitCode.CONFIG
    assert "--baseline last: no passing rehearsal of this manifest" in err
    assert str(tmp_path / "rehearsals") in err


def test_the_table_rolls_a_host_s_baseline_checks_into_one_line() -> None:
    found = _listed(("x.dll", "4.0.2379.0", "c" * 64), ("x.generated.config", None, "b" * 64))

    (line,) = shown(tuple(baseline_checks("R1", HOST, found)), every_file=False)

    assert (line.group, line.name, line.status) == (
        "baseline",
        "rehearsal baseline: component folders",
        Status.DRIFT,
    )
    assert (line.expected, line.actual) == ("2 file(s) as on the rehearsal's host", "1 of 2 ok")
    assert "x.dll: version 4.0.2379.0 (drift, older than on COLLAB01 in rehearsal R1)" in line.detail
