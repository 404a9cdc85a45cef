"""
Helpers for the tests of the lab as a whole: a shared MSI cache, a template lab copied per
test, a lab served in this process, and a pywinrm client that runs rollup operations.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from winrm.protocol import Protocol

from rollup.lab.fleet import LabOptions, RunningLab, prepare_lab
from rollup.lab.labdir import DEFAULT_USER, LabPaths, read_config, write_config
from rollup.lab.scenario import Scenario, parse_scenario
from rollup.ops.registry import operation
from rollup.ps.delivery import command_line, fits_command_line, stdin_command, stdin_payload
from rollup.testing.labproc import worker_address

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "manifests" / "hmc40-rollup-2011-01.yml"
TEMPLATE_ADDRESS = worker_address("127.0.120.1")
"""
The in-process labs' first address (other lab tests use 127.0.160 up, the CLI's tests
127.0.130), in this test worker's block.
"""


def template_host(n: int) -> str:
    """The address of the template lab's ``n``-th host (1: MPS01, 2: DNS01, 3: MPSSQL, 4: COLLAB01, ...)."""
    prefix, _, first = TEMPLATE_ADDRESS.rpartition(".")
    return f"{prefix}.{int(first) + n - 1}"


PASSWORD = "Rollup-Lab-test-password"
"""What ``serving`` sets as the lab's password (each new lab draws its own), so ``Client`` knows it."""


def lab_env(cache: Path) -> dict[str, str]:
    """An environment with the shared MSI cache and neither lab account variable."""
    env = {k: v for k, v in os.environ.items() if k not in ("ROLLUP_LAB_USER", "ROLLUP_LAB_PASSWORD")}
    env["ROLLUP_CACHE_DIR"] = str(cache)
    return env


_templates: dict[Path, LabPaths] = {}


def msi_cache(factory: pytest.TempPathFactory) -> Path:
    """One MSI cache for every lab of the test session (building the sets takes a second)."""
    return factory.getbasetemp() / "rollup-cache"


def template_lab(factory: pytest.TempPathFactory) -> LabPaths:
    """A lab with two COLLAB hosts and no scenario, created once per session and copied by tests."""
    base = factory.getbasetemp()
    if base not in _templates:
        paths = LabPaths(factory.mktemp("template-lab"))
        options = LabOptions(manifest=MANIFEST, first_address=TEMPLATE_ADDRESS)
        prepare_lab(paths, options, lab_env(msi_cache(factory)))
        _templates[base] = paths
    return _templates[base]


def copy_lab(template: LabPaths, target: Path, scenario: Mapping[str, Any] | None = None) -> LabPaths:
    """A copy of ``template`` at ``target``, with ``scenario`` (its faults and timing) if given."""
    shutil.copytree(template.root, target)
    paths = LabPaths(target)
    if scenario is not None:
        parsed: Scenario = parse_scenario(dict(scenario), source="test scenario")
        write_config(paths, read_config(paths).model_copy(update={"scenario": parsed}))
    return paths


@contextlib.contextmanager
def serving(paths: LabPaths, cache: Path) -> Iterator[RunningLab]:
    """The lab served in this process for the block; no simulation error may happen."""
    config = read_config(paths)
    if config.credential_source == "file":
        paths.password.write_text(PASSWORD + "\n", encoding="utf-8")
    lab = RunningLab(paths, config, lab_env(cache))
    lab.start()
    try:
        yield lab
    finally:
        lab.stop()
    assert lab.server.simulation_errors() == ()


@dataclass(frozen=True, slots=True)
class Run:
    """What a command printed and returned."""

    code: int
    stdout: str
    stderr: str


class Client:
    """
    pywinrm's ``Protocol`` over NTLM with message encryption, as the lab's account. After a
    failed request it starts over with a new ``Protocol`` (pywinrm cannot reuse a session whose
    connection was cut: its encryption context belonged to that connection).
    """

    def __init__(
        self,
        address: str,
        *,
        password: str = PASSWORD,
        read_timeout_s: int = 30,
        operation_timeout_s: int = 20,
    ) -> None:
        self._settings: dict[str, Any] = {
            "endpoint": f"http://{address}:5985/wsman",
            "transport": "ntlm",
            "username": DEFAULT_USER,
            "password": password,
            "message_encryption": "always",
            "read_timeout_sec": read_timeout_s,
            "operation_timeout_sec": operation_timeout_s,
        }
        self.protocol = Protocol(**self._settings)

    def run(self, command: str, arguments: tuple[str, ...] = (), stdin: bytes | None = None) -> Run:
        """Run one command in a shell of its own, closed afterwards even when a request fails."""
        try:
            shell = self.protocol.open_shell()
        except BaseException:
            self.protocol = Protocol(**self._settings)
            raise
        try:
            command_id = self.protocol.run_command(shell, command, list(arguments))
            if stdin is not None:
                self.protocol.send_command_input(shell, command_id, stdin, end=True)
            out, err, code = self.protocol.get_command_output(shell, command_id)
            self.protocol.cleanup_command(shell, command_id)
        except BaseException:
            self.protocol = Protocol(**self._settings)
            with contextlib.suppress(Exception):
                self.protocol.close_shell(shell)
            raise
        self.protocol.close_shell(shell)
        return Run(code, out.decode("cp437"), err.decode("cp437"))

    def op(self, op_id: str, **params: Any) -> Run:
        """Run a rollup operation as the transport sends it: on the command line, or on stdin."""
        definition = operation(op_id)
        assert definition is not None
        script = definition.command(definition.params(**params)).render()
        if fits_command_line(script):
            command, arguments = command_line(script)
            return self.run(command, arguments)
        command, arguments = stdin_command()
        return self.run(command, arguments, stdin_payload(script))
