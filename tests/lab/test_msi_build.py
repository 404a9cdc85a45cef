"""rollup.lab.msi: the lab's MSI table, the wixl builds at the KB's sizes, and their cache."""

from __future__ import annotations

import subprocess
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from rollup.errors import ConfigError
from rollup.lab.msi import BUILDS, Build, build_msis, ensure_built, load_products
from rollup.lab.msi import build as msi_build
from rollup.model.roles import Role
from rollup.msi import read_msi
from rollup.msifiles import read_msi_files


@dataclass(frozen=True)
class KbRow:
    """One row of KB2492954's file table, as printed (names cut at 27 characters)."""

    name: str
    date: str
    time: str
    size: int

    @property
    def utc(self) -> datetime:
        return datetime.strptime(f"{self.date} {self.time}", "%d-%b-%Y %H:%M").replace(tzinfo=UTC)


KB_FILE_TABLE = (
    KbRow("Dnsclient.msi", "10-Mar-2011", "10:04", 679_936),
    KbRow("Dnsprovider.msi", "10-Mar-2011", "10:04", 359_936),
    KbRow("Exchange2007mobilityprovide", "10-Mar-2011", "10:03", 368_128),
    KbRow("Exchange2007oabresourcemana", "10-Mar-2011", "09:52", 251_392),
    KbRow("Exchange2007oabresourcemana", "10-Mar-2011", "10:05", 447_488),
    KbRow("Exchange2007provider.msi", "10-Mar-2011", "10:03", 511_488),
    KbRow("Exchange2007resourcemanager", "10-Mar-2011", "09:52", 295_936),
    KbRow("Exchange2007resourcemanager", "10-Mar-2011", "10:05", 469_504),
    KbRow("Hostedemail2007ns.msi", "10-Mar-2011", "09:53", 314_880),
    KbRow("Hostedemail2007ws.msi", "10-Mar-2011", "10:05", 529_920),
    KbRow("Hostedsharepoint2007ns.msi", "10-Mar-2011", "09:53", 254_464),
    KbRow("Hostedsharepoint2007ws.msi", "10-Mar-2011", "10:05", 476_160),
    KbRow("Managedemail2007ns.msi", "10-Mar-2011", "09:54", 280_064),
    KbRow("Managedemail2007ws.msi", "10-Mar-2011", "10:05", 514_560),
    KbRow("Managedhelpers.msi", "10-Mar-2011", "09:50", 317_952),
    KbRow("Managedsharepoint2007ns.msi", "10-Mar-2011", "09:54", 272_384),
    KbRow("Managedsharepoint2007ws.msi", "10-Mar-2011", "10:05", 469_504),
    KbRow("Resourcemanagedatabase.msi", "10-Mar-2011", "10:05", 791_040),
    KbRow("Servicebase.msi", "13-Jan-2011", "22:14", 378_880),
    KbRow("Sharedoabutility.msi", "10-Mar-2011", "09:50", 391_680),
    KbRow("Unifiedmessaging2007provide", "10-Mar-2011", "10:03", 407_040),
    KbRow("Windowssharepointserviceswe", "10-Mar-2011", "10:04", 645_632),
)

KB_COPY_LIST = (
    "HostedSharePoint2007NS.msi",
    "ManagedSharePoint2007NS.msi",
    "HostedSharePoint2007WS.msi",
    "ManagedSharePoint2007WS.msi",
    "Exchange2007Provider.msi",
    "DNSClient.msi",
    "DNSProvider.msi",
    "WindowsSharePointServicesWebService.msi",
    "Exchange2007ResourceManagerNS.msi",
    "UnifiedMessaging2007Provider.msi",
    "HostedEmail2007NS.msi",
    "ManagedEmail2007NS.msi",
    "ManagedHelpers.msi",
    "SharedOABUtility.msi",
    "Exchange2007MobilityProvider.msi",
    "Exchange2007ResourceManagerWS.msi",
    "HostedEmail2007WS.msi",
    "ManagedEmail2007WS.msi",
    "Exchange2007OABResourceManagerNS.msi",
    "Exchange2007OABResourceManagerWS.msi",
    "Resourcemanagedatabase.msi",
)
"""The KB's "copy these MSI files to C:\\MSIShare" list, spelt as the KB spells it."""

