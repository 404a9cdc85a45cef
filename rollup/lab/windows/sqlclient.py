"""
``sqlcmd.exe`` and ``osql.exe`` on the simulated host, over ``HostState.databases``.

Which client tools a host has comes from its SQL Server (``sql_server_version``): SQL Server
2005 (9) and 2008 (10) install ``sqlcmd`` and ``osql``; SQL Server 2000 (8) only ``osql``; a host
without SQL Server has neither. A host has SQL Server when its state says which
(``HostState.sql_version``), or when it holds databases or has the ``mpssql`` role (then 2005,
the version the lab's hosts always had).

Each program parses its own command line (options are case-sensitive, as both tools read
them): ``-E`` (trusted connection), ``-S server[\\instance]``, ``-d database``, ``-b``, ``-h
headers``, ``-W`` (sqlcmd), ``-n`` and ``-w width`` (osql), ``-s separator``, ``-Q query``. It
connects to the local default instance (``.``, ``(local)``, ``localhost`` or the computer's
name; a named instance needs its ``MSSQL$NAME`` service), then opens the database, and answers
the catalog queries the rollup's scripts send (``CATALOG_QUERY``): the ``IX`` rows of
``sysindexes`` joined to ``sysobjects``, and the procedures and functions of ``sysobjects``. A
query the model does not know is answered with an error (exit code 1 with ``-b``, 0 without, as
the tools do for a failed statement), never with made-up rows. Without ``-Q`` the tools read
their input, which the model takes only when it is empty.

Output is the tools' own: sqlcmd with ``-h -1 -W -s '|'`` prints one line per row, columns
trimmed and separated by ``|``; osql pads each column to its width and starts the line with a
space. Errors are SQL Server's messages (``Msg 4060, Level 11, State 1, Server X, Line 1``),
connection failures the client library's, each with exit code 1.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rollup.lab.windows.cmdline import split

if TYPE_CHECKING:
    from rollup.lab.state import HostState, SqlDatabase
    from rollup.lab.windows.machine import Machine, Program

SQLCMD_VERSIONS = frozenset({9, 10})
"""SQL Server versions whose client tools include sqlcmd (osql comes with every version)."""

_STATEMENTS = {
    "set nocount on": "nocount",
    "set nocount off": "count",
    "select 'ix', o.name, i.name from sysindexes i join sysobjects o on o.id = i.id "
    "where i.indid between 1 and 254": "indexes",
    "select rtrim(xtype), '', name from sysobjects where xtype in ('p', 'fn', 'tf', 'if')": "programmables",
}
"""The statements the model answers, as lower-case text with single spaces."""

_WIDTHS = {"indexes": (2, 128, 128), "programmables": (2, 1, 128)}
"""The display width of each column (osql pads to it): a literal, then sysname columns."""


def sql_server_version(state: HostState) -> int | None:
    """The major version of the host's SQL Server (8, 9, 10), or ``None`` when it has none."""
    if state.sql_version is not None:
        return state.sql_version
    return 9 if state.databases or "mpssql" in state.roles else None


def sql_programs(machine: Machine) -> dict[str, Program]:
    """The SQL client tools of the host, by full path."""
    version = sql_server_version(machine.state)
    if version is None:
        return {}
    binn = f"C:\\Program Files\\Microsoft SQL Server\\{version}0\\Tools\\Binn"
    found: dict[str, Program] = {binn + "\\OSQL.EXE": osql}
    if version in SQLCMD_VERSIONS:
        found[binn + "\\SQLCMD.EXE"] = sqlcmd
    return found


@dataclass
class _Options:
    server: str = ""
    database: str | None = None
    query: str | None = None
    separator: str = " "
    abort_on_error: bool = False


class _UsageError(Exception):
    pass


_SQLCMD_SWITCHES = frozenset("AEIWXbepuLRk?")
_SQLCMD_VALUES = frozenset("SdQqhswUPHltcioVvxmfraZz")
_OSQL_SWITCHES = frozenset("EIbneOXpuLR?")
_OSQL_VALUES = frozenset("SdQqhswUPHltcioDmra")


def _parse(args: list[str], tool: str) -> _Options:
    switches = _SQLCMD_SWITCHES if tool == "sqlcmd" else _OSQL_SWITCHES
    values = _SQLCMD_VALUES if tool == "sqlcmd" else _OSQL_VALUES
    opts = _Options()
    i = 0
    while i < len(args):
        word = args[i]
        if len(word) < 2 or word[0] not in "-/":
            raise _UsageError(f"'{word}': Unexpected argument.")
        letter, attached = word[1], word[2:]
        if letter in switches and not attached:
            opts.abort_on_error = opts.abort_on_error or letter == "b"
            i += 1
            continue
        if letter not in values:
            raise _UsageError(f"'{word[:2]}': Unknown Option.")
        if attached:
            value = attached
            i += 1
        elif i + 1 < len(args) and not (args[i + 1][:1] == "-" and not re.fullmatch(r"-\d+", args[i + 1])):
            value = args[i + 1]
            i += 2
        else:
            raise _UsageError(f"'-{letter}': Missing argument.")
        _set(opts, letter, value)
    return opts


def _set(opts: _Options, letter: str, value: str) -> None:
    """One option that takes a value."""
    if letter == "S":
        opts.server = value
    elif letter == "d":
        opts.database = value
    elif letter == "Q":
        opts.query = value
    elif letter == "s":
        if len(value) != 1:
            raise _UsageError(f"'-s {value}': Unexpected argument. Argument value has to be one character.")
        opts.separator = value
    elif letter == "h" and not re.fullmatch(r"-1|\d+", value):
        raise _UsageError(f"'-h {value}': Unexpected argument. Argument value has to be -1 or a number.")
    elif letter == "w" and not value.isdigit():
        raise _UsageError(f"'-w {value}': Unexpected argument.")


