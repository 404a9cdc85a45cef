"""
The model of one simulated Windows host: what a rollup can read or change on it.

The state is plain data (pydantic models, so it round-trips through JSON in the lab's state
directory). The lab's Windows model (``rollup.lab.windows``) reads and changes it as the PowerShell
bodies read and change Windows. Paths are Windows paths: case-insensitive, so files are keyed
by ``path_key(path)`` and keep their display spelling in ``LabFile.path``.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from rollup.msi import MsiInfo


def path_key(path: str) -> str:
    """The case-insensitive key of a Windows path (``C:/Temp\\\\x`` -> ``c:\\temp\\x``)."""
    text = path.replace("/", "\\")
    while "\\\\" in text:
        text = text.replace("\\\\", "\\")
    return text.rstrip("\\").lower()


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class MsiProps(_Model):
    """Properties read from an MSI's Property table (the lab reads them from the real file)."""

    product_code: str
    product_name: str
    product_version: str
    upgrade_code: str
    manufacturer: str = "Microsoft Corporation"

    @classmethod
    def of(cls, info: MsiInfo) -> MsiProps:
        """The properties ``rollup.msi.read_msi`` read from a package (no UpgradeCode: ``""``)."""
        return cls(
            product_code=info.product_code,
            product_name=info.product_name,
            product_version=info.product_version,
            upgrade_code=info.upgrade_code or "",
            manufacturer=info.manufacturer,
        )


class LabFile(_Model):
    """A file on the host. Large content lives in the lab's blob store; small text inline."""

    path: str
    size: int
    mtime: datetime
    """Last write time, UTC."""
    sha256: str
    blob: str | None = None
    """Key of the content in the blob store (MSIs, uploaded files)."""
    text: str | None = None
    """Content of small text files (MSI logs, lock markers, configuration)."""
    msi: MsiProps | None = None
    """Set for Windows Installer packages: their properties, read once from the real file."""


class InstalledComponent(_Model):
    """
    A Windows Installer component on the host: the products using it and the files it put there.
    Its files stay while any client product is installed (a component shared by several packages).
    """

    component: str
    """Its GUID, upper case in braces."""
    clients: list[str] = Field(default_factory=list)
    """ProductCodes of the installed products that use it."""
    files: list[str] = Field(default_factory=list)
    """Display paths of its files on the host."""


class InstalledProduct(_Model):
    """An Uninstall registry entry (HKLM\\...\\Uninstall\\{ProductCode}, or its Wow6432Node twin)."""

    product_code: str
    display_name: str
    display_version: str
    upgrade_code: str
    publisher: str = "Microsoft Corporation"
    install_date: str = ""
    """yyyyMMdd, as Windows Installer writes it."""
    wow6432: bool = False
    package: str = ""
    """File name of the MSI it was installed from."""


class Service(_Model):
    """A Win32 service."""

    name: str
    display_name: str
    status: Literal["Running", "Stopped", "StartPending", "StopPending"] = "Running"
    start_mode: Literal["Auto", "Manual", "Disabled"] = "Auto"


class IisVirtualDirectory(_Model):
    """An IIS virtual directory's security settings (IIS 6 metabase or IIS 7 configuration)."""

    site: str = "Default Web Site"
    site_id: int = 1
    name: str
    path: str
    default_logon_domain: str = ""
    access_ssl: bool = False
    """IIS 6 AccessSSLFlags bit AccessSSL (0x8); IIS 7 sslFlags ``Ssl``."""
    auth_basic: bool = True


class ComPlusApplication(_Model):
    """A COM+ application (Component Services)."""

    name: str
    app_id: str
    enabled: bool = True
    running: bool = True
    process_id: int | None = None


class SqlObject(_Model):
    """A row of the SQL catalog the rollup cares about: an index or a programmable object."""

    type: Literal["IX", "U", "P", "FN", "TF", "IF"]
    name: str
    table: str | None = None
    """For an index: the table it is on."""


class SqlDatabase(_Model):
    """A SQL Server database with the objects the rollup adds or checks."""

    name: str
    objects: list[SqlObject] = Field(default_factory=list)


