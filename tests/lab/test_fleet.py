"""The lab's state directory: file-backed stores, addresses, creation from real MSIs, reuse, restarts."""

from __future__ import annotations

import hashlib
import json
import socket
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from rollup.errors import UsageError
from rollup.lab.fleet import LabOptions, lab_hosts, prepare_lab
from rollup.lab.labdir import (
    PASSWORD_PREFIX,
    LabPaths,
    StaleLab,
    free_first_address,
    host_addresses,
    read_config,
)
from rollup.lab.rehearsal_lab import _forget_stale
from rollup.lab.report import host_report
from rollup.lab.state import HostState
from rollup.lab.store import FileBlobStore, FileStateStore
from rollup.model.inventory import load_inventory
from rollup.model.manifest import load_manifest
from rollup.model.roles import Role
from tests.lab import labkit


def test_state_store_writes_whole_files_and_only_on_change(tmp_path: Path) -> None:
    """An unchanged update leaves the file alone, a change replaces it, a failed block changes nothing."""
    store = FileStateStore.create(tmp_path, [HostState(name="MPS01", roles=["mps_engine"])])
    path = store.path("mps01")
    first = path.stat().st_ino

    with store.update("MPS01"):
        pass
    unchanged = path.stat().st_ino
    with store.update("MPS01") as state:
        state.disk_free_bytes = 1
    with pytest.raises(RuntimeError, match="half-way"):
        _fail_inside(store)

    assert unchanged == first
    assert path.stat().st_ino != first
    assert store.read("MPS01").disk_free_bytes == 1
    assert json.loads(path.read_text())["disk_free_bytes"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["MPS01.json", "MPS01.lock"]


def _fail_inside(store: FileStateStore) -> None:
    with store.update("MPS01") as state:
        state.disk_free_bytes = 2
        raise RuntimeError("the operation failed half-way")


def test_blob_store_keeps_each_content_once_under_its_sha256(tmp_path: Path) -> None:
    """Putting the same bytes twice stores one file named by their SHA-256; other keys name no file."""
    blobs = FileBlobStore(tmp_path / "blobs")

    key = blobs.put(b"MSI bytes")
    again = blobs.put(b"MSI bytes")

    assert key == again == hashlib.sha256(b"MSI bytes").hexdigest()
    assert blobs.get(key) == b"MSI bytes"
    assert [p.name for p in (tmp_path / "blobs").iterdir()] == [key]
    with pytest.raises(KeyError):
        blobs.get("../lab.json")
    with pytest.raises(KeyError):
        blobs.get("0" * 64)


def test_addresses_skip_the_reserved_networks_and_network_edges() -> None:
    """Addresses never use 127.0.0.x, 127.0.1.x, nor end in .0 or .255; non-loopback is refused."""
    assert host_addresses("127.0.1.250", 2) == ["127.0.2.1", "127.0.2.2"]
    assert host_addresses("127.0.2.253", 4) == ["127.0.2.253", "127.0.2.254", "127.0.3.1", "127.0.3.2"]
    assert len(set(host_addresses("127.0.2.1", 500))) == 500
    with pytest.raises(UsageError, match="not a loopback address"):
        host_addresses("10.0.0.1", 1)
    with pytest.raises(UsageError, match="do not fit"):
        host_addresses("127.255.255.250", 10)


def test_a_block_in_use_is_skipped_for_the_next_one() -> None:
    """When another listener holds an address of the block, the lab takes the next /24 block."""
    with socket.socket() as taken:
        taken.bind(("127.0.121.2", 0))
        taken.listen()
        port = taken.getsockname()[1]

        first = free_first_address(3, (port,), start_at="127.0.121.1")

    assert first == "127.0.122.1"


def test_mps01_plays_the_web_services_role() -> None:
    """MPS01 carries the Deployment Tool, the MPS engine and the web services; then DNS01, MPSSQL, COLLABs."""
    hosts = lab_hosts(3)

    assert [name for name, _ in hosts] == ["MPS01", "DNS01", "MPSSQL", "COLLAB01", "COLLAB02", "COLLAB03"]
    assert hosts[0][1] == {Role.DEPLOYMENT_TOOL, Role.MPS_ENGINE, Role.WEB_SERVICES}
    assert lab_hosts(497)[-1][0] == "COLLAB497"


def test_a_new_lab_holds_the_prerollup_state_built_from_real_msis(template: LabPaths) -> None:
    """MSIShare has the previous builds, C:\\temp\\KB2492954 and package/ the KB-size rollup builds."""
    manifest = load_manifest(labkit.MANIFEST)
    config = read_config(template)
    store = FileStateStore(template.hosts, [h.name for h in config.hosts])
    mps01 = host_report(store.read("MPS01"), FileBlobStore(template.blobs))
    files = {f["path"]: f for f in mps01["files"]}
    kb = {f.name: f for f in manifest.package.files}

    assert [(h.name, h.address, h.http_port, h.https_port) for h in config.hosts] == [
        ("MPS01", labkit.template_host(1), 5985, 5986),
        ("DNS01", labkit.template_host(2), 5985, 5986),
        ("MPSSQL", labkit.template_host(3), 5985, 5986),
        ("COLLAB01", labkit.template_host(4), 5985, 5986),
        ("COLLAB02", labkit.template_host(5), 5985, 5986),
    ]
    for name, spec in kb.items():
        downloaded = files[f"C:\\temp\\KB2492954\\{name}"]
        local = template.package / name
        assert downloaded["size"] == spec.size_bytes == local.stat().st_size
        assert datetime.fromtimestamp(local.stat().st_mtime, UTC) == spec.date
        assert downloaded["sha256"] == hashlib.sha256(local.read_bytes()).hexdigest()
    share = {p: f for p, f in files.items() if p.startswith("C:\\MSIShare\\")}
    assert len(share) == 21
    assert {f["product_version"] for f in share.values()} == {"4.0.2379.0"}
    assert {f["product_version"] for p, f in files.items() if "KB2492954" in p} == {"4.0.2491.0"}
    installed = {p["name"]: p["version"] for p in mps01["products"]}
    tool = [c.name for c in manifest.components if c.managed_by == "deployment_tool"]
    assert len(tool) == 17
    assert {name: installed.get(name) for name in tool} == dict.fromkeys(tool, "4.0.2379.0")
    assert "Hosted Messaging and Collaboration Deployment Tool" in installed
    assert "Shared OAB Utility" not in installed
    assert mps01["mutations"] == 0


def test_the_inventory_reaches_every_host_with_a_password_reference(template: LabPaths) -> None:
    """inventory.yml loads as a project inventory: NTLM over HTTP, the password file by reference."""
    inventory = load_inventory(str(template.inventory))
    password_file = template.password
    lab_json = template.config.read_text()

    assert [h.name for h in inventory.hosts] == ["MPS01", "DNS01", "COLLAB01", "COLLAB02", "MPSSQL"]
    assert inventory.host("MPS01").roles == {Role.DEPLOYMENT_TOOL, Role.MPS_ENGINE, Role.WEB_SERVICES}
    assert inventory.host("DNS01").endpoint == f"http://{labkit.template_host(2)}:5985/wsman"
    assert {h.transport.value for h in inventory.hosts} == {"ntlm"}
    assert not any(h.insecure_lab for h in inventory.hosts)
    assert {h.user for h in inventory.hosts} == {"HOSTING\\rollup-lab"}
    assert {h.password.describe() for h in inventory.hosts if h.password} == {"file lab-password"}
    assert inventory.settings.deployment_tool_strategy == "command"
    assert inventory.settings.package_dir == template.package
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    password = password_file.read_text().strip()
    assert password.startswith(PASSWORD_PREFIX)
    assert len(password) == len(PASSWORD_PREFIX) + 16
    assert password not in lab_json


def test_a_password_variable_is_referred_to_and_never_written(
    template: LabPaths, tmp_path: Path, cache: Path
) -> None:
    """With ROLLUP_LAB_PASSWORD set at lab up, the inventory refers to it and no file holds it."""
    paths = labkit.copy_lab(template, tmp_path / "lab")
    env = {**labkit.lab_env(cache), "ROLLUP_LAB_PASSWORD": "Another-Secret-1"}

    prepare_lab(paths, LabOptions(manifest=labkit.MANIFEST), env)
    inventory = load_inventory(str(paths.inventory))

    assert {h.password.describe() for h in inventory.hosts if h.password} == {"env ROLLUP_LAB_PASSWORD"}
    assert not any(b"Another-Secret-1" in p.read_bytes() for p in paths.root.rglob("*") if p.is_file())


def test_reusing_a_lab_refuses_conflicting_options(template: LabPaths, tmp_path: Path, cache: Path) -> None:
    """Another --collab, another first address or another account than the lab's is one clear line."""
    paths = labkit.copy_lab(template, tmp_path / "lab")
    env = labkit.lab_env(cache)

    with pytest.raises(UsageError) as collab:
        prepare_lab(paths, LabOptions(manifest=labkit.MANIFEST, collab=3), env)
    with pytest.raises(UsageError) as address:
        prepare_lab(paths, LabOptions(manifest=labkit.MANIFEST, first_address="127.0.9.1"), env)
    with pytest.raises(UsageError) as user:
        prepare_lab(paths, LabOptions(manifest=labkit.MANIFEST), {**env, "ROLLUP_LAB_USER": "HOSTING\\other"})
    same = prepare_lab(paths, LabOptions(manifest=labkit.MANIFEST, collab=2, time_factor=0.5), env)

    assert str(collab.value) == (
        "--collab 3: this lab has 2 COLLAB hosts; leave --collab out to start it, or use another --state-dir"
    )
    assert f"addresses start at {labkit.TEMPLATE_ADDRESS}" in str(address.value)
    assert str(user.value).startswith("ROLLUP_LAB_USER is 'HOSTING\\\\other', but this lab was created for")
    assert same.scenario.time_factor == 0.5
    assert read_config(paths).scenario.time_factor == 0.5


def test_state_changed_through_winrm_survives_a_restart(
    template: LabPaths, tmp_path: Path, cache: Path
) -> None:
    """An IIS change made over WinRM is in the host's file after the lab stops, and served after it starts."""
    paths = labkit.copy_lab(template, tmp_path / "lab", {"time_factor": 0})
    with labkit.serving(paths, cache):
        changed = labkit.Client(labkit.template_host(2)).op(
            "iis.set_vdir",
            site="Default Web Site",
            vdir="DNSProvider",
            default_logon_domain="\\",
            require_ssl=True,
        )

    with labkit.serving(paths, cache):
        dns01 = labkit.Client(labkit.template_host(2))
        after = dns01.op("iis.get_vdir", site="Default Web Site", vdir="DNSProvider")
    state = json.loads((paths.hosts / "DNS01.json").read_text())

    assert changed.code == 0
    assert after.code == 0
    assert '"default_logon_domain":"\\\\"' in after.stdout
    assert '"require_ssl":true' in after.stdout
    assert state["iis"]["dnsprovider"]["default_logon_domain"] == "\\"
    assert state["mutations"] == 1
    assert state["operations"] == ["iis.set_vdir", "iis.get_vdir"]


def test_a_lab_made_by_another_rollup_version_is_refused_and_the_rehearsal_lab_made_afresh(
    template: LabPaths, tmp_path: Path
) -> None:
    """Its hosts lack what this version's scripts read: `lab up` says so; the rehearsal lab is replaced."""
    paths = labkit.copy_lab(template, tmp_path / "old")
    raw = json.loads(paths.config.read_text(encoding="utf-8"))
    paths.config.write_text(json.dumps({**raw, "format": 1}), encoding="utf-8")

    with pytest.raises(StaleLab) as refused:
        read_config(paths)
    _forget_stale(paths)

    assert str(refused.value) == (
        f"{paths.root}: this lab was made by another rollup version (lab format 1; this one makes format 2)"
    )
    assert not paths.config.exists()
    assert not paths.hosts.exists()
