"""The result line: golden output of the PowerShell writer, its Python twin, and the reader."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rollup.errors import ResultParseError
from rollup.ps import prelude
from rollup.ps.result import RESULT_MARKER, format_result, read_result

# Each case: what a body passes to Write-RollupResult, the same data in Python, and the line
# the writer prints. PowerShell cannot run here, so the lines were derived by reading
# ConvertTo-RollupJson in prelude.ps1 rule by rule (test_writer_source_has_the_pinned_rules
# ties them to the source).
GOLDEN: list[tuple[str, object, str]] = [
    ("$null", None, "null"),
    ("$true", True, "true"),
    ("$false", False, "false"),
    ("'plain'", "plain", '"plain"'),
    ("''", "", '""'),
    ("@{}", {}, "{}"),
    ("@()", [], "[]"),
    ("-42", -42, "-42"),
    ("[long]::MaxValue", 9223372036854775807, "9223372036854775807"),
    ("0.5", 0.5, "0.5"),
    ("0.1 + 0.2", 0.1 + 0.2, "0.30000000000000004"),
    ("[double]3", 3.0, "3"),
    ("1e20", 1e20, "1E+20"),
    ("1e-7", 1e-7, "1E-07"),
    ("-0.0", -0.0, "0"),
    ("[double]::NaN", math.nan, "null"),
    ("[double]::PositiveInfinity", math.inf, "null"),
    (
        "@{ path = 'C:\\MSIShare\\a \"b\".msi' }",
        {"path": 'C:\\MSIShare\\a "b".msi'},
        '{"path":"C:\\\\MSIShare\\\\a \\"b\\".msi"}',
    ),
    ('"it\'s `$(x) ``; ~"', "it's $(x) `; ~", '"it\'s $(x) `; ~"'),
    ("'Caf' + [char]0xE9 + ' ' + [char]0x2713", "Caf\u00e9 \u2713", '"Caf\\u00e9 \\u2713"'),
    ('"$([char]0x2018)x$([char]0x2019)"', "\u2018x\u2019", '"\\u2018x\\u2019"'),
    ('"a`tb`r`nc" + [char]0', "a\tb\r\nc\x00", '"a\\u0009b\\u000d\\u000ac\\u0000"'),
    ('"$([char]0x7F)$([char]0x1F) "', "\x7f\x1f ", '"\\u007f\\u001f "'),
    ("[char]::ConvertFromUtf32(0x1F600)", "\U0001f600", '"\\ud83d\\ude00"'),
    (
        "@{ b = @(1, $true, $null, @()); a = @{ z = 'x' } }",
        {"b": [1, True, None, []], "a": {"z": "x"}},
        '{"a":{"z":"x"},"b":[1,true,null,[]]}',
    ),
    (
        "@{ beta = 1; Alpha = 2; _x = 3; Zed = 4; '10' = 5 }",
        {"beta": 1, "Alpha": 2, "_x": 3, "Zed": 4, "10": 5},
        '{"10":5,"Alpha":2,"Zed":4,"_x":3,"beta":1}',
    ),
    ("@{ Keys = 1 }", {"Keys": 1}, '{"Keys":1}'),
    ("@(@(), @(@()))", [[], [[]]], "[[],[[]]]"),
    (
        # Python's microseconds show the truncation; the PowerShell value has 123 ms exactly
        "New-Object DateTime 2011, 1, 13, 8, 30, 5, 123, 'Utc'",
        datetime(2011, 1, 13, 8, 30, 5, 123999, tzinfo=UTC),
        '"2011-01-13T08:30:05.123Z"',
    ),
    (
        "New-Object DateTime 2011, 1, 13, 9, 30, 5, 'Local' (on a UTC+01:00 host)",
        datetime(2011, 1, 13, 9, 30, 5, tzinfo=timezone(timedelta(hours=1))),
        '"2011-01-13T08:30:05.000Z"',
    ),
]


@pytest.mark.parametrize(("powershell", "value", "json_text"), GOLDEN, ids=[g[0] for g in GOLDEN])
def test_format_result_matches_the_writer_golden_line(powershell: str, value: object, json_text: str) -> None:
    """format_result produces exactly the line Write-RollupResult prints for the same data."""
    line = format_result(value)

    assert line == f"{RESULT_MARKER} {json_text}", powershell


@pytest.mark.parametrize(("powershell", "value", "json_text"), GOLDEN, ids=[g[0] for g in GOLDEN])
def test_read_result_decodes_each_golden_line(powershell: str, value: object, json_text: str) -> None:
    """Every golden line is valid JSON that read_result decodes to the data (dates as strings)."""
    decoded = read_result(f"noise\r\n{RESULT_MARKER} {json_text}\r\n")

    if isinstance(value, float) and not math.isfinite(value):
        assert decoded is None
    elif isinstance(value, datetime):
        assert decoded == json_text.strip('"')
    else:
        assert decoded == value


def test_writer_source_has_the_pinned_rules() -> None:
    """The writer still contains each construct the golden lines were derived from."""
    writer = prelude.compact("ConvertTo-RollupJson") + prelude.compact("Write-RollupResult")

    for construct in (
        "$null -eq $v -or $v -is [DBNull]",
        '"$v".ToLower()',
        "ToUniversalTime().ToString(\"yyyy-MM-dd'T'HH:mm:ss.fff'Z'\", $c)",
        "[Globalization.CultureInfo]::InvariantCulture",
        "[double]::IsNaN($d) -or [double]::IsInfinity($d)",
        "$d.ToString('R', $c)",
        "[Array]::Sort($k, [StringComparer]::Ordinal)",
        "$v.PSBase.Keys",
        "$v -isnot [string]",
        """.Replace('\\', '\\\\').Replace('"', '\\"').Replace("`r", '\\u000d').Replace("`n", '\\u000a')""",
        "$s -cmatch '[^ -~]'",
        "$n -lt 32 -or $n -gt 126",
        "$n.ToString('x4')",
        f"'{RESULT_MARKER} '",
    ):
        assert construct in writer, construct


def test_format_result_lines_are_printable_ascii() -> None:
    """Whatever the data, the line is printable ASCII, so it survives code page 437."""
    line = format_result({"name": "Ünïcödé\u2028\x00\U0001f600", "n": [1.5, None]})

    assert all(32 <= ord(ch) <= 126 for ch in line)


def test_format_result_refuses_what_the_writer_cannot_mirror() -> None:
    """Naive datetimes, non-string keys, sets and bytes raise TypeError instead of guessing."""
    for value in (datetime(2011, 1, 13), {1: "a"}, {"a"}, b"x"):
        with pytest.raises(TypeError):
            format_result(value)


def test_read_result_takes_the_last_result_line() -> None:
    """With several result lines the last one wins; other output is ignored."""
    stdout = f'{RESULT_MARKER} 1\r\nWARNING: chatty\r\n{RESULT_MARKER} {{"ok":true}}\r\ntrailing\r\n'

    assert read_result(stdout) == {"ok": True}


def test_read_result_is_none_without_a_result_line() -> None:
    """No line starting with the marker means no result, not an error."""
    stdout = f"plain output\n  {RESULT_MARKER} 1\n#rollup-resulting 2\n"

    assert read_result(stdout) is None


def test_read_result_reports_bad_json_with_the_first_200_characters() -> None:
    """A malformed result raises ResultParseError quoting the start of the line, not all of it."""
    payload = '{"a": ' + "x" * 500

    with pytest.raises(ResultParseError) as caught:
        read_result(f"{RESULT_MARKER} {payload}\n")

    assert payload[:200] in str(caught.value)
    assert payload[:201] not in str(caught.value)


def test_read_result_refuses_nan_constants() -> None:
    """NaN and Infinity are not JSON (the writer never prints them), so they are refused."""
    with pytest.raises(ResultParseError):
        read_result(f"{RESULT_MARKER} [NaN]\n")


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(_json)
def test_format_then_read_gives_the_data_back(value: object) -> None:
    """read_result(format_result(v)) == v for any JSON-shaped data (floats round-trip exactly)."""
    line = format_result(value)

    assert read_result(line) == value
    assert all(32 <= ord(ch) <= 126 for ch in line)