KB_COMPONENTS = (
    "Hosted SharePoint 2007 Namespace",
    "Managed SharePoint 2007 Namespace",
    "Hosted SharePoint 2007 Web Services",
    "Managed SharePoint 2007 Web Services",
    "Exchange 2007 Provider",
    "DNS Client",
    "DNS Provider",
    "SharePoint 2007 Provider Web Services",
    "Exchange 2007 Resource Manager Namespace",
    "Resource Manage Database",
    "Unified Messaging 2007 Provider",
    "Hosted Email 2007 Namespace",
    "Managed Email 2007 Namespace",
    "Managed Helpers",
    "Shared OAB Utility",
    "Exchange 2007 Mobility Provider",
    "Exchange 2007 Resource Manager Web Services",
    "Hosted Email 2007 Web Services",
    "Managed Email2007 Web Services",
    "Exchange 2007 OAB Resource Manager Namespace",
    "Exchange 2007 OAB Resource Manager Web Services",
)
"""The components the KB says the rollup updates, named as the KB names them."""


def _kb_file(row: KbRow) -> str:
    """The table file a KB row is about: its printed name is a prefix, its date and size are the row's."""
    table = load_products()
    matches = [
        p.file
        for p in table.products
        if p.file.lower().startswith(row.name.lower())
        and p.rollup.date == row.utc
        and p.rollup.size == row.size
    ]
    assert len(matches) == 1, (row, matches)
    return matches[0]


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[Build, dict[str, Path]]:
    """Both builds at the table's sizes and dates, built once for the session into a fresh cache."""
    cache_dir = tmp_path_factory.mktemp("msi-cache")
    table = load_products()
    return {
        build: ensure_built(cache_dir, build=build, sizes=table.sizes(build), mtimes=table.mtimes(build))
        for build in BUILDS
    }


def test_table_rows_are_the_kb_file_table() -> None:
    """Each KB row matches exactly one package by name, UTC date and size, and every package is matched."""
    files = [_kb_file(row) for row in KB_FILE_TABLE]

    assert sorted(files) == sorted(load_products().files)


@pytest.mark.parametrize("row", KB_FILE_TABLE, ids=lambda row: f"{row.name}-{row.time}")
def test_rollup_msi_has_kb_size_date_and_identity(row: KbRow, built: dict[Build, dict[str, Path]]) -> None:
    """Each rollup MSI is exactly the KB's size, dated the KB's UTC time, and reads back as the table says."""
    file = _kb_file(row)
    product = load_products().product(file)
    path = built["rollup"][file]

    info = read_msi(path)

    assert path.name == file
    assert path.stat().st_size == row.size
    assert datetime.fromtimestamp(path.stat().st_mtime, UTC) == row.utc
    assert info.product_name == product.name
    assert info.product_code == product.rollup.product_code
    assert info.product_version == product.rollup.version
    assert info.upgrade_code == product.upgrade_code
    assert info.manufacturer == "Microsoft Corporation"


def test_previous_builds_differ_in_code_and_version_and_share_upgrade_code(
    built: dict[Build, dict[str, Path]],
) -> None:
    """A previous MSI has another ProductCode and ProductVersion than its rollup MSI, and its UpgradeCode."""
    pairs = {
        file: (read_msi(built["previous"][file]), read_msi(path)) for file, path in built["rollup"].items()
    }

    assert len(pairs) == 22
    for previous, rollup in pairs.values():
        assert previous.product_code != rollup.product_code
        assert previous.product_version != rollup.product_version
        assert previous.upgrade_code == rollup.upgrade_code
        assert previous.product_name == rollup.product_name


def test_previous_builds_have_their_own_sizes_and_dates(built: dict[Build, dict[str, Path]]) -> None:
    """Previous MSIs have the table's previous sizes and dates, none equal to the KB's."""
    table = load_products()
    kb_sizes = {_kb_file(row): row.size for row in KB_FILE_TABLE}

    for file, path in built["previous"].items():
        spec = table.product(file).previous
        assert path.stat().st_size == spec.size != kb_sizes[file]
        assert datetime.fromtimestamp(path.stat().st_mtime, UTC) == spec.date
        assert spec.date < table.product(file).rollup.date
        assert read_msi(path).product_version == spec.version


