"""
What PowerShell 2.0 on CLR 2.0 does not have: the data ``rollup.ps.check`` looks up.

Sources: windows-ops reference §7 (cmdlets and features not in PowerShell 2.0) and the
PowerShell release notes. Names are lower-case; type names are kept without a ``system.``
prefix. Each entry says in which version (or on which platform) the thing appeared, which
is the text of the finding. This is a list of traps met in practice, not a grammar of 2.0.
"""

from __future__ import annotations

import re

_PS3, _PS4, _PS5, _PS6 = "PowerShell 3.0", "PowerShell 4.0", "PowerShell 5.0", "PowerShell 6.0"
_WIN8 = "Windows 8/Server 2012 module"
_NET4 = ".NET 4 API (CLR 2.0 cannot load it)"
NET4_REASON = _NET4


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


COMMANDS: dict[str, str] = {
    **dict.fromkeys(
        _words(
            "convertto-json convertfrom-json invoke-webrequest invoke-restmethod unblock-file "
            "register-scheduledjob get-scheduledjob unregister-scheduledjob disconnect-pssession "
            "connect-pssession receive-pssession show-command get-controlpanelitem rename-computer "
            "resume-job suspend-job update-help save-help get-typedata remove-typedata "
            "invoke-asworkflow new-psworkflowsession new-pstransportoption"
        ),
        _PS3,
    ),
    **dict.fromkeys(_words("get-filehash start-dscconfiguration get-dscresource"), _PS4),
    **dict.fromkeys(
        _words(
            "new-temporaryfile expand-archive compress-archive get-itempropertyvalue new-guid "
            "write-information convertfrom-string format-hex get-clipboard set-clipboard "
            "clear-recyclebin get-computerinfo get-timezone set-timezone get-runspace "
            "enter-pshostprocess import-powershelldatafile convertfrom-sddlstring "
            "install-module find-module install-package"
        ),
        _PS5,
    ),
    **dict.fromkeys(
        _words("resolve-dnsname test-netconnection get-windowsoptionalfeature install-windowsfeature"), _WIN8
    ),
}
"""Commands, by full name, that are absent from PowerShell 2.0 on Server 2003/2008."""

NOUN_PREFIXES: dict[str, str] = {
    "cim": _PS3,
    "dsc": _PS4,
    "localuser": "PowerShell 5.1",
    "localgroup": "PowerShell 5.1",
    **dict.fromkeys(
        _words("net smb scheduledtask disk partition volume storage dnsclient vm iscsi bitlocker"), _WIN8
    ),
}
"""Noun prefixes of whole command families (``Get-CimInstance``, ``Get-NetAdapter``, ``Get-VM``...)."""


def command_version(name: str) -> str | None:
    """Why a command (canonical lower-case name) is not in PowerShell 2.0 on 2003/2008, or None."""
    if name in COMMANDS:
        return COMMANDS[name]
    _, dash, noun = name.partition("-")
    if dash:
        for prefix, why in NOUN_PREFIXES.items():
            if noun.startswith(prefix):
                return why
    return None


ALIASES: dict[str, str] = {
    "gc": "get-content", "cat": "get-content", "type": "get-content",
    "gci": "get-childitem", "ls": "get-childitem", "dir": "get-childitem",
    "sc": "set-content", "ac": "add-content", "epcsv": "export-csv",
    "cpi": "copy-item", "copy": "copy-item", "cp": "copy-item", "icm": "invoke-command",
    "?": "where-object", "where": "where-object", "%": "foreach-object", "foreach": "foreach-object",
    "iwr": "invoke-webrequest", "irm": "invoke-restmethod", "gcim": "get-ciminstance",
    "icim": "invoke-cimmethod", "ncim": "new-ciminstance", "rcim": "remove-ciminstance",
    "scim": "set-ciminstance", "gcls": "get-cimclass", "ncso": "new-cimsessionoption",
    "ncms": "new-cimsession", "gcms": "get-cimsession", "rcms": "remove-cimsession",
    "gi": "get-item", "ri": "remove-item", "del": "remove-item", "rm": "remove-item",
}  # fmt: skip
"""PowerShell 2.0's aliases (and 3.0's, which resolve to a newer command), lower-case."""

