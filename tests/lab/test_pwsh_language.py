"""The lab's PowerShell interpreter: PowerShell 2.0's semantics where they differ from Python's."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from rollup.lab.pwsh.host import PowerShellRun, run_powershell
from rollup.lab.state import HostState, MemoryBlobStore
from rollup.lab.windows.machine import Machine

NOW = datetime(2011, 3, 21, 9, 30, tzinfo=UTC).timestamp()


def ps(script: str) -> PowerShellRun:
    state = HostState(name="MPS01", roles=["mps"])
    return run_powershell(script, Machine(state, MemoryBlobStore(), now=NOW, user="HOSTING\\admin"))


def out(script: str) -> list[str]:
    run = ps(script)
    assert run.stderr == "", run.stderr
    return run.stdout.split("\r\n")[:-1]


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("$a = @(1, 2, 3); $a.Count", ["3"]),
        ("@(1, 2, 3) -eq 2", ["2"]),
        ("(1, 2, 3 -gt 1).Count", ["2"]),
        ("$h = @{ Key = 1 }; $h['KEY']; $h.key", ["1", "1"]),
        ("'a' -eq 'A'; 'a' -ceq 'A'", ["True", "False"]),
        ("'{0}-{1,3}-{2:x4}' -f 'a', 'b', 255", ["a-  b-00ff"]),
        ("if ('abc123' -match '(\\d+)') { $matches[1] }", ["123"]),
        ("'a-b-c' -replace '-', '+'", ["a+b+c"]),
        ("('a,b' -split ',').Count", ["2"]),
        ("$x = 'w'; \"v=$x $($x.Length) `$x\"", ["v=w 1 $x"]),
        ("$x = $null; $x -eq $null; $null -eq @()", ["True", "False"]),
        ("@(@(1, 2), 3).Count; @(,@(1, 2)).Count", ["2", "1"]),
        (
            "function F { return ,(New-Object Collections.ArrayList) }; (F).GetType().FullName",
            ["System.Collections.ArrayList"],
        ),
        ("function G { 1; 2 }; $r = G; $r.Count", ["2"]),
        ("[int]'42' + 1; '1' + 2; 1 + '2'", ["43", "12", "3"]),
        ("[int]2.5; [int]3.5", ["2", "4"]),
        ("@(1, 2, 3) | Where-Object { $_ -gt 1 } | ForEach-Object { $_ * 10 }", ["20", "30"]),
        ("'x'.Contains('x'); 'abc'.Substring(1)", ["True", "bc"]),
        ('$s = @"\nline $(1 + 1)\n"@; $s', ["line 2"]),
        ("@('b', 'a') -join '|'", ["b|a"]),
        ("$n = 0; for ($i = 0; $i -lt 5; $i++) { if ($i -eq 3) { break }; $n += $i }; $n", ["3"]),
        ("'Ssl' -contains 'ssl'; @('a') -notcontains 'b'", ["True", "True"]),
    ],
)
def test_language(script: str, expected: list[str]) -> None:
    assert out(script) == expected


def test_a_method_exception_is_wrapped_as_powershell_2_wraps_it() -> None:
    text = "try { [IO.File]::ReadAllText('C:\\nothere.txt') } catch { $_.Exception.Message; $_.Exception.InnerException.GetType().FullName }"
    assert out(text) == [
        'Exception calling "ReadAllText" with "1" argument(s): "Could not find file \'C:\\nothere.txt\'."',
        "System.IO.FileNotFoundException",
    ]


def test_an_uncaught_error_goes_to_stderr_and_the_script_goes_on() -> None:
    run = ps("$x = $null; $x.Foo(); 'after'; exit 3")
    assert run.exit_code == 3
    assert run.stdout == "after\r\n"
    assert "You cannot call a method on a null-valued expression." in run.stderr


def test_error_action_stop_ends_the_script_with_exit_1() -> None:
    run = ps("$ErrorActionPreference = 'Stop'; $x = $null; $x.Foo(); 'never'")
    assert (run.exit_code, run.stdout) == (1, "")
    assert "null-valued" in run.stderr


def test_unknown_commands_types_and_members_fail_as_on_windows() -> None:
    assert "is not recognized as the name of a cmdlet" in ps("Get-FileHash C:\\x").stderr
    assert "Unable to find type [IO.NoSuchType]" in ps("[IO.NoSuchType]::X()").stderr
    assert (
        "doesn't contain a method named 'IsNullOrWhiteSpace'" in ps("[string]::IsNullOrWhiteSpace('')").stderr
    )
    assert (
        "A parameter cannot be found that matches parameter name 'File'"
        in ps("Get-ChildItem C:\\ -File").stderr
    )


def test_strict_mode_makes_a_missing_property_an_error() -> None:
    assert out("$h = 'x'; $h.Nothing") == [""]
    assert "cannot be found" in ps("Set-StrictMode -Version 2.0; 'x'.Nothing").stderr


def test_exit_code_and_console_output_order() -> None:
    run = ps("'one'; [Console]::Out.WriteLine('two'); Write-Host three; exit 7")
    assert run.exit_code == 7
    assert run.stdout == "one\r\ntwo\r\nthree\r\n"


def test_catch_by_exception_type_and_is_on_inner_exceptions() -> None:
    text = (
        "try { [IO.File]::ReadAllText('C:\\nothere.txt') } "
        "catch [System.Management.Automation.MethodInvocationException] { "
        "$_.Exception.InnerException -is [IO.IOException]; $_.Exception.InnerException -is [UnauthorizedAccessException] }"
    )
    assert out(text) == ["True", "False"]


def test_a_function_exists_once_its_definition_has_run() -> None:
    """PowerShell runs a script's statements in order: a call before the definition fails."""
    run = ps("F; function F { 'f' }; F")
    assert run.stdout == "f\r\n"
    assert "The term 'F' is not recognized" in run.stderr
