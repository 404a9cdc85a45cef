"""
Running a command: a function the script defined, a cmdlet, or a program on the host.

Arguments are bound as PowerShell binds them: ``-Name value`` or ``-Name:value``, switches, then
positional arguments; ``@args`` splats. A cmdlet is a Python function in
``rollup.lab.pwsh.cmdlets`` (or one the machine adds, such as Hyper-V's); a program is run by the
machine with the command line PowerShell 2.0 builds (each argument as a string, quoted when it
holds a space), its stdout lines written to the pipeline and ``$LASTEXITCODE`` set. A name that is
none of these fails with PowerShell's CommandNotFoundException.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rollup.lab.pwsh import ast as A
from rollup.lab.pwsh.cmdlets import ALIASES, CMDLETS, Cmdlet
from rollup.lab.pwsh.errors import ErrorRecord, ExceptionObject, PsError
from rollup.lab.pwsh.values import Hashtable, ScriptBlock, enumerate_value, to_string

if TYPE_CHECKING:
    from rollup.lab.pwsh.interp import Interpreter

NOT_RECOGNIZED = (
    "The term '{0}' is not recognized as the name of a cmdlet, function, script file, or operable program. "
    "Check the spelling of the name, or if a path was included, verify that the path is correct and try again."
)


def not_found(name: str) -> PsError:
    exc = ExceptionObject(
        "System.Management.Automation.CommandNotFoundException", NOT_RECOGNIZED.format(name)
    )
    return PsError(ErrorRecord(exc, "CommandNotFoundException", "ObjectNotFound", name))


@dataclass
class Bound:
    """A cmdlet's arguments after binding."""

    named: dict[str, Any] = field(default_factory=dict)
    positional: list[Any] = field(default_factory=list)
    input: list[Any] | None = None

    def get(self, name: str, position: int | None = None, default: Any = None) -> Any:
        key = name.lower()
        if key in self.named:
            return self.named[key]
        if position is not None and position < len(self.positional):
            return self.positional[position]
        return default

    def has(self, name: str) -> bool:
        return name.lower() in self.named


class Commands:
    def __init__(self, interp: Interpreter) -> None:
        self.interp = interp
        self.rt = interp.rt

    def arguments(self, cmd: A.Command) -> list[tuple[str | None, Any, bool]]:
        """(parameter name or None, value, whether a value was attached) for each element."""
        out: list[tuple[str | None, Any, bool]] = []
        for element in cmd.args:
            if isinstance(element, A.ParamArg):
                if element.value is None:
                    out.append((element.name, None, False))
                else:
                    out.append((element.name, self.interp.value(element.value), True))
            elif isinstance(element.value, A.Splat):
                value = self.rt.get(element.value.name)[1]
                if isinstance(value, Hashtable):
                    out.extend((to_string(k), v, True) for k, v in value.items())
                else:
                    items = enumerate_value(value)
                    out.extend(
                        (None, v, False)
                        for v in ([] if value is None else ([value] if items is None else list(items)))
                    )
            else:
                out.append((None, self.interp.value(element.value), False))
        return out

    def invoke(self, cmd: A.Command, pipeline: list[Any] | None) -> list[Any]:
        if isinstance(cmd.name, str):
            name: Any = cmd.name
        else:
            name = self.interp.value(cmd.name)
        args = self.arguments(cmd)
        if isinstance(name, ScriptBlock):
            return self.interp.call_block(name, None, new_scope=True)
        name = to_string(name)
        fn = self.rt.function(name)
        if fn is not None:
            positional, named = _split_for_function(args)
            return self.interp.call_function(fn, positional, named, pipeline)
        cmdlet = self.cmdlet(name)
        if cmdlet is not None:
            bound = _bind(cmdlet, args)
            bound.input = pipeline
            action = bound.named.pop("erroraction", None)
            saved = None
            if action is not None:
                saved = self.rt.get("ErrorActionPreference")[1]
                self.rt.set_local("ErrorActionPreference", to_string(action))
            try:
                return list(cmdlet.run(self.interp, bound))
            finally:
                if action is not None:
                    self.rt.set_local("ErrorActionPreference", saved)
        return self.native(name, args, pipeline)

    def cmdlet(self, name: str) -> Cmdlet | None:
        key = ALIASES.get(name.lower(), name.lower())
        found = CMDLETS.get(key)
        if found is None:
            found = self.rt.machine.cmdlets().get(key)
        return found

    def native(
        self, name: str, args: list[tuple[str | None, Any, bool]], pipeline: list[Any] | None
    ) -> list[Any]:
        program = self.rt.machine.find_program(name)
        if program is None:
            raise not_found(name)
        words: list[str] = []
        for pname, value, attached in args:
            if pname is not None:
                words.append(f"-{pname}:{to_string(value)}" if attached else f"-{pname}")
                continue
            items = enumerate_value(value) if not isinstance(value, str) else None
            for item in [value] if items is None else list(items):
                text = to_string(item)
                if text == "":
                    continue
                words.append(f'"{text}"' if " " in text and not text.startswith('"') else text)
        stdin = "\r\n".join(to_string(v) for v in pipeline) if pipeline else ""
        code, out, err = self.rt.machine.run_program(program, " ".join(words), stdin)
        self.rt.set("LASTEXITCODE", code, "global")
        if err:
            self.rt.stderr.append(err)
        lines = out.replace("\r\n", "\n").split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        return list(lines)


def _split_for_function(args: list[tuple[str | None, Any, bool]]) -> tuple[list[Any], dict[str, Any]]:
    positional: list[Any] = []
    named: dict[str, Any] = {}
    pending: str | None = None
    for name, value, attached in args:
        if name is not None:
            if pending is not None:
                named[pending] = True
            if attached:
                named[name] = value
                pending = None
            else:
                pending = name
            continue
        if pending is not None:
            named[pending] = value
            pending = None
        else:
            positional.append(value)
    if pending is not None:
        named[pending] = True
    return positional, named


def _bind(cmdlet: Cmdlet, args: list[tuple[str | None, Any, bool]]) -> Bound:
    bound = Bound()
    i = 0
    while i < len(args):
        name, value, attached = args[i]
        if name is None:
            bound.positional.append(value)
            i += 1
            continue
        full = cmdlet.parameter(name)
        if full in cmdlet.switches:
            bound.named[full] = True if not attached else bool(value)
            i += 1
            continue
        if attached:
            bound.named[full] = value
            i += 1
            continue
        if i + 1 < len(args) and args[i + 1][0] is None:
            bound.named[full] = args[i + 1][1]
            i += 2
            continue
        raise PsError(
            ErrorRecord(
                ExceptionObject(
                    "System.Management.Automation.ParameterBindingException",
                    f"Missing an argument for parameter '{full}'. Specify a parameter of type 'System.Object' and try again.",
                ),
                f"MissingArgument,{cmdlet.name}",
                "InvalidArgument",
            )
        )
    return bound