def test_building_twice_gives_identical_bytes(tmp_path: Path, built: dict[Build, dict[str, Path]]) -> None:
    """A fresh build with the same inputs is byte for byte the cached one, summary stream included."""
    table = load_products()

    again = build_msis(tmp_path, build="rollup", sizes=table.sizes("rollup"), mtimes=table.mtimes("rollup"))

    assert list(again) == list(built["rollup"])
    different = [f for f, path in again.items() if path.read_bytes() != built["rollup"][f].read_bytes()]
    assert different == []
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(table.files)


def test_summary_stream_carries_the_tables_package_code_and_date(built: dict[Build, dict[str, Path]]) -> None:
    """The revision number is the table's package code and the creation time is the build's UTC date."""
    product = load_products().product("Servicebase.msi")
    proc = subprocess.run(
        ["msiinfo", "export", str(built["rollup"]["Servicebase.msi"]), "_SummaryInformation"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    rows = dict(line.split("\t", 1) for line in proc.stdout.splitlines()[3:])

    assert rows["9"] == product.rollup.package_code
    assert rows["12"] == "2011/01/13 22:14:00"
    assert rows["13"] == "2011/01/13 22:14:00"
    assert rows["3"] == "Service Base"


def test_size_smaller_than_the_built_package_is_an_error_naming_it(tmp_path: Path) -> None:
    """Asking for fewer bytes than wixl produced is refused in one line naming the file."""
    with pytest.raises(ConfigError) as caught:
        build_msis(tmp_path, build="rollup", sizes={"DNSClient.msi": 512})

    assert str(caught.value).startswith("DNSClient.msi: cannot be made 512 bytes")
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "DNSClient.msi").exists()


def test_size_must_be_whole_sectors(tmp_path: Path) -> None:
    """A size that is not a multiple of 512 is refused before anything is built."""
    with pytest.raises(ConfigError, match=r"^ManagedHelpers\.msi: size 317953 is not a positive multiple"):
        build_msis(tmp_path, build="rollup", sizes={"ManagedHelpers.msi": 317_953})

    assert list(tmp_path.iterdir()) == []


def test_sizes_and_times_match_file_names_ignoring_case(tmp_path: Path) -> None:
    """Names match ignoring case (the KB spells Resourcemanagedatabase.msi); unknown names are refused."""
    table = load_products()
    when = datetime(2011, 3, 10, 11, 5, tzinfo=timezone(timedelta(hours=1)))

    built = build_msis(
        tmp_path,
        build="rollup",
        sizes={"Resourcemanagedatabase.msi": 791_040},
        mtimes={"RESOURCEMANAGEDATABASE.MSI": when},
    )

    path = built["ResourceManageDatabase.msi"]
    assert path.stat().st_size == 791_040
    assert datetime.fromtimestamp(path.stat().st_mtime, UTC) == table.product(path.name).rollup.date
    with pytest.raises(
        ConfigError, match=r"^Nosuch\.msi: a size is given for a file that is not a lab package"
    ):
        build_msis(tmp_path, build="rollup", sizes={"Nosuch.msi": 512})


def test_modification_time_needs_a_time_zone(tmp_path: Path) -> None:
    """A naive datetime is refused: the KB's times are UTC and the file's must not depend on the machine."""
    with pytest.raises(ConfigError, match=r"^DNSClient\.msi: modification time .* has no time zone$"):
        build_msis(tmp_path, build="rollup", mtimes={"DNSClient.msi": datetime(2011, 3, 10, 10, 4)})


def test_warm_cache_builds_nothing(
    built: dict[Build, dict[str, Path]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Asking again for a set already in the cache returns the same files without running the builder."""
    table = load_products()
    cache_dir = built["rollup"]["DNSClient.msi"].parent.parent

    def refuse(*_args: object, **_kwargs: object) -> dict[str, Path]:
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(msi_build, "build_msis", refuse)
    again = ensure_built(
        cache_dir, build="rollup", sizes=table.sizes("rollup"), mtimes=table.mtimes("rollup")
    )

    assert again == built["rollup"]


def test_other_sizes_get_another_cache_entry(built: dict[Build, dict[str, Path]]) -> None:
    """The digest covers the sizes: unpadded files land in a different entry from the KB-sized ones."""
    cache_dir = built["rollup"]["DNSClient.msi"].parent.parent

    plain = ensure_built(cache_dir, build="rollup")

    assert plain["DNSClient.msi"].parent != built["rollup"]["DNSClient.msi"].parent
    assert plain["DNSClient.msi"].stat().st_size < 679_936
    assert read_msi(plain["DNSClient.msi"]).product_name == "DNS Client"


def test_damaged_cache_entry_is_rebuilt(tmp_path: Path) -> None:
    """An entry with a file of the wrong size is discarded and built again."""
    sizes = load_products().sizes("previous")
    first = ensure_built(tmp_path, build="previous", sizes=sizes)
    first["ManagedHelpers.msi"].write_bytes(b"damaged")

    second = ensure_built(tmp_path, build="previous", sizes=sizes)

    assert second["ManagedHelpers.msi"].stat().st_size == sizes["ManagedHelpers.msi"]
    assert read_msi(second["ManagedHelpers.msi"]).product_name == "Managed Helpers"
    assert [p.name for p in tmp_path.iterdir()] == [second["ManagedHelpers.msi"].parent.name]


def test_concurrent_callers_see_only_complete_sets(tmp_path: Path) -> None:
    """Two callers building the same entry at once both get the complete set; no scratch is left behind."""
    results: list[dict[str, Path]] = []
    errors: list[BaseException] = []

    def call() -> None:
        try:
            results.append(ensure_built(tmp_path, build="rollup", sizes={"DNSClient.msi": 679_936}))
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert results[0] == results[1]
    assert all(path.is_file() for path in results[0].values())
    assert results[0]["DNSClient.msi"].stat().st_size == 679_936
    assert [p.name for p in tmp_path.iterdir()] == [results[0]["DNSClient.msi"].parent.name]


def test_table_guids_are_uuid5_of_their_names() -> None:
    """Every GUID in products.yml is uuid5 of the table's namespace and its documented name."""
    table = load_products()
    namespace = uuid.UUID(table.guid_namespace)

    def guid(name: str) -> str:
        return "{" + str(uuid.uuid5(namespace, name)).upper() + "}"

    assert namespace == uuid.uuid5(uuid.NAMESPACE_URL, "urn:rollup:lab:msi")
    for p in table.products:
        assert p.upgrade_code == guid(f"{p.file}:upgrade")
        assert p.component_guid == guid(f"{p.file}:component")
        for build in BUILDS:
            assert p.build(build).product_code == guid(f"{p.file}:{build}:product")
            assert p.build(build).package_code == guid(f"{p.file}:{build}:package")


def test_table_names_are_the_kbs_components() -> None:
    """ProductNames are the KB's component names, except the two packages the KB's list does not name."""
    names = {p.name for p in load_products().products}

    assert names - set(KB_COMPONENTS) == {"Service Base", "Windows SharePoint Services Web Service"}
    assert set(KB_COMPONENTS) - names == {"SharePoint 2007 Provider Web Services"}


def test_msishare_holds_the_kbs_copy_list() -> None:
    """The packages in C:\\MSIShare are the KB's copy list; Servicebase.msi is not among them."""
    table = load_products()

    in_share = {p.file.lower() for p in table.products if p.in_msishare}

    assert in_share == {name.lower() for name in KB_COPY_LIST}
    assert table.product("Servicebase.msi").installed_on == (Role.WEB_SERVICES,)
    assert table.product("DNSClient.msi").installed_on == (Role.DNS,)


@pytest.mark.parametrize(("build", "version"), [("previous", "4.0.2379.0"), ("rollup", "4.0.2491.0")])
def test_each_package_installs_its_component_files_at_its_build_s_version(
    built: dict[Build, dict[str, Path]], build: Build, version: str
) -> None:
    """The File table holds each DLL's version (as real packages do); MsiFileHash only unversioned files."""
    table = load_products()
    for product in table.products:
        path = built[build][product.file]
        files = read_msi_files(path)
        hashes = subprocess.run(["msiinfo", "export", str(path), "MsiFileHash"], check=True,
                                capture_output=True, text=True, timeout=60).stdout  # fmt: skip
        hashed = {line.split("\t")[0] for line in hashes.splitlines()[3:]}

        stem = product.file.removesuffix(".msi")
        wanted = [f"Microsoft.Provisioning.{stem}.dll", f"Microsoft.Provisioning.{stem}.dll.config"]
        if product.file in table.shared.products:
            wanted.append(table.shared.file)
        assert [f.path.rsplit("\\", 1)[1] for f in files] == wanted
        assert all(f.path.startswith("[ProgramFilesFolder]Microsoft Hosting\\Provisioning\\") for f in files)
        assert [f.version for f in files] == [version, None, version][: len(wanted)]
        assert hashed == {"ProductConfig"}
