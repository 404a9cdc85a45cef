"""
A scenario's drift: per-host differences from the pre-rollup state, applied when a lab is created.

Drift models what real fleets have and a plan must cope with: a file missing from
``C:\\MSIShare`` or of another size, a product at an unexpected version or already removed, an
IIS directory already configured, a COM+ application stopped, a database with an object the
rollup adds already present (or one the check expects missing). Each entry applies to the hosts
its globs match; naming something the host does not have is an error (a typo would otherwise
leave the lab silently undrifted), one line with the scenario's key path and the host.

A file's new ``size`` gives it new content (its bytes cut or padded with zeros, so its SHA-256
and MSI properties follow from the bytes, as ``files.stat`` would read them); a new ``version``
changes the product version the lab reports for the file (its MSI properties), not its bytes; a
``file_version`` replaces a versioned file (a DLL a package installed) with another build of it:
the same version resource's strings at that file version, as a hand-copied or half-repaired DLL
of another build would be (``[Diagnostics.FileVersionInfo]`` and Windows Installer read it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Annotated, Literal

from pydantic import BaseModel, Field, model_validator

from rollup.errors import ConfigError
from rollup.lab.context import SimContext
from rollup.lab.msi.pe import version_dll
from rollup.lab.patterns import VERSION, Frozen, HostGlobs, Text, WindowsPath, matches
from rollup.lab.state import BlobStore, HostState, LabFile, SqlObject, path_key
from rollup.lab.windows.hostfiles import msi_properties
from rollup.lab.windows.versioninfo import read_version


def _some_change(model: BaseModel, key: str) -> None:
    if not any(getattr(model, name) is not None for name in type(model).model_fields if name != key):
        raise ValueError(f"says nothing to change beside {key}")


class FileDrift(Frozen):
    """A file that differs: removed, with another size (new content) or product version, or another build."""

    path: WindowsPath
    remove: bool = False
    size: Annotated[int, Field(ge=0, le=2**32)] | None = None
    version: Annotated[str, Field(pattern=VERSION)] | None = None
    file_version: Annotated[str, Field(pattern=VERSION)] | None = None

    @model_validator(mode="after")
    def _what(self) -> FileDrift:
        changes = (self.size, self.version, self.file_version)
        if self.remove and any(c is not None for c in changes):
            raise ValueError("remove excludes size, version and file_version")
        if not self.remove and all(c is None for c in changes):
            raise ValueError("give remove, size, version or file_version")
        if self.file_version is not None and (self.size is not None or self.version is not None):
            raise ValueError("file_version (another build of a DLL) excludes size and version")
        return self


class ProductDrift(Frozen):
    """An installed product (by DisplayName or {ProductCode}) at another version, or removed."""

    product: Text
    version: Annotated[str, Field(pattern=VERSION)] | None = None
    remove: bool = False

    @model_validator(mode="after")
    def _what(self) -> ProductDrift:
        if self.remove == (self.version is not None):
            raise ValueError("give exactly one of version and remove")
        return self


class IisDrift(Frozen):
    """Security settings of an IIS virtual directory."""

    vdir: Text
    default_logon_domain: Annotated[str, Field(max_length=256, pattern=r"^[^\x00-\x1f]*$")] | None = None
    access_ssl: bool | None = None
    auth_basic: bool | None = None
    certificate: bool | None = None
    """Whether the directory's site has a certificate bound to an https binding (false removes it)."""

    @model_validator(mode="after")
    def _what(self) -> IisDrift:
        _some_change(self, "vdir")
        return self


class ComPlusDrift(Frozen):
    """The state of a COM+ application."""

    application: Text
    enabled: bool | None = None
    running: bool | None = None

    @model_validator(mode="after")
    def _what(self) -> ComPlusDrift:
        _some_change(self, "application")
        return self


SqlName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")]


class SqlObjectSpec(Frozen):
    """A catalog row: an index (``IX``, on ``table``), a table, a procedure or a function."""

    type: Literal["IX", "U", "P", "FN", "TF", "IF"]
    name: SqlName
    table: SqlName | None = None


class SqlDrift(Frozen):
    """Objects of a database that are missing (``remove``) or there already (``add``)."""

    database: SqlName
    remove: tuple[SqlName, ...] = ()
    add: tuple[SqlObjectSpec, ...] = ()

    @model_validator(mode="after")
    def _what(self) -> SqlDrift:
        if not self.remove and not self.add:
            raise ValueError("give remove or add")
        return self


class Drift(Frozen):
    """How some hosts differ from the pre-rollup state when the lab is created."""

    hosts: HostGlobs
    files: tuple[FileDrift, ...] = ()
    products: tuple[ProductDrift, ...] = ()
    iis: tuple[IisDrift, ...] = ()
    complus: tuple[ComPlusDrift, ...] = ()
    sql: tuple[SqlDrift, ...] = ()


# ---- applying it --------------------------------------------------------------------------------


