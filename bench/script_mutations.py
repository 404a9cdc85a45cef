"""
How many realistic mistakes in the operations' scripts the simulated lab catches.

For every operation with scenarios below, each single-point mutant of the script (``rollup.lab.mutation``: renamed result key, negated comparison, forced ``exit 0``,
unquoted argument, altered string literal, flipped boolean) runs on the scenarios below, built
on the lab's pre-rollup hosts; a mutant is caught when its exit code, result line or the host
state it leaves differ from the original's. Prints one line per operation and the survivors.

Run on demand: ``.venv/bin/python bench/script_mutations.py [--survivors] [OP ...]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from rollup.lab.hyperv import hyperv_state
from rollup.lab.mutation import Scenario, check
from rollup.lab.prerollup import prerollup_states
from rollup.lab.state import HostState, MemoryBlobStore, path_key
from rollup.model.manifest import load_manifest
from rollup.ops import (
    complus,
    deploytool,
    filecopy,
    files,
    filetimes,
    host,
    hyperv,
    iis,
    iisreset,
    lockmarker,
    msi,
    products,
    service,
    sql,
)
from rollup.ops.registry import operation
from rollup.testing.fleet import fleet_roles
from rollup.verify import verify_params

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2011, 3, 21, 9, 30, tzinfo=UTC).timestamp()
PACKAGE = "C:\\Rollup Packages\\KB2492954\\DNSClient.msi"
LOCK = "C:\\ConfigShare\\rollup.lock"


MANIFEST = ROOT / "manifests" / "hmc40-rollup-2011-01.yml"


def lab_states(blobs: MemoryBlobStore) -> dict[str, HostState]:
    with tempfile.TemporaryDirectory() as cache:
        states = prerollup_states(
            load_manifest(MANIFEST), fleet_roles(1), blobs=blobs, msi_cache_dir=Path(cache)
        )
    found = {s.name: s for s in states}
    mps, dns = found["MPS01"], found["DNS01"]
    source = next(f for k, f in mps.files.items() if k.endswith("kb2492954\\dnsclient.msi"))
    dns.files[path_key(PACKAGE)] = source.model_copy(update={"path": PACKAGE})
    guests = {"MPS01-LAB": "MPS01", "DNS01-LAB": "DNS01"}
    found["HV01"] = hyperv_state("HV01", guests, admin="HOSTING\\rollup-lab")
    found["HV02"] = hyperv_state("HV02", guests, admin="HOSTING\\rollup-lab", modern=True)
    return found


def scenarios(states: dict[str, HostState], blobs_of: MemoryBlobStore) -> dict[str, list[Scenario]]:  # noqa: PLR0915
    def on(name: str, change: Callable[[HostState], None] | None = None) -> Callable[[], HostState]:
        def make() -> HostState:
            state = states[name].model_copy(deep=True)
            if change is not None:
                change(state)
            return state

        return make

    mps, dns, sqlhost = on("MPS01"), on("DNS01"), on("MPSSQL")
    manifest = load_manifest(MANIFEST)
    roles = dict(fleet_roles(1))

    def engine_stopped(state: HostState) -> None:
        for app in state.complus.values():
            app.running = False
            app.process_id = None

    def engine_disabled(state: HostState) -> None:
        for app in state.complus.values():
            app.enabled = False

    def basic_off(state: HostState) -> None:
        for vdir in state.iis.values():
            vdir.auth_basic = False
            vdir.access_ssl = False
            vdir.default_logon_domain = ""

    def kb_done(state: HostState) -> None:
        for vdir in state.iis.values():
            vdir.auth_basic = True
            vdir.access_ssl = True
            vdir.default_logon_domain = "\\"

    def iis7_done(state: HostState) -> None:
        iis7(state)
        kb_done(state)

    def iis7(state: HostState) -> None:
        state.os_version = "6.0.6002"
        state.iis_version = 7

    def iis7_off(state: HostState) -> None:
        iis7(state)
        basic_off(state)

    def w3svc_disabled(state: HostState) -> None:
        for svc in state.services.values():
            if svc.name.lower() == "w3svc":
                svc.start_mode = "Disabled"
                svc.status = "Stopped"

    def vm(action: str, vms: tuple[str, ...] = ("MPS01-LAB", "DNS01-LAB")) -> hyperv.VmActionParams:
        return hyperv.VmActionParams(action=action, vms=vms, snapshot="rollup-rehearsal")  # type: ignore[arg-type]

    def checkpointed(name: str) -> Callable[[], HostState]:
        def make() -> HostState:
            from rollup.lab.hyperv import checkpoint, read_registry, write_registry
            from rollup.lab.state import MemoryStateStore

            state = states[name].model_copy(deep=True)
            registry = read_registry(state)
            assert registry is not None
            peers = MemoryStateStore(
                [states["MPS01"].model_copy(deep=True), states["DNS01"].model_copy(deep=True)]
            )
            for one in registry.vms:
                checkpoint(one, "rollup-rehearsal", peers=peers, now=NOW, write_blob=blobs_of.put)
            write_registry(state, registry, NOW)
            return state

        return make

    sql_entries = dict(e.split("=", 1) for e in verify_params(manifest, roles["MPSSQL"]).sql if "=" in e)
    sql_params = sql.SqlObjectsParams(
        instance=sql_entries.get("instance", "."),
        database=sql_entries.get("database", "ResourceManager"),
        indexes=tuple(
            e.split("=", 1)[1] for e in verify_params(manifest, roles["MPSSQL"]).sql if e.startswith("index=")
        ),
        procedures=tuple(
            e.split("=", 1)[1]
            for e in verify_params(manifest, roles["MPSSQL"]).sql
            if e.startswith("procedure=")
        ),
        near_miss=("Selete%",),
    )
    dns_vdir = next(iter(states["DNS01"].iis.values()))
    kb_step = iis.SetVdirParams(
        site=dns_vdir.site, vdir=dns_vdir.name, default_logon_domain="\\", require_ssl=True, basic_auth=True
    )
    get_vdir = iis.VdirParams(site=dns_vdir.site, vdir=dns_vdir.name)
    dns_code = next(iter(states["DNS01"].products))
    log = "C:\\temp\\rollup logs\\x.log"
    data = b"package bytes\r\n" * 50
    upload_lines = tuple(files.upload_stdin(data).decode().split("\r\n")[:-1])
    sha = hashlib.sha256(data).hexdigest()

    def held_by_other(state: HostState) -> None:
        from rollup.lab.windows.fs import FileSystem

        FileSystem(state, MemoryBlobStore(), NOW).write(LOCK, b'{"run_id":"other","version":1}')

    def fail_1603(state: HostState) -> None:
        state.forced_exit_codes["msi.install"] = [1603]

    def locked_share(state: HostState) -> None:
        state.locked_files = ["C:\\MSIShare\\DNSClient.msi"]

    def stale_partial(state: HostState) -> None:
        from rollup.lab.windows.fs import FileSystem

        FileSystem(state, MemoryBlobStore(), NOW).write("C:\\MSIShare\\DNSClient.msi.partial", b"half")

    def fail_uninstall(state: HostState) -> None:
        state.forced_exit_codes["msi.uninstall"] = [1603]

    def old_backup(state: HostState) -> None:
        entry = state.files[path_key("C:\\MSIShare\\DNSProvider.msi")]
        copy_path = "C:\\MSIShare\\dnsprovider.msi.20110101-000000.BAK"
        state.files[path_key(copy_path)] = entry.model_copy(update={"path": copy_path})

    def same_second(state: HostState) -> None:
        from rollup.lab.windows.fs import FileSystem

        FileSystem(state, MemoryBlobStore(), NOW).write(
            "C:\\MSIShare\\DNSProvider.msi.20110321-093320.bak", b"other"
        )

    def held_and_locked(state: HostState) -> None:
        held_by_other(state)
        state.locked_files = [LOCK]

    def tool_runs(state: HostState) -> None:
        from rollup.lab.context import SimContext
        from rollup.lab.sitecommand import run_site_command
        from rollup.lab.windows.fs import FileSystem

        state.forced_exit_codes["deploytool.command"] = [0, 1603]
        for offset, argv in (
            (0, ("initialize", "Node A")),
            (1800, ("initialize", "Node B")),
            (3600, ("uninstall", "DNS Provider", "DNSProvider.msi")),
        ):
            ctx = SimContext(
                now=NOW - 3600 + offset,
                user="HOSTING\\rollup-lab",
                read_blob=blobs_of.get,
                write_blob=blobs_of.put,
            )
            run_site_command({state.name: state}, state.name, argv, ctx)
        FileSystem(state, MemoryBlobStore(), NOW).write(
            "C:\\ConfigShare\\Log\\notes.log.txt", b"MainEngineThread is returning 7"
        )

    def tool_runs_locked(state: HostState) -> None:
        tool_runs(state)
        state.locked_files = [f.path for f in state.files.values() if f.path.lower().endswith(".log")][:1]

    def busy(state: HostState) -> None:
        state.installer_busy_until = NOW + 600
        state.pending_reboot = ["msi 3010"]

    acquire = lockmarker.LockAcquireParams(
        run_id="r1", operator="op", control_host="ctl", inventory="lab", acquired_at="2011-03-21T09:30:00Z"
    )
    site = deploytool.LAB_COMMAND
    return {
        "msi.install": [
            Scenario("dns client twice", dns, msi.InstallParams(path=PACKAGE, log=log)),
            Scenario("missing package", mps, msi.InstallParams(path="C:\\no such\\x.msi", log=log)),
            Scenario("installer busy", on("DNS01", busy), msi.InstallParams(path=PACKAGE, log=log)),
            Scenario(
                "properties",
                dns,
                msi.InstallParams(
                    path=PACKAGE,
                    log=log,
                    properties=("REBOOT=ReallySuppress", "INSTALLDIR=C:\\Program Files\\HMC"),
                ),
            ),
            Scenario("fails 1603", on("DNS01", fail_1603), msi.InstallParams(path=PACKAGE, log=log)),
        ],
        "msi.uninstall": [
            Scenario(
                "properties",
                dns,
                msi.UninstallParams(target=dns_code, log=log, properties=("REBOOT=ReallySuppress", "X=a b")),
            ),
            Scenario(
                "fails 1603", on("DNS01", fail_uninstall), msi.UninstallParams(target=dns_code, log=log)
            ),
            Scenario("by product code", dns, msi.UninstallParams(target=dns_code, log=log)),
            Scenario("by package", dns, msi.UninstallParams(target=PACKAGE, log=log)),
            Scenario(
                "not installed",
                mps,
                msi.UninstallParams(target="{00000000-0000-0000-0000-000000000001}", log=log),
            ),
        ],
        "files.stat": [
            Scenario(
                "msi",
                mps,
                files.StatParams(paths=("C:\\MSIShare\\DNSClient.msi", "C:\\MSIShare\\none.msi"), msi=True),
            ),
            Scenario(
                "plain",
                mps,
                files.StatParams(paths=("C:\\ConfigShare\\Config\\MpsConfig.xml",), sha256=False),
            ),
        ],
        "files.backup": [
            Scenario(
                "backed up before",
                on("MPS01", old_backup),
                filecopy.BackupParams(share="C:\\MSIShare", names=("DNSProvider.msi",), method="copy"),
            ),
            Scenario(
                "same second",
                on("MPS01", same_second),
                filecopy.BackupParams(share="C:\\MSIShare", names=("DNSProvider.msi",), method="copy"),
            ),
            Scenario("colon", mps, filecopy.BackupParams(share="C:\\MSIShare", names=("c:name.msi",))),
            Scenario(
                "locked",
                on("MPS01", locked_share),
                filecopy.BackupParams(share="C:\\MSIShare", names=("DNSClient.msi",)),
            ),
            Scenario(
                "rename",
                mps,
                filecopy.BackupParams(share="C:\\MSIShare", names=("DNSClient.msi", "none.msi")),
            ),
            Scenario(
                "copy twice",
                mps,
                filecopy.BackupParams(share="C:\\MSIShare", names=("DNSProvider.msi",), method="copy"),
            ),
            Scenario("bad name", mps, filecopy.BackupParams(share="C:\\MSIShare", names=("..\\x.msi",))),
        ],
        "files.copy": [
            Scenario(
                "identical",
                mps,
                filecopy.CopyParams(
                    source_dir="C:\\MSIShare", dest_dir="C:\\MSIShare", names=("DNSClient.msi",)
                ),
            ),
            Scenario(
                "bad name",
                mps,
                filecopy.CopyParams(
                    source_dir="C:\\temp\\KB2492954", dest_dir="C:\\MSIShare", names=("x/y.msi",)
                ),
            ),
            Scenario(
                "locked",
                on("MPS01", locked_share),
                filecopy.CopyParams(
                    source_dir="C:\\temp\\KB2492954", dest_dir="C:\\MSIShare", names=("DNSClient.msi",)
                ),
            ),
            Scenario(
                "stale partial",
                on("MPS01", stale_partial),
                filecopy.CopyParams(
                    source_dir="C:\\temp\\KB2492954", dest_dir="C:\\MSIShare", names=("DNSClient.msi",)
                ),
            ),
            Scenario(
                "new builds",
                mps,
                filecopy.CopyParams(
                    source_dir="C:\\temp\\KB2492954",
                    dest_dir="C:\\MSIShare",
                    names=("DNSClient.msi", "none.msi"),
                ),
            ),
            Scenario(
                "fresh folder",
                mps,
                filecopy.CopyParams(
                    source_dir="C:\\temp\\KB2492954", dest_dir="C:\\New Share", names=("DNSProvider.msi",)
                ),
            ),
        ],
        "files.ensure_dir": [
            Scenario("new", mps, files.EnsureDirParams(path="C:\\temp\\rollup new")),
            Scenario("exists", mps, files.EnsureDirParams(path="C:\\MSIShare")),
        ],
        "files.set_time": [
            Scenario(
                "exists",
                mps,
                filetimes.SetTimeParams(path="C:\\MSIShare\\DNSClient.msi", filetime=129390000000000000),
            ),
            Scenario(
                "missing",
                mps,
                filetimes.SetTimeParams(path="C:\\MSIShare\\none.msi", filetime=129390000000000000),
            ),
        ],
        "files.upload": [
            Scenario(
                "good",
                mps,
                files.UploadParams(target="C:\\temp\\up load\\p.msi", size=len(data), sha256=sha),
                upload_lines,
            ),
            Scenario(
                "bad hash",
                mps,
                files.UploadParams(target="C:\\temp\\up load\\p.msi", size=len(data), sha256="0" * 64),
                upload_lines,
            ),
        ],
        "lock.read": [
            Scenario("locked", on("MPS01", held_and_locked), lockmarker.LockReadParams(path=LOCK)),
            Scenario("free", mps, lockmarker.LockReadParams(path=LOCK)),
            Scenario("held", on("MPS01", held_by_other), lockmarker.LockReadParams(path=LOCK)),
        ],
        "lock.acquire": [
            Scenario("locked", on("MPS01", held_and_locked), acquire),
            Scenario("free", mps, acquire),
            Scenario("held", on("MPS01", held_by_other), acquire),
        ],
        "lock.release": [
            Scenario(
                "locked",
                on("MPS01", held_and_locked),
                lockmarker.LockReleaseParams(path=LOCK, run_id="other"),
            ),
            Scenario(
                "other", on("MPS01", held_by_other), lockmarker.LockReleaseParams(path=LOCK, run_id="r1")
            ),
            Scenario(
                "force",
                on("MPS01", held_by_other),
                lockmarker.LockReleaseParams(path=LOCK, run_id="r1", force=True),
            ),
            Scenario(
                "mine", on("MPS01", held_by_other), lockmarker.LockReleaseParams(path=LOCK, run_id="other")
            ),
        ],
        "products.list": [
            Scenario("all", dns, products.ListParams()),
            Scenario(
                "by name",
                mps,
                products.ListParams(names=("Hosted Messaging and Collaboration Deployment Tool",)),
            ),
            Scenario("by code", dns, products.ListParams(product_codes=(dns_code.lower(),))),
        ],
        "deploytool.command": [
            Scenario(
                "uninstall",
                mps,
                deploytool.CommandParams(
                    program=site, arguments=("uninstall", "DNS Provider", "DNSProvider.msi")
                ),
            ),
            Scenario(
                "not found", dns, deploytool.CommandParams(program=site, arguments=("start_deployment",))
            ),
            Scenario("usage", mps, deploytool.CommandParams(program=site, arguments=("bogus",))),
        ],
        "deploytool.logs": [
            Scenario(
                "after runs", on("MPS01", tool_runs), deploytool.LogsParams(since="2011-03-21T09:00:00Z")
            ),
            Scenario(
                "locked log",
                on("MPS01", tool_runs_locked),
                deploytool.LogsParams(since="2011-03-21T09:00:00Z"),
            ),
            Scenario("later", on("MPS01", tool_runs), deploytool.LogsParams(since="2011-03-21T10:00:00Z")),
            Scenario("all", mps, deploytool.LogsParams(since="2000-01-01T00:00:00Z")),
            Scenario("recent", mps, deploytool.LogsParams(since="2011-01-01T00:00:00Z")),
            Scenario("no folder", dns, deploytool.LogsParams(since="2000-01-01T00:00:00Z")),
        ],
        "iis.get_vdir": [
            Scenario("iis 6", dns, get_vdir),
            Scenario("iis 6 off", on("DNS01", basic_off), get_vdir),
            Scenario("iis 7", on("DNS01", iis7), get_vdir),
            Scenario("no such vdir", dns, iis.VdirParams(site=dns_vdir.site, vdir="Nope")),
            Scenario("no such site", dns, iis.VdirParams(site="Other Site", vdir=dns_vdir.name)),
            Scenario("no iis", sqlhost, get_vdir),
            Scenario("iis 6 after the KB", on("DNS01", kb_done), get_vdir),
            Scenario("iis 7 after the KB", on("DNS01", iis7_done), get_vdir),
        ],
        "iis.set_vdir": [
            Scenario("iis 6", on("DNS01", basic_off), kb_step),
            Scenario("iis 6 done", dns, kb_step),
            Scenario("iis 7", on("DNS01", iis7_off), kb_step),
            Scenario(
                "iis 7 ssl off",
                on("DNS01", iis7),
                iis.SetVdirParams(
                    site=dns_vdir.site, vdir=dns_vdir.name, require_ssl=False, basic_auth=False
                ),
            ),
            Scenario(
                "no such vdir", dns, iis.SetVdirParams(site=dns_vdir.site, vdir="Nope", require_ssl=True)
            ),
        ],
        "iis.reset": [
            Scenario("iis 6", dns, iisreset.ResetParams()),
            Scenario("iis 7", on("DNS01", iis7), iisreset.ResetParams(timeout_s=30)),
            Scenario("disabled", on("DNS01", w3svc_disabled), iisreset.ResetParams()),
            Scenario("no iis", sqlhost, iisreset.ResetParams()),
        ],
        "complus.state": [
            Scenario("running", mps, complus.ComPlusParams(application="Provisioning Engine")),
            Scenario(
                "stopped",
                on("MPS01", engine_stopped),
                complus.ComPlusParams(application="Provisioning Engine"),
            ),
            Scenario("missing", mps, complus.ComPlusParams(application="Nope")),
            Scenario("no com+ catalog", sqlhost, complus.ComPlusParams(application="Provisioning Engine")),
        ],
        "complus.restart": [
            Scenario("running", mps, complus.RestartParams(application="Provisioning Engine", settle_s=1)),
            Scenario(
                "stopped",
                on("MPS01", engine_stopped),
                complus.RestartParams(application="Provisioning Engine"),
            ),
            Scenario(
                "disabled",
                on("MPS01", engine_disabled),
                complus.RestartParams(application="Provisioning Engine"),
            ),
            Scenario("missing", mps, complus.RestartParams(application="Nope")),
        ],
        "sql.objects": [
            Scenario("before", sqlhost, sql_params),
            Scenario(
                "no database",
                sqlhost,
                sql.SqlObjectsParams(instance=sql_params.instance, database="Nope", procedures=("x",)),
            ),
            Scenario("no sql", mps, sql_params),
        ],
        "service.state": [
            Scenario("iis", dns, service.ServiceParams(names=("W3SVC", "IISADMIN", "Nope"))),
            Scenario("disabled", on("DNS01", w3svc_disabled), service.ServiceParams(names=("w3svc",))),
        ],
        "verify.facts": [
            Scenario(name, on(name), verify_params(manifest, roles[name]))
            for name in ("MPS01", "DNS01", "MPSSQL", "COLLAB01")
        ]
        + [Scenario("iis 7", on("DNS01", iis7_off), verify_params(manifest, roles["DNS01"]))],
        "hyperv.probe": [
            Scenario("2008 R2", on("HV01"), hyperv.ProbeParams(vms=("MPS01-LAB", "Nope"))),
            Scenario("2012 R2", on("HV02"), hyperv.ProbeParams(vms=("DNS01-LAB",))),
            Scenario("no hyper-v", mps, hyperv.ProbeParams(vms=("MPS01-LAB",))),
        ],
        "hyperv.vm_action": [
            Scenario("create", on("HV02"), vm("create")),
            Scenario("restore", checkpointed("HV02"), vm("restore")),
            Scenario("remove", checkpointed("HV02"), vm("remove")),
            Scenario("stop", on("HV02"), vm("stop", ("DNS01-LAB",))),
            Scenario("missing vm", on("HV02"), vm("create", ("Nope",))),
        ],
        "hyperv.wmi_vm_action": [
            Scenario("create", on("HV01"), vm("create")),
            Scenario("restore", checkpointed("HV01"), vm("restore")),
            Scenario("remove", checkpointed("HV01"), vm("remove")),
            Scenario("stop", on("HV01"), vm("stop", ("DNS01-LAB",))),
            Scenario("missing vm", on("HV01"), vm("create", ("Nope",))),
        ],
        "host.facts": [
            Scenario("mps", mps, host.FactsParams()),
            Scenario("busy", on("DNS01", busy), host.FactsParams(msishare="C:\\temp")),
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("ops", nargs="*", help="operation ids (default: every operation with scenarios)")
    parser.add_argument("--survivors", action="store_true", help="print every mutant the lab does not catch")
    args = parser.parse_args()
    blobs = MemoryBlobStore()
    table = scenarios(lab_states(blobs), blobs)
    wanted = args.ops or sorted(table)
    total_tried = total_caught = 0
    for op_id in wanted:
        op = operation(op_id)
        if op is None or op_id not in table:
            print(f"{op_id}: no such operation or no scenario")
            continue
        probe = table[op_id][0].params
        if (
            dataclasses.replace(op, body=op.body + "\nexit 9").command(probe).render()
            == op.command(probe).render()
        ):
            print(
                f"{op_id:22} not mutated here: its script is assembled per host from other operations' functions"
            )
            continue
        started = time.perf_counter()
        report = check(op, table[op_id], blobs)
        total_tried += report.tried
        total_caught += report.caught
        seconds = time.perf_counter() - started
        print(f"{op_id:22} {report.caught:4} of {report.tried:4} mutants caught  ({seconds:.1f} s)")
        if args.survivors:
            for m in report.survivors:
                print(f"    survived: {m.kind}: {m.before!r} -> {m.after!r} at {m.where}")
    print(f"total: {total_caught} of {total_tried} caught ({100 * total_caught / max(total_tried, 1):.1f}%)")


if __name__ == "__main__":
    main()
