"""files.*: stat, upload, backup, copy and ensure_dir, in the lab and through their parsers."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest

from rollup.errors import ResultParseError
from rollup.lab.prerollup import PACKAGE_SOURCE
from rollup.lab.state import HostState, path_key
from rollup.lab.windows.hostfiles import put_text
from rollup.model.roles import Role
from rollup.ops import files
from rollup.ops.base import CommandResult, Operation
from rollup.ops.filecopy import BackupParams, CopyParams
from rollup.ops.files import EnsureDirParams, StatParams, UploadParams
from rollup.ps.check import assert_ps2_clean
from rollup.ps.command import bindings_of, read_header
from rollup.ps.delivery import fits_command_line
from rollup.ps.result import format_result
from tests.simkit import PrerollupLab as Lab
from tests.simkit import RunContext, answered, prerollup_lab, run_op

NOW = datetime(2011, 3, 21, 9, 30, 5, tzinfo=UTC).timestamp()
OPS = {op.id: op for op in files.OPERATIONS}
SHARE = "C:\\MSIShare"
EXTRACT = "C:\\temp\\QFERollupPackage"


@pytest.fixture(scope="module", name="lab")
def _lab(tmp_path_factory: pytest.TempPathFactory) -> Lab:
    return prerollup_lab(
        tmp_path_factory, [("MPS01", frozenset({Role.DEPLOYMENT_TOOL, Role.MPS_ENGINE}))], now=NOW
    )


def run(op_id: str, state: HostState, params: Any, ctx: RunContext) -> tuple[int, Any]:
    """Run the operation's script, then parse what it printed: (exit code, parsed outcome)."""
    op: Operation[Any, Any] = OPS[op_id]
    ran = run_op(state, op, params, ctx)
    return ran.exit_code, op.parse(answered(state.name, op_id, ran, duration_s=0.1), params)


def upload(data: bytes, target: str, *, sha256: str | None = None, size: int | None = None) -> UploadParams:
    return UploadParams(
        target=target,
        size=len(data) if size is None else size,
        sha256=sha256 or hashlib.sha256(data).hexdigest(),
    )


def test_stat_reports_size_time_hash_and_msi_identity(lab: Lab) -> None:
    """A previous-build MSI in C:\\MSIShare: its size, date, SHA-256 and ProductCode/Name/Version."""
    state = lab.host()
    entry = state.files[path_key(f"{SHARE}\\DNSClient.msi")]
    params = StatParams(paths=(f"{SHARE}\\DNSClient.msi", "C:\\nowhere.msi"), msi=True)

    code, (found, missing) = run("files.stat", state, params, lab.ctx())

    assert code == 0
    assert entry.msi is not None
    assert (found.exists, found.size, found.mtime, found.sha256) == (
        True,
        entry.size,
        entry.mtime,
        entry.sha256,
    )
    assert (found.product_code, found.product_name, found.product_version) == (
        entry.msi.product_code,
        "DNS Client",
        "4.0.2379.0",
    )
    assert (missing.exists, missing.size, missing.sha256) == (False, None, None)


def test_stat_changes_nothing(lab: Lab) -> None:
    """files.stat is read-only: the state is the same afterwards, even with MSI properties read."""
    state = lab.host()
    state.files[path_key(f"{SHARE}\\DNSClient.msi")].msi = None
    before = state.model_dump()

    run("files.stat", state, StatParams(paths=(f"{SHARE}\\DNSClient.msi",), msi=True), lab.ctx())

    assert state.model_dump() == before


def test_stat_parse_refuses_a_result_for_other_paths() -> None:
    """A result that does not list exactly the paths asked for is a parse error."""
    line = format_result({"files": [{"path": "C:\\b", "exists": False}]})
    result = CommandResult(
        host="H", op="files.stat", command="", exit_code=0, stdout=line, stderr="", duration_s=0
    )

    with pytest.raises(ResultParseError, match="paths asked for"):
        files.parse_stat(result, StatParams(paths=("C:\\a",)))


def test_upload_commits_a_verified_file(lab: Lab) -> None:
    """Bytes sent as base64 lines on stdin become the target, with their size and hash."""
    state = lab.host()
    data = bytes(range(256)) * 300
    target = f"{EXTRACT}\\blob.bin"

    code, outcome = run("files.upload", state, upload(data, target), lab.ctx(files.upload_stdin(data)))

    entry = state.files[path_key(target)]
    assert (code, outcome.committed, outcome.size) == (0, True, len(data))
    assert entry.blob is not None
    assert lab.blobs.get(entry.blob) == data
    assert path_key(target + ".partial") not in state.files


