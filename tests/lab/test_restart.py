"""
``host.restart`` and msiexec's 1641 in the lab: ``shutdown.exe`` as Windows answers it, the
restart the host model records, and what a boot changes (``LabRunner.restarted``).
"""

from __future__ import annotations

import pytest

from rollup.errors import CommandFailed
from rollup.lab.runner import LabRunner
from rollup.lab.state import MemoryStateStore
from rollup.lab.windows.machine import Machine
from rollup.lab.windows.shutdown import shutdown_exe
from rollup.lab.windows.wmi import wmi_datetime
from rollup.model.roles import Role
from rollup.ops.restart import RESTART, RestartParams
from tests.simkit import PrerollupLab, command_result, prerollup_lab, run_op

NOW = 1_300_000_000.0
PARAMS = RestartParams(reason="rollup: a restart was pending before msiexec")


@pytest.fixture(scope="module", name="lab")
def _lab(tmp_path_factory: pytest.TempPathFactory) -> PrerollupLab:
    return prerollup_lab(tmp_path_factory, [("COLLAB01", frozenset({Role.COLLAB}))], now=NOW)


def test_the_script_schedules_a_restart_and_reports_the_boot_time(lab: PrerollupLab) -> None:
    state = lab.host("COLLAB01")

    ran = run_op(state, RESTART, PARAMS, lab.ctx())
    again = run_op(state, RESTART, PARAMS, lab.ctx())

    assert ran.exit_code == 0, ran.stderr
    assert ran.result == {"boot_time": wmi_datetime(state.booted_at), "exit_code": 0, "output": ""}
    assert state.restart_in_s == 10.0
    assert (again.exit_code, again.result["exit_code"]) == (0, 1190), "already scheduled: still a restart"


def test_shutdown_exe_answers_as_windows_does(lab: PrerollupLab) -> None:
    machine_state = lab.host("COLLAB01")
    machine = Machine(machine_state, lab.blobs, now=NOW, user="HOSTING\\rollup-lab")

    assert shutdown_exe(machine, "/a", "")[0] == 1116
    assert shutdown_exe(machine, "/s /t 5", "")[0] == 87, "only restarts are modelled"
    assert shutdown_exe(machine, "/r /t soon", "")[0] == 87
    assert shutdown_exe(machine, '-R -T 0 /c "a b" /d p:4:2 /f', "") == (0, "", "")
    assert machine_state.restart_in_s == 0.0
    assert shutdown_exe(machine, "/a", "") == (0, "", "")
    assert machine_state.restart_in_s is None


def test_a_refused_shutdown_fails_the_operation_with_its_code() -> None:
    result = command_result(
        "COLLAB01", "host.restart", '#rollup-result {"boot_time":null,"exit_code":5,"output":""}'
    )

    with pytest.raises(CommandFailed, match=r"COLLAB01: shutdown.exe /r exited 5"):
        RESTART.parse(result, PARAMS)


def test_the_runner_hands_a_restart_on_and_a_boot_clears_the_pending_markers(lab: PrerollupLab) -> None:
    """A restart goes to the hook with the scaled delay and boot time; back, no restart is pending."""
    state = lab.host("COLLAB01")
    state.pending_reboot = ["msi 3010"]
    restarts: list[tuple[str, float, float]] = []
    store = MemoryStateStore([state])
    runner = LabRunner(
        store, lab.blobs, clock=lambda: NOW, time_factor=0.5,
        restart=lambda host, after, down: restarts.append((host, after, down)),
    )  # fmt: skip

    outcome = runner("COLLAB01", RESTART.command(PARAMS).render()).finish()
    runner.restarted("COLLAB01")
    after = store.read("COLLAB01")

    assert outcome.exit_code == 0
    assert restarts == [("COLLAB01", 5.0, 30.0)]
    assert (after.pending_reboot, after.booted_at, after.restart_in_s) == ([], NOW, None)
