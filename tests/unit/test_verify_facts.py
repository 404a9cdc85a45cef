"""
``verify.facts``: one script reads every fact group a host needs; in the lab it runs against
the host's Windows model, and its parser keeps each group apart.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from rollup.errors import ResultParseError
from rollup.lab.prerollup import prerollup_states
from rollup.lab.state import HostState, MemoryBlobStore
from rollup.model.manifest import load_manifest
from rollup.ops.base import CommandResult
from rollup.ops.complus import ComPlusState
from rollup.ops.iis import VdirSecurity
from rollup.ops.sql import SqlObjectsParams, SqlObjectsReport
from rollup.ops.verify import FACTS, Unreadable, VdirMissing, VerifyFacts, VerifyParams, sql_group
from rollup.ps.result import format_result
from rollup.testing.fleet import fleet_roles
from rollup.verify import verify_params
from tests.simkit import command_result, run_context, run_op

MANIFEST = Path(__file__).resolve().parents[2] / "manifests" / "hmc40-rollup-2011-01.yml"
NOW = datetime(2011, 3, 21, 9, 30, tzinfo=UTC).timestamp()
ROLES = dict(fleet_roles(1))
Lab = tuple[MemoryBlobStore, dict[str, HostState]]


@pytest.fixture(scope="module", name="lab")
def _lab(tmp_path_factory: pytest.TempPathFactory) -> Lab:
    blobs = MemoryBlobStore()
    cache = tmp_path_factory.getbasetemp() / "msi-cache"
    states = prerollup_states(load_manifest(MANIFEST), fleet_roles(1), blobs=blobs, msi_cache_dir=cache)
    return blobs, {s.name: s for s in states}


def answered(result: Any, params: VerifyParams, host: str = "MPS01") -> VerifyFacts:
    """What the parser makes of the script's ``result`` line."""
    stdout = format_result(result) + "\n"
    printed = CommandResult(
        host=host, op="verify.facts", command="", exit_code=0, stdout=stdout, stderr="", duration_s=0
    )
    return FACTS.parse(printed, params)


def simulated(lab: Lab, host: str, params: VerifyParams) -> VerifyFacts:
    """The facts the simulated ``host`` answers for ``params``: the real script, on a copy of its state."""
    blobs, states = lab
    ctx = run_context(now=NOW, user="HOSTING\\rollup-lab", blobs=blobs)
    ran = run_op(states[host].model_copy(deep=True), FACTS, params, ctx)
    return FACTS.parse(command_result(host, FACTS.id, ran.stdout, ran.exit_code, stderr=ran.stderr), params)


def test_every_group_a_host_needs_arrives_in_one_answer(lab: Lab) -> None:
    """The pre-rollup hosts answer each group they were asked for, in the shapes the checks read."""
    manifest = load_manifest(MANIFEST)

    mps = simulated(lab, "MPS01", verify_params(manifest, ROLES["MPS01"]))
    dns = simulated(lab, "DNS01", verify_params(manifest, ROLES["DNS01"]))
    sql = simulated(lab, "MPSSQL", verify_params(manifest, ROLES["MPSSQL"]))

    assert isinstance(mps.files, tuple)
    assert len(mps.files) == 21
    assert isinstance(mps.products, tuple)
    assert len(mps.products) == 17
    assert isinstance(mps.complus["Provisioning Engine"], ComPlusState)
    security = dns.vdirs["Default Web Site/DNSProvider"]
    assert isinstance(security, VdirSecurity)
    assert (security.default_logon_domain, security.require_ssl) == ("", False)
    assert isinstance(sql.sql, SqlObjectsReport)
    assert [o.present for o in sql.sql.objects] == [False] * 6


def test_products_are_found_by_name_key_whatever_the_spacing(lab: Lab) -> None:
    """A DisplayName is matched by its letters and digits, lower case: ``managedemail2007webservices``."""
    params = VerifyParams(product_names=("managedemail2007webservices", "nosuchproduct"))

    facts = simulated(lab, "MPS01", params)

    assert isinstance(facts.products, tuple)
    assert [e.display_name for e in facts.products] == ["Managed Email2007 Web Services"]


