"""
A real OpenSSH server on loopback: the SSH bastion of the tests and the benchmark of WinRM
through an SSH bastion.

``Sshd.start(folder)`` makes a host key and a client key (paramiko), writes an ``sshd_config``
that allows only that key and TCP forwarding, and starts Debian's ``/usr/sbin/sshd`` in the
foreground on a free port of ``127.0.0.1``, logging at DEBUG1 (each ``direct-tcpip`` channel it
opens is a log line). ``known_hosts`` holds its host key. Without ``/usr/sbin/sshd`` (Debian's
openssh-server, which ``bin/bootstrap`` installs when run as root) ``start`` raises ``NoSshd``.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import paramiko

SSHD = Path("/usr/sbin/sshd")


class NoSshd(RuntimeError):
    """This machine has no OpenSSH server."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _key(path: Path) -> paramiko.RSAKey:
    key = paramiko.RSAKey.generate(2048)
    key.write_private_key_file(str(path))
    path.chmod(0o600)
    return key


@dataclass
class Sshd:
    folder: Path
    port: int
    user: str
    key_file: Path
    known_hosts: Path
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @classmethod
    def start(cls, folder: Path) -> Sshd:
        if not SSHD.exists():
            raise NoSshd("no /usr/sbin/sshd (Debian's openssh-server; bin/bootstrap installs it as root)")
        folder.mkdir(parents=True, exist_ok=True)
        host_key = _key(folder / "host_key")
        client_key = _key(folder / "client_key")
        (folder / "authorized_keys").write_text(f"ssh-rsa {client_key.get_base64()}\n", encoding="ascii")
        (folder / "authorized_keys").chmod(0o600)
        port = _free_port()
        known = folder / "known_hosts"
        known.write_text(f"[127.0.0.1]:{port} ssh-rsa {host_key.get_base64()}\n", encoding="ascii")
        (folder / "sshd_config").write_text(
            "\n".join(
                [
                    f"Port {port}",
                    "ListenAddress 127.0.0.1",
                    f"HostKey {folder / 'host_key'}",
                    f"AuthorizedKeysFile {folder / 'authorized_keys'}",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "PubkeyAuthentication yes",
                    "AllowTcpForwarding yes",
                    "StrictModes no",
                    "UsePAM no",
                    f"PidFile {folder / 'sshd.pid'}",
                    "LogLevel DEBUG1",
                    "",
                ]
            ),
            encoding="ascii",
        )
        Path("/run/sshd").mkdir(exist_ok=True)  # its privilege separation directory
        server = cls(folder, port, getpass.getuser(), folder / "client_key", known, folder / "sshd.log")
        server.resume()
        return server

    def resume(self) -> None:
        """Start sshd (again, on the same port and keys) and wait until it accepts connections."""
        self.process = subprocess.Popen(
            [str(SSHD), "-D", "-e", "-f", str(self.folder / "sshd_config")],
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("ab"),
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"sshd did not start: {self.log.read_text(errors='replace')[-500:]}")

    def stop(self) -> None:
        """Stop sshd and the sessions it serves, as a bastion that goes away (forwards are cut)."""
        if self.process is None:
            return
        for pid in [*descendants(self.process.pid), self.process.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(10)
        self.process = None

    def channels(self) -> list[str]:
        """The targets (``address port``) of the ``direct-tcpip`` channels sshd was asked for."""
        text = self.log.read_text(encoding="utf-8", errors="replace")
        asked = [line for line in text.splitlines() if "server_request_direct_tcpip" in line]
        return [line.rsplit("target ", 1)[1].strip() for line in asked]

    def inventory_vars(self) -> str:
        """The inventory lines (under ``all.vars``) that send every host through this sshd."""
        return (
            f"    rollup_ssh_bastion: {self.user}@127.0.0.1:{self.port}\n"
            f"    rollup_ssh_key_file: {self.key_file}\n"
            f"    rollup_ssh_known_hosts: {self.known_hosts}\n"
        )


def behind(inventory: Path, sshd: Sshd) -> None:
    """Rewrite a lab inventory so that every host is reached through ``sshd``."""
    text = inventory.read_text(encoding="utf-8")
    inventory.write_text(
        text.replace("    transport: ntlm\n", "    transport: ntlm\n" + sshd.inventory_vars())
    )


def descendants(pid: int) -> list[int]:
    """The processes below ``pid`` (from /proc), deepest last."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents[int(stat.parent.name)] = int(fields[1])
    found: list[int] = []
    wave = [pid]
    while wave:
        wave = [child for child, parent in parents.items() if parent in wave]
        found.extend(wave)
    return found
