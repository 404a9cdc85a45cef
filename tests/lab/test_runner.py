"""LabRunner: the simulated hosts' PowerShell, from a script's header to the host model and back."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from winrm.protocol import Protocol

from rollup.lab import runner as runner_module
from rollup.lab.cmdshell import launch
from rollup.lab.prerollup import PACKAGE_SOURCE, prerollup_states
from rollup.lab.runner import DEFAULT_DURATION_S, NO_HEADER, LabRunner, ReadOnlyViolation
from rollup.lab.state import HostState, MemoryBlobStore, MemoryStateStore, path_key
from rollup.lab.winproc import CmdHost, Emit, ReadStdin, Start
from rollup.lab.wsman import ScriptOutcome, WindowsVersion
from rollup.model.manifest import load_manifest
from rollup.model.roles import Role
from rollup.ops import files, msi, products
from rollup.ops.base import CommandResult, Operation, compact_body
from rollup.ops.filecopy import CopyParams
from rollup.ops.registry import operation
from rollup.ps.delivery import command_line
from rollup.ps.result import read_result
from tests.lab.conftest import DOMAIN_USER, PASSWORD, Lab

MANIFEST = Path(__file__).resolve().parents[2] / "manifests" / "hmc40-rollup-2011-01.yml"
NOW = datetime(2011, 3, 21, 9, 30, tzinfo=UTC).timestamp()
HOSTS = [("MPS01", frozenset({Role.DEPLOYMENT_TOOL, Role.MPS_ENGINE})), ("DNS01", frozenset({Role.DNS}))]


@dataclass
class Prerollup:
    blobs: MemoryBlobStore
    states: list[HostState]


@pytest.fixture(scope="module", name="prerollup")
def _prerollup(tmp_path_factory: pytest.TempPathFactory) -> Prerollup:
    blobs = MemoryBlobStore()
    cache = tmp_path_factory.getbasetemp() / "msi-cache"
    return Prerollup(
        blobs, prerollup_states(load_manifest(MANIFEST), HOSTS, blobs=blobs, msi_cache_dir=cache)
    )


@pytest.fixture(name="store")
def _store(prerollup: Prerollup) -> MemoryStateStore:
    return MemoryStateStore([s.model_copy(deep=True) for s in prerollup.states])


def make_runner(store: MemoryStateStore, prerollup: Prerollup, **options: Any) -> LabRunner:
    return LabRunner(store, prerollup.blobs, clock=lambda: NOW, **options)


def script(op_id: str, params: object) -> str:
    found = operation(op_id)
    assert found is not None
    return found.command(params).render()


def finish(run: LabRunner, host: str, text: str, stdin: bytes = b"") -> ScriptOutcome:
    return run(host, text, stdin).finish()


def test_a_script_without_header_is_refused(store: MemoryStateStore, prerollup: Prerollup) -> None:
    """Only rollup's operation scripts run: anything else fails at once, recorded nowhere."""
    started = make_runner(store, prerollup)("MPS01", "Get-Process\n")

    outcome = started.finish()

    assert (started.duration_s, outcome.exit_code, outcome.stdout) == (0.0, 1, "")
    assert outcome.stderr == NO_HEADER
    assert "no #rollup-op header" in outcome.stderr
    assert store.read("MPS01").operations == []


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("#rollup-op 2 !!!\nexit 0\n", "script header: the operation is not"),
        ("#rollup-op 1 files.stat\nexit 0\n", "script header: expected"),
        ("#rollup-op 2 files.stat\nexit 0\n", "header parameters do not match"),
    ],
    ids=["not-an-operation", "version", "parameters"],
)
def test_a_malformed_header_is_refused(
    store: MemoryStateStore, prerollup: Prerollup, text: str, words: str
) -> None:
    """A header that does not decode, or does not fit its operation, fails as a script error."""
    outcome = finish(make_runner(store, prerollup), "MPS01", text)

    assert outcome.exit_code == 1
    assert words in outcome.stderr
    assert store.read("MPS01").operations == []


def test_an_unknown_operation_is_refused_by_name(store: MemoryStateStore, prerollup: Prerollup) -> None:
    """A header naming an operation this lab does not know fails, naming it."""
    forged = Operation(
        id="files.shred",
        params=files.EnsureDirParams,
        body=files.ENSURE_DIR_BODY,
        parse=files.parse_ensure_dir,
    ).command(files.EnsureDirParams(path="C:\\x"))

    outcome = finish(make_runner(store, prerollup), "MPS01", forged.render())

    assert outcome.exit_code == 1
    assert "'files.shred'" in outcome.stderr
    assert store.read("MPS01").mutations == 0


