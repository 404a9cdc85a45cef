"""
The lab's Windows Installer changes a host's files as Windows Installer does, driven by the real
msi.install and msi.uninstall scripts: upgrades replace older files, an equal or newer DLL stays,
a shared component's file stays until its last product goes, a file in use waits for a restart
(3010). The files' versions are read as a verify script reads them, with
``[Diagnostics.FileVersionInfo]`` in the lab's PowerShell.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pefile  # type: ignore[import-untyped]
import pytest

from rollup.lab.drift import apply_drift
from rollup.lab.msi import load_products
from rollup.lab.msi.files import package_files
from rollup.lab.prerollup import PACKAGE_SOURCE, prerollup_states
from rollup.lab.pwsh.host import run_powershell
from rollup.lab.runner import LabRunner
from rollup.lab.scenario import parse_scenario
from rollup.lab.state import HostState, MemoryBlobStore, MemoryStateStore, path_key
from rollup.lab.windows.installer_files import PENDING_RENAME
from rollup.lab.windows.machine import Machine
from rollup.model.manifest import load_manifest
from rollup.model.roles import Role
from rollup.ops import msi
from rollup.ops.base import CommandResult
from rollup.ops.registry import operation

MANIFEST = Path(__file__).resolve().parents[2] / "manifests" / "hmc40-rollup-2011-01.yml"
NOW = datetime(2011, 3, 21, 9, 30, tzinfo=UTC).timestamp()
OLD, NEW = "4.0.2379.0", "4.0.2491.0"
ROOT = "C:\\Program Files\\Microsoft Hosting\\Provisioning"
SHARED = f"{ROOT}\\Shared\\Microsoft.Provisioning.WebServices.Common.dll"
WS = ("Exchange2007OABResourceManagerWS", "Exchange2007ResourceManagerWS", "HostedEmail2007WS",
      "HostedSharePoint2007WS", "ManagedEmail2007WS", "ManagedSharePoint2007WS")  # fmt: skip
Lab = tuple[MemoryBlobStore, HostState]


def dll(stem: str) -> str:
    return f"{ROOT}\\{stem}\\Microsoft.Provisioning.{stem}.dll"


@pytest.fixture(scope="module", name="lab")
def _lab(tmp_path_factory: pytest.TempPathFactory) -> Lab:
    """MPS01 before the rollup: the web services installed (with the shared DLL), the hotfix in C:\\temp."""
    blobs = MemoryBlobStore()
    cache = tmp_path_factory.getbasetemp() / "msi-cache"
    roles = frozenset({Role.DEPLOYMENT_TOOL, Role.MPS_ENGINE, Role.WEB_SERVICES})
    (state,) = prerollup_states(load_manifest(MANIFEST), [("MPS01", roles)], blobs=blobs, msi_cache_dir=cache)
    return blobs, state


def run(lab: Lab, state: HostState, script: str) -> tuple[int, str]:
    result = run_powershell(script, Machine(state, lab[0], now=NOW, user="HOSTING\\admin"))
    return result.exit_code, result.stdout + result.stderr


def install(lab: Lab, state: HostState, stem: str) -> int:
    op = operation(msi.INSTALL)
    assert op is not None
    params = msi.InstallParams(path=f"{PACKAGE_SOURCE}\\{stem}.msi", log=f"C:\\temp\\{stem}.log")
    return msi.parse_install(_result(*run(lab, state, op.command(params).render())), params).exit_code


def uninstall(lab: Lab, state: HostState, stem: str) -> int:
    op = operation(msi.UNINSTALL)
    assert op is not None
    code = next(p.product_code for p in state.products.values() if p.package == f"{stem}.msi")
    params = msi.UninstallParams(target=code, log=f"C:\\temp\\{stem}.x.log")
    return msi.parse_install(_result(*run(lab, state, op.command(params).render())), params).exit_code


def _result(code: int, out: str) -> CommandResult:
    return CommandResult(host="MPS01", op="msi", command="", exit_code=code, stdout=out, stderr="",
                             duration_s=0.0)  # fmt: skip


def version(lab: Lab, state: HostState, path: str) -> str:
    """What ``[Diagnostics.FileVersionInfo]`` reports on the host: ``FileVersion|parts``, or the error."""
    script = (
        f"try {{ $v = [Diagnostics.FileVersionInfo]::GetVersionInfo('{path}')\n"
        "$n = $v.FileMajorPart, $v.FileMinorPart, $v.FileBuildPart, $v.FilePrivatePart\n"
        "Write-Output ([string]($null -eq $v.FileVersion) + '|' + $v.FileVersion + '|' + ($n -join '.')) }\n"
        "catch { Write-Output ($_.Exception.GetType().FullName + ': ' + $_.Exception.Message) }"
    )
    code, out = run(lab, state, script)
    assert code == 0, out
    return out.strip()


def test_the_previous_build_s_files_are_in_place_before_the_rollup(lab: Lab) -> None:
    state = lab[1].model_copy(deep=True)

    assert version(lab, state, dll("DNSProvider")) == f"False|{OLD}|{OLD}"
    assert version(lab, state, SHARED) == f"False|{OLD}|{OLD}"
    assert version(lab, state, dll("DNSProvider") + ".config") == "True||0.0.0.0"
    missing = version(lab, state, f"{ROOT}\\nope.dll")
    assert missing == (
        'System.Management.Automation.MethodInvocationException: Exception calling "GetVersionInfo" with "1" '
        f'argument(s): "{ROOT}\\nope.dll"'
    )


def test_an_upgrade_replaces_the_older_files_and_keeps_the_shared_one_newest(lab: Lab) -> None:
    state = lab[1].model_copy(deep=True)
    config = dll("HostedEmail2007WS") + ".config"
    before = state.files[path_key(config)].sha256

    code = install(lab, state, "HostedEmail2007WS")

    assert code == 0
    assert version(lab, state, dll("HostedEmail2007WS")) == f"False|{NEW}|{NEW}"
    assert version(lab, state, SHARED) == f"False|{NEW}|{NEW}"  # newer than the one the others installed
    assert state.files[path_key(config)].sha256 != before
    assert version(lab, state, dll("HostedSharePoint2007WS")) == f"False|{OLD}|{OLD}"


def test_an_equal_version_on_disk_is_not_overwritten(lab: Lab) -> None:
    """The second web service's upgrade finds the shared DLL at its own version already: it stays."""
    state = lab[1].model_copy(deep=True)

    codes = [install(lab, state, stem) for stem in ("HostedEmail2007WS", "HostedSharePoint2007WS")]

    first = state.files[path_key("C:\\temp\\HostedEmail2007WS.log")].text or ""
    second = state.files[path_key("C:\\temp\\HostedSharePoint2007WS.log")].text or ""
    assert codes == [0, 0]
    assert f"File: {SHARED}; Installed; Version: {NEW}." in first
    assert f"File: {SHARED}; Won't Overwrite" in second


