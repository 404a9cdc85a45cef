"""
The real lab and the real CLI as processes, for integration tests of ``rollup apply``.

``LabProcess.start`` runs ``rollup lab up --detach`` on its own loopback range and state
directory; ``rollup`` runs the CLI as a subprocess against the lab's inventory, so every byte
goes through the real pywinrm client, NTLM and the simulated WinRM server. ``state`` reads a
host with ``rollup lab state --json``; ``host_state`` reads the same state file in-process
(compare two with ``rollup.testing.fleet.normalized``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rollup.lab.labdir import LAB_PORTS, free_first_address
from rollup.lab.state import HostState
from rollup.lab.store import FileStateStore
from rollup.model.manifest import DEFAULT_MANIFEST

ROOT = Path(__file__).resolve().parents[2]
"""The project folder, the working directory of the CLI processes it starts."""


def quick_manifest(target: Path, *, wait_s: int = 1, source: Path = ROOT / DEFAULT_MANIFEST) -> Path:
    """
    A copy of the manifest at ``target`` whose retries wait ``wait_s`` (doubling up to twice
    that) instead of the KB's 30 s and more, so that retry tests take seconds.
    """
    data = yaml.safe_load(source.read_text(encoding="utf-8"))
    for step in data["steps"]:
        for entry in (step, step.get("step") or {}):
            if "retry" in entry:
                entry["retry"].update(first_wait_s=wait_s, max_wait_s=2 * wait_s)
    target.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return target


def worker_address(address: str) -> str:
    """
    ``address`` (``127.0.x.y``) in this pytest-xdist worker's own block: worker ``gwN`` uses
    ``127.N.x.y``, so labs of tests running at once in different workers never probe or bind the
    same addresses (the probe in ``free_first_address`` and the bind are two moments). Outside
    xdist, and in worker ``gw0``, the address is unchanged.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    first, second, *rest = address.split(".")
    if not worker.isdigit() or (first, second) != ("127", "0"):
        return address
    return ".".join((first, str(int(worker)), *rest))


@dataclass(slots=True)
class LabProcess:
    """A running lab (``rollup lab up --detach``) and a runs folder for the CLI."""

    state_dir: Path
    runs_dir: Path
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def start(
        cls,
        folder: Path,
        *,
        collab: int,
        first_address: str,
        time_factor: float = 0.002,
        scenario: dict[str, Any] | None = None,
        ssh_hosts: str | None = None,
    ) -> LabProcess:
        """
        Create and start a lab in ``folder/lab`` (runs go to ``folder/runs``), on the first block
        of loopback addresses from ``first_address`` (in this test worker's block, see
        ``worker_address``) that nobody listens on (other labs of other tests may be running on
        this machine). ``ssh_hosts`` is ``lab up --ssh-hosts``: those hosts are reached over SSH.
        """
        start_at = worker_address(first_address)
        first_address = free_first_address(collab + 3, LAB_PORTS, start_at=start_at)
        env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
        env.pop("ROLLUP_RUNS_DIR", None)
        lab = cls(folder / "lab", folder / "runs", env)
        args = [
            "lab",
            "up",
            "--state-dir",
            str(lab.state_dir),
            "--collab",
            str(collab),
            "--first-address",
            first_address,
            "--time-factor",
            str(time_factor),
            "--detach",
        ]
        if ssh_hosts is not None:
            args += ["--ssh-hosts", ssh_hosts]
        if scenario is not None:
            path = folder / "scenario.yml"
            path.write_text(yaml.safe_dump(scenario, sort_keys=False), encoding="utf-8")
            args += ["--scenario", str(path)]
        started = lab.rollup(*args)
        if started.returncode != 0:
            raise RuntimeError(
                f"rollup lab up failed ({started.returncode}): {started.stderr}{started.stdout}"
            )
        return lab

    @property
    def inventory(self) -> Path:
        return self.state_dir / "inventory.yml"

    def rollup(self, *args: str, timeout_s: float = 300.0) -> subprocess.CompletedProcess[str]:
        """``python -m rollup ARGS`` in the project folder, stdin closed (no terminal)."""
        return subprocess.run(
            [sys.executable, "-m", "rollup", *args],
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )

    def apply(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``rollup apply`` against the lab's inventory and this lab's runs folder."""
        return self.rollup(
            "apply", "--inventory", str(self.inventory), "--runs-dir", str(self.runs_dir), *args
        )

    def apply_process(self, *args: str, output: bool = False) -> subprocess.Popen[str]:
        """``rollup apply`` started in the background (to be killed); ``output``: stdout and stderr piped."""
        kept = subprocess.PIPE if output else subprocess.DEVNULL
        return subprocess.Popen(
            [sys.executable, "-m", "rollup", "apply", "--inventory", str(self.inventory),
             "--runs-dir", str(self.runs_dir), *args],
            cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL, stdout=kept, stderr=kept, text=True,
        )  # fmt: skip

    def host_state(self, host: str) -> HostState:
        """
        The host's state as the lab keeps it (its ``hosts/<NAME>.json``, which ``rollup lab
        state`` shows), read in this process: comparing every host after every run through a
        CLI process per host would cost seconds each time.
        """
        store = FileStateStore(self.state_dir / "hosts", self.hosts())
        return store.read(host)

    def state(self, host: str) -> dict[str, Any]:
        """``rollup lab state HOST --json``."""
        shown = self.rollup("lab", "state", host, "--state-dir", str(self.state_dir), "--json")
        if shown.returncode != 0:
            raise RuntimeError(f"rollup lab state {host} failed: {shown.stderr}")
        data: dict[str, Any] = json.loads(shown.stdout)
        return data

    def hosts(self) -> list[str]:
        """The lab's host names, from its ``lab.json``."""
        config = json.loads((self.state_dir / "lab.json").read_text(encoding="utf-8"))
        return [h["name"] for h in config["hosts"]]

    def stop(self) -> None:
        """``rollup lab down`` (the state stays)."""
        self.rollup("lab", "down", "--state-dir", str(self.state_dir))