def test_mutations_count_only_runs_that_change_the_state(
    store: MemoryStateStore, prerollup: Prerollup
) -> None:
    """Creating a folder counts once; creating it again and reading facts count as runs, not mutations."""
    run = make_runner(store, prerollup)
    create = script("files.ensure_dir", files.EnsureDirParams(path="C:\\temp\\QFERollupPackage"))

    outcomes = [
        finish(run, "MPS01", text)
        for text in (create, create, script("products.list", products.ListParams()))
    ]

    state = store.read("MPS01")
    assert [o.exit_code for o in outcomes] == [0, 0, 0]
    assert state.mutations == 1
    assert state.operations == ["files.ensure_dir", "files.ensure_dir", "products.list"]
    assert store.read("DNS01").operations == []


def test_the_answer_is_what_the_body_prints(store: MemoryStateStore, prerollup: Prerollup) -> None:
    """stdout ends with the result line, which the operation's parser reads back."""
    params = files.StatParams(paths=("C:\\MSIShare\\DNSClient.msi",), msi=True)
    outcome = finish(make_runner(store, prerollup), "MPS01", script("files.stat", params))
    result = CommandResult(
        host="MPS01",
        op="files.stat",
        command="",
        exit_code=outcome.exit_code,
        stdout=outcome.stdout,
        stderr="",
        duration_s=0,
    )

    (stat,) = files.parse_stat(result, params)

    assert outcome.stdout.startswith("#rollup-result {")
    assert outcome.stdout.endswith("}\r\n")
    assert (stat.exists, stat.product_name, stat.product_version) == (True, "DNS Client", "4.0.2379.0")
    assert store.read("MPS01").mutations == 0


CHATTY = compact_body(r"""
Write-Output 'chatter'
[void][IO.Directory]::CreateDirectory($p_path)
Write-RollupResult @{ ok = $true }
exit 0
""")
"""A body that prints a line of its own, creates a folder, then prints its result."""


@pytest.fixture(name="fake_ops")
def _fake_ops(monkeypatch: pytest.MonkeyPatch) -> dict[str, Operation[Any, Any]]:
    """Operations the registry does not have, served to the runner by id."""
    table: dict[str, Operation[Any, Any]] = {}
    monkeypatch.setattr(runner_module, "operation", lambda op_id: table.get(op_id) or operation(op_id))
    return table


def test_a_read_only_operation_that_changes_state_is_refused_loudly(
    store: MemoryStateStore, prerollup: Prerollup, fake_ops: dict[str, Operation[Any, Any]]
) -> None:
    """The change (a folder created) is discarded; ReadOnlyViolation names the host and operation."""
    op = Operation(id="fact.bad", params=files.EnsureDirParams, body=CHATTY, parse=files.parse_ensure_dir)
    fake_ops[op.id] = op
    run = make_runner(store, prerollup)
    before = store.read("MPS01")

    with pytest.raises(ReadOnlyViolation, match=r"MPS01: the read-only operation fact\.bad"):
        finish(run, "MPS01", op.command(files.EnsureDirParams(path="C:\\x")).render())

    state = store.read("MPS01")
    assert state == before
    assert (state.operations, state.mutations) == ([], 0)


def test_a_scripts_own_output_comes_before_the_result_line(
    store: MemoryStateStore, prerollup: Prerollup, fake_ops: dict[str, Operation[Any, Any]]
) -> None:
    """What a script prints before its result comes first, on its own line, then the result line."""
    op = Operation(
        id="fact.chatty",
        params=files.EnsureDirParams,
        body=CHATTY,
        parse=files.parse_ensure_dir,
        mutates=True,
    )
    fake_ops[op.id] = op

    outcome = finish(
        make_runner(store, prerollup), "MPS01", op.command(files.EnsureDirParams(path="C:\\x")).render()
    )

    assert outcome.stdout == 'chatter\r\n#rollup-result {"ok":true}\r\n'
    assert read_result(outcome.stdout) == {"ok": True}
    assert store.read("MPS01").mutations == 1


def test_durations_follow_the_kind_and_the_time_factor(store: MemoryStateStore, prerollup: Prerollup) -> None:
    """A run lasts durations[kind] * time_factor; a kind without a duration takes the default."""
    run = make_runner(store, prerollup, durations={"fact": 2.0, "msi": 30.0}, time_factor=0.5)
    stat = script("files.stat", files.StatParams(paths=()))
    install = script("msi.install", msi.InstallParams(path="C:\\a.msi", log="C:\\a.log"))
    copy = script("files.copy", CopyParams(source_dir="C:\\a", dest_dir="C:\\b", names=()))

    durations = [run("MPS01", text).duration_s for text in (stat, install, copy)]

    assert durations == [1.0, 15.0, DEFAULT_DURATION_S * 0.5]