class HostState(_Model):
    """Everything the simulated lab knows about one host."""

    name: str
    roles: list[str]
    os_caption: str = "Microsoft(R) Windows(R) Server 2003, Enterprise Edition"
    os_version: str = "5.2.3790"
    service_pack: int = 2
    arch: Literal["x86", "AMD64"] = "x86"
    ps_version: str = "2.0"
    iis_version: int | None = None
    """6 on Server 2003, 7 on 2008; None when IIS is not installed."""
    sql_version: Literal[8, 9, 10] | None = None
    """
    SQL Server's major version (8 = 2000: osql only; 9 = 2005 and 10 = 2008: sqlcmd and osql).
    ``None`` says nothing: a host with databases or the ``mpssql`` role then has SQL Server 2005,
    any other host none (``rollup.lab.windows.sqlclient``).
    """

    files: dict[str, LabFile] = Field(default_factory=dict)
    """Keyed by ``path_key(path)``."""
    directories: list[str] = Field(default_factory=list)
    """Display paths of directories that exist (parents of files exist implicitly)."""
    products: dict[str, InstalledProduct] = Field(default_factory=dict)
    """Keyed by upper-case ProductCode with braces."""
    components: dict[str, InstalledComponent] = Field(default_factory=dict)
    """Windows Installer's components, keyed by upper-case GUID with braces."""
    pending_files: dict[str, LabFile] = Field(default_factory=dict)
    """
    Files an install could not replace because they were in use (``locked_files``): Windows
    Installer moves them into place at the next restart (PendingFileRenameOperations), as the
    lab's restart does (``LabRunner.restarted``). Keyed by ``path_key`` of the target.
    """
    services: dict[str, Service] = Field(default_factory=dict)
    """Keyed by lower-case service name."""
    iis: dict[str, IisVirtualDirectory] = Field(default_factory=dict)
    ssl_certificates: dict[int, str] = Field(default_factory=dict)
    """IIS site id -> the thumbprint of the certificate bound to its https binding (port 443):
    the metabase's ``SecureBindings``/``SSLCertHash`` on IIS 6, http.sys's binding on IIS 7."""
    """Keyed by lower-case virtual directory name."""
    complus: dict[str, ComPlusApplication] = Field(default_factory=dict)
    """Keyed by lower-case application name."""
    databases: dict[str, SqlDatabase] = Field(default_factory=dict)
    """Keyed by lower-case database name."""

    machine_sid: str = ""
    """The machine SID ``host.facts`` reports (``S-1-5-21-a-b-c``), drawn when the lab is created."""
    domain_admins: list[str] = Field(default_factory=list)
    """Accounts (``DOMAIN\\user``, lower-case) that are members of Domain Admins."""
    oab_count: int = 0
    """Offline address books in the organisation (the SharedOABUtility condition)."""
    disk_free_bytes: int = 40 * 1024**3
    pending_reboot: list[str] = Field(default_factory=list)
    """Why a reboot is pending (``PendingFileRenameOperations``, ``msi 3010``); empty when none."""
    booted_at: float = 1298937600.0
    """When the host last booted (seconds since the epoch; 2011-03-01 until the lab restarts it)."""
    restart_in_s: float | None = None
    """A restart the host has begun or scheduled (``shutdown /r /t``, msiexec's 1641), in seconds
    from the run that set it: the lab takes the host down then and clears it."""

    # Conditions the fault scenarios set and the operations honour.
    installer_busy_until: float | None = None
    """While ``now`` is before this, Windows Installer's mutex is held: msiexec answers 1618."""
    disk_full_paths: list[str] = Field(default_factory=list)
    """Writing a file under one of these paths fails: "There is not enough space on the disk."."""
    locked_files: list[str] = Field(default_factory=list)
    """Paths held open by another process: rename, overwrite and delete fail."""
    deployment_queue: list[tuple[str, str]] = Field(default_factory=list)
    """
    The Deployment Tool's queued installs, ``(component, MSI)``, on its host: its Install command
    only queues them, and Start Deployment runs them.
    """
    forced_exit_codes: dict[str, list[int]] = Field(default_factory=dict)
    """Per operation id, exit codes the next runs give (1603, 3010...), consumed in order."""

    mutations: int = 0
    """How many operations received through WinRM changed this state."""
    operations: list[str] = Field(default_factory=list)
    """Ids of the operations received through WinRM, in order (the last 1,000)."""

    def pop_forced_exit_code(self, op_id: str) -> int | None:
        """The next exit code a fault scenario queued for ``op_id`` (consumed), or ``None``."""
        queue = self.forced_exit_codes.get(op_id)
        if not queue:
            return None
        code = queue.pop(0)
        if not queue:
            del self.forced_exit_codes[op_id]
        return code


class StateStore(Protocol):
    """Where host states live. The lab's store keeps them as JSON files in its state directory."""

    def names(self) -> list[str]:
        """Host names, in the order the lab was created with."""
        ...

    def read(self, host: str) -> HostState:
        """A copy of the host's current state."""
        ...

    def update(self, host: str) -> AbstractContextManager[HostState]:
        """
        Exclusive access to the host's state; changes are saved when the block exits normally.

        Operations on one host are serialised by this lock, as Windows Installer serialises
        installs; different hosts proceed in parallel.
        """
        ...


class BlobStore(Protocol):
    """Content-addressed file contents (MSIs are hundreds of kilobytes; hosts share them)."""

    def get(self, key: str) -> bytes:
        """The bytes stored under ``key`` (their SHA-256 hex)."""
        ...

    def put(self, data: bytes) -> str:
        """Store ``data``; returns its key, the SHA-256 hex of the bytes."""
        ...


class MemoryStateStore:
    """A ``StateStore`` in memory, for tests and for a lab that need not survive a restart."""

    def __init__(self, states: list[HostState]) -> None:
        self._states = {s.name.lower(): s for s in states}
        self._order = [s.name for s in states]
        self._locks = {name: threading.RLock() for name in self._states}

    def names(self) -> list[str]:
        return list(self._order)

    def read(self, host: str) -> HostState:
        with self._locks[host.lower()]:
            return self._states[host.lower()].model_copy(deep=True)

    @contextmanager
    def update(self, host: str) -> Iterator[HostState]:
        key = host.lower()
        with self._locks[key]:
            working = self._states[key].model_copy(deep=True)
            yield working
            self._states[key] = working


class MemoryBlobStore:
    """A ``BlobStore`` in memory."""

    def __init__(self) -> None:
        self._blobs: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes:
        with self._lock:
            return self._blobs[key]

    def put(self, data: bytes) -> str:
        key = hashlib.sha256(data).hexdigest()
        with self._lock:
            self._blobs.setdefault(key, data)
        return key
