"""
``verify.facts``: everything ``rollup verify`` and ``rollup preflight`` read on one host, in one script.

A per-check round trip costs a WinRM command each (three requests, and the host starts a
PowerShell process every time); over a fleet that is most of the run. This operation reads the
fact groups a host's roles need in one script. Its parameters say which groups: an empty group
is not read at all.

- ``files``: size, last write time (UTC) and, with ``file_identity``, SHA-256 and the MSI's
  ProductCode, ProductName and ProductVersion of each path, as ``files.stat`` reads them;
- ``products``: the Uninstall entries (both registry views, as ``products.list``) whose
  DisplayName, reduced to lower-case letters and digits (``name_key``), is one of
  ``product_names``, or whose key is one of ``product_codes``: a component is found whether
  its entry spells it ``Managed Email2007 Web Services`` or ``managed email 2007 web services``;
- ``vdirs``: the directory security of IIS virtual directories (``<site>/<vdir>``), as
  ``iis.get_vdir`` reads it: ADSI on IIS 6, ``appcmd list config`` on IIS 7;
- ``sql``: the rows of the SQL catalog that ``sql.objects`` reports, through sqlcmd or osql on
  the host itself;
- ``complus``: each COM+ application's state, as ``complus.state``;
- ``services``: each Windows service's state and start mode, as ``service.state``;
- ``installed``: the files the components' packages installed (paths as the lock records them,
  ``[ProgramFilesFolder]...``): size, version resource and, for ``installed_hashed``, SHA-256,
  as ``files.installed`` reads them;
- ``listing``: every file below some folders (written the same way), as ``files.listing`` reads
  them, for ``rollup verify --baseline``;
- ``reboot``: the reasons Windows keeps for a pending restart, as ``host.facts`` reads them.

Each group's result has the shape of its single operation's result, so the parsers and the lab
simulations of those operations read and produce it here too: the composite cannot drift apart
from them. Each group is read in its own ``try``: one that fails (no SQL client, WMI refusing)
is reported under ``errors`` and the others still arrive. The script changes nothing.

The script holds the code of the groups asked for only (``script_body``), and the hashing
helpers only when files are hashed, so a host's script is no longer than its roles need. Every
parameter is bound in every script, so the SQL group is one field (``sql``, ``key=value``
entries) rather than seven.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rollup.errors import CommandFailed, ResultParseError
from rollup.ops import complus, iis, products, service
from rollup.ops.base import CommandResult, Operation, params_to_mapping
from rollup.ops.complus import ComPlusState
from rollup.ops.files import FileStat, StatParams
from rollup.ops.iis import VdirSecurity
from rollup.ops.installed import InstalledParams, InstalledStat
from rollup.ops.listing import ListedFile, ListingParams
from rollup.ops.products import InstalledEntry
from rollup.ops.results import read_object
from rollup.ops.service import ServiceStates
from rollup.ops.sql import SqlObjectsParams, SqlObjectsReport
from rollup.ops.verify_script import BODY as BODY  # noqa: PLC0414 - re-exported
from rollup.ops.verify_script import IDENTITY_HELPERS
from rollup.ops.verify_script import script_body as script_body  # noqa: PLC0414 - re-exported
from rollup.ops.verify_script import script_helpers as script_helpers  # noqa: PLC0414 - re-exported
from rollup.ps.command import RemoteCommand
from rollup.ps.result import RESULT_MARKER

if TYPE_CHECKING:
    pass

_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]")


def name_key(text: str) -> str:
    """A product name as the script compares it: ASCII letters and digits only, lower case."""
    return _NOT_ALNUM.sub("", text).lower()


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyParams:
    """The fact groups to read (see the module docstring); an empty group is skipped."""

    files: tuple[str, ...] = ()
    file_identity: bool = False
    product_names: tuple[str, ...] = ()
    """``name_key`` of each DisplayName to report."""
    product_codes: tuple[str, ...] = ()
    vdirs: tuple[str, ...] = ()
    """``<site>/<vdir>``: the site's name (no ``/``), then the virtual directory's path."""
    sql: tuple[str, ...] = ()
    """
    The SQL group as ``key=value`` entries (``sql_group`` makes them from ``sql.objects``
    parameters): ``instance=`` and ``database=`` once each, then any ``index=<table>.<index>``,
    ``procedure=``, ``scalar_function=``, ``table_function=`` and ``near_miss=`` entries. One
    field rather than seven, because every field is bound in every host's script.
    """
    complus: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    installed: tuple[str, ...] = ()
    """Installed files to read (``files.installed`` paths: ``[ProgramFilesFolder]...``)."""
    installed_hashed: tuple[str, ...] = ()
    """Those of ``installed`` to hash (the unversioned files)."""
    listing: tuple[str, ...] = ()
    """Folders to list every file of (``files.listing``'s), for a comparison with a baseline."""
    reboot: bool = False
    """Read the reasons for a pending restart."""

    def __post_init__(self) -> None:
        for query in self.vdirs:
            _split_vdir(query)
        self.sql_objects()
        for name in self.complus:
            complus.ComPlusParams(application=name)
        if self.services:
            service.ServiceParams(names=self.services)
        self.installed_files()
        ListingParams(folders=self.listing)

    def stat(self) -> StatParams:
        """The ``files.stat`` parameters of the files group."""
        return StatParams(paths=self.files, sha256=self.file_identity, msi=self.file_identity)

    def sql_objects(self) -> SqlObjectsParams | None:
        """
        The ``sql.objects`` parameters of the SQL group, or ``None`` when it is not read.

        Raises:
            ValueError: an entry is not ``key=value`` with a known key, or ``instance`` or
                ``database`` is not given exactly once.
        """
        if not self.sql:
            return None
        values: dict[str, list[str]] = {key: [] for key in ("instance", "database", *_SQL_LISTS)}
        for entry in self.sql:
            key, equals, value = entry.partition("=")
            if not equals or key not in values:
                raise ValueError(f"verify.facts: SQL entry {entry!r} is not <key>=<value> with a known key")
            values[key].append(value)
        if len(values["instance"]) != 1 or len(values["database"]) != 1:
            raise ValueError("verify.facts: the SQL group names one instance and one database")
        lists = {key: tuple(values[key]) for key in _SQL_LISTS}
        return SqlObjectsParams(
            instance=values["instance"][0],
            database=values["database"][0],
            indexes=lists["index"],
            procedures=lists["procedure"],
            scalar_functions=lists["scalar_function"],
            table_functions=lists["table_function"],
            near_miss=lists["near_miss"],
        )

    def installed_files(self) -> InstalledParams:
        """The ``files.installed`` parameters of the installed group.

        Raises:
            ValueError: a path is not ``[Folder]path`` of a known folder, or a hashed path is not asked for.
        """
        return InstalledParams(paths=self.installed, hashed=self.installed_hashed)

    @property
    def empty(self) -> bool:
        """Whether no group is asked for (the host has nothing to read)."""
        groups = (self.files, self.product_names, self.product_codes, self.vdirs, self.complus, self.services,
                  self.installed, self.listing)  # fmt: skip
        return not any(groups) and not self.sql and not self.reboot


_SQL_LISTS = ("index", "procedure", "scalar_function", "table_function", "near_miss")
"""The keys of the SQL group that may repeat, in ``SqlObjectsParams`` order."""


def sql_group(objects: SqlObjectsParams) -> tuple[str, ...]:
    """The ``VerifyParams.sql`` entries that read what ``objects`` asks ``sql.objects`` for."""
    lists = (objects.indexes, objects.procedures, objects.scalar_functions, objects.table_functions,
             objects.near_miss)  # fmt: skip
    return (
        f"instance={objects.instance}",
        f"database={objects.database}",
        *(f"{key}={value}" for key, values in zip(_SQL_LISTS, lists, strict=True) for value in values),
    )


def _split_vdir(query: str) -> iis.VdirParams:
    site, slash, vdir = query.partition("/")
    if not slash:
        raise ValueError(f"verify.facts: vdir {query!r} is not <site>/<vdir>")
    return iis.VdirParams(site=site, vdir=vdir)


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A fact the host could not read; ``message`` is the host's own text."""

    message: str


@dataclass(frozen=True, slots=True)
class VdirMissing:
    """IIS, the web site or the virtual directory does not exist (a finding, not an error)."""

    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyFacts:
    """What ``verify.facts`` read. A group not asked for is ``None`` (or empty)."""

    files: tuple[FileStat, ...] | Unreadable | None = None
    products: tuple[InstalledEntry, ...] | Unreadable | None = None
    vdirs: Mapping[str, VdirSecurity | VdirMissing | Unreadable] = field(default_factory=dict)
    sql: SqlObjectsReport | Unreadable | None = None
    complus: Mapping[str, ComPlusState | Unreadable] = field(default_factory=dict)
    services: ServiceStates | Unreadable | None = None
    installed: tuple[InstalledStat, ...] | Unreadable | None = None
    listing: tuple[ListedFile, ...] | Unreadable | None = None
    pending_reboot: tuple[str, ...] | Unreadable | None = None
    """Why Windows waits for a restart (empty: it does not)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class _FactsOperation(Operation[VerifyParams, VerifyFacts]):
    """``verify.facts``, whose script carries only the groups (and helpers) its parameters ask for."""

    def command(self, params: VerifyParams) -> RemoteCommand:
        """The ``RemoteCommand`` that reads the groups of ``params``."""
        return RemoteCommand(
            op=self.id,
            params=params_to_mapping(params),
            body=script_body(params),
            helpers=script_helpers(params),
        )


def _op(op_id: str) -> Operation[Any, Any]:
    """A single operation whose result shape a group shares (looked up when used: the registry
    imports this module)."""
    from rollup.ops.registry import operation

    found = operation(op_id)
    if found is None:
        raise RuntimeError(f"verify.facts needs the operation {op_id}, which is not registered")
    return found


def _part(result: CommandResult, data: Any) -> CommandResult:
    """
    One group's result as its single operation prints it, so that operation's parser reads it.
    ``data`` came out of ``json.loads``, so plain ``json.dumps`` writes it back for the parser:
    ``format_result``, the writer's exact twin, would cost more for the same reading.
    """
    line = f"{RESULT_MARKER} {json.dumps(data, separators=(',', ':'))}\n"
    return dataclasses.replace(result, exit_code=0, stdout=line, stderr="")


def _group(data: dict[str, Any], key: str, kind: type, result: CommandResult) -> Any:
    value = data.get(key)
    if not isinstance(value, kind):
        raise ResultParseError(f"{result.host}: {result.op}: result group {key!r} is missing or malformed")
    return value


_MISSING = {
    "iis_not_installed": "IIS is not installed",
    "site_not_found": "IIS has no web site {site!r}",
    "vdir_not_found": "IIS has no virtual directory {site}/{vdir}",
}


def _vdir(result: CommandResult, entry: Any) -> VdirSecurity | VdirMissing | Unreadable:
    if not isinstance(entry, dict):
        raise ResultParseError(f"{result.host}: {result.op}: an IIS entry is not an object")
    error = entry.get("error")
    if error is None:
        return VdirSecurity.read(result, entry)
    if error in _MISSING:
        return VdirMissing(_MISSING[error].format(site=entry.get("site"), vdir=entry.get("vdir")))
    return Unreadable(str(entry.get("message") or error))


def _listed(result: CommandResult, data: dict[str, Any], key: str, count: int) -> list[Any]:
    entries: list[Any] = _group(data, key, list, result)
    if len(entries) != count:
        raise ResultParseError(f"{result.host}: {result.op}: the {key} entries do not match those asked for")
    return entries


def parse(result: CommandResult, params: VerifyParams) -> VerifyFacts:
    """
    The facts of every group asked for. A group the host could not read is ``Unreadable``;
    a missing IIS directory is ``VdirMissing``; missing products, files, objects and
    applications are findings in the facts themselves.

    Raises:
        ResultParseError: No result line, or a group asked for is missing or malformed.
    """
    data = read_object(result)
    errors = _group(data, "errors", dict, result)
    found: dict[str, Any] = {}

    def read(group: str, op_id: str, op_params: object) -> Any:
        if group in errors:
            return Unreadable(str(errors[group]))
        try:
            return _op(op_id).parse(_part(result, _group(data, group, dict, result)), op_params)
        except CommandFailed as exc:
            return Unreadable(exc.message.removeprefix(f"{result.host}: "))

    if params.files:
        found["files"] = read("files", "files.stat", params.stat())
    if params.product_names or params.product_codes:
        found["products"] = read("products", "products.list", products.ListParams())
    if params.vdirs:
        entries = _listed(result, data, "iis", len(params.vdirs))
        found["vdirs"] = {q: _vdir(result, e) for q, e in zip(params.vdirs, entries, strict=True)}
    sql_params = params.sql_objects()
    if sql_params is not None:
        found["sql"] = read("sql", "sql.objects", sql_params)
    if params.complus:
        broken = Unreadable(str(errors["complus"])) if "complus" in errors else None
        apps = [] if broken else _listed(result, data, "complus", len(params.complus))
        found["complus"] = {
            name: broken or ComPlusState.read(result, apps[i]) for i, name in enumerate(params.complus)
        }
    if params.services:
        found["services"] = read("services", "service.state", service.ServiceParams(names=params.services))
    if params.installed:
        found["installed"] = read("installed", "files.installed", params.installed_files())
    if params.listing:
        found["listing"] = read("listing", "files.listing", ListingParams(folders=params.listing))
    if params.reboot:
        found["pending_reboot"] = _reasons(result, data, errors)
    return VerifyFacts(**found)


def _reasons(
    result: CommandResult, data: dict[str, Any], errors: dict[str, Any]
) -> tuple[str, ...] | Unreadable:
    if "reboot" in errors:
        return Unreadable(str(errors["reboot"]))
    reasons = _group(data, "reboot", dict, result).get("reasons")
    if not isinstance(reasons, list) or not all(isinstance(r, str) for r in reasons):
        raise ResultParseError(f"{result.host}: {result.op}: the pending-restart reasons are not text")
    return tuple(reasons)


_MSISHARE = ("C:\\MSIShare\\DNSClient.msi", "C:\\MSIShare\\ResourceManageDatabase.msi")
_DLL = (
    "[ProgramFilesFolder]Microsoft Hosting\\Provisioning\\DNSProvider\\Microsoft.Provisioning.DNSProvider.dll"
)
_INDEX = "rmcore_Candidates.rmcore_candidates_ix_target_set_object_category_object_id_trans_id"

FACTS: Operation[VerifyParams, VerifyFacts] = _FactsOperation(
    id="verify.facts",
    params=VerifyParams,
    body=BODY,
    parse=parse,
    helpers=IDENTITY_HELPERS,
    kind="fact",
    mutates=False,
    timeout_s=300.0,
    examples=(
        VerifyParams(
            files=_MSISHARE,
            file_identity=True,
            product_names=("dnsprovider", "managedemail2007webservices"),
            product_codes=("{A6813487-C08E-5A97-8289-3AB94050D874}",),
            complus=("Provisioning Engine",),
            services=("W3SVC", "MSDTC"),
            installed=(_DLL, _DLL + ".config"),
            installed_hashed=(_DLL + ".config",),
            listing=("[ProgramFilesFolder]Microsoft Hosting\\Provisioning\\DNSProvider",),
            reboot=True,
        ),
        VerifyParams(files=_MSISHARE),
        VerifyParams(vdirs=("Default Web Site/DNSProvider",), product_names=("dnsclient",), reboot=True),
        VerifyParams(
            sql=sql_group(
                SqlObjectsParams(
                    instance=".",
                    database="ResourceManager",
                    indexes=(_INDEX,),
                    procedures=("SeleteAndAssembleAllocateOrgMailStores",),
                    scalar_functions=("fn_min",),
                    table_functions=("fn_ResourceCapacityOnAllocatedMailStores",),
                    near_miss=("%AndAssemble%OrgMailStores",),
                )
            ),
        ),
        VerifyParams(
            files=("C:\\it's $(x)\\a`b.msi",),
            product_names=("x'; $(calc)",),
            vdirs=("Site 'x' $(y)/App \u2019",),
            sql=("instance=SQL'; DROP TABLE x; --", "database=Db $(calc)", "procedure=a=b $(c)"),
            complus=("Engine 'A' \"B\" $(calc)",),
            services=('it\'s "odd"; $(Stop-Service W3SVC)',),
            installed=("[ProgramFilesFolder]it's $(x)\\a`b.dll",),
            installed_hashed=("[ProgramFilesFolder]it's $(x)\\a`b.dll",),
        ),
        VerifyParams(),
    ),
)

OPERATIONS = (FACTS,)