def apply_drift(
    states: Sequence[HostState], drift: Sequence[Drift], blobs: BlobStore, *, source: str
) -> None:
    """
    Change ``states`` in place as ``drift`` says, entry by entry, in order.

    Raises:
        ConfigError: ``<source>: drift[0].products[1]: DNS01 has no product 'DNS Clinet'``.
    """
    ctx = SimContext(now=0.0, user="", read_blob=blobs.get, write_blob=blobs.put)
    for index, entry in enumerate(drift):
        for state in states:
            if not any(matches(pattern, state.name) for pattern in entry.hosts):
                continue
            where = f"{source}: drift[{index}]"
            for n, file in enumerate(entry.files):
                _file(state, file, ctx, f"{where}.files[{n}]")
            for n, product in enumerate(entry.products):
                _product(state, product, f"{where}.products[{n}]")
            for n, vdir in enumerate(entry.iis):
                _iis(state, vdir, f"{where}.iis[{n}]")
            for n, app in enumerate(entry.complus):
                _complus(state, app, f"{where}.complus[{n}]")
            for n, sql in enumerate(entry.sql):
                _sql(state, sql, f"{where}.sql[{n}]")


def _file(state: HostState, drift: FileDrift, ctx: SimContext, where: str) -> None:
    key = path_key(drift.path)
    entry = state.files.get(key)
    if entry is None:
        raise ConfigError(f"{where}: {state.name} has no file {drift.path}")
    if drift.remove:
        del state.files[key]
        return
    if drift.file_version is not None:
        entry = _rebuilt(entry, drift.file_version, ctx, f"{where}: {state.name}: {drift.path}")
    if drift.size is not None:
        entry = _resized(entry, drift.size, ctx)
    if drift.version is not None:
        props = msi_properties(entry, ctx)
        if props is None:
            raise ConfigError(f"{where}: {state.name}: {drift.path} is not an installer package (no version)")
        entry = entry.model_copy(update={"msi": props.model_copy(update={"product_version": drift.version})})
    state.files[key] = entry


def _rebuilt(entry: LabFile, file_version: str, ctx: SimContext, where: str) -> LabFile:
    """The DLL as another build: its version resource's strings, at ``file_version``."""
    data = ctx.read_blob(entry.blob) if entry.blob is not None else b""
    resource = read_version(data, key=entry.sha256)
    if resource is None:
        raise ConfigError(f"{where} has no version resource (not a versioned file)")
    strings = {k: v for k, v in resource.strings.items() if k not in ("FileVersion", "ProductVersion")}
    try:
        built = version_dll(file_version, strings)
    except ValueError as exc:
        raise ConfigError(f"{where}: file_version {exc}") from None
    return LabFile(
        path=entry.path, size=len(built), mtime=entry.mtime, sha256=hashlib.sha256(built).hexdigest(),
        blob=ctx.write_blob(built),
    )  # fmt: skip


def _resized(entry: LabFile, size: int, ctx: SimContext) -> LabFile:
    """The file with its content cut or padded with zeros to ``size`` bytes, read again."""
    data = ctx.read_blob(entry.blob) if entry.blob is not None else (entry.text or "").encode("utf-8")
    data = data[:size] + b"\0" * max(0, size - len(data))
    changed = LabFile(
        path=entry.path,
        size=size,
        mtime=entry.mtime,
        sha256=hashlib.sha256(data).hexdigest(),
        blob=ctx.write_blob(data),
    )
    return changed.model_copy(update={"msi": msi_properties(changed, ctx)})


def _product(state: HostState, drift: ProductDrift, where: str) -> None:
    wanted = drift.product.casefold()
    code = next(
        (
            code
            for code, product in state.products.items()
            if wanted in (code.casefold(), product.display_name.casefold())
        ),
        None,
    )
    if code is None:
        raise ConfigError(f"{where}: {state.name} has no product {drift.product!r}")
    if drift.remove:
        del state.products[code]
    else:
        state.products[code] = state.products[code].model_copy(update={"display_version": drift.version})


def _iis(state: HostState, drift: IisDrift, where: str) -> None:
    key = drift.vdir.lower()
    if key not in state.iis:
        raise ConfigError(f"{where}: {state.name} has no IIS virtual directory {drift.vdir!r}")
    changes = drift.model_dump(exclude={"vdir", "certificate"}, exclude_none=True)
    state.iis[key] = state.iis[key].model_copy(update=changes)
    site = state.iis[key].site_id
    if drift.certificate is False:
        state.ssl_certificates.pop(site, None)
    elif drift.certificate:
        thumbprint = hashlib.sha1(f"certificate:{state.name}:{site}".encode(), usedforsecurity=False)
        state.ssl_certificates.setdefault(site, thumbprint.hexdigest().upper())


def _complus(state: HostState, drift: ComPlusDrift, where: str) -> None:
    key = drift.application.lower()
    app = state.complus.get(key)
    if app is None:
        raise ConfigError(f"{where}: {state.name} has no COM+ application {drift.application!r}")
    changes = drift.model_dump(exclude={"application"}, exclude_none=True)
    if changes.get("running") is False or changes.get("enabled") is False:
        changes["process_id"] = None
    if changes.get("running") is True and app.process_id is None:
        changes["process_id"] = 4000 + 4 * len(state.complus)
    state.complus[key] = app.model_copy(update=changes)


def _sql(state: HostState, drift: SqlDrift, where: str) -> None:
    database = state.databases.get(drift.database.lower())
    if database is None:
        raise ConfigError(f"{where}: {state.name} has no database {drift.database!r}")
    objects = list(database.objects)
    for name in drift.remove:
        kept = [o for o in objects if o.name.lower() != name.lower()]
        if len(kept) == len(objects):
            raise ConfigError(f"{where}: {state.name}: database {database.name} has no object {name!r}")
        objects = kept
    for added in drift.add:
        objects = [o for o in objects if o.name.lower() != added.name.lower()]
        objects.append(SqlObject(type=added.type, name=added.name, table=added.table))
    database.objects = objects
