"""
The PowerShell 2.0 cmdlets the lab implements, with their 2.0 parameters only.

A parameter name may be abbreviated as long as it is unambiguous; a parameter the cmdlet does not
have in 2.0 (``Get-ChildItem -File`` is 3.0) fails with PowerShell's ParameterBindingException.
Provider cmdlets (``Test-Path``, ``Get-Item``, ``Get-ItemProperty``, ``Get-ChildItem``) and
``Get-WmiObject`` ask the machine (``rollup.lab.windows``); ``New-Object`` asks the type model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rollup.lab.pwsh.errors import ErrorRecord, ExceptionObject, PsError, runtime_error
from rollup.lab.pwsh.net import NetException, NetObject
from rollup.lab.pwsh.runtime import host_format
from rollup.lab.pwsh.values import ScriptBlock, enumerate_value, to_bool, to_number, to_string

if TYPE_CHECKING:
    from rollup.lab.pwsh.commands import Bound
    from rollup.lab.pwsh.interp import Interpreter

_COMMON = (
    "erroraction",
    "errorvariable",
    "warningaction",
    "verbose",
    "debug",
    "outvariable",
    "outbuffer",
    "warningvariable",
)
_COMMON_ALIASES = {
    "ea": "erroraction",
    "ev": "errorvariable",
    "wa": "warningaction",
    "vb": "verbose",
    "db": "debug",
}


def binding_error(cmdlet: str, message: str, error_id: str) -> PsError:
    exc = ExceptionObject("System.Management.Automation.ParameterBindingException", message)
    return PsError(ErrorRecord(exc, f"{error_id},{cmdlet}", "InvalidArgument"))


@dataclass(frozen=True)
class Cmdlet:
    name: str
    params: tuple[str, ...]
    run: Callable[[Interpreter, Bound], Iterable[Any]]
    switches: frozenset[str] = frozenset()
    aliases: dict[str, str] = field(default_factory=dict)

    def parameter(self, given: str) -> str:
        key = given.lower()
        if key in _COMMON_ALIASES:
            return _COMMON_ALIASES[key]
        if key in self.aliases:
            return self.aliases[key]
        names = (*self.params, *_COMMON)
        if key in names:
            return key
        found = [n for n in names if n.startswith(key)]
        if len(found) == 1:
            return found[0]
        if not found:
            raise binding_error(
                self.name,
                f"A parameter cannot be found that matches parameter name '{given}'.",
                "NamedParameterNotFound",
            )
        raise binding_error(
            self.name,
            f"Parameter cannot be processed because the parameter name '{given}' is ambiguous.",
            "AmbiguousParameter",
        )


def _items(bound: Bound) -> list[Any]:
    return list(bound.input or [])


def _where(interp: Interpreter, b: Bound) -> Iterable[Any]:
    block = b.get("filterscript", 0)
    if not isinstance(block, ScriptBlock):
        raise binding_error(
            "Where-Object",
            "Cannot bind parameter 'FilterScript'. A script block is required.",
            "CannotConvertArgument",
        )
    return [item for item in _items(b) if to_bool(_collect(interp.call_block(block, item)))]


def _collect(items: list[Any]) -> Any:
    if not items:
        return None
    return items[0] if len(items) == 1 else items


def _foreach(interp: Interpreter, b: Bound) -> Iterable[Any]:
    process = b.get("process", 0)
    out: list[Any] = []
    begin = b.get("begin")
    if isinstance(begin, ScriptBlock):
        out.extend(interp.call_block(begin, None))
    if not isinstance(process, ScriptBlock):
        raise binding_error(
            "ForEach-Object",
            "Cannot bind parameter 'Process'. A script block is required.",
            "CannotConvertArgument",
        )
    for item in _items(b):
        out.extend(interp.call_block(process, item))
    end = b.get("end")
    if isinstance(end, ScriptBlock):
        out.extend(interp.call_block(end, None))
    return out


def _select(interp: Interpreter, b: Bound) -> Iterable[Any]:
    items = _items(b)
    if b.has("first"):
        items = items[: int(to_number(b.get("first")))]
    if b.has("last"):
        n = int(to_number(b.get("last")))
        items = items[-n:] if n else []
    return items


def _out_string(interp: Interpreter, b: Bound) -> Iterable[Any]:
    text = "".join(host_format(i) + "\r\n" for i in _items(b))
    return [text]


def _out_null(interp: Interpreter, b: Bound) -> Iterable[Any]:
    return []


def _write_host(interp: Interpreter, b: Bound) -> Iterable[Any]:
    sep = " "
    parts = [to_string(p) for p in b.positional] if not b.has("object") else [to_string(b.get("object"))]
    text = sep.join(parts)
    if b.has("nonewline"):
        interp.rt.write_raw(text)
    else:
        interp.rt.write_host(text)
    return []


def _write_output(interp: Interpreter, b: Bound) -> Iterable[Any]:
    out: list[Any] = []
    for value in [b.get("inputobject")] if b.has("inputobject") else b.positional:
        items = enumerate_value(value)
        out.extend([value] if items is None else list(items))
    return out


def _write_error(interp: Interpreter, b: Bound) -> Iterable[Any]:
    message = to_string(b.get("message", 0))
    exc = ExceptionObject("Microsoft.PowerShell.Commands.WriteErrorException", message)
    interp.rt.write_error(ErrorRecord(exc, "Microsoft.PowerShell.Commands.WriteErrorException"))
    return []


def _sleep(interp: Interpreter, b: Bound) -> Iterable[Any]:
    if b.has("milliseconds"):
        seconds = float(to_number(b.get("milliseconds"))) / 1000
    else:
        seconds = float(to_number(b.get("seconds", 0, 0)))
    interp.rt.machine.sleep(seconds)
    return []


class CommandInfo(NetObject):
    TYPE = "System.Management.Automation.ApplicationInfo"

    def __init__(self, name: str, path: str) -> None:
        self._name = name
        self._path = path

    @property
    def Name(self) -> str:
        return self._name

    @property
    def Path(self) -> str:
        return self._path

    @property
    def Definition(self) -> str:
        return self._path

    def ToString(self, *args: Any) -> str:
        return self._name


def _get_command(interp: Interpreter, b: Bound) -> Iterable[Any]:
    from rollup.lab.pwsh.commands import not_found

    name = to_string(b.get("name", 0))
    if interp.rt.function(name) is not None or interp.commands.cmdlet(name) is not None:
        return [CommandInfo(name, name)]
    program = interp.rt.machine.find_program(name)
    if program is None:
        error = not_found(name)
        interp.rt.write_error(error.record)
        return []
    return [CommandInfo(name.rsplit("\\", 1)[-1], program)]


def _new_object(interp: Interpreter, b: Bound) -> Iterable[Any]:
    from rollup.lab.pwsh.members import call
    from rollup.lab.pwsh.types import resolve

    if b.has("comobject"):
        progid = to_string(b.get("comobject"))
        try:
            return [interp.rt.machine.com_object(progid)]
        except NetException as exc:
            raise runtime_error(
                f"Retrieving the COM class factory for component with CLSID {{00000000-0000-0000-0000-000000000000}} failed due to the following error: {exc.message}",
                "NoCOMClassIdentified,Microsoft.PowerShell.Commands.NewObjectCommand",
                "System.Runtime.InteropServices.COMException",
                category="ResourceUnavailable",
            ) from None
    name = to_string(b.get("typename", 0))
    args = b.get("argumentlist", 1)
    arguments = [] if args is None else (list(args) if isinstance(args, list) else [args])
    try:
        t = resolve(name)
    except PsError:
        raise runtime_error(
            f"Cannot find type [{name}]: make sure the assembly containing this type is loaded.",
            "TypeNotFound,Microsoft.PowerShell.Commands.NewObjectCommand",
            "System.Management.Automation.PSArgumentException",
            category="InvalidType",
        ) from None
    if t.construct is None:
        raise runtime_error(
            f"Constructor not found. Cannot find an appropriate constructor for type {t.full_name}.",
            "CannotFindAppropriateCtor,Microsoft.PowerShell.Commands.NewObjectCommand",
            category="ObjectNotFound",
        )
    obj = call("New-Object", t.construct, arguments, interp.rt, with_runtime=True)
    return [obj]


def _strict(interp: Interpreter, b: Bound) -> Iterable[Any]:
    interp.rt.strict = not b.has("off")
    return []


def _provider(method: str) -> Callable[[Interpreter, Bound], Iterable[Any]]:
    def run(interp: Interpreter, b: Bound) -> Iterable[Any]:
        return list(getattr(interp.rt.machine.provider, method)(interp, b))

    return run


def _wmi(interp: Interpreter, b: Bound) -> Iterable[Any]:
    return list(interp.rt.machine.wmi_query(interp, b))


def _get_module(interp: Interpreter, b: Bound) -> Iterable[Any]:
    """Installed modules with ``-ListAvailable``, else those loaded in this run."""
    found = list(interp.rt.machine.modules(to_string(b.get("name", 0))))
    if b.has("listavailable"):
        return found
    return [m for m in found if m.Name.lower() in interp.rt.machine.imported_modules]


CMDLETS: dict[str, Cmdlet] = {
    c.name.lower(): c
    for c in (
        Cmdlet("Where-Object", ("filterscript", "inputobject"), _where),
        Cmdlet("ForEach-Object", ("process", "begin", "end", "inputobject"), _foreach),
        Cmdlet(
            "Select-Object",
            ("first", "last", "property", "skip", "unique", "inputobject", "expandproperty"),
            _select,
            frozenset({"unique"}),
        ),
        Cmdlet("Out-String", ("width", "stream", "inputobject"), _out_string, frozenset({"stream"})),
        Cmdlet("Out-Null", ("inputobject",), _out_null),
        Cmdlet(
            "Write-Host",
            ("object", "nonewline", "separator", "foregroundcolor", "backgroundcolor"),
            _write_host,
            frozenset({"nonewline"}),
        ),
        Cmdlet("Write-Output", ("inputobject",), _write_output),
        Cmdlet("Write-Error", ("message", "category", "errorid", "targetobject"), _write_error),
        Cmdlet("Start-Sleep", ("seconds", "milliseconds"), _sleep),
        Cmdlet(
            "Get-Command", ("name", "commandtype", "module", "syntax"), _get_command, frozenset({"syntax"})
        ),
        Cmdlet(
            "New-Object",
            ("typename", "argumentlist", "comobject", "property", "strict"),
            _new_object,
            frozenset({"strict"}),
        ),
        Cmdlet("Set-StrictMode", ("version", "off"), _strict, frozenset({"off"})),
        Cmdlet(
            "Test-Path",
            ("path", "literalpath", "pathtype", "isvalid"),
            _provider("test_path"),
            frozenset({"isvalid"}),
        ),
        Cmdlet("Get-Item", ("path", "literalpath", "force"), _provider("get_item"), frozenset({"force"})),
        Cmdlet("Get-ItemProperty", ("path", "literalpath", "name"), _provider("get_item_property")),
        Cmdlet(
            "Get-ChildItem",
            ("path", "literalpath", "filter", "include", "exclude", "recurse", "force", "name"),
            _provider("get_child_item"),
            frozenset({"recurse", "force", "name"}),
        ),
        Cmdlet(
            "Get-WmiObject",
            ("class", "namespace", "filter", "query", "computername", "property", "list"),
            _wmi,
            frozenset({"list"}),
        ),
        Cmdlet(
            "Get-Module", ("name", "listavailable", "all"), _get_module, frozenset({"listavailable", "all"})
        ),
    )
}

ALIASES = {
    "?": "where-object",
    "where": "where-object",
    "%": "foreach-object",
    "foreach": "foreach-object",
    "select": "select-object",
    "echo": "write-output",
    "write": "write-output",
    "sleep": "start-sleep",
    "gci": "get-childitem",
    "dir": "get-childitem",
    "ls": "get-childitem",
    "gp": "get-itemproperty",
    "gi": "get-item",
    "gwmi": "get-wmiobject",
    "gcm": "get-command",
}
