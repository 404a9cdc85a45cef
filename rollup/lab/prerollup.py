"""
The simulated lab's hosts as an HMC 4.0 deployment stands before the January 2011 rollup.

Built from the manifest (what the rollup touches: the package files, the components, the IIS
directory, the COM+ application, the database) and from real MSI files of the lab's two builds
(``rollup.lab.msi``): every installed product's Uninstall entry is registered from its
previous-build package's own Property table, read with ``rollup.msi.read_msi``, exactly as a
simulated ``msiexec /i`` of that package would register it.

Per role (``rollup.model.roles``), on Windows Server 2003 SP2 (WMF 2.0, which brings WinRM 2.0
and PowerShell 2.0 to 2003, needs SP2), with 40 GB free, no pending reboot and the lab account
in Domain Admins:

- ``deployment_tool`` (MPS01): the Deployment Tool (its Uninstall entry and
  ``C:\\ConfigShare\\Config\\MpsConfig.xml``), ``C:\\ConfigShare\\Log``, ``C:\\temp``;
  ``C:\\MSIShare`` with the previous build of every ``to_msishare`` file; and the hotfix as
  downloaded, ``C:\\temp\\KB2492954`` (``PACKAGE_SOURCE``), holding every package file of the
  rollup build at the KB's size with the KB's UTC date as its last write time;
- every product of the lab's table on the hosts of its ``installed_on`` roles, at the previous
  build (the 17 Deployment Tool components on the MPS engines and web-services servers, the DNS
  Client on DNS01, the SharePoint web service on the COLLAB servers, the Resource Manage
  Database on MPSSQL), except the packages the manifest installs only under a condition (the
  Shared OAB Utility), with the files its package installs (read from the package, laid out
  by the lab's Windows Installer, ``rollup.lab.windows.installer_files``);
- the IIS 6 virtual directory of each ``iis_setting`` step (``DNSProvider`` on DNS01) with
  Basic authentication on, no default logon domain and SSL not required;
- the COM+ application of each ``complus_restart`` step ("Provisioning Engine"), enabled and
  running, on its hosts;
- the manifest's database (``ResourceManager``) on MPSSQL, with the tables its indexes are on
  and none of the objects the rollup adds;
- services: WinRM everywhere, W3SVC and IISADMIN where IIS runs, MSSQLSERVER and
  SQLSERVERAGENT on MPSSQL, COMSysApp and MSDTC on the MPS engines.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from rollup.errors import ConfigError, PackageError
from rollup.lab.context import SimContext
from rollup.lab.msi import ensure_built, load_products
from rollup.lab.msi.products import Build
from rollup.lab.state import (
    BlobStore,
    ComPlusApplication,
    HostState,
    IisVirtualDirectory,
    InstalledProduct,
    LabFile,
    MsiProps,
    Service,
    SqlDatabase,
    SqlObject,
    path_key,
)
from rollup.lab.windows.hostfiles import PayloadFile, msi_payload
from rollup.lab.windows.installer_files import install_components
from rollup.model.manifest import Manifest
from rollup.model.roles import Role
from rollup.model.steps import ComplusRestartStep, ConditionalStep, IisSettingStep
from rollup.msi import read_msi

PACKAGE_SOURCE = "C:\\temp\\KB2492954"
"""Where the hotfix lies on the Deployment Tool host, as downloaded (the extract step's source)."""
CONFIG_SHARE = "C:\\ConfigShare"
LAB_ADMIN = "HOSTING\\rollup-lab"
"""The lab account, a member of Domain Admins on every host."""
OAB_COUNT = 1200
"""Offline address books in the lab's organisation: far from the 32,000 limit."""
DEPLOYMENT_TOOL = "Hosted Messaging and Collaboration Deployment Tool"
IIS_ROLES = frozenset({Role.DNS, Role.COLLAB, Role.WEB_SERVICES})

_SERVICES: Mapping[str, str] = {
    "WinRM": "Windows Remote Management (WS-Management)",
    "W3SVC": "World Wide Web Publishing Service",
    "IISADMIN": "IIS Admin Service",
    "MSSQLSERVER": "SQL Server (MSSQLSERVER)",
    "SQLSERVERAGENT": "SQL Server Agent (MSSQLSERVER)",
    "COMSysApp": "COM+ System Application",
    "MSDTC": "Distributed Transaction Coordinator",
}
_MPS_CONFIG = (
    '<?xml version="1.0" encoding="utf-8"?>\r\n'
    '<MpsConfig version="4.0">\r\n  <MsiShare path="C:\\MSIShare" />\r\n'
    '  <LogDirectory path="C:\\ConfigShare\\Log" />\r\n</MpsConfig>\r\n'
)


@dataclass(frozen=True, slots=True)
class _Package:
    """One built MSI file, stored in the blob store, with the identity and files read from its bytes."""

    name: str
    blob: str
    size: int
    mtime: datetime
    sha256: str
    props: MsiProps
    payload: tuple[PayloadFile, ...]

    def file(self, folder: str) -> LabFile:
        return LabFile(
            path=f"{folder}\\{self.name}",
            size=self.size,
            mtime=self.mtime,
            sha256=self.sha256,
            blob=self.blob,
            msi=self.props,
        )

    def installed(self, arch: str) -> InstalledProduct:
        return InstalledProduct(
            product_code=self.props.product_code,
            display_name=self.props.product_name,
            display_version=self.props.product_version,
            upgrade_code=self.props.upgrade_code,
            publisher=self.props.manufacturer,
            install_date=self.mtime.strftime("%Y%m%d"),
            wow6432=arch == "AMD64",
            package=self.name,
        )


def rollup_package(manifest: Manifest, msi_cache_dir: Path) -> dict[str, Path]:
    """
    The controller's copy of the rollup: manifest file name -> a rollup-build MSI in the cache,
    at the manifest's size and UTC date. The files belong to the cache: copy, never modify.

    Raises:
        ConfigError: a manifest file has no package in the lab's table; the build's errors.
    """
    built = _built(manifest, msi_cache_dir, "rollup")
    return {f.name: built[f.name] for f in manifest.package.files}


def previous_package(manifest: Manifest, msi_cache_dir: Path) -> dict[str, Path]:
    """The previous build of each manifest file (name -> an MSI in the cache): copy, never modify."""
    return _built(manifest, msi_cache_dir, "previous")


def prerollup_states(
    manifest: Manifest,
    hosts: Sequence[tuple[str, frozenset[Role]]],
    *,
    blobs: BlobStore,
    msi_cache_dir: Path,
    admin: str = LAB_ADMIN,
) -> list[HostState]:
    """
    The state of each host (in the order given) before the rollup; see the module docstring.

    Raises:
        ConfigError: a manifest file has no package in the lab's table; the build's errors.
    """
    previous = _packages(_built(manifest, msi_cache_dir, "previous"), blobs)
    current = _packages(_built(manifest, msi_cache_dir, "rollup"), blobs)
    conditional = {
        path_key(file)
        for step in manifest.steps
        if isinstance(step, ConditionalStep) and isinstance(file := getattr(step.step, "file", None), str)
    }
    table = load_products()
    installs = [
        (frozenset(table.product(name).installed_on), package)
        for name, package in previous.items()
        if path_key(name) not in conditional
    ]
    states = []
    for name, roles in hosts:
        state = _base(name, roles, admin)
        for on, package in installs:
            if roles & on:
                state.products[package.props.product_code] = package.installed(state.arch)
                ctx = SimContext(
                    now=package.mtime.timestamp(), user="", read_blob=blobs.get, write_blob=blobs.put
                )
                install_components(state, package.props.product_code, package.payload, ctx)
        if Role.DEPLOYMENT_TOOL in roles:
            _deployment_tool_host(state, manifest, previous, current)
        _manifest_objects(state, manifest, roles)
        states.append(state)
    return states


def _guid(name: str) -> str:
    """A GUID of the lab's own, derived as the package table derives its GUIDs (uuid5 of a name)."""
    namespace = uuid.UUID(load_products().guid_namespace.strip("{}"))
    return "{" + str(uuid.uuid5(namespace, name)).upper() + "}"


def _built(manifest: Manifest, cache_dir: Path, build: Build) -> dict[str, Path]:
    """The lab's MSIs of one build for the manifest's files, keyed by the manifest's names."""
    table = load_products()
    names: dict[str, str] = {}
    for f in manifest.package.files:
        try:
            names[f.name] = table.product(f.name).file
        except KeyError:
            raise ConfigError(
                f"manifest file {f.name}: the simulated lab has no package of that name"
            ) from None
    sizes = (
        {f.name: f.size_bytes for f in manifest.package.files} if build == "rollup" else table.sizes(build)
    )
    mtimes = {f.name: f.date for f in manifest.package.files} if build == "rollup" else table.mtimes(build)
    paths = ensure_built(cache_dir, build=build, sizes=sizes, mtimes=mtimes)
    return {name: paths[file] for name, file in names.items()}


def _packages(paths: Mapping[str, Path], blobs: BlobStore) -> dict[str, _Package]:
    """Store each file in the blob store and read its identity from it."""
    found = {}
    for name, path in paths.items():
        data = path.read_bytes()
        info = read_msi(path, error=PackageError, display=name)
        props = MsiProps.of(info)
        mtime = datetime.fromtimestamp(path.stat().st_mtime_ns / 1e9, UTC).replace(microsecond=0)
        sha256 = hashlib.sha256(data).hexdigest()
        blob = blobs.put(data)
        ctx = SimContext(now=0.0, user="", read_blob=blobs.get, write_blob=blobs.put)
        payload = msi_payload(LabFile(path=name, size=len(data), mtime=mtime, sha256=sha256, blob=blob), ctx)
        if payload is None:
            raise PackageError(f"{name}: the files it installs cannot be read")
        found[name] = _Package(name, blob, len(data), mtime, sha256, props, payload)
    return found


def _base(name: str, roles: frozenset[Role], admin: str) -> HostState:
    """Windows Server 2003 SP2 with WMF 2.0, the role's services, and the lab account an admin."""
    services = ["WinRM"]
    if roles & IIS_ROLES:
        services += ["W3SVC", "IISADMIN"]
    if Role.MPSSQL in roles:
        services += ["MSSQLSERVER", "SQLSERVERAGENT"]
    if Role.MPS_ENGINE in roles:
        services += ["COMSysApp", "MSDTC"]
    return HostState(
        name=name,
        roles=sorted(role.value for role in roles),
        iis_version=6 if roles & IIS_ROLES else None,
        services={
            s.lower(): Service(
                name=s, display_name=_SERVICES[s], start_mode="Manual" if s == "COMSysApp" else "Auto"
            )
            for s in services
        },
        domain_admins=[admin.lower()],
        oab_count=OAB_COUNT,
        machine_sid="S-1-5-21-" + "-".join(str(secrets.randbelow(2**32)) for _ in range(3)),
    )


def _deployment_tool_host(
    state: HostState, manifest: Manifest, previous: Mapping[str, _Package], current: Mapping[str, _Package]
) -> None:
    """MPS01: the Deployment Tool and its shares, C:\\MSIShare, and the downloaded hotfix."""
    share = manifest.package.msishare.rstrip("\\")
    files = [previous[f.name].file(share) for f in manifest.msishare_files()]
    files += [current[f.name].file(PACKAGE_SOURCE) for f in manifest.package.files]
    config = _MPS_CONFIG.encode("utf-8")
    files.append(
        LabFile(
            path=f"{CONFIG_SHARE}\\Config\\MpsConfig.xml",
            size=len(config),
            mtime=datetime(2010, 11, 18, 11, 0, tzinfo=UTC),
            sha256=hashlib.sha256(config).hexdigest(),
            text=_MPS_CONFIG,
        )
    )
    state.files.update({path_key(f.path): f for f in files})
    state.directories += ["C:\\temp", f"{CONFIG_SHARE}\\Log", share]
    tool = InstalledProduct(
        product_code=_guid("deployment-tool:product"),
        display_name=DEPLOYMENT_TOOL,
        display_version="4.0.2379.0",
        upgrade_code=_guid("deployment-tool:upgrade"),
        install_date="20101118",
        package="HMCDeploymentTool.msi",
    )
    state.products[tool.product_code] = tool


def _manifest_objects(state: HostState, manifest: Manifest, roles: frozenset[Role]) -> None:
    """The IIS directories, COM+ applications and database the manifest's steps act on."""
    for step in manifest.all_steps():
        if not roles & set(step.roles):
            continue
        if isinstance(step, IisSettingStep):
            state.iis[step.vdir.lower()] = IisVirtualDirectory(
                site=step.site,
                name=step.vdir,
                path=f"C:\\Inetpub\\wwwroot\\{step.vdir}",
                default_logon_domain="",
                access_ssl=False,
                auth_basic=True,
            )
            thumbprint = hashlib.sha1(f"certificate:{state.name}".encode(), usedforsecurity=False)
            state.ssl_certificates.setdefault(1, thumbprint.hexdigest().upper())
        elif isinstance(step, ComplusRestartStep):
            state.complus[step.application.lower()] = ComPlusApplication(
                name=step.application,
                app_id=_guid(f"complus:{step.application}"),
                process_id=2000 + 4 * (len(state.complus) + 1),
            )
    if manifest.sql is not None and Role.MPSSQL in roles:
        tables = sorted({index.table for index in manifest.sql.indexes})
        state.databases[manifest.sql.database.lower()] = SqlDatabase(
            name=manifest.sql.database, objects=[SqlObject(type="U", name=t) for t in tables]
        )
