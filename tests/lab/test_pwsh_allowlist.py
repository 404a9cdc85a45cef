"""Every operation's script uses only what the lab's PowerShell implements, with PowerShell 2.0's
commands, types and members: the allow-list check, run over every rendered script."""

from __future__ import annotations

from typing import Any

import pytest

from rollup.lab.pwsh.allowlist import problems
from rollup.ops.base import Operation
from rollup.ops.registry import all_operations

CASES = [(op, example) for op in all_operations().values() for example in op.examples]


@pytest.mark.parametrize(("op", "params"), CASES, ids=[f"{op.id}-{i}" for i, (op, _) in enumerate(CASES)])
def test_every_rendered_script_is_within_the_interpreter(op: Operation[Any, Any], params: Any) -> None:
    assert problems(op.command(params).render()) == []


@pytest.mark.parametrize(
    ("script", "finding"),
    [
        ("Get-FileHash C:\\x", "command Get-FileHash is not implemented"),
        (
            "Get-ChildItem C:\\ -File",
            "Get-ChildItem: A parameter cannot be found that matches parameter name 'File'.",
        ),
        ("[IO.Compression.ZipFile]::OpenRead('x')", "type [IO.Compression.ZipFile] is not modelled"),
        ("[IO.File]::ReadLines('x')", "[IO.File]::ReadLines is not modelled"),
        ("$x.IsNullOrWhiteSpaceNow()", "method IsNullOrWhiteSpaceNow() exists on no modelled object"),
        ("switch ($x) { 1 { 'a' } }", "switch_statement"),
    ],
)
def test_what_the_interpreter_lacks_is_named(script: str, finding: str) -> None:
    found = problems(script)
    assert any(finding in f for f in found), found


def test_a_plain_script_passes() -> None:
    assert problems("$a = @(1, 2) | Where-Object { $_ -gt 1 }; [IO.File]::Exists('C:\\x'); exit 0") == []
