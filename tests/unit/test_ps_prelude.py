"""The prelude: PowerShell 2.0 source, its compact form, and what a script carries."""

from __future__ import annotations

import pytest

from rollup.ps import prelude
from rollup.ps.check import parse_errors, ps2_problems
from rollup.ps.result import RESULT_MARKER

WRITER_BUDGET = 1400
"""Characters the compact writer may take of the ~3,040 a command-line script has in all."""


def test_prelude_defines_the_writer_and_every_helper_in_order() -> None:
    """The source defines exactly the writer's two functions followed by the helpers."""
    names = prelude.function_names()

    assert names == prelude.WRITER + prelude.HELPERS


def test_readable_source_parses_and_is_powershell_2() -> None:
    """The shipped prelude.ps1, comments and all, parses and uses nothing newer than 2.0."""
    source = prelude.source()

    assert parse_errors(source) == []
    assert ps2_problems(source) == []


@pytest.mark.parametrize("name", prelude.WRITER + prelude.HELPERS)
def test_each_compact_function_parses_and_is_powershell_2(name: str) -> None:
    """Every function, compacted as scripts carry it, parses alone and passes the 2.0 checks."""
    text = prelude.compact(name)

    assert parse_errors(text) == []
    assert ps2_problems(text) == []
    assert text.startswith(f"function {name}")


def test_compact_form_has_no_comments_indentation_or_blank_lines() -> None:
    """Compaction drops comment lines, leading whitespace and blank lines, keeping code lines."""
    lines = prelude.render_prelude(prelude.HELPERS).split("\n")

    assert all(line and line == line.strip() and not line.startswith("#") for line in lines)
    assert len(lines) < len(prelude.source().splitlines())


def test_writer_fits_its_budget() -> None:
    """The writer stays small enough to leave room for bindings and body on the command line."""
    writer = prelude.render_prelude()

    assert len(writer) <= WRITER_BUDGET


def test_writer_prints_the_marker_read_result_looks_for() -> None:
    """Write-RollupResult prints the same marker that rollup.ps.result reads."""
    writer = prelude.compact("Write-RollupResult")

    assert f"'{RESULT_MARKER} '" in writer


def test_render_prelude_orders_and_deduplicates() -> None:
    """Helpers come out once each, in source order, whatever order they are asked in."""
    text = prelude.render_prelude(["Test-RollupMsiBusy", "Get-RollupSha256", "Test-RollupMsiBusy"])

    assert text.count("function Test-RollupMsiBusy") == 1
    assert text.index("function Get-RollupSha256") < text.index("function Test-RollupMsiBusy")
    assert text.startswith("function ConvertTo-RollupJson")


def test_render_prelude_without_writer_or_helpers_is_empty() -> None:
    """A body that neither reports nor uses helpers carries no prelude at all."""
    text = prelude.render_prelude(writer=False)

    assert text == ""


def test_render_prelude_refuses_unknown_helpers() -> None:
    """Asking for a helper the prelude does not define is a programming error."""
    with pytest.raises(ValueError, match="unknown prelude helper 'Get-Nothing'"):
        prelude.render_prelude(["Get-Nothing"])


def test_sha256_helper_follows_the_fips_fallback_and_closes_the_stream() -> None:
    """Get-RollupSha256 tries SHA256Managed, falls back to the CSP, and closes in finally."""
    text = prelude.compact("Get-RollupSha256")

    assert "SHA256Managed -ErrorAction Stop" in text
    assert "catch { $a = New-Object Security.Cryptography.SHA256CryptoServiceProvider }" in text
    assert "[IO.File]::Open($Path, 'Open', 'Read', 'Read')" in text
    assert "finally {\n$s.Close()" in text


def test_msi_helper_opens_read_only_and_releases_every_com_object() -> None:
    """Get-RollupMsiProperty opens mode 0, tracks each COM object, releases all and collects."""
    text = prelude.compact("Get-RollupMsiProperty")

    assert "@($Path, 0)" in text
    assert text.count("[void]$o.Add(") == 4
    assert "foreach ($x in $o) { [void][Runtime.InteropServices.Marshal]::ReleaseComObject($x) }" in text
    assert "[GC]::Collect()\n[GC]::WaitForPendingFinalizers()" in text
    assert "$Name -ccontains $k" in text


def test_msi_busy_helper_checks_the_installer_mutex() -> None:
    """Test-RollupMsiBusy opens Global\\_MSIExecute and treats access denied as busy."""
    text = prelude.compact("Test-RollupMsiBusy")

    assert "[Threading.Mutex]::OpenExisting('Global\\_MSIExecute')" in text
    assert "[UnauthorizedAccessException]" in text
