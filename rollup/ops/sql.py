"""
``sql.objects``: whether the database objects a rollup adds exist (read-only).

Runs on the SQL host itself, where integrated authentication needs no delegation (from any
other host it would be a second hop). The client is ``sqlcmd -E -S <instance> -d <database> -b
-h -1 -W -s "|" -Q ...``, or ``osql`` (same flags, ``-h-1 -n``) where sqlcmd is absent (SQL 2000
client tools). The query text is fixed: it lists every index with its table (``sysindexes``) and
every procedure and function (``sysobjects``, types ``P``, ``FN``, ``TF``, ``IF``), through the
compatibility views that exist from SQL 2000 to 2008 R2. The names come in as parameters and
are matched in the script, so no value ever enters SQL text. Only matching rows are reported:

- indexes named ``<table>.<index>`` in ``indexes``;
- procedures and functions whose name is expected, or matches a ``near_miss`` LIKE pattern.

The parser compares expected with found. An object is ``present`` when a row has its name
(ignoring case, as the usual case-insensitive collation does) and an expected type: ``P``;
``FN`` for a scalar function; ``TF`` or ``IF`` for a table-valued one. ``near_miss`` lists what
resembles it: the same name with another type, and rows that only match a near-miss pattern.

KB2492954 spells its procedures "Selete" (``SeleteAndAssembleAllocateOrgMailStores``), so the
check matches that exact name and also asks ``LIKE '%AndAssemble%OrgMailStores'``: a
``SelectAndAssemble...`` procedure is then reported as a near miss, not as present and not as
plainly missing. ``near_miss_patterns`` derives that pattern from the names themselves.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from rollup.errors import CommandFailed
from rollup.model.manifest import Sql
from rollup.ops.base import CommandResult, Operation, compact_body
from rollup.ops.results import ResultModel, read_object

if TYPE_CHECKING:
    pass

Kind = Literal["index", "procedure", "scalar_function", "table_function"]
_TYPES: dict[Kind, frozenset[str]] = {
    "index": frozenset({"IX"}),
    "procedure": frozenset({"P"}),
    "scalar_function": frozenset({"FN"}),
    "table_function": frozenset({"TF", "IF"}),
}
_WORD = re.compile(r"[A-Z][a-z0-9]*|[a-z0-9_]+|[A-Z0-9_]+(?![a-z])")


def _check_names(what: str, names: tuple[str, ...]) -> None:
    for name in names:
        if not name or any(ord(c) < 32 for c in name) or '"' in name:
            raise ValueError(f"sql.objects: {what} {name!r} is blank or holds quotes or control characters")


@dataclass(frozen=True, slots=True, kw_only=True)
class SqlObjectsParams:
    """
    What to look for. ``instance`` is as ``-S`` takes it (``.``, ``MPSSQL01``, ``MPSSQL01\\INST``);
    ``indexes`` are ``<table>.<index>``; ``near_miss`` are SQL LIKE patterns (``%``, ``_``).
    """

    instance: str
    database: str
    indexes: tuple[str, ...] = ()
    procedures: tuple[str, ...] = ()
    scalar_functions: tuple[str, ...] = ()
    table_functions: tuple[str, ...] = ()
    near_miss: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_names("instance", (self.instance,))
        _check_names("database", (self.database,))
        _check_names("name", self.procedures + self.scalar_functions + self.table_functions + self.near_miss)
        _check_names("index", self.indexes)
        if any(i.count(".") != 1 or i.startswith(".") or i.endswith(".") for i in self.indexes):
            raise ValueError("sql.objects: an index is written <table>.<index>")


def _merged(members: list[list[str]]) -> str:
    """``%`` then the words, a position where the members differ becoming ``%`` (runs merged)."""
    parts = ["%"]
    for column in zip(*members, strict=True):
        word = column[0] if len(set(column)) == 1 else "%"
        if not (word == "%" and parts[-1] == "%"):
            parts.append(word)
    return "".join(parts)


def near_miss_patterns(names: tuple[str, ...]) -> tuple[str, ...]:
    """
    LIKE patterns that catch another spelling of ``names``' first word: the first CamelCase word
    becomes ``%``. Names of as many words that then differ in fewer than half of them share one
    pattern, with ``%`` where they differ: KB2492954's two procedures give
    ``%AndAssemble%OrgMailStores``. A one-word name has no pattern.
    """
    groups: dict[int, list[list[str]]] = {}
    for name in names:
        words = _WORD.findall(name)
        if len(words) > 1 and "".join(words) == name:
            groups.setdefault(len(words) - 1, []).append(words[1:])
    patterns: list[str] = []
    for size, members in groups.items():
        differing = sum(len(set(column)) > 1 for column in zip(*members, strict=True))
        shared = 2 * differing < size
        patterns += [_merged(members)] if shared else [_merged([m]) for m in members]
    return tuple(dict.fromkeys(patterns))


def params_for(sql: Sql, *, instance: str = ".") -> SqlObjectsParams:
    """The parameters that check a manifest's ``sql`` section on ``instance`` (``.`` is the local default)."""
    return SqlObjectsParams(
        instance=instance,
        database=sql.database,
        indexes=tuple(f"{i.table}.{i.name}" for i in sql.indexes),
        procedures=sql.procedures,
        scalar_functions=tuple(f.name for f in sql.functions if f.type == "scalar"),
        table_functions=tuple(f.name for f in sql.functions if f.type == "table_valued"),
        near_miss=near_miss_patterns(sql.procedures),
    )


