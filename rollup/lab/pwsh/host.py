"""
Running one script on a simulated machine, as ``powershell.exe`` runs it for WinRS: the exit
code, and stdout and stderr as text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import rollup.lab.pwsh.dotnet.fileversion
import rollup.lab.pwsh.dotnet.guid
import rollup.lab.pwsh.dotnet.io
import rollup.lab.pwsh.dotnet.management
import rollup.lab.pwsh.dotnet.process
import rollup.lab.pwsh.dotnet.system
import rollup.lab.pwsh.dotnet.xml
import rollup.lab.pwsh.dotnet_version
import rollup.lab.windows.adsi
import rollup.lab.windows.ldap
import rollup.lab.windows.security  # noqa: F401 - these modules register their .NET types
from rollup.lab.pwsh.interp import run_script
from rollup.lab.pwsh.runtime import Runtime
from rollup.lab.pwsh.syntax import PsSyntaxError, parse

if TYPE_CHECKING:
    from rollup.lab.windows.machine import Machine


@dataclass(frozen=True, slots=True)
class PowerShellRun:
    exit_code: int
    stdout: str
    stderr: str


def run_powershell(script: str, machine: Machine, stdin_lines: list[str] | None = None) -> PowerShellRun:
    """Run ``script`` on ``machine``; a script that does not parse fails as PowerShell's parser does."""
    try:
        block = parse(script)
    except PsSyntaxError as exc:
        return PowerShellRun(
            1,
            "",
            f"{exc}\r\n    + CategoryInfo          : ParserError: (:) [], ParentContainsErrorRecordException\r\n",
        )
    rt = Runtime(machine, stdin_lines=stdin_lines)
    code = run_script(rt, block)
    return PowerShellRun(code, "".join(rt.stdout), "".join(rt.stderr))
