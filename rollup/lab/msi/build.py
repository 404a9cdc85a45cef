"""
Building the simulated lab's MSI files with wixl, reproducibly, at the sizes the KB gives.

Each package of ``products.yml`` is built from ``template.wxs`` by Debian's ``wixl``: a minimal
but real Windows Installer database (a component writing one registry value, and the component
files of ``files.py`` in an embedded cabinet) whose Property table holds the product's identity.
wixl leaves the File table's Version and Language columns empty and hashes every file in
MsiFileHash; as in a real package, the DLLs' versions are written into the File table and
MsiFileHash keeps the unversioned files only (both imported with ``msibuild``). Three things
make the result fit the lab:

- **Reproducible bytes.** wixl stamps the summary information stream with the current time
  and a random revision number (the package code). Both are replaced right after the build by
  importing a ``_SummaryInformation`` archive file with ``msibuild`` (msitools), written from the
  table: the build's date as creation and save time, and the table's package code. msibuild
  reads those dates as local time, so every tool runs with ``TZ=UTC``. The same table and
  tools then give byte-identical files (the cabinet's file times are the build's date).
- **Exact sizes.** A size, when given, is reached by appending whole zero 512-byte sectors.
  Compound-file readers ignore sectors no allocation table points to, so the padded file stays
  a readable MSI, which is checked: every file is read back with ``rollup.msi.read_msi`` and must
  carry the table's identity before it is handed out.
- **Dates.** A modification time, when given, is set exactly (to the nanosecond).

Files appear in the output directory only complete (built aside, then renamed in).
"""

from __future__ import annotations

import calendar
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from pathlib import Path

from rollup.errors import ConfigError, RollupError
from rollup.lab.msi.files import carries_shared, files_guid, package_files, stem
from rollup.lab.msi.products import (
    PACKAGE,
    SECTOR_BYTES,
    Build,
    BuildSpec,
    LabProduct,
    ProductTable,
    load_products,
)
from rollup.msi import read_msi

TEMPLATE_RESOURCE = "template.wxs"
TOOL_TIMEOUT_S = 120.0
"""wixl and msibuild take milliseconds for these packages; two minutes means one is stuck."""

SUMMARY_APPLICATION = "rollup lab MSI builder"
"""The summary stream's creating application: the same whatever wixl version built the file."""

_TOOLS_HINT = "install the Debian packages wixl and msitools (bin/bootstrap does it)"
_TOOL_ENV = {"TZ": "UTC", "LC_ALL": "C"}


def build_msis(
    out_dir: Path,
    *,
    build: Build,
    sizes: Mapping[str, int] | None = None,
    mtimes: Mapping[str, datetime] | None = None,
) -> dict[str, Path]:
    """
    Build one MSI file for each package of the table into ``out_dir``.

    Args:
        out_dir: where the files go (created if missing); an existing file of the same name is
            replaced.
        build: which build of every package (``previous`` or ``rollup``).
        sizes: file name -> exact size in bytes, a multiple of 512 (names compared ignoring
            case); a file not named keeps its built size. ``load_products().sizes(build)`` gives
            the table's sizes (the KB's for ``rollup``).
        mtimes: file name -> modification time (time-zone aware); a file not named keeps the
            time it was written. ``load_products().mtimes(build)`` gives the table's dates.

    Returns:
        File name (as in the table) -> path, in the table's order.

    Raises:
        ConfigError: a size or time names no package, is not a multiple of 512 or is smaller than
            the built file, a time has no time zone, or wixl or msibuild is not installed.
        RollupError: wixl or msibuild failed, or a built file does not read back as the table says.
    """
    table = load_products()
    wanted_sizes = normalize_sizes(table, sizes)
    wanted_mtimes = normalize_mtimes(table, mtimes)
    tools = _find_tools()
    out_dir.mkdir(parents=True, exist_ok=True)
    built: dict[str, Path] = {}
    with tempfile.TemporaryDirectory(prefix=".msi-build-", dir=out_dir) as scratch:
        work = Path(scratch)
        template = work / TEMPLATE_RESOURCE
        template.write_bytes(source_bytes(TEMPLATE_RESOURCE))
        for product in table.products:
            spec = product.build(build)
            path = _build_one(table, product, build, template=template, tools=tools)
            size = wanted_sizes.get(product.file)
            if size is not None:
                _pad(path, size, display=product.file)
            _check_identity(path, product, spec, table.manufacturer)
            mtime = wanted_mtimes.get(product.file)
            if mtime is not None:
                ns = epoch_ns(mtime)
                os.utime(path, ns=(ns, ns))
            final = out_dir / product.file
            os.replace(path, final)
            built[product.file] = final
    return built


