"""
What an operator reads from ``rollup apply`` piped into a log, through the CLI on the simulated
lab: each unit of a long step (a Deployment Tool command, an msiexec run) as it begins, numbered;
and with ``-q``, the result alone.
"""

from __future__ import annotations

import re

from rollup.testing.labproc import LabProcess

GATE = "confirm-prerequisites"


def test_units_of_long_steps_are_shown_and_quiet_prints_only_the_result(tmp_path) -> None:  # type: ignore[no-untyped-def]
    lab = LabProcess.start(tmp_path, collab=1, first_address="127.0.141.1")
    try:
        applied = lab.apply("--confirm", GATE)
        verified = lab.rollup("-q", "verify", "--inventory", str(lab.inventory))
        again = lab.apply("--confirm", GATE, "-q")
        quiet_apply = lab.rollup("-q", "apply", "--inventory", str(lab.inventory), "--runs-dir",
                                 str(lab.runs_dir), "--confirm", GATE)  # fmt: skip
    finally:
        lab.stop()

    assert applied.returncode == 0, applied.stderr
    units = re.findall(r"MPS01 uninstall-components@MPS01: uninstall (.+) \((\d+) of (\d+)\)", applied.stdout)
    assert [(int(n), int(total)) for _, n, total in units] == [(n, 17) for n in range(1, 18)]
    assert "HostedSharePoint2007NS" not in {name for name, _, _ in units}
    assert "DNS01 dnsclient-run-twice@DNS01: msiexec /i DNSClient.msi (run 1 of 2)" in applied.stdout
    removed = r"COLLAB01 uninstall-old-wss-web-service@COLLAB01: msiexec /x .+ 4\.0\.\d+"
    assert re.search(removed, applied.stdout)
    assert "COLLAB01 install-wss-web-service@COLLAB01: msiexec /i " in applied.stdout
    assert re.search(r"initialize-exchange@MPS01: initialize .+ \(1 of \d+\)", applied.stdout)
    assert again.returncode == 2, "-q is an option of rollup itself, before the command"
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.splitlines() == [verified.stdout.strip()]
    assert re.fullmatch(r"verify: 4 hosts, (\d+) checks: \1 ok; exit 0\n", verified.stdout)
    assert quiet_apply.returncode == 0, quiet_apply.stderr
    (line,) = quiet_apply.stdout.splitlines()
    assert re.fullmatch(r"run \S+: done \(\d+ noop, 1 skipped\); audit head [0-9a-f]{64}", line), line
    assert quiet_apply.stderr == ""
