"""
A host's simulated state as ``rollup lab state`` shows it: JSON-ready data, and text lines.

The report is read from the state directory, so it works whether or not the lab is running.
Files show their size and, for installer packages, the ProductCode and ProductVersion read from
their MSI properties (those the lab holds for the file, else read from its bytes). Lists are
sorted, so two reports of equal states are equal (``mutations`` and ``operations`` aside).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rollup.errors import ConfigError
from rollup.lab.context import SimContext
from rollup.lab.state import BlobStore, HostState, LabFile
from rollup.lab.windows.hostfiles import msi_properties


def host_report(state: HostState, blobs: BlobStore) -> dict[str, Any]:
    """The state of one host as JSON-ready data (docs/lab.md lists the fields)."""
    ctx = SimContext(now=0.0, user="", read_blob=blobs.get, write_blob=blobs.put)
    return {
        "name": state.name,
        "roles": list(state.roles),
        "os": {
            "caption": state.os_caption,
            "version": state.os_version,
            "service_pack": state.service_pack,
            "arch": state.arch,
            "powershell": state.ps_version,
            "iis": state.iis_version,
        },
        "files": [_file(f, ctx) for _, f in sorted(state.files.items())],
        "directories": sorted(state.directories, key=str.lower),
        "products": [
            {
                "product_code": p.product_code,
                "name": p.display_name,
                "version": p.display_version,
                "upgrade_code": p.upgrade_code,
                "install_date": p.install_date,
                "package": p.package,
            }
            for p in sorted(state.products.values(), key=lambda p: (p.display_name.lower(), p.product_code))
        ],
        "services": [s.model_dump() for _, s in sorted(state.services.items())],
        "iis": [v.model_dump() for _, v in sorted(state.iis.items())],
        "complus": [a.model_dump() for _, a in sorted(state.complus.items())],
        "sql": [
            {
                "database": d.name,
                "objects": [o.model_dump() for o in sorted(d.objects, key=lambda o: (o.type, o.name))],
            }
            for _, d in sorted(state.databases.items())
        ],
        "disk_free_bytes": state.disk_free_bytes,
        "pending_reboot": list(state.pending_reboot),
        "faults": {
            "installer_busy_until": _when(state.installer_busy_until),
            "disk_full_paths": list(state.disk_full_paths),
            "locked_files": list(state.locked_files),
            "forced_exit_codes": dict(state.forced_exit_codes),
        },
        "mutations": state.mutations,
        "operations": list(state.operations),
    }


def _file(entry: LabFile, ctx: SimContext) -> dict[str, Any]:
    props = None
    if entry.msi is not None or entry.path.lower().endswith(".msi"):
        try:
            props = msi_properties(entry, ctx)
        except (ConfigError, KeyError):
            props = None
    return {
        "path": entry.path,
        "size": entry.size,
        "mtime": entry.mtime.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "sha256": entry.sha256,
        "product_code": None if props is None else props.product_code,
        "product_version": None if props is None else props.product_version,
    }


def _when(moment: float | None) -> str | None:
    if moment is None:
        return None
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def report_lines(report: dict[str, Any]) -> list[str]:
    """The report as plain text, one section per kind of state."""
    os_ = report["os"]
    lines = [
        f"{report['name']}: {', '.join(report['roles'])}",
        f"  {os_['caption']} {os_['version']} SP{os_['service_pack']} {os_['arch']}, "
        f"PowerShell {os_['powershell']}, IIS {os_['iis'] or 'not installed'}",
        f"  mutations {report['mutations']}, operations received {len(report['operations'])}",
        f"Files ({len(report['files'])}):",
    ]
    for f in report["files"]:
        version = f"  {f['product_version']}" if f["product_version"] else ""
        lines.append(f"  {f['path']}  {f['size']} bytes  {f['mtime']}{version}")
    lines.append(f"Installed products ({len(report['products'])}):")
    lines += [f"  {p['name']}  {p['version']}  {p['product_code']}" for p in report["products"]]
    lines.append("IIS virtual directories:" if report["iis"] else "IIS virtual directories: none")
    for v in report["iis"]:
        lines.append(
            f'  {v["site"]}/{v["name"]}: default logon domain "{v["default_logon_domain"]}", '
            f"SSL required {_yes(v['access_ssl'])}, Basic {_yes(v['auth_basic'])}"
        )
    lines.append("COM+ applications:" if report["complus"] else "COM+ applications: none")
    for a in report["complus"]:
        lines.append(f"  {a['name']}: enabled {_yes(a['enabled'])}, running {_yes(a['running'])}")
    lines.append("SQL objects:" if report["sql"] else "SQL objects: none")
    for d in report["sql"]:
        shown = ", ".join(f"{o['name']} ({o['type']})" for o in d["objects"]) or "none"
        lines.append(f"  {d['database']}: {shown}")
    lines.append(f"Pending reboot: {'; '.join(report['pending_reboot']) or 'no'}")
    faults = report["faults"]
    if faults["installer_busy_until"] or faults["disk_full_paths"] or faults["locked_files"]:
        full = ", ".join(faults["disk_full_paths"]) or "-"
        locked = ", ".join(faults["locked_files"]) or "-"
        busy = faults["installer_busy_until"] or "-"
        lines.append(f"Faults: installer busy until {busy}; disk full: {full}; locked: {locked}")
    lines.append(f"Operations received: {' '.join(report['operations']) or 'none'}")
    return lines


def _yes(value: bool) -> str:
    return "yes" if value else "no"