def test_upload_stdin_is_crlf_lines_that_each_decode() -> None:
    """The stdin format: 4,096-character base64 lines ending in CRLF, each a whole number of groups."""
    data = b"x" * 10_000

    lines = files.upload_stdin(data).decode("ascii").split("\r\n")

    assert lines[-1] == ""
    assert len(lines) == 5
    assert all(len(line) == 4096 for line in lines[:-2])
    assert b"".join(base64.b64decode(line) for line in lines[:-1]) == data


def test_upload_accepts_any_line_split(lab: Lab) -> None:
    """Lines need not be whole base64 groups: a partial group waits for the next line."""
    state = lab.host()
    data = b"hello, windows" * 100
    text = base64.b64encode(data).decode("ascii")
    stdin = "\n".join(text[i : i + 7] for i in range(0, len(text), 7)).encode("ascii")

    code, outcome = run("files.upload", state, upload(data, "C:\\temp\\a.txt"), lab.ctx(stdin))

    assert (code, outcome.committed) == (0, True)


@pytest.mark.parametrize(
    ("stdin", "sha256", "size"),
    [
        (files.upload_stdin(b"tampered"), None, 8),
        (files.upload_stdin(b"original"), "0" * 64, None),
        (files.upload_stdin(b"short"), None, 999),
        (b"QUJD\r\nRA\r\n", None, 3),
        (b"!!!!\r\n", None, 3),
    ],
)
def test_upload_refuses_a_bad_transfer_and_leaves_the_target_untouched(
    lab: Lab, stdin: bytes, sha256: str | None, size: int | None
) -> None:
    """A hash, size or base64 mismatch commits nothing: the old target stays, no .partial remains."""
    state = lab.host()
    target = f"{SHARE}\\DNSClient.msi"
    before = state.files[path_key(target)]
    params = upload(b"original", target, sha256=sha256, size=size)

    code, outcome = run("files.upload", state, params, lab.ctx(stdin))

    assert (code, outcome.committed) == (1, False)
    assert outcome.error
    assert state.files[path_key(target)] == before
    assert path_key(target + ".partial") not in state.files


@pytest.mark.parametrize("fault", ["locked", "disk_full"])
def test_upload_fails_cleanly_on_a_locked_target_or_a_full_disk(lab: Lab, fault: str) -> None:
    """Windows' own message comes back; the target is as it was."""
    state = lab.host()
    target = f"{SHARE}\\DNSClient.msi"
    before = state.files[path_key(target)]
    (state.locked_files if fault == "locked" else state.disk_full_paths).append(
        target if fault == "locked" else SHARE
    )

    code, outcome = run("files.upload", state, upload(b"new", target), lab.ctx(files.upload_stdin(b"new")))

    assert (code, outcome.committed) == (1, False)
    assert outcome.error is not None
    assert ("being used by another process" if fault == "locked" else "not enough space") in outcome.error
    assert state.files[path_key(target)] == before


def test_upload_script_fits_the_command_line() -> None:
    """The upload script travels on the command line (stdin carries the data), for 95-character paths too."""
    target = "C:\\temp\\QFERollupPackage\\" + "x" * 66 + ".msi"

    script = OPS["files.upload"].command(upload(b"x" * 10, target, size=2**31 - 1)).render()

    assert fits_command_line(script)


def test_backup_renames_to_a_timestamped_name(lab: Lab) -> None:
    """rename: the file becomes <name>.<yyyyMMdd-HHmmss>.bak beside it, same content."""
    state = lab.host()
    original = state.files[path_key(f"{SHARE}\\DNSClient.msi")]
    params = BackupParams(share=SHARE, names=("DNSClient.msi",))

    code, (action,) = run("files.backup", state, params, lab.ctx())

    assert (code, action.action) == (0, "renamed")
    assert action.backup == f"{SHARE}\\DNSClient.msi.20110321-093005.bak"
    assert path_key(f"{SHARE}\\DNSClient.msi") not in state.files
    assert state.files[path_key(action.backup)].sha256 == original.sha256


def test_backup_is_idempotent_and_never_overwrites(lab: Lab) -> None:
    """copy twice: the second finds a backup with the same hash; a changed file gets a new name."""
    state = lab.host()
    params = BackupParams(share=SHARE, names=("DNSProvider.msi",), method="copy")
    _, (first,) = run("files.backup", state, params, lab.ctx())
    _, (again,) = run("files.backup", state, params, lab.ctx())
    put_text(state, f"{SHARE}\\DNSProvider.msi", "changed", NOW)

    _, (changed,) = run("files.backup", state, params, lab.ctx())

    assert (first.action, again.action, again.backup) == ("copied", "already", first.backup)
    assert changed.action == "copied"
    assert changed.backup == f"{SHARE}\\DNSProvider.msi.20110321-093005-2.bak"
    assert state.files[path_key(first.backup or "")].sha256 == first.sha256 != changed.sha256