def test_a_newer_shared_dll_on_disk_is_not_overwritten(lab: Lab) -> None:
    """
    The shared DLL at a later build than the package's stays when another package carrying it is
    upgraded (the older product's removal keeps it: other products use its component).
    """
    blobs, base = lab
    state = base.model_copy(deep=True)
    first = install(lab, state, "HostedEmail2007WS")
    later = {"hosts": "MPS01", "files": [{"path": SHARED, "file_version": "4.0.2600.0"}]}
    drift = parse_scenario({"drift": [later]}, source="s.yml").drift
    apply_drift([state], drift, blobs, source="s.yml")

    second = install(lab, state, "HostedSharePoint2007WS")

    assert (first, second) == (0, 0)
    assert version(lab, state, SHARED) == "False|4.0.2600.0|4.0.2600.0"
    assert version(lab, state, dll("HostedSharePoint2007WS")) == f"False|{NEW}|{NEW}"
    assert "Won't Overwrite" in (state.files[path_key("C:\\temp\\HostedSharePoint2007WS.log")].text or "")


def test_a_shared_file_stays_until_the_last_product_using_it_is_removed(lab: Lab) -> None:
    state = lab[1].model_copy(deep=True)

    codes = [uninstall(lab, state, stem) for stem in WS[:-1]]
    kept = path_key(SHARED) in state.files
    last = uninstall(lab, state, WS[-1])

    assert codes == [0] * 5
    assert kept
    assert last == 0
    assert path_key(SHARED) not in state.files
    assert path_key(dll(WS[-1])) not in state.files
    assert path_key(dll("DNSProvider")) in state.files


def test_a_file_in_use_is_replaced_at_the_next_restart_and_the_install_asks_for_one(lab: Lab) -> None:
    state = lab[1].model_copy(deep=True)
    state.locked_files.append(dll("Exchange2007Provider"))

    code = install(lab, state, "Exchange2007Provider")

    assert code == 3010
    assert version(lab, state, dll("Exchange2007Provider")) == f"False|{OLD}|{OLD}"
    assert path_key(dll("Exchange2007Provider")) in state.pending_files
    assert PENDING_RENAME in state.pending_reboot
    assert "In use" in (state.files[path_key("C:\\temp\\Exchange2007Provider.log")].text or "")


def test_the_package_s_dlls_carry_their_build_s_version_for_an_independent_pe_reader() -> None:
    """pefile, not the lab's own reader, finds the version resource the builder wrote."""
    table = load_products()
    product = table.product("DNSClient.msi")
    for build, wanted in (("previous", OLD), ("rollup", NEW)):
        (image, config, *_) = package_files(table, product, build)  # type: ignore[arg-type]
        pe = pefile.PE(data=image.data)
        fixed = pe.VS_FIXEDFILEINFO[0]
        strings = {k.decode(): v.decode() for info in pe.FileInfo[0] if hasattr(info, "StringTable")
                   for table_ in info.StringTable for k, v in table_.entries.items()}  # fmt: skip

        assert pe.is_dll()
        assert (image.version, config.version) == (wanted, None)
        assert f"{fixed.FileVersionMS >> 16}.{fixed.FileVersionMS & 0xFFFF}.{fixed.FileVersionLS >> 16}." \
               f"{fixed.FileVersionLS & 0xFFFF}" == wanted  # fmt: skip
        assert strings["FileVersion"] == wanted
        assert strings["OriginalFilename"] == image.name


def test_a_restart_moves_the_file_that_was_in_use_into_place(lab: Lab) -> None:
    """What PendingFileRenameOperations does at boot: the new DLL replaces the old, nothing is pending."""
    blobs, base = lab
    state = base.model_copy(deep=True)
    state.locked_files.append(dll("Exchange2007Provider"))
    install(lab, state, "Exchange2007Provider")
    state.locked_files = []  # the process holding it is gone with the restart
    store = MemoryStateStore([state])
    runner = LabRunner(store, blobs, clock=lambda: NOW + 600, time_factor=0)

    runner.restarted("MPS01")

    after = store.read("MPS01")
    assert version(lab, after, dll("Exchange2007Provider")) == f"False|{NEW}|{NEW}"
    assert (after.pending_files, after.pending_reboot) == ({}, [])
