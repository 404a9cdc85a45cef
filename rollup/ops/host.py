"""
``host.facts``: what pre-flight needs to know about a host, read without changing anything.

One script gathers every fact; each is read in its own ``try``, so a fact that cannot be read
(no AD to ask, WMI refusing) is ``None`` with the reason under ``errors`` while the others still
arrive. The facts and where they come from:

- computer name (``$env:COMPUTERNAME``) and machine SID (the local Administrator's SID without
  its RID, ``Win32_UserAccount``), which ``rollup.engine.identity`` compares with the
  inventory; OS caption, version and service pack
  and boot time (``Win32_OperatingSystem``); architecture from ``$env:PROCESSOR_ARCHITECTURE``, or
  ``PROCESSOR_ARCHITEW6432`` in a 32-bit shell on x64 (``OSArchitecture`` does not exist on
  Server 2003); the PowerShell version (``$PSVersionTable``, absent on 1.0);
- free bytes on ``C:`` (``Win32_LogicalDisk``);
- why a reboot is pending: ``PendingFileRenameOperations`` (Session Manager), Windows Update's
  ``RebootRequired`` and CBS's ``RebootPending`` keys. The simulated lab records ``msi 3010``
  when a simulated install exits 3010 (files in use are replaced at the next boot, which on
  Windows shows as ``PendingFileRenameOperations``);
- whether Windows Installer is busy (the ``Global\\_MSIExecute`` mutex, ``Test-RollupMsiBusy``);
- the account the session runs as and whether it is in Domain Admins: a group SID of the
  token whose domain-relative RID is 512, translated to its name;
- whether the HMC Deployment Tool is installed: its configuration ``MpsConfig.xml`` under
  ``<config_share>\\Config`` (the documented location) or an Uninstall entry whose
  DisplayName contains the words "Deployment Tool";
- whether ``C:\\MSIShare`` exists and its ACL lets the account create files there. This is
  read from the ACL (an Allow rule for the account or one of its groups with ``CreateFiles``
  on the folder itself, and no such Deny rule), not by writing a probe file: pre-flight makes
  no change at all, and the lab's mutation counter stays where it was;
- with ``oab``, the number of offline address books (``msExchOAB`` objects in AD's
  configuration partition, searched with paging) for the SharedOABUtility condition.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rollup.ops.base import CommandResult, Operation, compact_body
from rollup.ops.results import ResultModel, read_object

if TYPE_CHECKING:
    pass

DEPLOYTOOL_CONFIG = "Config\\MpsConfig.xml"
"""The Deployment Tool's configuration, below its ConfigShare: present once the tool is set up."""
DEPLOYTOOL_ENTRY = re.compile(r"\bDeployment Tool\b", re.IGNORECASE)
"""An Uninstall DisplayName that names the Deployment Tool ("Deployment Toolkit" does not match)."""


@dataclass(frozen=True, slots=True)
class FactsParams:
    """Where the shares are, and whether to count offline address books (an AD query)."""

    msishare: str = "C:\\MSIShare"
    config_share: str = "C:\\ConfigShare"
    oab: bool = False


class MsiShare(ResultModel):
    """The MSI share folder: whether it exists and whether the ACL lets the account create files."""

    path: str
    exists: bool
    writable: bool


class HostFacts(ResultModel):
    """The facts of one host; a fact that could not be read is ``None`` with its reason in ``errors``."""

    computer: str
    os_caption: str | None
    os_version: str | None
    service_pack: int | None
    arch: str | None
    ps_version: str
    free_bytes: int | None
    pending_reboot: tuple[str, ...] | None
    msi_busy: bool | None
    identity: str | None
    domain_admin: bool | None
    admin_group: str | None
    deploytool_config: bool | None
    deploytool_entry: str | None
    msishare: MsiShare | None
    oab_count: int | None
    errors: dict[str, str]
    machine_id: str | None = None
    domain: str | None = None
    """The domain the computer is a member of (``Win32_ComputerSystem.Domain``: a DNS name)."""
    boot_time: str | None = None
    """When the host last booted (``Win32_OperatingSystem.LastBootUpTime``, a WMI date): a
    restart is told by a later one."""

    @property
    def deploytool_installed(self) -> bool:
        """Whether the Deployment Tool's configuration or its Uninstall entry was found."""
        return bool(self.deploytool_config) or self.deploytool_entry is not None

    @property
    def reboot_pending(self) -> bool:
        """Whether any reason for a pending reboot was found."""
        return bool(self.pending_reboot)


REBOOT_FACTS = compact_body(r"""
function Add-RollupRebootReason($pr) {
    $sm = Get-ItemProperty 'HKLM:\SYSTEM\CurrentControlSet\Control\Session Manager'
    if ($sm.PendingFileRenameOperations) { [void]$pr.Add('PendingFileRenameOperations') }
    $cv = 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion'
    $wu = "$cv\WindowsUpdate\Auto Update\RebootRequired"
    if (Test-Path $wu) { [void]$pr.Add('WindowsUpdate RebootRequired') }
    if (Test-Path "$cv\Component Based Servicing\RebootPending") { [void]$pr.Add('CBS RebootPending') }
}
""")
"""
``Add-RollupRebootReason $list``: adds to ``$list`` (an ``ArrayList``) each reason Windows keeps
for a pending restart. ``host.facts`` (pre-flight) and ``verify.facts`` (verify) both call it.
"""

