"""``files.installed``'s parser: a row per path asked for, the folders the host resolved, and refusals."""

from __future__ import annotations

import json

import pytest

from rollup.errors import ResultParseError
from rollup.ops.installed import InstalledParams, InstalledStat, parse
from rollup.ps.result import RESULT_MARKER
from tests.simkit import command_result

DLL = "[ProgramFilesFolder]Microsoft Hosting\\Provisioning\\X\\x.dll"
CONFIG = DLL + ".config"
PARAMS = InstalledParams(paths=(DLL, CONFIG), hashed=(CONFIG,))


def _parsed(data: object) -> tuple[InstalledStat, ...]:
    stdout = f"{RESULT_MARKER} {json.dumps(data)}\n"
    return parse(command_result("COLLAB01", "files.installed", stdout), PARAMS)


def test_rows_become_stats_with_the_path_resolved_on_the_host() -> None:
    rows = ["1|1536|4.0.2491.0||", "1|||| The process cannot access | the file"]

    dll, config = _parsed({"folders": {"ProgramFilesFolder": "C:\\Program Files (x86)\\"}, "files": rows})

    where = "C:\\Program Files (x86)\\Microsoft Hosting\\Provisioning\\X\\x.dll"
    assert dll == InstalledStat(path=DLL, file=where, exists=True, size=1536, version="4.0.2491.0")
    assert (config.exists, config.size, config.sha256) == (True, None, None)
    assert config.error == " The process cannot access | the file"


def test_a_missing_file_has_nothing_but_its_path() -> None:
    (dll, _) = _parsed({"folders": {"ProgramFilesFolder": "C:\\Program Files"}, "files": ["0||||", "0||||"]})

    assert (dll.exists, dll.size, dll.version, dll.sha256, dll.error) == (False, None, None, None, None)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"folders": {"ProgramFilesFolder": "C:\\P"}, "files": ["1|1||"]}, "not list the paths asked for"),
        ({"folders": {"ProgramFilesFolder": "C:\\P"}, "files": ["1|1||", "yes|1|||"]}, "is not exists|size"),
        ({"folders": {"ProgramFilesFolder": "C:\\P"}, "files": ["1|1||", "1|big|||"]}, "is not exists|size"),
        (
            {"folders": {"ProgramFilesFolder": "C:\\P"}, "files": ["1||||", {"exists": True}]},
            "is not exists|size",
        ),
        ({"folders": {}, "files": ["1||||", "1||||"]}, "no folder for [ProgramFilesFolder]"),
        ({"files": ["1||||", "1||||"]}, "folders"),
    ],
)
def test_a_malformed_result_is_refused_naming_the_host(data: object, message: str) -> None:
    with pytest.raises(ResultParseError) as refused:
        _parsed(data)

    assert str(refused.value).startswith("COLLAB01: files.installed: ")
    assert message in str(refused.value)


def test_a_path_outside_the_known_folders_is_refused_before_anything_is_sent() -> None:
    with pytest.raises(ValueError, match="is not \\[ProgramFilesFolder"):
        InstalledParams(paths=("[SystemFolder]x.dll",))
    with pytest.raises(ValueError, match="hashed but not asked for"):
        InstalledParams(paths=(DLL,), hashed=(CONFIG,))