def test_backup_reports_missing_and_locked_files(lab: Lab) -> None:
    """A missing file has nothing to keep (not a failure); a locked one fails with Windows' message."""
    state = lab.host()
    state.locked_files.append(f"{SHARE}\\ManagedHelpers.msi")
    params = BackupParams(share=SHARE, names=("Nothing.msi", "ManagedHelpers.msi"))

    code, (missing, locked) = run("files.backup", state, params, lab.ctx())

    assert code == 1
    assert missing.action == "missing"
    assert locked.action == "failed"
    assert locked.error is not None
    assert "being used by another process" in locked.error
    assert path_key(f"{SHARE}\\ManagedHelpers.msi") in state.files


def test_copy_keeps_the_source_date_and_skips_identical_files(lab: Lab) -> None:
    """The extract copy keeps the KB's dates; a second copy finds every file identical and changes nothing."""
    state = lab.host()
    names = ("DNSClient.msi", "Servicebase.msi")
    params = CopyParams(source_dir=PACKAGE_SOURCE, dest_dir=EXTRACT, names=names)
    code, first = run("files.copy", state, params, lab.ctx())
    after_first = state.model_dump()

    _, second = run("files.copy", state, params, lab.ctx())

    copied = state.files[path_key(f"{EXTRACT}\\Servicebase.msi")]
    assert code == 0
    assert [a.action for a in first] == ["copied", "copied"]
    assert [a.action for a in second] == ["identical", "identical"]
    assert copied.mtime == datetime(2011, 1, 13, 22, 14, tzinfo=UTC)
    assert state.model_dump() == after_first


def test_copy_replaces_an_older_file_and_reports_a_missing_source(lab: Lab) -> None:
    """A different file at the target is replaced by the verified copy; a missing source fails the run."""
    state = lab.host()
    params = CopyParams(source_dir=PACKAGE_SOURCE, dest_dir=SHARE, names=("DNSClient.msi", "Absent.msi"))

    code, (replaced, missing) = run("files.copy", state, params, lab.ctx())

    new = state.files[path_key(f"{PACKAGE_SOURCE}\\DNSClient.msi")]
    assert (code, replaced.action, missing.action) == (1, "copied", "missing")
    assert state.files[path_key(f"{SHARE}\\DNSClient.msi")].sha256 == new.sha256


@pytest.mark.parametrize("name", ["..\\evil.msi", "C:x.msi", "a/b.msi"])
def test_backup_and_copy_refuse_names_that_are_not_plain_file_names(lab: Lab, name: str) -> None:
    """A name with a separator or a drive cannot reach outside the folder."""
    state = lab.host()

    _, (backup,) = run("files.backup", state, BackupParams(share=SHARE, names=(name,)), lab.ctx())
    _, (copy,) = run(
        "files.copy", state, CopyParams(source_dir=SHARE, dest_dir=EXTRACT, names=(name,)), lab.ctx()
    )

    assert (backup.action, copy.action) == ("failed", "failed")


def test_ensure_dir_creates_once(lab: Lab) -> None:
    """The first call creates the folder, the second finds it; a file in the way fails."""
    state = lab.host()

    _, created = run("files.ensure_dir", state, EnsureDirParams(path=EXTRACT), lab.ctx())
    _, again = run("files.ensure_dir", state, EnsureDirParams(path=EXTRACT.upper()), lab.ctx())
    blocked = run_op(state, "files.ensure_dir", EnsureDirParams(path=f"{SHARE}\\DNSClient.msi"), lab.ctx())

    assert (created, again) == (True, False)
    assert blocked.exit_code == 1
    assert "already exists" in blocked.stderr
    assert blocked.result is None


HOSTILE = ["it's.msi", '"q".msi', "$(Get-Date).msi", "a`b;c.msi", "new\nline.msi", "\u2018x\u2019.msi"]


@pytest.mark.parametrize("op_id", sorted(OPS))
@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_values_render_cleanly_and_round_trip(op_id: str, value: str) -> None:
    """Every file operation binds quotes, $(), backticks, ; and newlines as data, in PowerShell 2.0."""
    path = f"C:\\temp\\{value}"
    params = {
        "files.stat": StatParams(paths=(path,), msi=True),
        "files.upload": UploadParams(target=path, size=1, sha256="0" * 64),
        "files.backup": BackupParams(share=path, names=(value,)),
        "files.copy": CopyParams(source_dir=path, dest_dir=path, names=(value,)),
        "files.ensure_dir": EnsureDirParams(path=path),
    }[op_id]
    script = OPS[op_id].command(params).render()

    header = read_header(script)

    assert_ps2_clean(script)
    assert header is not None
    assert header[1] == bindings_of(script)
    assert OPS[op_id].params_from(header[1]) == params