def _local_names(machine: Machine) -> set[str]:
    return {".", "(local)", "localhost", "127.0.0.1", machine.computer_name().lower()}


def _service_running(state: HostState, name: str, *, required: bool) -> bool:
    service = state.services.get(name.lower())
    if service is None:
        return not required
    return service.status == "Running"


def _connect(machine: Machine, server: str, tool: str) -> str | None:
    """The connection failure's text, or ``None`` when the instance answers."""
    host, _, instance = (server or ".").partition("\\")
    state = machine.state
    local = host.lower() in _local_names(machine)
    if instance:
        running = local and _service_running(state, f"MSSQL${instance}", required=True)
    else:
        running = local and _service_running(state, "MSSQLSERVER", required=False)
    if running:
        return None
    if tool == "osql":
        return "[DBNETLIB]SQL Server does not exist or access denied.\r\n[DBNETLIB]ConnectionOpen (Connect()).\r\n"
    client = "SQL Server Native Client 10.0" if sql_server_version(state) == 10 else "SQL Native Client"
    if instance:
        first = (
            "HResult 0xFFFFFFFF, Level 16, State 1\r\n"
            "SQL Network Interfaces: Error Locating Server/Instance Specified [xFFFFFFFF]. \r\n"
        )
    else:
        first = "HResult 0x2, Level 16, State 1\r\nNamed Pipes Provider: Could not open a connection to SQL Server [2]. \r\n"
    return (
        first
        + f"Sqlcmd: Error: Microsoft {client} : An error has occurred while establishing a connection to the "
        "server. When connecting to SQL Server 2005, this failure may be caused by the fact that under the "
        "default settings SQL Server does not allow remote connections..\r\n"
        f"Sqlcmd: Error: Microsoft {client} : Login timeout expired.\r\n"
    )


def _server_name(machine: Machine, server: str) -> str:
    _, _, instance = server.partition("\\")
    name = machine.computer_name()
    return f"{name}\\{instance.upper()}" if instance else name


def _msg(number: int, level: int, server: str, text: str) -> str:
    return f"Msg {number}, Level {level}, State 1, Server {server}, Line 1\r\n{text}\r\n"


def _open(machine: Machine, opts: _Options) -> SqlDatabase | str:
    """The database, or SQL Server's login failure for it."""
    state = machine.state
    name = opts.database or "master"
    found = state.databases.get(name.lower())
    if found is not None or name.lower() in ("master", "tempdb", "model", "msdb"):
        from rollup.lab.state import SqlDatabase

        return found or SqlDatabase(name=name)
    server = _server_name(machine, opts.server)
    if sql_server_version(state) == 8:
        text = f"Cannot open database requested in login '{name}'. Login fails."
        failed = f"Login failed for user '{machine.user}'."
    else:
        text = f'Cannot open database "{name}" requested by the login. The login failed.'
        failed = f"Login failed for user '{machine.user}'."
    return _msg(4060, 11, server, text) + _msg(18456, 14, server, failed)


def _rows(database: SqlDatabase, kind: str) -> list[tuple[str, str, str]]:
    if kind == "indexes":
        return [("IX", o.table or "", o.name) for o in database.objects if o.type == "IX"]
    return [(o.type, "", o.name) for o in database.objects if o.type in ("P", "FN", "TF", "IF")]


def _statements(query: str) -> list[str] | None:
    """The kinds of the query's statements, or ``None`` when one is not a statement the model knows."""
    out = []
    for part in query.split(";"):
        text = " ".join(part.split()).lower()
        if not text:
            continue
        kind = _STATEMENTS.get(text)
        if kind is None:
            return None
        out.append(kind)
    return out


def _run(machine: Machine, command_line: str, stdin: str, tool: str) -> tuple[int, str, str]:
    name = "Sqlcmd" if tool == "sqlcmd" else "osql"
    try:
        opts = _parse(split(command_line), tool)
    except _UsageError as exc:
        return 1, f"{name}: {exc} Enter '-?' for help.\r\n", ""
    failure = _connect(machine, opts.server, tool)
    if failure is not None:
        return 1, failure, ""
    database = _open(machine, opts)
    if isinstance(database, str):
        return 1, database, ""
    if opts.query is None:
        if not stdin.strip():
            return 0, "", ""
        return 1, f"{name}: the lab's SQL Server model runs queries given with -Q only.\r\n", ""
    kinds = _statements(opts.query)
    if kinds is None:
        text = "The lab's SQL Server model does not answer this query."
        code = 1 if opts.abort_on_error else 0
        return code, _msg(50000, 16, _server_name(machine, opts.server), text), ""
    out: list[str] = []
    count = True
    for kind in kinds:
        if kind in ("nocount", "count"):
            count = kind == "count"
            continue
        rows = _rows(database, kind)
        for row in rows:
            if tool == "sqlcmd":
                out.append(opts.separator.join(row))
            else:
                widths = _WIDTHS[kind]
                out.append(" " + opts.separator.join(v.ljust(w) for v, w in zip(row, widths, strict=True)))
        if count:
            out += ["", f"({len(rows)} rows affected)"]
    return 0, "".join(line + "\r\n" for line in out), ""


def sqlcmd(machine: Machine, command_line: str, stdin: str) -> tuple[int, str, str]:
    """``sqlcmd.exe`` (SQL Server 2005 and 2008)."""
    return _run(machine, command_line, stdin, "sqlcmd")


def osql(machine: Machine, command_line: str, stdin: str) -> tuple[int, str, str]:
    """``osql.exe`` (every version; the only client of SQL Server 2000)."""
    return _run(machine, command_line, stdin, "osql")