BODY = (
    REBOOT_FACTS
    + "\n"
    + compact_body(r"""
$ErrorActionPreference = 'Stop'
$r = @{ computer = $env:COMPUTERNAME; os_caption = $null; os_version = $null; service_pack = $null
    arch = $null; ps_version = '1.0'; free_bytes = $null; pending_reboot = $null; msi_busy = $null
    identity = $null; domain_admin = $null; admin_group = $null; deploytool_config = $null
    deploytool_entry = $null; msishare = $null; oab_count = $null; machine_id = $null; domain = $null
    boot_time = $null }
$err = @{}
if ($PSVersionTable) { $r.ps_version = $PSVersionTable.PSVersion.ToString() }
$r.arch = $env:PROCESSOR_ARCHITECTURE
if ($env:PROCESSOR_ARCHITEW6432) { $r.arch = $env:PROCESSOR_ARCHITEW6432 }
try {
    $os = Get-WmiObject -Class Win32_OperatingSystem
    $r.os_caption = [string]$os.Caption
    $r.os_version = [string]$os.Version
    $r.service_pack = [int]$os.ServicePackMajorVersion
    $r.boot_time = [string]$os.LastBootUpTime
}
catch { $err.os = $_.Exception.Message }
try { $r.free_bytes = [long](Get-WmiObject -Class Win32_LogicalDisk -Filter "DeviceID='C:'").FreeSpace }
catch { $err.free_bytes = $_.Exception.Message }
try {
    $pr = New-Object Collections.ArrayList
    Add-RollupRebootReason $pr
    $r.pending_reboot = $pr
}
catch { $err.pending_reboot = $_.Exception.Message }
try { $r.msi_busy = Test-RollupMsiBusy }
catch { $err.msi_busy = $_.Exception.Message }
try {
    $id = [Security.Principal.WindowsIdentity]::GetCurrent()
    $r.identity = $id.Name
    $r.domain_admin = $false
    foreach ($g in $id.Groups) {
        if ($g.Value -match '^S-1-5-21-\d+-\d+-\d+-512$') {
            $r.domain_admin = $true
            $r.admin_group = $g.Translate([Security.Principal.NTAccount]).Value
        }
    }
}
catch { $err.identity = $_.Exception.Message }
try {
    $ua = @(Get-WmiObject -Class Win32_UserAccount -Filter 'LocalAccount=True')
    $adm = @($ua | Where-Object { $_.SID -match '-500$' })
    if ($adm.Count -gt 0) { $r.machine_id = $adm[0].SID -replace '-500$', '' }
}
catch { $err.machine_id = $_.Exception.Message }
try { $r.domain = [string](Get-WmiObject -Class Win32_ComputerSystem).Domain }
catch { $err.domain = $_.Exception.Message }
try {
    $r.deploytool_config = [IO.File]::Exists([IO.Path]::Combine($p_config_share, 'Config\MpsConfig.xml'))
    foreach ($u in @('SOFTWARE', 'SOFTWARE\Wow6432Node')) {
        $k = "HKLM:\$u\Microsoft\Windows\CurrentVersion\Uninstall"
        if (Test-Path $k) {
            foreach ($e in @(Get-ChildItem $k)) {
                $n = [string]$e.GetValue('DisplayName')
                if ($n -match '\bDeployment Tool\b') { $r.deploytool_entry = $n }
            }
        }
    }
}
catch { $err.deploytool = $_.Exception.Message }
try {
    $m = @{ path = $p_msishare; exists = [IO.Directory]::Exists($p_msishare); writable = $false }
    if ($m.exists) {
        $me = [Security.Principal.WindowsIdentity]::GetCurrent()
        $sids = @($me.User.Value) + @($me.Groups | ForEach-Object { $_.Value })
        $allow = $false
        $deny = $false
        $acl = [IO.Directory]::GetAccessControl($p_msishare)
        foreach ($a in $acl.GetAccessRules($true, $true, [Security.Principal.SecurityIdentifier])) {
            $mine = $sids -contains $a.IdentityReference.Value
            $create = ([int]$a.FileSystemRights -band 2) -ne 0
            $here = ([int]$a.PropagationFlags -band 2) -eq 0
            if ($mine -and $create -and $here) {
                if ([string]$a.AccessControlType -eq 'Deny') { $deny = $true } else { $allow = $true }
            }
        }
        $m.writable = $allow -and -not $deny
    }
    $r.msishare = $m
}
catch { $err.msishare = $_.Exception.Message }
if ($p_oab) {
    try {
        $cn = ([ADSI]'LDAP://RootDSE').psbase.Properties['configurationNamingContext'].Value
        $s = [adsisearcher]'(objectClass=msExchOAB)'
        $s.SearchRoot = [ADSI]"LDAP://$cn"
        $s.PageSize = 1000
        [void]$s.PropertiesToLoad.Add('cn')
        $all = $s.FindAll()
        try { $r.oab_count = $all.Count }
        finally { $all.Dispose() }
    }
    catch { $err.oab_count = $_.Exception.Message }
}
$r.errors = $err
Write-RollupResult $r
exit 0
""")
)


def parse(result: CommandResult, params: FactsParams) -> HostFacts:
    """
    The host's facts. A fact that could not be read is ``None``, with its reason in ``errors``;
    pre-flight decides whether that blocks the run.

    Raises:
        ResultParseError: No result line or a malformed one.
    """
    return HostFacts.read(result, read_object(result))


FACTS: Operation[FactsParams, HostFacts] = Operation(
    id="host.facts",
    params=FactsParams,
    body=BODY,
    parse=parse,
    helpers=("Test-RollupMsiBusy",),
    kind="fact",
    mutates=False,
    timeout_s=120.0,
    examples=(
        FactsParams(),
        FactsParams(oab=True),
        FactsParams(msishare="D:\\It's $(share)`;\u2019", config_share='E:\\Config"Share"\r\n', oab=True),
    ),
)

OPERATIONS = (FACTS,)
