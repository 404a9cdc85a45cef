"""msi.install and msi.uninstall run as scripts in the lab's PowerShell, so a script broken for
Windows fails here: an unquoted package path, a renamed result key, a forced exit code."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import pytest

from rollup.errors import ResultParseError
from rollup.lab.prerollup import prerollup_states
from rollup.lab.pwsh.host import run_powershell
from rollup.lab.runner import LabRunner
from rollup.lab.state import HostState, MemoryBlobStore, MemoryStateStore, path_key
from rollup.lab.windows.machine import Machine
from rollup.model.manifest import load_manifest
from rollup.model.roles import Role
from rollup.ops import msi
from rollup.ops.base import CommandResult, Operation
from rollup.ops.registry import operation

MANIFEST = Path(__file__).resolve().parents[2] / "manifests" / "hmc40-rollup-2011-01.yml"
NOW = datetime(2011, 3, 21, 9, 30, tzinfo=UTC).timestamp()
HOSTS = [("MPS01", frozenset({Role.DEPLOYMENT_TOOL, Role.MPS_ENGINE})), ("DNS01", frozenset({Role.DNS}))]
PACKAGE = "C:\\Rollup Packages\\KB2492954\\DNSClient.msi"
LOG = "C:\\temp\\rollup logs\\DNSClient.install.log"


@pytest.fixture(scope="module", name="lab")
def _lab(tmp_path_factory: pytest.TempPathFactory) -> tuple[MemoryBlobStore, list[HostState]]:
    blobs = MemoryBlobStore()
    cache = tmp_path_factory.getbasetemp() / "msi-cache"
    states = prerollup_states(load_manifest(MANIFEST), HOSTS, blobs=blobs, msi_cache_dir=cache)
    mps, dns = states
    source = next(f for k, f in mps.files.items() if k.endswith("kb2492954\\dnsclient.msi"))
    dns.files[path_key(PACKAGE)] = source.model_copy(update={"path": PACKAGE})
    return blobs, states


def _result(run_code: int, stdout: str, stderr: str) -> CommandResult:
    return CommandResult(
        host="DNS01",
        op=msi.INSTALL,
        command="",
        exit_code=run_code,
        stdout=stdout,
        stderr=stderr,
        duration_s=0.0,
    )


def _install(
    lab: tuple[MemoryBlobStore, list[HostState]], op: Operation[msi.InstallParams, msi.MsiOutcome]
) -> tuple[HostState, CommandResult]:
    blobs, states = lab
    state = states[1].model_copy(deep=True)
    script = op.command(msi.InstallParams(path=PACKAGE, log=LOG)).render()
    run = run_powershell(script, Machine(state, blobs, now=NOW, user="HOSTING\\admin"))
    return state, _result(run.exit_code, run.stdout, run.stderr)


def test_the_dns_client_installs_in_two_runs_through_the_real_script(
    lab: tuple[MemoryBlobStore, list[HostState]],
) -> None:
    blobs, states = lab
    store = MemoryStateStore([s.model_copy(deep=True) for s in states])
    runner = LabRunner(store, blobs, clock=lambda: NOW, time_factor=0)
    op = operation(msi.INSTALL)
    assert op is not None
    script = op.command(msi.InstallParams(path=PACKAGE, log=LOG)).render()
    old = set(store.read("DNS01").products)

    first = runner("DNS01", script).finish()
    after_first = set(store.read("DNS01").products)
    second = runner("DNS01", script).finish()
    after_second = set(store.read("DNS01").products)

    assert (first.exit_code, second.exit_code) == (0, 0), first.stderr + second.stderr
    assert after_first == set()
    assert old
    assert after_second
    assert after_second != old
    outcome = msi.parse_install(
        _result(second.exit_code, second.stdout, second.stderr), msi.InstallParams(path=PACKAGE, log=LOG)
    )
    assert outcome.exit_code == 0
    assert store.read("DNS01").files[path_key(LOG)].text is not None
    assert store.read("DNS01").mutations == 2


def test_an_unquoted_package_path_fails_as_msiexec_fails(
    lab: tuple[MemoryBlobStore, list[HostState]],
) -> None:
    op = operation(msi.INSTALL)
    assert op is not None
    broken = dataclasses.replace(op, body=op.body.replace("('\"{0}\"' -f $t)", "$t", 1))
    assert broken.body != op.body

    _, result = _install(lab, broken)
    _, good = _install(lab, op)

    assert good.exit_code == 0
    assert result.exit_code != 0
    assert msi.parse_install(result, msi.InstallParams(path=PACKAGE, log=LOG)).exit_code == result.exit_code


def test_a_renamed_result_key_fails_the_parser(lab: tuple[MemoryBlobStore, list[HostState]]) -> None:
    op = operation(msi.INSTALL)
    assert op is not None
    broken = dataclasses.replace(op, body=op.body.replace("log_tail = @($l)", "tail = @($l)", 1))
    assert broken.body != op.body

    _, result = _install(lab, broken)

    with pytest.raises(ResultParseError):
        msi.parse_install(result, msi.InstallParams(path=PACKAGE, log=LOG))


def test_a_forced_exit_0_hides_nothing_from_the_result(lab: tuple[MemoryBlobStore, list[HostState]]) -> None:
    """With the package missing, msiexec answers 1619 in the result even if the script exits 0."""
    op = operation(msi.INSTALL)
    assert op is not None
    broken = dataclasses.replace(op, body=op.body.replace("exit $c", "exit 0"))
    blobs, states = lab
    state = states[1].model_copy(deep=True)
    del state.files[path_key(PACKAGE)]
    script = broken.command(msi.InstallParams(path=PACKAGE, log=LOG)).render()
    run = run_powershell(script, Machine(state, blobs, now=NOW, user="HOSTING\\admin"))

    outcome = msi.parse_install(
        _result(run.exit_code, run.stdout, run.stderr), msi.InstallParams(path=PACKAGE, log=LOG)
    )

    assert run.exit_code == 0
    assert outcome.exit_code == 1619
    assert not outcome.ok