def test_groups_not_asked_for_are_neither_read_nor_reported(lab: Lab) -> None:
    """An empty group is skipped: the answer holds only what was asked."""
    facts = simulated(lab, "COLLAB01", VerifyParams(product_names=("windowssharepointserviceswebservice",)))

    assert facts.files is None
    assert facts.sql is None
    assert facts.vdirs == {}
    assert isinstance(facts.products, tuple)
    assert VerifyParams().empty


def test_a_group_that_failed_is_unreadable_and_the_others_still_arrive() -> None:
    """A group the script reports under ``errors`` is Unreadable with the host's message; others parse."""
    params = VerifyParams(product_names=("dnsclient",), complus=("Provisioning Engine",), services=("W3SVC",))
    result = {
        "errors": {"complus": "Class not registered", "services": "Access is denied."},
        "products": {"products": []},
    }

    facts = answered(result, params)

    assert facts.products == ()
    assert facts.complus == {"Provisioning Engine": Unreadable("Class not registered")}
    assert facts.services == Unreadable("Access is denied.")


def test_a_missing_sql_client_is_unreadable_and_a_missing_vdir_is_a_finding(lab: Lab) -> None:
    """No sqlcmd on a host makes SQL unreadable; a host without the site reports the directory missing."""
    manifest = load_manifest(MANIFEST)
    objects = verify_params(manifest, ROLES["MPSSQL"]).sql_objects()
    assert objects is not None
    only = SqlObjectsParams(
        instance=objects.instance, database=objects.database, procedures=objects.procedures
    )
    params = VerifyParams(vdirs=("Default Web Site/DNSProvider",), sql=sql_group(only))

    facts = simulated(lab, "COLLAB01", params)

    assert facts.sql == Unreadable(
        "sql.objects ResourceManager: neither sqlcmd.exe nor osql.exe is on the PATH"
    )
    assert facts.vdirs == {
        "Default Web Site/DNSProvider": VdirMissing("IIS has no web site 'Default Web Site'")
    }


def test_a_group_asked_for_but_absent_is_a_parse_error() -> None:
    """A result that lacks a group it was asked for (and reports no error for it) is refused."""
    with pytest.raises(ResultParseError, match="products"):
        answered({"errors": {}}, VerifyParams(product_names=("dnsclient",)))


def test_a_vdir_that_is_not_site_and_path_is_refused() -> None:
    """``vdirs`` entries are ``<site>/<vdir>``; anything else is refused before a script is built."""
    with pytest.raises(ValueError, match="site"):
        VerifyParams(vdirs=("DNSProvider",))


def test_the_script_holds_only_the_groups_asked_for() -> None:
    """Each group's code is in the script only when its group is read; hashing helpers come with files."""
    products = FACTS.command(VerifyParams(product_names=("dnsclient",))).render()
    files = FACTS.command(VerifyParams(files=("C:\\MSIShare\\DNSClient.msi",))).render()
    hashed = FACTS.command(VerifyParams(files=("C:\\MSIShare\\DNSClient.msi",), file_identity=True)).render()

    assert "Uninstall" in products
    assert not any(w in products for w in ("IO.FileInfo", "appcmd", "sqlcmd", "COMAdmin", "Win32_Service"))
    assert "IO.FileInfo" in files
    assert "Get-RollupSha256" not in products
    assert "function Get-RollupSha256" in files  # Get-RollupFileFacts, shared with files.stat, calls it
    assert "function Get-RollupSha256" in hashed
    assert "function Get-RollupMsiProperty" in hashed
    for script in (products, files, hashed):
        assert script.rstrip().endswith("Write-RollupResult $r\nexit 0")


def test_the_sql_group_is_one_field_of_key_value_entries() -> None:
    """``sql_group`` and ``sql_objects`` are inverse; an unknown key or a second database is refused."""
    objects = SqlObjectsParams(
        instance="SQL01\\INST",
        database="ResourceManager",
        indexes=("t.ix",),
        procedures=("p=1", "q"),
        scalar_functions=("fn_min",),
        table_functions=("tf",),
        near_miss=("%And%",),
    )

    params = VerifyParams(sql=sql_group(objects))

    assert params.sql_objects() == objects
    assert params.sql[:2] == ("instance=SQL01\\INST", "database=ResourceManager")
    assert VerifyParams().sql_objects() is None
    for bad in (("database=x",), ("instance=.", "database=x", "database=y"), ("instance=.", "view=v")):
        with pytest.raises(ValueError, match="SQL"):
            VerifyParams(sql=bad)