_NO_NEWLINE = {"nonewline": _PS5}
PARAMETERS: dict[str, dict[str, str]] = {
    "get-content": {"raw": _PS3, "tail": _PS3, "stream": _PS3},
    "get-childitem": {
        **dict.fromkeys(_words("file directory attributes hidden readonly system af ad ah ar as"), _PS3),
        "depth": _PS5,
    },
    "get-item": {"stream": _PS3},
    "remove-item": {"stream": _PS3},
    "out-file": _NO_NEWLINE,
    "set-content": _NO_NEWLINE,
    "add-content": _NO_NEWLINE,
    "copy-item": {"tosession": _PS5, "fromsession": _PS5},
    "invoke-command": {"indisconnectedsession": _PS3},
    "export-csv": {"append": _PS3},
    "add-member": dict.fromkeys(
        _words("notepropertyname notepropertyvalue notepropertymembers typename"), _PS3
    ),
    "get-process": {"includeusername": _PS4},
}
"""Parameters, by canonical command, that PowerShell 2.0's version of the command lacks."""

COMMON_PARAMETERS: dict[str, str] = {
    **dict.fromkeys(("pipelinevariable", "pv"), _PS4),
    **dict.fromkeys(("informationaction", "infa", "informationvariable", "iv"), _PS5),
}
"""Common parameters added after 2.0 (every command)."""

ACTION_PARAMETERS = frozenset({"erroraction", "ea", "warningaction", "wa"})
NEW_ACTIONS = frozenset({"ignore", "suspend"})
"""``-ErrorAction Ignore`` and ``Suspend`` are 3.0 values of the action parameters."""

_COMMON = ("verbose", "debug", "erroraction", "warningaction", "errorvariable", "warningvariable",
           "outvariable", "outbuffer", "vb", "db", "ea", "wa", "ev", "wv", "ov", "ob")  # fmt: skip
SCRIPT_BLOCK_ONLY: dict[str, tuple[str, ...]] = {
    "where-object": ("filterscript", "inputobject", *_COMMON),
    "foreach-object": ("process", "begin", "end", "inputobject", *_COMMON),
}
"""2.0's parameters of the two commands that 3.0 gave a simplified syntax."""

SWITCHES = frozenset({"verbose", "debug", "vb", "db"})

_SCRIPT_BLOCK_LIKE = frozenset(
    {"script_block_expression", "variable", "parenthesized_expression", "sub_expression",
     "member_access", "invokation_expression", "element_access", "expression_with_unary_operator"}
)  # fmt: skip


def could_be_script_block(kind: str) -> bool:
    """Whether an argument of this node kind may hold a script block (a literal word may not)."""
    return kind in _SCRIPT_BLOCK_LIKE


TYPES: dict[str, str] = {
    "ordered": _PS3,
    "pscustomobject": _PS3,
    **dict.fromkeys(
        _words(
            "tuple lazy io.compression.zipfile io.compression.ziparchive io.compression.ziparchiveentry "
            "io.compression.ziparchivemode io.compression.compressionlevel io.compression.zipfileextensions "
            "numerics.biginteger numerics.complex dynamic.expandoobject collections.generic.sortedset "
            "threading.cancellationtokensource threading.semaphoreslim"
        ),
        _NET4,
    ),
}
TYPE_PREFIXES: tuple[str, ...] = (
    "net.http.", "collections.concurrent.", "threading.tasks.", "io.memorymappedfiles.", "runtime.caching.",
)  # fmt: skip


NET4_ASSEMBLIES: tuple[str, ...] = ("system.io.compression", "system.net.http")
"""Assemblies (``Add-Type -AssemblyName``) that ship with .NET 4.5 and later only."""


def _normal_type(name: str) -> str:
    name = name.strip().strip("[]").lower()
    return name[len("system.") :] if name.startswith("system.") else name


def type_version(name: str) -> str | None:
    """Why a type name is not available in PowerShell 2.0 on CLR 2.0, or None."""
    normal = _normal_type(name)
    if normal in TYPES:
        return TYPES[normal]
    return _NET4 if normal.startswith(TYPE_PREFIXES) else None


STATIC_MEMBERS: dict[tuple[str, str], str] = {
    **dict.fromkeys(
        [("environment", "is64bitoperatingsystem"), ("environment", "is64bitprocess"),
         ("string", "isnullorwhitespace"), ("io.directory", "enumeratefiles"),
         ("io.directory", "enumeratedirectories"), ("io.directory", "enumeratefilesystementries"),
         ("io.file", "readlines"), ("io.file", "appendalllines"), ("version", "parse"),
         ("version", "tryparse"), ("guid", "parse"), ("guid", "tryparse"), ("guid", "parseexact"),
         ("enum", "tryparse"), ("timespan", "parseexact"), ("timespan", "tryparseexact"),
         ("net.securityprotocoltype", "tls11"), ("net.securityprotocoltype", "tls12")],
        _NET4,
    ),
    ("management.automation.actionpreference", "ignore"): _PS3,
}  # fmt: skip
"""``[Type]::Member`` pairs (normalised type name, member) that need .NET 4 or PowerShell 3.0."""


