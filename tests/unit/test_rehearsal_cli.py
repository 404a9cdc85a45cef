"""``rollup rehearse``'s refusals, before any lab is touched: each is exit 2 with one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from rollup.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
LAB = """\
all:
  vars:
    rollup_user: LAB\\svc-rollup
    rollup_password: {env: ROLLUP_LAB_PASSWORD}
  children:
    deployment_tool: {hosts: {MPS01: {address: 127.0.0.1}}}
"""


BOTH = "rollup: give exactly one of --inventory LAB and --simulated"
REFUSED = [
    pytest.param([], BOTH, id="neither"),
    pytest.param(["--simulated", "-i", "lab"], BOTH, id="both"),
    pytest.param(
        ["--simulated", "--no-drills", "--drill", "host-down"],
        "rollup: --no-drills and --drill cannot be combined",
        id="drills",
    ),
    pytest.param(["-i", "lab", "--state-dir", "x"], "rollup: --state-dir is for --simulated", id="state-dir"),
]


@pytest.mark.parametrize(("args", "message"), REFUSED)
def test_contradictory_options_are_refused(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The choice of lab and of drills must be unambiguous."""
    monkeypatch.delenv("ROLLUP_INVENTORY", raising=False)

    code = main(["rehearse", *args])

    assert code == 2
    assert capsys.readouterr().err.splitlines()[0] == message


def test_a_production_inventory_is_never_rehearsed_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A rehearsal reverts its VMs: an inventory that says it is production is refused."""
    prod = tmp_path / "prod.yml"
    prod.write_text(LAB.replace("  vars:\n", "  vars:\n    rollup_production: true\n"), encoding="utf-8")

    code = main(["rehearse", "-i", str(prod)])

    assert code == 2
    assert capsys.readouterr().err.splitlines()[0] == (
        f"rollup: {prod}: rollup_production is true; rehearse on a lab instead"
    )


def test_a_lab_host_without_a_vm_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Every host must name its VM: the rehearsal could not put the others back."""
    lab = tmp_path / "lab.yml"
    lab.write_text(LAB, encoding="utf-8")

    code = main(["rehearse", "-i", str(lab), "--runs-dir", str(tmp_path / "runs")])

    assert code == 2
    assert capsys.readouterr().err.splitlines()[0] == (
        f"rollup: {lab}: MPS01: no vm; a rehearsal snapshots every host, so each needs "
        "vm: {hypervisor: NAME, name: VM} (docs/rehearse.md)"
    )


def test_the_command_offers_exactly_the_drills_there_are() -> None:
    """``--drill``'s choices (spelt in the CLI so that ``--help`` stays fast) are the drills' names."""
    from rollup.cli.commands.rehearse import DRILL_NAMES
    from rollup.rehearsal.drills import DRILLS

    assert DRILL_NAMES == DRILLS