class _Row(ResultModel):
    type: Literal["IX", "P", "FN", "TF", "IF"]
    table: str
    """The index's table; empty for procedures and functions."""
    name: str


class _Rows(ResultModel):
    client: Literal["sqlcmd", "osql"]
    instance: str
    database: str
    rows: tuple[_Row, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class SqlObjectCheck:
    """One expected object: whether it is there, and what resembles it."""

    kind: Kind
    name: str
    table: str | None = None
    present: bool
    near_miss: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class SqlObjectsReport:
    """Expected versus found, per object, in the order of the parameters."""

    client: Literal["sqlcmd", "osql"]
    instance: str
    database: str
    objects: tuple[SqlObjectCheck, ...]

    @property
    def missing(self) -> tuple[SqlObjectCheck, ...]:
        """The expected objects that are not present."""
        return tuple(o for o in self.objects if not o.present)


_QUERY = (
    "SET NOCOUNT ON; "
    "SELECT 'IX', o.name, i.name FROM sysindexes i JOIN sysobjects o ON o.id = i.id "
    "WHERE i.indid BETWEEN 1 AND 254; "
    "SELECT RTRIM(xtype), '', name FROM sysobjects WHERE xtype IN ('P', 'FN', 'TF', 'IF')"
)

SQL_FACTS = compact_body(
    r"""
function Get-RollupSqlObjects($instance, $database, $indexes, $names, $nearMiss) {
    $q = '"""
    + _QUERY.replace("'", "''")
    + r"""'
    if (Get-Command sqlcmd.exe -ErrorAction SilentlyContinue) {
        $client = 'sqlcmd'
        $o = & sqlcmd.exe -E -S $instance -d $database -b -h -1 -W -s '|' -Q $q
    }
    elseif (Get-Command osql.exe -ErrorAction SilentlyContinue) {
        $client = 'osql'
        $o = & osql.exe -E -S $instance -d $database -b '-h-1' -n -w 2048 -s '|' -Q $q
    }
    else { return @{ error = 'no_client'; message = 'neither sqlcmd.exe nor osql.exe is on the PATH' } }
    $rc = $LASTEXITCODE
    $lines = @($o | ForEach-Object { ([string]$_).Trim() } | Where-Object { $_ })
    if ($rc -ne 0) {
        $tail = @($lines | Select-Object -Last 5) -join ' '
        return @{ error = 'sql'; message = "$client exited $($rc): $tail" }
    }
    $rows = New-Object Collections.ArrayList
    foreach ($l in $lines) {
        $f = $l.Split([char[]]'|', 3)
        if ($f.Count -lt 3) { continue }
        $e = @{ type = $f[0].Trim(); table = $f[1].Trim(); name = $f[2].Trim() }
        if ($e.type -eq 'IX') { $keep = $indexes -contains ($e.table + '.' + $e.name) }
        else {
            $keep = $names -contains $e.name
            foreach ($w in $nearMiss) {
                if ($e.name -like $w.Replace('%', '*').Replace('_', '?')) { $keep = $true }
            }
        }
        if ($keep) { [void]$rows.Add($e) }
    }
    return @{ client = $client; instance = $instance; database = $database; rows = $rows }
}
"""
)
"""
``Get-RollupSqlObjects instance database indexes names near-miss-patterns``: the catalog rows
``sql.objects`` reports, or its ``no_client`` / ``sql`` error. The one source of these facts:
``verify.facts`` calls the same function.
"""

BODY = (
    SQL_FACTS
    + "\n"
    + compact_body(r"""
$ErrorActionPreference = 'Stop'
try {
    $names = @($p_procedures) + @($p_scalar_functions) + @($p_table_functions)
    $s = Get-RollupSqlObjects $p_instance $p_database $p_indexes $names $p_near_miss
    Write-RollupResult $s
    if ($s.error) { exit 1 }
}
catch {
    Write-RollupResult @{ error = 'failed'; message = $_.Exception.Message }
    exit 1
}
exit 0
""")
)


def _like(pattern: str, name: str) -> bool:
    """Whether ``name`` matches a LIKE pattern (``%``, ``_``) ignoring case, as the script's ``-like``."""
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, name, re.IGNORECASE | re.DOTALL) is not None


