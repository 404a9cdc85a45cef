"""The PowerShell 2.0 checks: every forbidden item caught, strings and comments ignored."""

from __future__ import annotations

import pytest

from rollup.ps.check import NotPowerShell2, assert_ps2_clean, parse_errors, ps2_problems
from rollup.ps.command import RemoteCommand

FORBIDDEN = [
    "$x | ConvertTo-Json",
    "$x = '{}' | ConvertFrom-Json",
    "Invoke-WebRequest http://127.0.0.1/",
    "iwr http://127.0.0.1/",
    "Invoke-RestMethod http://127.0.0.1/",
    "Get-CimInstance Win32_Service",
    "Invoke-CimMethod -ClassName x",
    "New-CimSession",
    "Get-FileHash C:\\a",
    "Unblock-File C:\\a",
    "New-TemporaryFile",
    "Expand-Archive a b",
    "Compress-Archive a b",
    "Get-ItemPropertyValue HKLM:\\x -Name y",
    "New-Guid",
    "Write-Information hi",
    "Resolve-DnsName host",
    "Test-NetConnection host",
    "Get-NetAdapter",
    "Get-ScheduledTask",
    "Register-ScheduledJob -Name x -ScriptBlock { 1 }",
    "Microsoft.PowerShell.Utility\\ConvertTo-Json 1",
    "& 'Get-FileHash' C:\\a",
    "Get-Content -Raw C:\\a",
    "gc C:\\a -Tail 5",
    "Get-ChildItem -File",
    "gci -Directory",
    "dir -File:$true",
    "Get-Item x -ErrorAction Ignore",
    "Get-Item x -ea:Ignore",
    "Get-Item x -ErrorAction 'Ignore'",
    "'a' | Out-File C:\\a -NoNewline",
    "Set-Content C:\\a 'x' -NoNewline",
    "Import-Csv a | Export-Csv b -Append",
    "Get-Item x -PipelineVariable p",
    "$h = [ordered]@{ a = 1 }",
    "$o = [pscustomobject]@{ a = 1 }",
    "Invoke-Command -ScriptBlock { $using:x }",
    "Invoke-Command -ScriptBlock { ${using:x} }",
    "$a | ForEach-Object { $PSItem }",
    "if ($a -in $b) { 1 }",
    "if ($a -notin $b) { 1 }",
    "$a -shl 2",
    "$a.Where({ $_ })",
    "$a.ForEach({ $_ })",
    "$a.foreach{ $_ }",
    "$a | Where-Object Name -eq x",
    "$a | ? Name -like 'x*'",
    "$a | ForEach-Object Name",
    "$a | % Name",
    "$a | Where-Object -Property Name -EQ 1",
    "$x = $PSScriptRoot",
    "$x = $PSCommandPath",
    "$x = $IsWindows",
    "class Foo { [int]$a }",
    "enum Color { Red }",
    "using namespace System.IO",
    "workflow W { parallel { 1 } }",
    "$t = [Tuple]::Create(1, 2)",
    "[IO.Compression.ZipFile]::ExtractToDirectory('a', 'b')",
    "$z = New-Object System.IO.Compression.ZipArchive $s",
    "Add-Type -AssemblyName System.IO.Compression.FileSystem",
    "$c = New-Object System.Net.Http.HttpClient",
    "$b = [Environment]::Is64BitOperatingSystem",
    "$b = [System.Environment]::Is64BitProcess",
    "$b = [string]::IsNullOrWhiteSpace($x)",
    "$b = $flags.HasFlag([IO.FileAttributes]::Hidden)",
    "$s = [IO.File]::OpenRead('a')\n$d = New-Object IO.MemoryStream\n$s.CopyTo($d)",
    "([IO.File]::OpenRead('a')).CopyTo($d)",
    "$f = [IO.Directory]::EnumerateFiles('C:\\')",
    "$f = (Get-Item C:\\).EnumerateFiles()",
    "$sb = [Text.StringBuilder]::new()",
    "$p = [IO.Path]::Combine('a', 'b', 'c')",
    "$v = [Version]::Parse('1.2')",
    "[Net.ServicePointManager]::SecurityProtocol = [Net.SecurityProtocolType]::Tls12",
    "(Get-Service x).StartType",
    "Get-Item x *> $null",
    "Get-Item x 3>&1",
    "#requires -Version 3\nGet-Item x",
    "#requires -RunAsAdministrator\nGet-Item x",
    "function F {\n[CmdletBinding()]\nparam([Parameter(Mandatory)][string]$a)\n$a\n}",
]


@pytest.mark.parametrize("script", FORBIDDEN)
def test_each_forbidden_item_is_caught(script: str) -> None:
    """A small script using one thing newer than PowerShell 2.0 / CLR 2.0 has a finding."""
    problems = ps2_problems(script)

    assert problems, script
    assert all(p.split(":", 2)[0].isdigit() for p in problems)


QUOTED = [
    "$x = 'ConvertTo-Json Get-FileHash $PSItem -in [ordered] $using:x .Where( -ErrorAction Ignore'",
    '$x = "ConvertTo-Json, Get-Content -Raw, New-Guid, Invoke-WebRequest and .ForEach( -notin"',
    "# ConvertTo-Json $PSItem [ordered] Get-ChildItem -File [Environment]::Is64BitProcess\nGet-Item x",
    "<# Invoke-WebRequest\n$using:x .ForEach( class Foo { } #>\nGet-Item x",
    "$x = @'\nGet-FileHash -Raw $PSItem [pscustomobject] $a | Where-Object Name -eq x\n'@",
    '$x = @"\nWhere-Object Name -eq x; Get-CimInstance; [string]::IsNullOrWhiteSpace\n"@',
    "Write-Output 'Get-Content -Raw'",
    "Get-Item 'Get-FileHash'",
]


