"""
The files each lab package installs, with their bytes (products.yml's header says which).

For a package and a build: the component's DLL (a PE image whose version resource carries the
build's ProductVersion, ``rollup.lab.msi.pe``), its unversioned ``.dll.config``, and for the
packages of ``shared.products`` the shared DLL. ``build.py`` puts them in the package's File
table (with the DLLs' versions in its Version column), so the installed files are whatever the
MSI carries: the lab's Windows Installer reads them back from the package, not from here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from rollup.lab.msi.pe import version_dll
from rollup.lab.msi.products import Build, LabProduct, ProductTable


@dataclass(frozen=True, slots=True, kw_only=True)
class LabPackageFile:
    """One file of a package: its MSI identifiers, where it goes, and what it holds."""

    file_id: str
    """The File table's key (``ProductDll``, ``ProductConfig``, ``SharedDll``)."""
    component_id: str
    component_guid: str
    folder: str
    """Under Program Files: ``Microsoft Hosting\\Provisioning\\DNSClient``."""
    name: str
    data: bytes
    version: str | None
    """The version resource's file version; ``None`` for an unversioned file."""


def stem(product: LabProduct) -> str:
    """The package's file name without ``.msi``: the name of its folder and DLL."""
    return product.file.removesuffix(".msi")


def files_guid(table: ProductTable, product: LabProduct) -> str:
    """The GUID of the package's own files component: uuid5 of ``<file>:files``, the same in both builds."""
    namespace = uuid.UUID(table.guid_namespace.strip("{}"))
    return "{" + str(uuid.uuid5(namespace, f"{product.file}:files")).upper() + "}"


def carries_shared(table: ProductTable, product: LabProduct) -> bool:
    """Whether the package installs the shared component."""
    return product.file.lower() in {name.lower() for name in table.shared.products}


def package_files(table: ProductTable, product: LabProduct, build: Build) -> tuple[LabPackageFile, ...]:
    """The files ``product``'s ``build`` installs, in File table order."""
    version = product.build(build).version
    key = stem(product)
    folder = f"{table.install_folder}\\{key}"
    dll = f"Microsoft.Provisioning.{key}.dll"
    strings = {
        "CompanyName": table.manufacturer,
        "FileDescription": product.name,
        "InternalName": dll,
        "OriginalFilename": dll,
        "ProductName": "Microsoft Solution for Hosted Messaging and Collaboration",
    }
    config = (
        '<?xml version="1.0" encoding="utf-8"?>\r\n<configuration>\r\n  <appSettings>\r\n'
        f'    <add key="component" value="{product.name}" />\r\n'
        f'    <add key="build" value="{version}" />\r\n'
        "  </appSettings>\r\n</configuration>\r\n"
    )
    own = files_guid(table, product)
    found = [
        LabPackageFile(file_id="ProductDll", component_id="ProductFiles", component_guid=own,
                       folder=folder, name=dll, data=version_dll(version, strings), version=version),
        LabPackageFile(file_id="ProductConfig", component_id="ProductFiles", component_guid=own,
                       folder=folder, name=f"{dll}.config", data=config.encode("utf-8"), version=None),
    ]  # fmt: skip
    if carries_shared(table, product):
        shared = table.shared.file
        about = {
            "FileDescription": "Hosted web services, shared",
            "InternalName": shared,
            "OriginalFilename": shared,
        }
        found.append(
            LabPackageFile(
                file_id="SharedDll",
                component_id="SharedFiles",
                component_guid=table.shared.component_guid,
                folder=f"{table.install_folder}\\Shared",
                name=shared,
                data=version_dll(version, {**strings, **about}),
                version=version,
            )
        )
    return tuple(found)
