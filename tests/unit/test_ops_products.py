"""products.list: the Uninstall entries of both registry views, filtered, never Win32_Product."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from rollup.errors import ResultParseError
from rollup.lab.prerollup import DEPLOYMENT_TOOL, PACKAGE_SOURCE
from rollup.lab.state import HostState
from rollup.model.roles import Role
from rollup.ops import msi, products
from rollup.ops.base import CommandResult
from rollup.ops.products import InstalledEntry, ListParams
from rollup.ps.check import assert_ps2_clean
from rollup.ps.command import bindings_of, read_header
from tests.simkit import PrerollupLab as Lab
from tests.simkit import RunContext, answered, prerollup_lab, run_op

NOW = datetime(2011, 3, 21, 9, 30, tzinfo=UTC).timestamp()
(LIST,) = products.OPERATIONS


@pytest.fixture(scope="module", name="lab")
def _lab(tmp_path_factory: pytest.TempPathFactory) -> Lab:
    return prerollup_lab(
        tmp_path_factory, [("MPS01", frozenset({Role.DEPLOYMENT_TOOL, Role.MPS_ENGINE}))], now=NOW
    )


def listed(state: HostState, params: ListParams, ctx: RunContext) -> tuple[InstalledEntry, ...]:
    """Run the script, then parse what it printed."""
    return products.parse(
        answered(state.name, LIST.id, run_op(state, LIST, params, ctx), duration_s=0.2), params
    )


def test_lists_every_entry_without_filters(lab: Lab) -> None:
    """With no filter, every Uninstall entry: the 11 engine components and the Deployment Tool on MPS01."""
    state = lab.host()

    entries = listed(state, ListParams(), lab.ctx())

    assert len(entries) == len(state.products) == 12
    assert DEPLOYMENT_TOOL in {e.display_name for e in entries}
    assert all(e.windows_installer and not e.wow6432 for e in entries)


def test_filters_by_name_or_product_code_ignoring_case(lab: Lab) -> None:
    """Names match DisplayName and codes match the key, both ignoring case; either selects an entry."""
    state = lab.host()
    helpers = next(p for p in state.products.values() if p.display_name == "Managed Helpers")

    entries = listed(
        state, ListParams(names=("dns provider",), product_codes=(helpers.product_code.lower(),)), lab.ctx()
    )

    assert sorted(e.display_name for e in entries) == ["DNS Provider", "Managed Helpers"]
    found = next(e for e in entries if e.display_name == "Managed Helpers")
    assert (found.key, found.display_version, found.publisher) == (
        helpers.product_code,
        "4.0.2379.0",
        "Microsoft Corporation",
    )


def test_unknown_names_select_nothing(lab: Lab) -> None:
    """A filter that matches no entry gives an empty list, not every entry."""
    assert listed(lab.host(), ListParams(names=("Win32_Product",)), lab.ctx()) == ()


def test_a_32_bit_install_on_x64_shows_under_wow6432node(lab: Lab) -> None:
    """On an AMD64 host, an install registers in the Wow6432Node view."""
    state = lab.host()
    state.arch = "AMD64"
    install = msi.InstallParams(path=f"{PACKAGE_SOURCE}\\DNSProvider.msi", log="C:\\temp\\i.log")
    assert run_op(state, msi.INSTALL, install, lab.ctx()).exit_code == 0

    (entry,) = listed(state, ListParams(names=("DNS Provider",)), lab.ctx())

    assert (entry.display_version, entry.wow6432, entry.install_date) == ("4.0.2491.0", True, "20110321")


def test_listing_changes_nothing(lab: Lab) -> None:
    """products.list is read-only."""
    state = lab.host()
    before = state.model_dump()

    listed(state, ListParams(names=("DNS Provider",)), lab.ctx())

    assert state.model_dump() == before


def test_the_body_reads_both_uninstall_keys_and_never_win32_product() -> None:
    """The script reads the native and Wow6432Node Uninstall keys; Win32_Product appears nowhere."""
    body = products.BODY

    assert "'HKLM:\\SOFTWARE\\' + ('', 'Wow6432Node\\')[$w]" in body
    assert "Microsoft\\Windows\\CurrentVersion\\Uninstall" in body
    assert "win32_product" not in body.lower()
    assert body.splitlines()[-1] == "exit 0"


@pytest.mark.parametrize(
    "stdout",
    [
        "",
        '#rollup-result {"products":{}}',
        '#rollup-result {"products":[1]}',
        '#rollup-result {"products":[{"key":"{X}","display_name":"a","display_version":"1","publisher":"p",'
        '"install_date":"","windows_installer":"yes","wow6432":false}]}',
    ],
)
def test_parse_refuses_a_malformed_result(stdout: str) -> None:
    """No result line, or entries of the wrong shape, are a ResultParseError naming the host."""
    result = CommandResult(
        host="MPS02", op=LIST.id, command="", exit_code=0, stdout=stdout, stderr="", duration_s=0
    )

    with pytest.raises(ResultParseError, match=r"^MPS02: products\.list: "):
        products.parse(result, ListParams())


@pytest.mark.parametrize("value", ["it's", '"q"', "$(calc)", "a`b;c", "new\nline", "{GUID}'; exit"])
def test_hostile_filters_render_cleanly_and_round_trip(value: str) -> None:
    """Quotes, $(), backticks, ; and newlines in names and codes are data in a PowerShell 2.0 script."""
    params = ListParams(names=(value, "DNS Client"), product_codes=(value,))
    script = LIST.command(params).render()

    header = read_header(script)

    assert_ps2_clean(script)
    assert header is not None
    assert header[1] == bindings_of(script)
    assert LIST.params_from(header[1]) == params
