"""
A rollup manifest: what an update rollup is (files, components, steps), as a frozen model.

The manifest is read once at the edge (``load_manifest``), validated in full, and then used
as an immutable value by the planner and the CLI. Validation has two layers: each model checks
its own fields (``rollup.model.fields`` holds the checked scalar types, ``rollup.model.steps``
the step kinds), and ``Manifest`` cross-checks the whole file (``rollup.model.manifest_checks``:
every file, component, node and dependency a step names exists; the dependency graph has no
cycle; the Deployment Tool lists match the components' flags; ``copy`` covers exactly the
files marked ``to_msishare``).

Every error is one line, ``<file>: <key path>: <message>``, where the key path is the path in
the YAML document (pydantic's discriminator tags are dropped from it).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, PlainSerializer, ValidationError, model_validator

from rollup.errors import ManifestError
from rollup.load import key_path, read_yaml
from rollup.model.fields import (
    FROZEN,
    ArgName,
    Bool,
    FileName,
    Int,
    Line,
    Str,
    Text,
    WindowsDir,
    between,
    key_error,
    literal_argument,
    windows_key,
)
from rollup.model.manifest_checks import cross_check, topological_order
from rollup.model.roles import Role
from rollup.model.steps import ConditionalStep, Step

SHIPPED_DIR = Path(__file__).resolve().parents[1] / "manifests"
"""The manifests shipped with rollup (package data; ``manifests/`` in the project folder)."""
DEFAULT_MANIFEST_ID = "hmc40-rollup-2011-01"
DEFAULT_MANIFEST = SHIPPED_DIR / f"{DEFAULT_MANIFEST_ID}.yml"
"""The shipped manifest ``--manifest`` names by default."""

Kebab = Annotated[Str, Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length=64)]
KbId = Annotated[Str, Field(pattern=r"^KB[0-9]{6,7}$")]
SqlName = Annotated[Str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")]


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("must state its time zone; the KB's dates are UTC: write e.g. 2011-03-10T10:04:00Z")
    if value.utcoffset():
        raise ValueError("must be in UTC (end with Z), as the KB's file table is")
    return value.astimezone(UTC)


UtcDatetime = Annotated[
    datetime,
    AfterValidator(_utc),
    PlainSerializer(lambda d: d.strftime("%Y-%m-%dT%H:%M:%SZ"), return_type=str, when_used="json"),
]


def _product_version(value: str) -> str:
    parts = value.split(".")
    limits = (255, 255, 65535, 65535)
    if not 3 <= len(parts) <= 4 or not all(p.isascii() and p.isdigit() for p in parts):
        raise ValueError("must be an MSI ProductVersion such as 4.0.2491.0")
    if any(int(p) > limit for p, limit in zip(parts, limits, strict=False)):
        raise ValueError("must be an MSI ProductVersion: fields up to 255.255.65535")
    return value


Sha256 = Annotated[Str, Field(pattern=r"^[0-9A-Fa-f]{64}$"), AfterValidator(str.lower)]
ProductCode = Annotated[
    Str,
    Field(pattern=r"^\{[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\}$"),
    AfterValidator(str.upper),
]
ProductVersion = Annotated[Str, AfterValidator(_product_version)]


class Release(BaseModel):
    """When the rollup was released: the month the KB states, with a note on the file dates."""

    model_config = FROZEN

    dated: Annotated[Str, Field(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$")]
    note: Text


class Prerequisite(BaseModel):
    """A condition the KB requires before installing; ``role`` names the host it concerns."""

    model_config = FROZEN

    id: Kebab
    text: Text
    role: Role | None = None


class Superseded(BaseModel):
    """An earlier update the rollup replaces."""

    model_config = FROZEN

    kb: KbId
    title: Line


class Restart(BaseModel):
    """What the rollup restarts: a reboot, or only services."""

    model_config = FROZEN

    reboot_required: Bool
    services_restarted: Bool
    note: Text | None = None


class Metadata(BaseModel):
    """Who and what the manifest is about."""

    model_config = FROZEN

    id: Kebab
    title: Line
    kb: KbId
    product: Line
    release: Release
    prerequisites: tuple[Prerequisite, ...]
    supersedes: tuple[Superseded, ...] = ()
    restart: Restart


def _file_version(value: str) -> str:
    parts = value.split(".")
    if not 1 <= len(parts) <= 4 or not all(p.isascii() and p.isdigit() and int(p) <= 65535 for p in parts):
        raise ValueError("must be a file version such as 4.0.2491.0 (up to four numbers of 0 to 65535)")
    return value


_PATH_PART = r'[^\\/:*?"<>|\x00-\x1f]+'
_INSTALLED_PATH = rf"^\[(ProgramFilesFolder|CommonFilesFolder|WindowsFolder)\]({_PATH_PART}\\)*{_PATH_PART}$"
"""A path as ``rollup.msifiles`` resolves it: a standard folder it accepts, then plain names."""


class InstalledFile(BaseModel):
    """
    A file a package installs (a row of its File table, pinned by ``rollup manifest pin``):
    where, in which component, and what it is. A versioned file has its ``version`` (compliant
    at that version or later, as the KB's "or later file attributes" says); an unversioned one
    its ``sha256`` (from the package's cabinet).
    """

    model_config = FROZEN

    path: Annotated[Str, Field(pattern=_INSTALLED_PATH, max_length=400)]
    """``[ProgramFilesFolder]Microsoft Hosting\\Provisioning\\DNSClient\\x.dll``."""
    component: ProductCode
    """The Windows Installer component's GUID."""
    size_bytes: Annotated[Int, AfterValidator(between(0, 2**32 - 1))]
    version: Annotated[Str, AfterValidator(_file_version)] | None = None
    sha256: Sha256 | None = None

    @model_validator(mode="after")
    def _versioned_or_hashed(self) -> InstalledFile:
        if any(part.strip(". ") == "" for part in self.path.split("]", 1)[1].split("\\")):
            raise key_error("path", "has a part that is only dots or spaces")
        if (self.version is None) == (self.sha256 is None):
            raise key_error("version", "give a version (a versioned file) or a sha256 (an unversioned one)")
        return self


class PackageFile(BaseModel):
    """
    One row of the KB's file table. ``name`` is the full file name (one spelling per file);
    ``kb_name`` is the table's own spelling, which may be a truncated prefix of it.
    ``sha256``, ``product_code`` and ``product_version`` stay null until pinned from a package;
    so does ``installs``, the files the MSI installs (``None``: not known, ``()``: none).
    """

    model_config = FROZEN

    name: FileName
    kb_name: FileName
    size_bytes: Annotated[Int, AfterValidator(between(1, 2**31 - 1))]
    date: UtcDatetime
    to_msishare: Bool
    sha256: Sha256 | None = None
    product_code: ProductCode | None = None
    product_version: ProductVersion | None = None
    installs: tuple[InstalledFile, ...] | None = None
    note: Text | None = None

    @model_validator(mode="after")
    def _kb_name_matches(self) -> PackageFile:
        if not self.name.casefold().startswith(self.kb_name.casefold()):
            raise key_error("kb_name", f"is neither {self.name!r} nor a truncation of it")
        return self


class Package(BaseModel):
    """The package's files, where they are extracted on the first MPS server, and the MSI share."""

    model_config = FROZEN

    extract_to: WindowsDir
    msishare: WindowsDir
    files: Annotated[tuple[PackageFile, ...], Field(min_length=1)]

    @model_validator(mode="after")
    def _distinct_on_windows(self) -> Package:
        seen: dict[str, str] = {}
        for i, f in enumerate(self.files):
            earlier = seen.setdefault(windows_key(f.name), f.name)
            if earlier is not f.name:
                raise key_error(
                    f"files[{i}].name", f"{f.name!r} is the same Windows file name as {earlier!r}"
                )
        return self


class Component(BaseModel):
    """
    A component the rollup updates, as the Deployment Tool names it. ``managed_by: steps``
    marks the components the KB installs by hand (no uninstall/reinstall through the tool).
    """

    model_config = FROZEN

    name: ArgName
    msi: Annotated[FileName, AfterValidator(literal_argument)]
    managed_by: Literal["deployment_tool", "steps"]
    uninstall: Bool
    reinstall: Bool
    note: Text | None = None

    @model_validator(mode="after")
    def _tool_flags(self) -> Component:
        if self.managed_by == "steps" and (self.uninstall or self.reinstall):
            raise key_error("managed_by", "only Deployment Tool components are uninstalled or reinstalled")
        return self


class InitializeNode(BaseModel):
    """A Deployment Tool tree node whose Initialize command the rollup runs; ``path`` ends in it."""

    model_config = FROZEN

    name: Line
    path: Annotated[tuple[Line, ...], Field(min_length=1)]
    note: Text | None = None

    @model_validator(mode="after")
    def _path_ends_in_node(self) -> InitializeNode:
        if self.path[-1] != self.name:
            raise key_error("path", f"must end with the node's name {self.name!r}")
        return self


class SqlIndex(BaseModel):
    """An index the rollup adds."""

    model_config = FROZEN

    name: SqlName
    table: SqlName


class SqlFunction(BaseModel):
    """A user-defined function the rollup adds."""

    model_config = FROZEN

    name: SqlName
    type: Literal["scalar", "table_valued"]


class Sql(BaseModel):
    """The database objects the rollup's database MSI adds (checked by ``sql_objects_check``)."""

    model_config = FROZEN

    database: SqlName
    indexes: tuple[SqlIndex, ...] = ()
    procedures: tuple[SqlName, ...] = ()
    functions: tuple[SqlFunction, ...] = ()


class Manifest(BaseModel):
    """A whole rollup manifest, validated and cross-checked."""

    model_config = FROZEN

    schema_version: Literal[1]
    metadata: Metadata
    package: Package
    components: tuple[Component, ...]
    initialize: tuple[InitializeNode, ...] = ()
    sql: Sql | None = None
    steps: Annotated[tuple[Step, ...], Field(min_length=1)]

    @model_validator(mode="after")
    def _cross_check(self) -> Manifest:
        cross_check(self)
        return self

    def file(self, name: str) -> PackageFile:
        """The package file called ``name``, compared as Windows does (case-insensitively)."""
        key = windows_key(name)
        for f in self.package.files:
            if windows_key(f.name) == key:
                return f
        raise KeyError(name)

    def component(self, name: str) -> Component:
        """The component called ``name``."""
        for c in self.components:
            if c.name == name:
                return c
        raise KeyError(name)

    def step(self, step_id: str) -> Step:
        """The step with id ``step_id``, wrapped steps included."""
        for s in self.all_steps():
            if s.id == step_id:
                return s
        raise KeyError(step_id)

    def all_steps(self) -> Iterator[Step]:
        """Every step in file order, each wrapped step right after its ``conditional``."""
        for s in self.steps:
            yield s
            if isinstance(s, ConditionalStep):
                yield s.step

    def msishare_files(self) -> tuple[PackageFile, ...]:
        """The files copied into the MSI share, in table order."""
        return tuple(f for f in self.package.files if f.to_msishare)

    def step_order(self) -> tuple[str, ...]:
        """The top-level step ids in dependency order, ties broken by position in the file."""
        return topological_order([(s.id, s.after) for s in self.steps])

    def digest(self) -> str:
        """SHA-256 (hex) of the canonical JSON of the validated model: stable across key order,
        YAML formatting and defaults written out or left implicit."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def to_json(self) -> dict[str, Any]:
        """The ``rollup manifest show --json`` document (docs/json.md): the model plus ``digest``."""
        return {"digest": self.digest(), **self.model_dump(mode="json")}


def load_manifest(path: Path, *, display: str | None = None) -> Manifest:
    """
    Read, validate and cross-check a manifest file, with its lock file merged in when there is
    one beside it (``rollup.model.lock``: the pinned SHA-256, ProductCode and ProductVersion).

    Raises:
        ManifestError: one line naming the file (``display``, else ``path``) and the key path;
            for the lock file, naming the lock file.
    """
    from rollup.model.lock import apply_lock

    source = display or str(path)
    data = read_yaml(path, error=ManifestError, display=source)
    return apply_lock(parse_manifest(data, source=source), data, path, source=source)


def parse_manifest(data: Any, *, source: str) -> Manifest:
    """Validate already-parsed YAML ``data``; errors name ``source`` as the file."""
    if data is None:
        raise ManifestError(f"{source}: the file is empty")
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        raise ManifestError(error_line(exc, data, source=source)) from None


def error_line(exc: ValidationError, data: Any, *, source: str) -> str:
    """The first error of ``exc`` as ``source: key.path: message``, the key path as in ``data``."""
    first = exc.errors(include_url=False)[0]
    loc = _document_loc(first["loc"], data)
    kind = first["type"]
    ctx: Mapping[str, Any] = first.get("ctx") or {}
    message = " ".join(str(first["msg"]).split())
    if kind == "extra_forbidden":
        message = "unknown key"
    elif kind == "missing":
        message = "required key is missing"
    elif kind == "union_tag_not_found":
        loc, message = [*loc, "kind"], "required key is missing"
    elif kind == "union_tag_invalid":
        loc = [*loc, "kind"]
        message = f"unknown kind {ctx.get('tag')}; expected one of {ctx.get('expected_tags')}"
    elif kind in ("enum", "literal_error"):
        message = f"{_shown(first.get('input'))} is not one of {ctx.get('expected')}"
    elif kind == "rollup_key":
        message = str(ctx["detail"])
    message = message.removeprefix("Value error, ")
    path = key_path(loc)
    if kind == "rollup_key":
        key = str(ctx["key"])
        path = key if not loc else f"{key_path(loc)}{'' if key.startswith('[') else '.'}{key}"
    return f"{source}: {path}: {message}"


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _document_loc(loc: Sequence[int | str], data: Any) -> list[int | str]:
    """
    Follow pydantic's ``loc`` through the YAML ``data``, dropping the parts that are not keys
    of the document: pydantic inserts the discriminator tag of a union (``steps.3.copy.files``
    is ``steps[3].files`` in the file).
    """
    path: list[int | str] = []
    node = data
    for part in loc:
        is_key = isinstance(node, dict) and part in node
        is_index = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if is_key or is_index:
            node = node[part]
        elif isinstance(node, dict) and part == node.get("kind"):
            continue
        else:
            node = None
        path.append(part)
    return path
