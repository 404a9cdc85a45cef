"""The SSH transport's command lines and how an inventory chooses it (no network)."""

from __future__ import annotations

from pathlib import Path

import yaml

from rollup.lab.labdir import SSH_PORT, LabConfig, inventory_text
from rollup.model.inventory import Connection, parse_inventory
from rollup.ops.files import StatParams
from rollup.ops.products import ListParams
from rollup.ops.registry import operation
from rollup.ps.delivery import BOOTSTRAP, CMD_LINE_LIMIT, decode_powershell, decode_stdin_payload
from rollup.transport.ssh import ssh_command_line
from tests.unit.inventories import BASE


def _script(op_id: str, params: object) -> str:
    found = operation(op_id)
    assert found is not None
    return found.command(params).render()


def test_a_short_script_is_an_encoded_command_on_the_exec_line() -> None:
    """The exec line is WinRM's: powershell.exe ... -EncodedCommand <base64 of UTF-16LE>, no stdin."""
    script = _script("products.list", ListParams())

    line, stdin = ssh_command_line(script)

    words = line.split()
    assert words[:6] == [
        "powershell.exe",
        "-NoProfile",
        "-NonInteractive",
        "-ExecutionPolicy",
        "Bypass",
        "-EncodedCommand",
    ]
    assert len(words) == 7
    assert len(line) <= CMD_LINE_LIMIT
    decoded = decode_powershell(words[1:])
    assert decoded is not None
    assert (decoded.mode, decoded.script) == ("inline", script)
    assert stdin is None


def test_a_long_script_goes_on_stdin_to_the_bootstrap() -> None:
    """A script whose line would pass cmd.exe's 8,191 characters: the bootstrap runs it from stdin."""
    paths = tuple(f"C:\\Inetpub\\wwwroot\\bin\\assembly{i:04d}.dll" for i in range(300))
    script = _script("files.stat", StatParams(paths=paths))

    line, stdin = ssh_command_line(script)

    decoded = decode_powershell(line.split()[1:])
    assert decoded is not None
    assert (decoded.mode, decoded.script) == ("stdin", BOOTSTRAP)
    assert len(line) <= CMD_LINE_LIMIT
    assert stdin is not None
    assert decode_stdin_payload(stdin) == script


SSH_HOST = "COLLAB01: {address: 192.0.2.31, ansible_connection: ssh, ansible_shell_type: powershell}"


def test_ansible_connection_ssh_chooses_ssh_per_host(tmp_path: Path) -> None:
    """ssh + powershell: port 22 unless ansible_port says so; key and known_hosts relative to the file."""
    text = BASE.replace("COLLAB01: {address: 192.0.2.31}", SSH_HOST).replace(
        "      vars: {port: 5986, scheme: https}\n",
        "      vars: {ansible_ssh_private_key_file: keys/id, ssh_known_hosts: keys/known}\n",
    )
    dns = (
        SSH_HOST.replace("COLLAB01", "DNS01")
        .replace("192.0.2.31", "192.0.2.21")
        .replace("}", ", ansible_port: 2222}")
    )
    text = text.replace("DNS01: {address: 192.0.2.21}", dns)

    inventory = parse_inventory(yaml.safe_load(text), source="prod.yml", base_dir=tmp_path)

    by_name = {host.name: host for host in inventory.hosts}
    collab, dns, mps = by_name["COLLAB01"], by_name["DNS01"], by_name["MPS01"]
    assert (collab.connection, collab.port) == (Connection.SSH, 22)
    assert (collab.ssh_key_file, collab.ssh_known_hosts) == (tmp_path / "keys/id", tmp_path / "keys/known")
    assert (dns.connection, dns.port, dns.ssh_key_file) == (Connection.SSH, 2222, None)
    assert (mps.connection, mps.port, mps.session_name) == (Connection.WINRM, 5985, "WinRM session")
    assert collab.session_name == "SSH session"


def test_an_inventory_without_ssh_keeps_its_digest(tmp_path: Path) -> None:
    """The SSH fields at their defaults are left out of the digest, so existing runs still resume."""
    plain = parse_inventory(yaml.safe_load(BASE), source="prod.yml", base_dir=tmp_path)
    with_ssh = parse_inventory(
        yaml.safe_load(BASE.replace("COLLAB01: {address: 192.0.2.31}", SSH_HOST)),
        source="prod.yml",
        base_dir=tmp_path,
    )

    assert (
        plain.digest() == "8600c4c4d89f86ad2f1d7c2f83c3a67f183704378ec7ed500ea8663627f0908c"
    )  # as before SSH
    assert with_ssh.digest() != plain.digest()


def test_the_lab_inventory_reaches_the_chosen_hosts_over_ssh(tmp_path: Path) -> None:
    """lab up --ssh-hosts: those hosts get ssh, PowerShell, port 2222 and the lab's known_hosts."""
    config = LabConfig.model_validate(
        {
            "created_at": "2011-01-18T00:00:00Z",
            "manifest_id": "m",
            "manifest_digest": "d",
            "collab": 1,
            "user": "HOSTING\\rollup-lab",
            "credential_source": "file",
            "hosts": [
                {"name": "MPS01", "roles": ["deployment_tool"], "address": "127.0.2.1"},
                {"name": "COLLAB01", "roles": ["collab"], "address": "127.0.2.4"},
            ],
            "ssh_hosts": ["COLLAB01"],
        }
    )
    (tmp_path / "lab-password").write_text("x\n", encoding="utf-8")

    text = inventory_text(config, site_command="C:\\x.cmd {action} {name} {msi}")
    inventory = parse_inventory(yaml.safe_load(text), source="inventory.yml", base_dir=tmp_path)

    collab, mps = inventory.host("COLLAB01"), inventory.host("MPS01")
    assert (collab.connection, collab.port, collab.address) == (Connection.SSH, SSH_PORT, "127.0.2.4")
    assert collab.ssh_known_hosts == tmp_path / "ssh" / "known_hosts"
    assert (mps.connection, mps.port) == (Connection.WINRM, 5985)
