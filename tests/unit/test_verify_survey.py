"""
``rollup.survey``: hosts read in parallel through read-only sessions; one host's failure is that
host's error line, credentials are resolved before any host is contacted.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rollup.credentials import CredentialCache
from rollup.errors import ConnectError, CredentialError
from rollup.model.inventory import Host
from rollup.model.manifest import load_manifest
from rollup.ops.filecopy import CopyParams
from rollup.ops.registry import operation
from rollup.ops.verify import FACTS, VerifyParams
from rollup.survey import MutationRefused, ReadSession, run_verify, survey
from rollup.testing.fleet import MemoryFleet, memory_fleet
from rollup.testing.transport import InjectedFault
from rollup.verify import verify_params

MANIFEST = Path(__file__).resolve().parents[2] / "manifests" / "hmc40-rollup-2011-01.yml"


@pytest.fixture(name="fleet")
def _fleet(tmp_path_factory: pytest.TempPathFactory) -> MemoryFleet:
    return memory_fleet(load_manifest(MANIFEST), cache_dir=tmp_path_factory.getbasetemp() / "msi-cache")


def test_a_session_refuses_an_operation_that_may_change_a_host(fleet: MemoryFleet) -> None:
    """A read function cannot send ``files.copy``: it is refused before anything reaches the host."""
    copy = operation("files.copy")
    assert copy is not None

    def read(host: object, session: ReadSession) -> object:
        return session.call(copy, CopyParams(source_dir="C:\\a", dest_dir="C:\\b", names=("x.msi",)))

    with pytest.raises(MutationRefused, match=r"files\.copy"):
        survey(fleet.inventory.hosts[:1], read, transports=fleet.registry(), credentials=fleet.credentials())

    assert fleet.state("MPS01").operations == []


def test_a_host_that_fails_gets_its_error_line_and_the_others_are_read(fleet: MemoryFleet) -> None:
    """A connection refused on DNS01 is DNS01's one-line error (without its name); the rest answer."""

    def refuse(host: str, op: str, n: int) -> InjectedFault | None:
        error = ConnectError("http://127.0.200.2:5985/wsman: Command: connection refused", host=host)
        return InjectedFault(error) if host == "DNS01" else None

    fleet.faults = refuse

    readings = survey(
        fleet.inventory.hosts,
        lambda host, session: session.call(FACTS, VerifyParams(services=("WinRM",))),
        transports=fleet.registry(),
        credentials=fleet.credentials(),
        forks=3,
    )

    errors = {r.host.name: r.error for r in readings}
    assert errors == {
        **dict.fromkeys(errors),
        "DNS01": "http://127.0.200.2:5985/wsman: Command: connection refused",
    }
    assert [r.host.name for r in readings] == [h.name for h in fleet.inventory.hosts]
    assert all(r.value is not None for r in readings if r.host.name != "DNS01")


def test_credentials_that_cannot_be_resolved_stop_before_any_host_is_contacted(fleet: MemoryFleet) -> None:
    """A password variable that is not set is a CredentialError, and no host received anything."""
    with pytest.raises(CredentialError, match="ROLLUP_TEST_PASSWORD"):
        run_verify(
            fleet.manifest,
            fleet.inventory,
            transports=fleet.registry(),
            credentials=CredentialCache(prompt=None, env={}),
        )

    assert all(fleet.state(h.name).operations == [] for h in fleet.inventory.hosts)


def test_run_verify_sends_one_script_per_host_and_changes_nothing(fleet: MemoryFleet) -> None:
    """Every host receives exactly one ``verify.facts``; no host's state changes."""
    report = run_verify(
        fleet.manifest, fleet.inventory, transports=fleet.registry(), credentials=fleet.credentials()
    )

    assert [h.host for h in report.hosts] == [h.name for h in fleet.inventory.hosts]
    assert {h.name: fleet.state(h.name).operations for h in fleet.inventory.hosts} == {
        h.name: ["verify.facts"] for h in fleet.inventory.hosts
    }
    assert fleet.mutations() == dict.fromkeys(fleet.mutations(), 0)
    assert not report.pinned


def test_costliest_hosts_start_first_and_results_keep_host_order(fleet: MemoryFleet) -> None:
    """With one fork, hosts are read in decreasing cost (ties in host order); readings in host order."""
    hosts = fleet.inventory.hosts
    costs = {h.name: float(len(h.name)) for h in hosts}
    read_order: list[str] = []

    def read(host: Host, session: ReadSession) -> str:
        read_order.append(host.name)
        return host.name

    readings = survey(
        hosts, read, transports=fleet.registry(), credentials=fleet.credentials(), forks=1,
        cost=lambda host: costs[host.name],
    )  # fmt: skip

    expected = [h.name for h in sorted(hosts, key=lambda h: -costs[h.name])]
    assert read_order == expected
    assert [r.value for r in readings] == [h.name for h in hosts]


def test_run_verify_reads_the_longest_scripts_first(fleet: MemoryFleet) -> None:
    """MPS01's script (the share's files, on stdin) starts before the others, with one fork."""
    started: list[str] = []

    def record(host: str, op: str, n: int) -> InjectedFault | None:
        started.append(host)
        return None

    fleet.faults = record

    run_verify(
        fleet.manifest, fleet.inventory, transports=fleet.registry(), credentials=fleet.credentials(), forks=1
    )

    sizes = {
        h.name: len(FACTS.command(verify_params(fleet.manifest, h.roles)).render())
        for h in fleet.inventory.hosts
    }
    assert started == sorted(sizes, key=lambda name: -sizes[name])
    assert started[0] == "MPS01"


def test_a_prepared_command_must_be_the_operation_s_own(fleet: MemoryFleet) -> None:
    """``ReadSession.run`` refuses a mutating operation, and a command built for another operation."""
    copy = operation("files.copy")
    assert copy is not None
    params = CopyParams(source_dir="C:\\a", dest_dir="C:\\b", names=("x.msi",))
    facts = VerifyParams(services=("WinRM",))

    def mutating(host: Host, session: ReadSession) -> object:
        return session.run(copy, copy.command(params), params)

    def mislabelled(host: Host, session: ReadSession) -> object:
        return session.run(FACTS, copy.command(params), facts)

    with pytest.raises(MutationRefused, match=r"files\.copy"):
        survey(
            fleet.inventory.hosts[:1], mutating, transports=fleet.registry(), credentials=fleet.credentials()
        )
    readings = survey(
        fleet.inventory.hosts[:1], lambda h, s: s.run(FACTS, FACTS.command(facts), facts),
        transports=fleet.registry(), credentials=fleet.credentials(),
    )  # fmt: skip
    with pytest.raises(ValueError, match=r"files\.copy is not verify\.facts"):
        survey(
            fleet.inventory.hosts[:1],
            mislabelled,
            transports=fleet.registry(),
            credentials=fleet.credentials(),
        )

    assert readings[0].value is not None
    assert fleet.state("MPS01").operations == ["verify.facts"]