def normalize_sizes(table: ProductTable, sizes: Mapping[str, int] | None) -> dict[str, int]:
    """``sizes`` keyed by the table's spelling of each file name, each checked."""
    result: dict[str, int] = {}
    for name, size in _by_table_name(table, sizes, what="size").items():
        if isinstance(size, bool) or not isinstance(size, int) or size <= 0 or size % SECTOR_BYTES:
            raise ConfigError(f"{name}: size {size!r} is not a positive multiple of {SECTOR_BYTES} bytes")
        result[name] = size
    return result


def normalize_mtimes(table: ProductTable, mtimes: Mapping[str, datetime] | None) -> dict[str, datetime]:
    """``mtimes`` keyed by the table's spelling of each file name, each converted to UTC."""
    result: dict[str, datetime] = {}
    for name, when in _by_table_name(table, mtimes, what="modification time").items():
        if not isinstance(when, datetime) or when.utcoffset() is None:
            raise ConfigError(f"{name}: modification time {when!r} has no time zone")
        result[name] = when.astimezone(UTC)
    return result


def source_bytes(resource: str) -> bytes:
    """The bytes of one of this package's files (``products.yml``, ``template.wxs``, ``build.py``)."""
    return resources.files(PACKAGE).joinpath(resource).read_bytes()


@cache
def tool_versions() -> str:
    """
    The versions of wixl and msitools, as they print them: part of what the built bytes depend on.

    Raises:
        ConfigError: wixl or msibuild is not installed.
    """
    wixl, _, _ = _find_tools()
    versions = []
    for tool in (wixl, shutil.which("msiinfo") or "msiinfo"):
        proc = _run([tool, "--version"], cwd=None, what=f"{Path(tool).name} --version")
        versions.append(proc.stdout.strip())
    return "; ".join(versions)


def _by_table_name(
    table: ProductTable, values: Mapping[str, object] | None, *, what: str
) -> dict[str, object]:
    result: dict[str, object] = {}
    for name, value in (values or {}).items():
        try:
            file = table.product(name).file
        except KeyError:
            raise ConfigError(f"{name}: a {what} is given for a file that is not a lab package") from None
        if file in result:
            raise ConfigError(f"{name}: a {what} is given twice for {file} (names differing only in case)")
        result[file] = value
    return result


def _build_one(
    table: ProductTable, product: LabProduct, build: Build, *, template: Path, tools: tuple[str, str, str]
) -> Path:
    """Build one package in the template's directory and pin its summary stream; return its path."""
    wixl, msibuild, msiinfo = tools
    spec = product.build(build)
    work = template.parent
    out = work / product.file
    files = package_files(table, product, build)
    stamp = epoch_ns(spec.date)
    for f in files:  # the cabinet records each source's time: fixed, for the same bytes every build
        source = work / f.file_id
        source.write_bytes(f.data)
        os.utime(source, ns=(stamp, stamp))
    root, sub = table.install_folder.split("\\")
    defines = {
        "ProductCode": spec.product_code,
        "UpgradeCode": product.upgrade_code,
        "ProductName": product.name,
        "ProductVersion": spec.version,
        "Manufacturer": table.manufacturer,
        "ComponentGuid": product.component_guid,
        "PackageKey": stem(product),
        "InstallRoot": root,
        "InstallSub": sub,
        "FilesGuid": files_guid(table, product),
        "DllName": files[0].name,
        "Shared": "yes" if carries_shared(table, product) else "no",
        "SharedGuid": table.shared.component_guid,
        "SharedName": table.shared.file,
    }
    args = [wixl, "--arch", "x86", "--output", out.name]
    for key, value in defines.items():
        args += ["--define", f"{key}={value}"]
    _run([*args, template.name], cwd=work, what=f"wixl building {product.file}")
    versions = {f.file_id: f.version for f in files if f.version is not None}
    for name, edit in (("File", _file_versions), ("MsiFileHash", _unversioned_hashes)):
        exported = _run([msiinfo, "export", out.name, name], cwd=work, what=f"msiinfo reading {product.file}")
        (work / f"{name}.idt").write_bytes(edit(exported.stdout, versions).encode("utf-8"))
    summary = work / "_SummaryInformation.idt"
    summary.write_bytes(_summary_idt(product, spec, table.manufacturer).encode("ascii"))
    for idt in ("File.idt", "MsiFileHash.idt", summary.name):
        _run([msibuild, out.name, "-i", idt], cwd=work, what=f"msibuild pinning {product.file}")
    return out


def _rows(text: str) -> list[list[str]]:
    return [line.split("\t") for line in text.splitlines()]