def test_the_before_hook_sees_each_arrival_and_its_changes_are_not_mutations(
    store: MemoryStateStore, prerollup: Prerollup
) -> None:
    """The hook gets (host, op, n, state, now) on arrival; it may hold the mutex and stretch the run."""
    calls: list[tuple[str, str, int, float]] = []

    def before(host: str, op_id: str, n: int, state: HostState, now: float) -> float | None:
        calls.append((host, op_id, n, now))
        if op_id == "products.list":
            state.installer_busy_until = now + 60
            return 40.0
        return None

    run = make_runner(store, prerollup, before=before, time_factor=0.25)
    listing = run("MPS01", script("products.list", products.ListParams()))
    listing.finish()
    install = script(
        "msi.install", msi.InstallParams(path=f"{PACKAGE_SOURCE}\\DNSProvider.msi", log="C:\\l.log")
    )
    busy = finish(run, "MPS01", install)
    finish(run, "DNS01", script("products.list", products.ListParams()))

    state = store.read("MPS01")
    assert listing.duration_s == 10.0
    assert calls == [
        ("MPS01", "products.list", 1, NOW),
        ("MPS01", "msi.install", 1, NOW),
        ("DNS01", "products.list", 1, NOW),
    ]
    assert busy.exit_code == 1618
    assert state.installer_busy_until == NOW + 60
    assert state.mutations == 1


def test_only_upload_scripts_want_stdin(store: MemoryStateStore, prerollup: Prerollup) -> None:
    """wants_stdin follows the operation's reads_stdin; a script without a header wants none."""
    run = make_runner(store, prerollup)
    upload = script("files.upload", files.UploadParams(target="C:\\a", size=1, sha256="0" * 64))

    assert run.wants_stdin(upload) is True
    assert run.wants_stdin(script("files.stat", files.StatParams(paths=()))) is False
    assert run.wants_stdin("Get-Date") is False


def _upload(data: bytes, target: str) -> tuple[str, files.UploadParams]:
    params = files.UploadParams(target=target, size=len(data), sha256=hashlib.sha256(data).hexdigest())
    return script("files.upload", params), params


def test_cmd_collects_stdin_for_an_upload_on_the_command_line(
    store: MemoryStateStore, prerollup: Prerollup
) -> None:
    """powershell -EncodedCommand <upload>: cmd.exe waits for stdin, and the runner gets it."""
    data = b"\x00\x01payload" * 500
    text, _ = _upload(data, "C:\\temp\\QFERollupPackage\\x.bin")
    command, args = command_line(text)
    process = launch(
        command,
        args,
        CmdHost("MPS01", WindowsVersion.SERVER_2003_SP2, make_runner(store, prerollup)),
        skip_cmd_shell=False,
    )

    steps = [process.send(None)]
    steps.append(process.send(files.upload_stdin(data)))
    start = steps[-1]
    assert isinstance(start, Start)
    output = process.send(start.start().finish())

    assert isinstance(steps[0], ReadStdin)
    assert isinstance(output, Emit)
    assert read_result(output.stdout)["committed"] is True
    assert store.read("MPS01").files[path_key("C:\\temp\\QFERollupPackage\\x.bin")].size == len(data)


def test_an_msi_upload_over_winrm_is_verified_and_counted(
    lab: Lab, store: MemoryStateStore, prerollup: Prerollup
) -> None:
    """pywinrm sends an 800 KB MSI as base64 lines in several Sends; the lab commits it: one mutation."""
    package = store.read("MPS01").files[path_key(f"{PACKAGE_SOURCE}\\ResourceManageDatabase.msi")]
    assert package.blob is not None
    data = prerollup.blobs.get(package.blob)
    text, params = _upload(data, "C:\\temp\\QFERollupPackage\\ResourceManageDatabase.msi")
    server = lab.start(lab.config("MPS01", runner=make_runner(store, prerollup, time_factor=0)))
    protocol = Protocol(
        server.endpoint("MPS01").http_url, transport="ntlm", username=DOMAIN_USER, password=PASSWORD
    )
    shell = protocol.open_shell()
    command, args = command_line(text)
    command_id = protocol.run_command(shell, command, list(args))
    payload = files.upload_stdin(data)
    pieces = [payload[i : i + 100_000] for i in range(0, len(payload), 100_000)]
    for n, piece in enumerate(pieces):
        protocol.send_command_input(shell, command_id, piece, end=n == len(pieces) - 1)
    stdout, stderr, code = protocol.get_command_output(shell, command_id)
    protocol.cleanup_command(shell, command_id)
    protocol.close_shell(shell)
    result = CommandResult(
        host="MPS01",
        op="files.upload",
        command="",
        exit_code=code,
        stdout=stdout.decode("cp437"),
        stderr="",
        duration_s=0,
    )

    outcome = files.parse_upload(result, params)

    state = store.read("MPS01")
    assert len(pieces) > 1
    assert (code, stderr, outcome.committed, outcome.sha256) == (0, b"", True, package.sha256)
    assert state.files[path_key(params.target)].sha256 == package.sha256
    assert (state.operations, state.mutations) == (["files.upload"], 1)