@pytest.mark.parametrize("script", QUOTED)
def test_the_same_words_in_strings_and_comments_are_not_findings(script: str) -> None:
    """Forbidden names inside strings, here-strings and comments are text, not code."""
    problems = ps2_problems(script)

    assert problems == []
    assert parse_errors(script) == []


GOOD = [
    "Get-ChildItem C:\\ | Where-Object { $_.Name -eq 'x' } | ForEach-Object { $_.FullName }",
    "Get-ChildItem C:\\ | ? { $_.PSIsContainer } | % { $_.Name }",
    "$a | Where-Object -FilterScript { $_ -gt 1 }",
    "$a | ForEach-Object -Begin { $n = 0 } -Process { $n++ } -End { $n }",
    "$sb = { $_ }; $a | Where-Object $sb",
    "Get-Content C:\\a -TotalCount 5 -ErrorAction SilentlyContinue",
    "Get-ChildItem -Filter *.msi -Force -Recurse | Where-Object { -not $_.PSIsContainer }",
    "Write-Host 'x' -NoNewline",
    "$o = New-Object PSObject -Property @{ a = 1 }",
    "$s = Get-WmiObject Win32_Service -Filter \"Name='x'\"",
    "$fi = Get-Item C:\\a; $fi.CopyTo('C:\\b')",
    "$arr = @(1,2); $dst = New-Object object[] 2; $arr.CopyTo($dst, 0)",
    "$t = [IO.File]::ReadAllText('C:\\a')",
    "$p = [IO.Path]::Combine('a', 'b')",
    "$g = [Guid]::NewGuid().ToString()",
    "$e = [Environment]::OSVersion.Version",
    "if ($a -contains $b -and $c -notcontains $d) { 1 }",
    "try { 1 } catch [System.IO.IOException] { 2 } finally { 3 }",
    "Get-Item x 2>&1 | Out-Null; Get-Item y 2> $null; Get-Item z > C:\\log",
    "function Get-VmState { 1 }\nGet-VmState",
    "$x = $env:PSItem; $y = $PSVersionTable.PSVersion",
    "function F {\n[CmdletBinding()]\nparam([Parameter(Mandatory=$true)][string]$a)\n$a\n}",
    "$l = New-Object 'Collections.Generic.List[string]'; $l.Add('x')",
    "switch -regex ($x) {\n'^a' { 1 }\ndefault { 2 }\n}",
    "$m = [regex]::Match('a', 'a'); $m.Success",
    "$p = Start-Process msiexec.exe -ArgumentList '/i','x.msi','/qn' -Wait -PassThru; exit $p.ExitCode",
    "$x = [string]::IsNullOrEmpty($y)",
    "trap { continue }; exit 3",
    "#requires -Version 2.0\nGet-Item x",
    "# only a comment",
    "",
]


@pytest.mark.parametrize("script", GOOD)
def test_known_good_powershell_2_snippets_pass(script: str) -> None:
    """Ordinary PowerShell 2.0 code parses and has no findings."""
    problems = parse_errors(script) + ps2_problems(script)

    assert problems == []


def test_findings_give_line_and_character_column() -> None:
    """Positions count lines and characters (not bytes) from 1, past non-ASCII text."""
    script = "$x = 1\n$z = '\u00e9\u00e9' | ConvertTo-Json"

    problems = ps2_problems(script)

    assert problems == ["2:13: convertto-json: PowerShell 3.0"]


def test_parse_errors_report_position_and_text() -> None:
    """A syntax error is reported with its line, column and the text it starts at."""
    problems = parse_errors("$a = 1\nif ($a { 2 }\n")

    assert problems
    assert problems[0].startswith("2:")


def test_assert_ps2_clean_names_the_operation_and_lists_every_finding() -> None:
    """The error names the op from the header and lists parse errors and 2.0 findings together."""
    command = RemoteCommand("file.hash", {"path": "C:\\a"}, "$h = Get-FileHash $p_path\n$a.ForEach({ $_ })")

    with pytest.raises(NotPowerShell2) as caught:
        assert_ps2_clean(command.render())

    message = str(caught.value)
    assert message.startswith("file.hash: 3 problem(s): ")
    assert "syntax error" in message
    assert "get-filehash: PowerShell 4.0" in message
    assert ".ForEach()/.Where() methods are PowerShell 4.0" in message
    assert "\n" not in message


def test_assert_ps2_clean_accepts_a_rendered_command_with_every_helper() -> None:
    """A command carrying the writer and all helpers renders to a clean PowerShell 2.0 script."""
    command = RemoteCommand(
        "msi.inspect",
        {
            "path": "C:\\MSIShare\\a.msi",
            "names": ("ProductCode", "ProductVersion"),
            "limit": 3,
            "force": False,
        },
        "if (Test-RollupMsiBusy) { exit 1618 }\n"
        "$p = Get-RollupMsiProperty $p_path $p_names\n"
        "$h = Get-RollupSha256 $p_path\n"
        "Write-RollupResult @{ sha = $h; props = $p; force = $p_force; limit = $p_limit }",
        helpers=("Get-RollupSha256", "Get-RollupMsiProperty", "Test-RollupMsiBusy"),
    )

    assert_ps2_clean(command.render())
    assert_ps2_clean(command.redacted(), name="msi.inspect")