def static_member_version(type_name: str, member: str, arguments: int) -> str | None:
    """Why ``[type_name]::member`` (called with ``arguments`` arguments) is not 2.0, or None."""
    normal = _normal_type(type_name)
    if member == "new":
        return f"::new() is {_PS5}; use New-Object"
    if (normal, member) == ("io.path", "combine") and arguments > 2:
        return f"Path.Combine with more than two parts is {_NET4}"
    return STATIC_MEMBERS.get((normal, member))


INSTANCE_METHODS: dict[str, str] = {
    "where": f".Where() is {_PS4}",
    "foreach": f".ForEach() is {_PS4}",
    "hasflag": _NET4,
    **dict.fromkeys(
        _words("enumeratefiles enumeratedirectories enumeratefilesystementries enumeratefilesysteminfos"),
        _NET4,
    ),
}
INSTANCE_PROPERTIES: dict[str, str] = {
    "starttype": f"StartType is {_PS5} (.NET 4.6.1); use Win32_Service.StartMode",
}


def instance_member_version(member: str, call: bool) -> str | None:
    """Why ``$x.member`` (a method call when ``call``) is not 2.0, or None."""
    return INSTANCE_METHODS.get(member) if call else INSTANCE_PROPERTIES.get(member)


STREAM_SOURCE = re.compile(
    r"\[(?:system\.)?io\.file\]::(?:open|openread|openwrite|create)\b"
    r"|\.(?:openread|openwrite|getresponsestream|getrequeststream|basestream)\b"
    r"|new-object\s+(?:-typename\s+)?(?:system\.)?[\w.]*stream\b"
    r"|\[(?:system\.)?[\w.]*stream\]",
    re.IGNORECASE,
)
"""Expressions that produce a ``System.IO.Stream`` (so ``.CopyTo(`` on them is .NET 4)."""

VARIABLES: dict[str, str] = {
    "psitem": _PS3,
    "psscriptroot": f"{_PS3} outside modules",
    "pscommandpath": _PS3,
    "psdefaultparametervalues": _PS3,
    "psedition": "PowerShell 5.1",
    **dict.fromkeys(("iswindows", "islinux", "ismacos", "iscoreclr"), _PS6),
}
"""Automatic variables PowerShell 2.0 does not set (reading them gives ``$null`` silently)."""


def variable_name(text: str) -> tuple[str, str]:
    """``(scope, name)`` of a variable's text, lower-case: ``$using:x`` -> ``("using", "x")``."""
    body = text.lstrip("$@").strip("{}").lower()
    scope, _, name = body.rpartition(":")
    return scope, name


OPERATORS: dict[str, str] = {
    **dict.fromkeys(("-in", "-notin", "-shl", "-shr"), _PS3),
    **dict.fromkeys(("*>", "*>>", "*>&1", "*>&2"), f"redirecting all streams is {_PS3}"),
    **{f"{n}{r}": f"redirecting stream {n} is {_PS3}" for n in "3456" for r in (">", ">>", ">&1", ">&2")},
}
"""Operators and redirections PowerShell 2.0 does not parse."""

NODE_KINDS: dict[str, str] = {
    "class_statement": f"class is {_PS5}",
    "enum_statement": f"enum is {_PS5}",
    "parallel_statement": f"workflow parallel is {_PS3}",
    "sequence_statement": f"workflow sequence is {_PS3}",
    "inlinescript_statement": f"workflow InlineScript is {_PS3}",
    "invokation_foreach_expression": f".ForEach{{}} is {_PS4}",
    "pipeline_chain_tail": "&& and || are PowerShell 7.0",
}
"""Syntax node kinds that only exist in later versions."""

_REQUIRES_VERSION = re.compile(r"-version\s+(\d+)", re.IGNORECASE)
REQUIRES_OPTIONS: dict[str, str] = {
    "modules": _PS3,
    "runasadministrator": _PS4,
    "psedition": "PowerShell 5.1",
}


def requires_version(line: str) -> str | None:
    """Why a ``#requires`` line asks for more than PowerShell 2.0, or None."""
    version = _REQUIRES_VERSION.search(line)
    if version and int(version.group(1)) > 2:
        return f"asks for PowerShell {version.group(1)}"
    for option, why in REQUIRES_OPTIONS.items():
        if re.search(rf"-{option}\b", line, re.IGNORECASE):
            return f"-{option} is {why}"
    return None