def _idt(rows: list[list[str]]) -> str:
    return "".join("\t".join(row) + "\r\n" for row in rows)


def _file_versions(text: str, versions: Mapping[str, str]) -> str:
    """
    The File table with each DLL's version and language (1033) in its columns, as a real
    package has them: Windows Installer compares installed files by that version. wixl leaves both
    empty.
    """
    rows = _rows(text)
    for row in rows[3:]:
        if row[0] in versions:
            row[4], row[5] = versions[row[0]], "1033"
    return _idt(rows)


def _unversioned_hashes(text: str, versions: Mapping[str, str]) -> str:
    """MsiFileHash without the versioned files' rows: the table is for unversioned files only."""
    rows = _rows(text)
    return _idt(rows[:3] + [row for row in rows[3:] if row[0] not in versions])


def _summary_idt(product: LabProduct, spec: BuildSpec, manufacturer: str) -> str:
    """
    The summary information stream as a Windows Installer archive file, every property set.

    Property ids are those of the Summary Information Stream: 1 code page, 2 title, 3 subject,
    4 author, 5 keywords, 6 comments, 7 template, 9 revision number (the package code), 12 and 13
    creation and last-save times, 14 page count (minimum installer version), 15 word count
    (2: compressed sources), 18 creating application, 19 security (2: read-only recommended).
    """
    when = spec.date.astimezone(UTC).strftime("%Y/%m/%d %H:%M:%S")
    rows = [
        ("1", "1252"),
        ("2", "Installation Database"),
        ("3", product.name),
        ("4", manufacturer),
        ("5", "Installer"),
        ("6", f"This installer database contains the logic and data required to install {product.name}."),
        ("7", "Intel;1033"),
        ("9", spec.package_code),
        ("12", when),
        ("13", when),
        ("14", "200"),
        ("15", "2"),
        ("18", SUMMARY_APPLICATION),
        ("19", "2"),
    ]
    lines = ["PropertyId\tValue", "i2\tl255", "_SummaryInformation\tPropertyId"]
    lines += [f"{pid}\t{value}" for pid, value in rows]
    return "".join(line + "\r\n" for line in lines)


def _pad(path: Path, size: int, *, display: str) -> None:
    """Append zero sectors to reach exactly ``size`` bytes."""
    current = path.stat().st_size
    if size < current:
        raise ConfigError(
            f"{display}: cannot be made {size} bytes: the built package is already {current} bytes"
        )
    with path.open("ab") as stream:
        stream.write(bytes(size - current))


def _check_identity(path: Path, product: LabProduct, spec: BuildSpec, manufacturer: str) -> None:
    """The file must read back, through the product's own reader, with the table's identity."""
    info = read_msi(path, display=product.file)
    expected = {
        "ProductCode": (info.product_code, spec.product_code),
        "ProductName": (info.product_name, product.name),
        "ProductVersion": (info.product_version, spec.version),
        "UpgradeCode": (info.upgrade_code, product.upgrade_code),
        "Manufacturer": (info.manufacturer, manufacturer),
    }
    for name, (found, wanted) in expected.items():
        if found != wanted:
            raise RollupError(
                f"{product.file}: the built package has {name} {found!r}, the table says {wanted!r}"
            )


def _find_tools() -> tuple[str, str, str]:
    found = []
    for tool in ("wixl", "msibuild", "msiinfo"):
        path = shutil.which(tool)
        if path is None:
            message = f"{tool}: not installed; the simulated lab builds its MSI files with it"
            raise ConfigError(message, hint=_TOOLS_HINT)
        found.append(path)
    return found[0], found[1], found[2]


def _run(args: list[str], *, cwd: Path | None, what: str) -> subprocess.CompletedProcess[str]:
    try:
        proc = subprocess.run(
            args,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=TOOL_TIMEOUT_S,
            check=False,
            env={**os.environ, **_TOOL_ENV},
        )
    except subprocess.TimeoutExpired:
        raise RollupError(f"{what}: did not finish within {TOOL_TIMEOUT_S:g} s") from None
    except OSError as exc:
        raise ConfigError(f"{what}: cannot run {args[0]}: {exc.strerror}", hint=_TOOLS_HINT) from None
    if proc.returncode != 0:
        detail = " ".join((proc.stderr.strip() or proc.stdout.strip() or "no message").split())
        raise RollupError(f"{what}: failed with exit code {proc.returncode}: {detail}")
    return proc


def epoch_ns(when: datetime) -> int:
    """Nanoseconds since the Unix epoch, computed exactly (no float rounding)."""
    utc = when.astimezone(UTC)
    return calendar.timegm(utc.timetuple()) * 1_000_000_000 + utc.microsecond * 1000