def _wanted(params: SqlObjectsParams) -> list[tuple[Kind, str, str | None]]:
    out: list[tuple[Kind, str, str | None]] = []
    for index in params.indexes:
        table, name = index.split(".")
        out.append(("index", name, table))
    out += [("procedure", n, None) for n in params.procedures]
    out += [("scalar_function", n, None) for n in params.scalar_functions]
    out += [("table_function", n, None) for n in params.table_functions]
    return out


def _closest(name: str, among: list[str]) -> str:
    return max(among, key=lambda n: difflib.SequenceMatcher(None, n.lower(), name.lower()).ratio())


def compare(params: SqlObjectsParams, rows: tuple[tuple[str, str, str], ...]) -> tuple[SqlObjectCheck, ...]:
    """
    Expected versus found for ``(type, table, name)`` rows, ignoring case. A row that only
    matches a near-miss pattern is a near miss of the expected procedure most like it among
    those the same pattern matches (of all expected procedures when none does).
    """
    wanted = _wanted(params)
    expected = {name.lower() for _, name, _ in wanted}
    procedures = list(params.procedures)
    strays: dict[str, list[str]] = {}
    for kind, _, name in rows:
        if kind != "IX" and name.lower() not in expected and procedures:
            patterns = [p for p in params.near_miss if _like(p, name)]
            related = [e for e in procedures if any(_like(p, e) for p in patterns)] or procedures
            strays.setdefault(_closest(name, related).lower(), []).append(name)
    checks = []
    for kind, name, table in wanted:
        if kind == "index":
            key = ((table or "").lower(), name.lower())
            same = [r for r in rows if r[0] == "IX" and (r[1].lower(), r[2].lower()) == key]
        else:
            same = [r for r in rows if r[0] != "IX" and r[2].lower() == name.lower()]
        present = any(r[0] in _TYPES[kind] for r in same)
        other_type = [f"{r[2]} ({r[0]})" for r in same if r[0] not in _TYPES[kind]]
        near = tuple(other_type + strays.get(name.lower(), []))
        checks.append(SqlObjectCheck(kind=kind, name=name, table=table, present=present, near_miss=near))
    return tuple(checks)


def parse(result: CommandResult, params: SqlObjectsParams) -> SqlObjectsReport:
    """
    Expected versus found, per object. Missing objects are a finding, not an error.

    Raises:
        CommandFailed: No SQL client on the host, or the query failed (login, database, server).
        ResultParseError: No result line or a malformed one.
    """
    data = read_object(result)
    if "error" in data:
        hint = "run the check on the SQL host, as an account with access to the database"
        raise CommandFailed(f"{result.host}: sql.objects {params.database}: {data.get('message')}", hint=hint)
    found = _Rows.read(result, data)
    rows = tuple((r.type, r.table, r.name) for r in found.rows)
    return SqlObjectsReport(
        client=found.client, instance=found.instance, database=found.database, objects=compare(params, rows)
    )


def _keep(params: SqlObjectsParams, kind: str, table: str, name: str) -> bool:
    """The script's row filter."""
    if kind == "IX":
        return f"{table}.{name}".lower() in {i.lower() for i in params.indexes}
    names = {n.lower() for n in params.procedures + params.scalar_functions + params.table_functions}
    return name.lower() in names or any(_like(p, name) for p in params.near_miss)


_KB = SqlObjectsParams(
    instance=".",
    database="ResourceManager",
    indexes=("rmcore_Candidates.rmcore_candidates_ix_target_set_object_category_object_id_trans_id",),
    procedures=("SeleteAndAssembleAllocateOrgMailStores", "SeleteAndAssembleReallocateOrgMailStores"),
    scalar_functions=("fn_min",),
    table_functions=(
        "fn_ResourceCapacityOnAllocatedMailStores",
        "fn_ResourceCapacityOnUnallocatedMailStores",
    ),
    near_miss=("%AndAssemble%OrgMailStores",),
)

OBJECTS: Operation[SqlObjectsParams, SqlObjectsReport] = Operation(
    id="sql.objects",
    params=SqlObjectsParams,
    body=BODY,
    parse=parse,
    kind="sql",
    mutates=False,
    timeout_s=300.0,
    examples=(
        _KB,
        SqlObjectsParams(instance="MPSSQL01\\HMC", database="ResourceManager", procedures=("p",)),
        SqlObjectsParams(
            instance="SQL'; DROP TABLE x; --",
            database="Db $(calc) `n",
            indexes=("t'][x.ix; --",),
            procedures=("x' OR 1=1 --", "\u2019quoted\u2019"),
            near_miss=("%'; SHUTDOWN --",),
        ),
    ),
)

OPERATIONS = (OBJECTS,)
