"""
The state of one running script: variables and their scopes, functions, the error preference,
and the output and error streams as powershell.exe writes them to stdout and stderr.

``Runtime.machine`` is the simulated Windows host the script runs on
(``rollup.lab.windows.machine.Machine``): its files, registry, processes and COM objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rollup.lab.pwsh.errors import ErrorRecord, PsError, stopped
from rollup.lab.pwsh.values import Hashtable, PSObject, to_string

if TYPE_CHECKING:
    from rollup.lab.pwsh.ast import FunctionDef
    from rollup.lab.windows.machine import Machine


@dataclass
class Scope:
    variables: dict[str, Any] = field(default_factory=dict)
    functions: dict[str, FunctionDef] = field(default_factory=dict)


class Runtime:
    """Variables, functions, streams and the host of one script run."""

    def __init__(self, machine: Machine, *, stdin_lines: list[str] | None = None) -> None:
        from rollup.lab.pwsh.dotnet_version import version_object

        self.machine = machine
        self.scopes: list[Scope] = [Scope()]
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self.try_depth = 0
        self.strict = False
        self.stdin_lines = stdin_lines or []
        self.errors: list[ErrorRecord] = []
        table = Hashtable()
        table.set("PSVersion", version_object(machine.ps_version))
        table.set("CLRVersion", version_object("2.0.50727.3053"))
        table.set("BuildVersion", version_object("6.0.6002.18111"))
        table.set("PSCompatibleVersions", [version_object("1.0"), version_object("2.0")])
        table.set("WSManStackVersion", version_object("2.0"))
        table.set("PSRemotingProtocolVersion", version_object("2.1"))
        table.set("SerializationVersion", version_object("1.1.0.1"))
        globals_ = self.scopes[0].variables
        globals_.update(
            {
                "null": None,
                "true": True,
                "false": False,
                "erroractionpreference": "Continue",
                "lastexitcode": None,
                "psversiontable": table if machine.ps_version != "1.0" else None,
                "ofs": " ",
                "error": [],
                "pid": 4242,
            }
        )

    # variables ---------------------------------------------------------------------------

    def get(self, name: str, scope: str | None = None) -> tuple[bool, Any]:
        key = name.lower()
        if scope == "env":
            value = self.machine.environment().get(key)
            return value is not None, value
        if scope in ("script", "global"):
            table = self.scopes[0].variables
            return (key in table), table.get(key)
        for s in reversed(self.scopes):
            if key in s.variables:
                return True, s.variables[key]
        if key == "input":
            return True, list(self.stdin_lines)
        return False, None

    def set(self, name: str, value: Any, scope: str | None = None) -> None:
        key = name.lower()
        if key in ("null", "true", "false"):
            if key == "null":
                return
            from rollup.lab.pwsh.errors import runtime_error

            raise runtime_error(
                f"Cannot overwrite variable {name} because it is read-only or constant.",
                "VariableNotWritable",
            )
        if scope == "env":
            self.machine.set_environment(key, to_string(value))
            return
        target = self.scopes[0] if scope in ("script", "global") else self.scopes[-1]
        target.variables[key] = value

    def set_local(self, name: str, value: Any) -> None:
        self.scopes[-1].variables[name.lower()] = value

    def function(self, name: str) -> FunctionDef | None:
        key = name.lower()
        for s in reversed(self.scopes):
            if key in s.functions:
                return s.functions[key]
        return None

    def define(self, fn: FunctionDef) -> None:
        self.scopes[-1].functions[fn.name.lower()] = fn

    # errors ------------------------------------------------------------------------------

    def preference(self, override: str | None = None) -> str:
        value = override if override is not None else to_string(self.get("ErrorActionPreference")[1])
        return value.strip().lower() or "continue"

    def write_error(self, record: ErrorRecord, action: str | None = None) -> None:
        """A non-terminating error: kept in ``$Error``, shown, ignored, or made terminating."""
        pref = self.preference(action)
        if pref == "stop":
            if int(self.machine.ps_version.split(".")[0] or 0) >= 3:
                raise PsError(record)  # PowerShell 3.0 and later throw the error itself
            raise stopped(record)
        self.errors.insert(0, record)
        self.scopes[0].variables["error"] = list(self.errors)
        if pref in ("silentlycontinue", "ignore"):
            return
        self.stderr.append(record.render())

    # output ------------------------------------------------------------------------------

    def write_host(self, text: str) -> None:
        self.stdout.append(text + "\r\n")

    def write_raw(self, text: str) -> None:
        self.stdout.append(text)


def host_format(value: Any) -> str:
    """How ``Out-Default`` shows one object on a console: good enough for text and numbers."""
    if isinstance(value, PSObject):
        width = max((len(k) for k, _ in value.props.values()), default=0)
        lines = [f"{k.ljust(width)} : {to_string(v)}" for k, v in value.props.values()]
        return "\r\n" + "\r\n".join(lines) + "\r\n"
    if isinstance(value, Hashtable):
        lines = ["", "Name                           Value", "----                           -----"]
        lines += [f"{to_string(k).ljust(30)} {to_string(v)}" for k, v in value.items()]
        return "\r\n".join(lines) + "\r\n"
    return to_string(value)
