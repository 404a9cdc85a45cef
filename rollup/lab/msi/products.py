"""
The table of the simulated lab's MSI packages (``products.yml``), as frozen typed values.

The lab builds real MSI files from this table (``build.py``), and also reads the table directly
to lay out a pre-rollup deployment (which package is in C:\\MSIShare, which hosts have which
product installed) without opening any MSI. The MSI files carry the same identities in their
Property tables, and a simulated install registers what the file says, not what the table says.

Product codes, package codes, upgrade codes, versions, and the previous build's sizes and
dates are the lab's own inventions (the real ones are not public); file names, component
names, and the rollup build's sizes and UTC dates are the KB's.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from importlib import resources
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from rollup.errors import ConfigError
from rollup.load import parse_yaml, validate
from rollup.model.roles import Role

Build = Literal["previous", "rollup"]
"""Which of a product's two builds: the pre-rollup one, or the January 2011 rollup's."""

BUILDS: tuple[Build, ...] = ("previous", "rollup")

SECTOR_BYTES = 512
"""Every size in the table is a whole number of compound-file sectors."""

PACKAGE = "rollup.lab.msi"
TABLE_RESOURCE = "products.yml"

_GUID_PATTERN = r"^\{[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}\}$"
_VERSION_PATTERN = r"^(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,4})(\.(0|[1-9][0-9]{0,4}))?$"
_TEXT_PATTERN = r"^[ -~]+$"
"""Printable ASCII: what wixl's variables and the summary stream's 1252 code page both carry."""


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SqlObjectSpec(_Frozen):
    """A database object a package's installation creates (an index, procedure or function)."""

    type: Literal["IX", "P", "FN", "TF", "IF"]
    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
    table: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


class SqlEffect(_Frozen):
    """
    What installing a database package does to a database on the host (the real MSI runs SQL
    scripts in a custom action; the lab's package carries none, so the lab applies this).
    """

    database: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
    objects: tuple[SqlObjectSpec, ...] = Field(min_length=1)


class BuildSpec(_Frozen):
    """One build of one package: the identity its MSI file carries, and its size and date."""

    product_code: str = Field(pattern=_GUID_PATTERN)
    package_code: str = Field(pattern=_GUID_PATTERN)
    """The summary stream's revision number: Windows Installer's identity of this exact file."""
    version: str = Field(pattern=_VERSION_PATTERN)
    """ProductVersion: major and minor up to 255, build up to 65535, as Windows Installer requires."""
    date: AwareDatetime
    """When the file was built: its modification time and its summary stream's creation time."""
    size: int = Field(gt=0, multiple_of=SECTOR_BYTES)
    """The file's size in bytes (for the rollup build, the KB's)."""
    sql: SqlEffect | None = None
    """Database objects an install of this build creates, when the host has that database."""


class LabProduct(_Frozen):
    """One of the 22 package files of the rollup, with both of its builds."""

    file: str = Field(pattern=r"^[A-Za-z0-9]+\.msi$")
    """The file name as in the KB's copy list, e.g. ``HostedSharePoint2007NS.msi``."""
    name: str = Field(pattern=_TEXT_PATTERN, max_length=120)
    """ProductName: the component's name as the KB lists it."""
    upgrade_code: str = Field(pattern=_GUID_PATTERN)
    component_guid: str = Field(pattern=_GUID_PATTERN)
    installed_on: tuple[Role, ...] = Field(min_length=1)
    """The roles whose hosts have the previous build installed before the rollup."""
    in_msishare: bool
    """Whether the file is in C:\\MSIShare on the Deployment Tool host."""
    previous: BuildSpec
    rollup: BuildSpec

    def build(self, build: Build) -> BuildSpec:
        """The spec of the given build."""
        return self.previous if build == "previous" else self.rollup

    @model_validator(mode="after")
    def _builds_differ(self) -> LabProduct:
        if self.previous.product_code == self.rollup.product_code:
            raise ValueError("previous and rollup must have different product codes")
        if self.previous.package_code == self.rollup.package_code:
            raise ValueError("previous and rollup must have different package codes")
        if self.previous.version == self.rollup.version:
            raise ValueError("previous and rollup must have different versions")
        return self


class SharedFiles(_Frozen):
    """A component several packages install: its file stays while any of them is installed."""

    component_guid: str = Field(pattern=_GUID_PATTERN)
    file: str = Field(pattern=r"^[A-Za-z0-9.]+\.dll$")
    products: tuple[str, ...] = Field(min_length=2)
    """The package files that carry it."""


class ProductTable(_Frozen):
    """The whole table: the packages in the KB's order, and what they share."""

    manufacturer: str = Field(pattern=_TEXT_PATTERN)
    guid_namespace: str = Field(pattern=_GUID_PATTERN)
    """The uuid5 namespace the table's GUIDs are derived from (see products.yml)."""
    install_folder: str = Field(pattern=r"^[A-Za-z0-9 ]+\\[A-Za-z0-9 ]+$")
    """Where the packages install their files, under Program Files: two folders (the template's)."""
    shared: SharedFiles
    products: tuple[LabProduct, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> ProductTable:
        files = [p.file.lower() for p in self.products]
        if len(set(files)) != len(files):
            raise ValueError("a file name appears twice (names are compared ignoring case, as Windows does)")
        unknown = [name for name in self.shared.products if name.lower() not in files]
        if unknown:
            raise ValueError(f"shared.products: {unknown[0]} is not a package of the table")
        guids = [p.upgrade_code for p in self.products] + [p.component_guid for p in self.products]
        guids.append(self.shared.component_guid)
        for product in self.products:
            for spec in (product.previous, product.rollup):
                guids += [spec.product_code, spec.package_code]
        if len(set(guids)) != len(guids):
            raise ValueError("a GUID is used twice")
        return self

    @property
    def files(self) -> tuple[str, ...]:
        """The package file names, in the table's order."""
        return tuple(p.file for p in self.products)

    def product(self, file: str) -> LabProduct:
        """
        The product whose file is ``file`` (compared ignoring case, as Windows does).

        Raises:
            KeyError: no such file in the table.
        """
        for product in self.products:
            if product.file.lower() == file.lower():
                return product
        raise KeyError(file)

    def sizes(self, build: Build) -> dict[str, int]:
        """The table's file sizes of one build (for ``rollup``, the KB's), by file name."""
        return {p.file: p.build(build).size for p in self.products}

    def mtimes(self, build: Build) -> dict[str, datetime]:
        """The table's file dates of one build (for ``rollup``, the KB's, in UTC), by file name."""
        return {p.file: p.build(build).date for p in self.products}


@cache
def load_products() -> ProductTable:
    """
    The lab's package table, read once from the ``products.yml`` shipped in this package.

    Raises:
        ConfigError: the shipped table is malformed (one line naming the key).
    """
    text = resources.files(PACKAGE).joinpath(TABLE_RESOURCE).read_text(encoding="utf-8")
    source = f"rollup/lab/msi/{TABLE_RESOURCE}"
    data = parse_yaml(text, source=source, error=ConfigError)
    return validate(ProductTable, data, source=source, error=ConfigError)
