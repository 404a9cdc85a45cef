"""files.read and files.restore in the lab: a backup's bytes brought back, the share restored from backups."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest

from rollup.lab.state import HostState, path_key
from rollup.lab.windows.hostfiles import put_text
from rollup.model.roles import Role
from rollup.ops import filerestore
from rollup.ops.base import Operation
from rollup.ops.filecopy import BackupParams
from rollup.ops.filerestore import ReadParams, RestoreParams
from rollup.ops.files import OPERATIONS as FILE_OPERATIONS
from tests.simkit import PrerollupLab as Lab
from tests.simkit import RunContext, answered, prerollup_lab, run_op

NOW = datetime(2011, 3, 21, 9, 30, 5, tzinfo=UTC).timestamp()
OPS = {op.id: op for op in (*filerestore.OPERATIONS, *FILE_OPERATIONS)}
SHARE = "C:\\MSIShare"


@pytest.fixture(scope="module", name="lab")
def _lab(tmp_path_factory: pytest.TempPathFactory) -> Lab:
    return prerollup_lab(
        tmp_path_factory, [("MPS01", frozenset({Role.DEPLOYMENT_TOOL, Role.MPS_ENGINE}))], now=NOW
    )


def run(op_id: str, state: HostState, params: Any, ctx: RunContext) -> tuple[int, Any]:
    op: Operation[Any, Any] = OPS[op_id]
    ran = run_op(state, op, params, ctx)
    return ran.exit_code, op.parse(answered(state.name, op_id, ran, duration_s=0.1), params)


def test_read_brings_the_bytes_back_checked_by_sha256(lab: Lab) -> None:
    """An MSI of the share, read whole: its bytes hash to what the host computed; a missing file says so."""
    state = lab.host()
    entry = state.files[path_key(f"{SHARE}\\DNSClient.msi")]

    code, found = run("files.read", state, ReadParams(path=f"{SHARE}\\DNSClient.msi"), lab.ctx())
    missing_code, missing = run("files.read", state, ReadParams(path=f"{SHARE}\\Nothing.msi"), lab.ctx())
    big_code, big = run(
        "files.read", state, ReadParams(path=f"{SHARE}\\DNSClient.msi", max_bytes=10), lab.ctx()
    )

    assert (code, found.size, found.sha256, found.error) == (0, entry.size, entry.sha256, None)
    assert hashlib.sha256(found.data).hexdigest() == entry.sha256
    assert (missing_code, missing.error, missing.data) == (1, "no such file", b"")
    assert big_code == 1
    assert big.error == "larger than 10 bytes"


def test_restore_puts_the_backup_back_and_is_idempotent(lab: Lab) -> None:
    """The rollup's copy goes, the backup takes its name; run again: identical; no backup: removed."""
    state = lab.host()
    original = state.files[path_key(f"{SHARE}\\DNSClient.msi")]
    _, (kept,) = run("files.backup", state, BackupParams(share=SHARE, names=("DNSClient.msi",)), lab.ctx())
    put_text(state, f"{SHARE}\\DNSClient.msi", "the rollup's build", NOW)
    put_text(state, f"{SHARE}\\Extra.msi", "not there before", NOW)
    params = RestoreParams(
        share=SHARE,
        names=("DNSClient.msi", "Extra.msi"),
        backups=(kept.backup or "", ""),
        sha256=(original.sha256, ""),
    )

    code, (restored, removed) = run("files.restore", state, params, lab.ctx())
    again_code, (identical, absent) = run("files.restore", state, params, lab.ctx())

    assert (code, restored.action, removed.action) == (0, "restored", "removed")
    assert state.files[path_key(f"{SHARE}\\DNSClient.msi")].sha256 == original.sha256
    assert path_key(kept.backup or "") not in state.files
    assert path_key(f"{SHARE}\\Extra.msi") not in state.files
    assert (again_code, identical.action, absent.action) == (0, "identical", "absent")


def test_restore_refuses_a_backup_whose_hash_differs(lab: Lab) -> None:
    """A changed backup is not put in place: the step fails naming it, and the share keeps its file."""
    state = lab.host()
    _, (kept,) = run("files.backup", state, BackupParams(share=SHARE, names=("DNSProvider.msi",)), lab.ctx())
    put_text(state, f"{SHARE}\\DNSProvider.msi", "the rollup's build", NOW)
    put_text(state, kept.backup or "", "tampered", NOW)
    params = RestoreParams(
        share=SHARE, names=("DNSProvider.msi",), backups=(kept.backup or "",), sha256=(kept.sha256 or "",)
    )

    code, (failed,) = run("files.restore", state, params, lab.ctx())

    assert (code, failed.action) == (1, "failed")
    assert "differs from its recorded SHA-256" in (failed.error or "")
    assert state.files[path_key(f"{SHARE}\\DNSProvider.msi")].text == "the rollup's build"
