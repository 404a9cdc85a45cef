"""Step kinds in a whole run: the OAB condition and its override, a reboot pending, the SQL check."""

from __future__ import annotations

from pathlib import Path

import pytest

from rollup.engine.events import Event, Notice, StepOutcome
from rollup.engine.options import RunOptions
from rollup.engine.run import RunReport, apply_plan
from rollup.engine.steps.msi import version_key
from rollup.lab.state import HostState, SqlObject
from rollup.model.inventory import InventorySettings
from rollup.testing.fleet import MemoryFleet, lab_manifest, memory_fleet

GO = RunOptions(confirm=("confirm-prerequisites",))
OAB = "shared-oab-utility@MPS01"


@pytest.fixture(scope="module", name="cache")
def _cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.getbasetemp() / "msi-cache"


def _step(report: RunReport, step_id: str):  # type: ignore[no-untyped-def]
    return next(r for r in report.reports if r.step.id == step_id)


def _oab_products(fleet: MemoryFleet) -> list[str]:
    return [
        p.display_version
        for p in fleet.state("MPS01").products.values()
        if p.display_name == "Shared OAB Utility"
    ]


@pytest.mark.parametrize(
    ("override", "outcome", "installed"),
    [("always", StepOutcome.DONE, ["4.0.2491.0"]), ("never", StepOutcome.SKIPPED, [])],
)
def test_the_inventory_override_decides_the_shared_oab_utility(
    cache: Path, tmp_path: Path, override: str, outcome: StepOutcome, installed: list[str]
) -> None:
    """rollup_shared_oab: always installs the utility without counting; never skips it."""
    settings = InventorySettings(collab_wave_size=2, shared_oab=override)
    fleet = memory_fleet(lab_manifest(), cache_dir=cache, collab=1, settings=settings)

    report = apply_plan(fleet.setup(tmp_path), GO)

    assert report.state == "done"
    assert _step(report, OAB).outcome is outcome
    assert _oab_products(fleet) == installed
    sent = fleet.state("MPS01").operations
    # one host.facts for the identity check at first contact; every other one is the
    # pending-restart check right before msiexec; no OAB count
    facts = [n for n, name in enumerate(sent) if name == "host.facts"]
    assert facts
    assert all(sent[n + 1] == "msi.install" for n in facts[1:])


def test_the_oab_count_decides_when_no_override_is_set(cache: Path, tmp_path: Path) -> None:
    """With 31,000 offline address books (threshold 30,000) the utility is installed."""

    def many(host: str, op: str, n: int, state: HostState, now: float) -> float | None:
        state.oab_count = 31000
        return None

    fleet = memory_fleet(lab_manifest(), cache_dir=cache, collab=1, before=many)

    report = apply_plan(fleet.setup(tmp_path), GO)

    assert _step(report, OAB).outcome is StepOutcome.DONE
    assert _oab_products(fleet) == ["4.0.2491.0"]


def test_an_install_that_wants_a_reboot_succeeds_with_a_notice(cache: Path, tmp_path: Path) -> None:
    """msiexec 3010 is success; the operator is told a restart of that host is pending."""

    def reboot(host: str, op: str, n: int, state: HostState, now: float) -> float | None:
        if (host, op, n) == ("MPSSQL", "msi.install", 1):
            state.forced_exit_codes["msi.install"] = [3010]
        return None

    fleet = memory_fleet(lab_manifest(), cache_dir=cache, collab=1, before=reboot)
    events: list[Event] = []

    report = apply_plan(fleet.setup(tmp_path, emit=events.append), GO)

    install = _step(report, "install-resource-manage-database@MPSSQL")
    notices = [e.text for e in events if isinstance(e, Notice)]

    assert report.state == "done"
    assert install.exit_code == 3010
    assert "MPSSQL: msiexec exited 3010: a restart of the host is pending" in notices
    assert fleet.state("MPSSQL").pending_reboot == ["msi 3010"]


def test_missing_database_objects_fail_the_check_naming_the_near_miss(cache: Path, tmp_path: Path) -> None:
    """A procedure spelt Select... instead of the KB's Selete... is missing, and shown as the near miss."""

    def misspelt(host: str, op: str, n: int, state: HostState, now: float) -> float | None:
        if op == "sql.objects":
            database = state.databases["resourcemanager"]
            database.objects = [
                o for o in database.objects if o.name != "SeleteAndAssembleAllocateOrgMailStores"
            ]
            database.objects.append(SqlObject(type="P", name="SelectAndAssembleAllocateOrgMailStores"))
        return None

    fleet = memory_fleet(lab_manifest(), cache_dir=cache, collab=1, before=misspelt)

    report = apply_plan(fleet.setup(tmp_path), GO)

    check = _step(report, "check-resource-manager-objects@MPSSQL")

    assert report.state == "failed"
    assert check.outcome is StepOutcome.FAILED
    assert check.summary == (
        "MPSSQL: ResourceManager lacks procedure SeleteAndAssembleAllocateOrgMailStores "
        "(near miss: SelectAndAssembleAllocateOrgMailStores)"
    )
    assert _step(report, OAB).outcome is StepOutcome.BLOCKED


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("4.0.2491", "4.0.2491.0", True),
        ("4.0.2491.0", "4.0.2379.0", False),
        (" 4.0.2491.0", "4.0.2491.0", True),
    ],
)
def test_product_versions_compare_by_their_numbers(a: str, b: str, same: bool) -> None:
    """A missing fourth field is 0; surrounding spaces do not count."""
    equal = version_key(a) == version_key(b)

    assert equal is same


def test_the_failed_action_is_the_first_return_value_3_of_the_log() -> None:
    """Every enclosing action ends with return value 3 after the one that failed; INSTALL comes last."""
    from rollup.engine.steps.msi import failed_action

    lines = (
        "Action ended 10:04:07: CA_RegisterProvider. Return value 3.",
        "Action ended 10:04:07: InstallFinalize. Return value 3.",
        "Action ended 10:04:07: INSTALL. Return value 3.",
    )

    assert failed_action(lines) == "CA_RegisterProvider"
    assert failed_action(()) == ""
