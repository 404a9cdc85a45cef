"""Every refusal of the inventory loader, as the exact line an operator reads and docs/inventory.md shows."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rollup.errors import InventoryError
from rollup.model.inventory import load_inventory
from tests.unit.inventories import BASE

ROOT = Path(__file__).resolve().parents[2]
F = "inventory/prod.yml"
SECRET = "hunter2-Zq9"

ALL_VARS = "    rollup_user: HOSTING\\svc-rollup\n"
COLLAB_VARS = "{port: 5986, scheme: https}"


def edit(*pairs: tuple[str, str]) -> str:
    text = BASE
    for old, new in pairs:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


def add_all_var(line: str) -> str:
    return edit((ALL_VARS, f"    {line}\n{ALL_VARS}"))


CASES: list[tuple[str, str, str]] = [
    ("empty file", "", f"{F}: (top level): the file is empty; an inventory starts with all: or a group"),
    (
        "a list",
        "- MPS01\n",
        f"{F}: (top level): an inventory is a mapping of group names (all, or groups of your own)",
    ),
    ("top-level group", BASE + "collab: []\n", f"{F}: collab: must be a mapping with hosts, vars, children"),
    (
        "unknown key in a group",
        edit(("      hosts:\n        COLLAB01", "      host:\n        COLLAB01")),
        f"{F}: all.children.collab.host: unknown key; expected one of hosts, vars, children",
    ),
    (
        "vars as a number",
        edit((COLLAB_VARS, "0")),
        f"{F}: all.children.collab.vars: must be a mapping of variable names to values",
    ),
    (
        "hosts as a list",
        edit(("      hosts:\n        COLLAB01: {address: 192.0.2.31}", "      hosts: [COLLAB01]")),
        f"{F}: all.children.collab.hosts: must be a mapping of host names to their variables",
    ),
    (
        "unknown group",
        edit(("    collab:", "    colab:")),
        f"{F}: all.children.colab.hosts.COLLAB01: the host has no role: list it in a group named after a "
        "role (collab, deployment_tool, dns, mps_engine, mpssql, web_services) or give it rollup_role",
    ),
    (
        "group inside itself",
        edit(
            (
                "    mps_engine:\n",
                "    mps_engine:\n      children:\n        collab:\n          children:\n"
                "            mps_engine:\n",
            )
        ),
        f"{F}: all.children.mps_engine.children.collab.children.mps_engine: "
        "group mps_engine is inside itself",
    ),
    (
        "groups inside each other",
        edit(
            ("    collab:\n", "    collab:\n      children: {dns: }\n"),
            ("    dns:\n", "    dns:\n      children: {collab: }\n"),
        ),
        f"{F}: all.children.dns: groups contain each other: dns > collab > dns",
    ),
    (
        "group vars twice",
        edit(
            (
                "    mps_engine:\n",
                "    mps_engine:\n      children:\n        collab:\n          vars: {port: 1}\n",
            )
        ),
        f"{F}: all.children.collab.vars.port: conflicts with "
        "all.children.mps_engine.children.collab.vars.port: group collab sets port twice differently",
    ),
    (
        "bad host name",
        edit(("COLLAB01:", "'COLLAB01;rm':")),
        f'{F}: all.children.collab.hosts."COLLAB01;rm": not a valid host name '
        "(letters, digits and hyphens, in dot-separated labels of at most 63 characters)",
    ),
    (
        "control character in a name",
        edit(("COLLAB01:", '"CO\\nLLAB":')),
        f'{F}: all.children.collab.hosts."CO\\nLLAB": the name contains a control character or a line break',
    ),
    (
        "control character in a value",
        edit(("192.0.2.31", '"192.0.2.31\\r\\nx"')),
        f"{F}: all.children.collab.hosts.COLLAB01.address: "
        "the value contains a control character or a line break",
    ),
    (
        "host spelt two ways",
        edit(("MPS01:\n        MPS02", "mps01:\n        MPS02")),
        f"{F}: all.children.mps_engine.hosts.mps01: spelled differently at "
        "all.children.deployment_tool.hosts.MPS01; host names are case-insensitive",
    ),
    (
        "host defined twice",
        edit(("MPS01:\n        MPS02", "MPS01: {address: 192.0.2.99}\n        MPS02")),
        f"{F}: all.children.mps_engine.hosts.MPS01.address: conflicts with "
        "all.children.deployment_tool.hosts.MPS01.address: host MPS01 sets address twice differently",
    ),
    (
        "host in no role",
        edit(("  children:", "  hosts:\n    LONELY:\n  children:")),
        f"{F}: all.hosts.LONELY: the host has no role: list it in a group named after a role "
        "(collab, deployment_tool, dns, mps_engine, mpssql, web_services) or give it rollup_role",
    ),
    (
        "no Deployment Tool host",
        edit(("    deployment_tool:", "    mpssql:")),
        f"{F}: no host has the deployment_tool role; exactly one must",
    ),
    (
        "two Deployment Tool hosts",
        edit(("MPS01: {address: 192.0.2.11}", "MPS01: {address: 192.0.2.11}\n        MPS02:")),
        f"{F}: all.children.deployment_tool: exactly one host may play the deployment_tool role: "
        "MPS01, MPS02",
    ),
    (
        "unknown variable",
        edit(("{address: 192.0.2.11}", "{rollup_adress: 192.0.2.11}")),
        f"{F}: all.children.deployment_tool.hosts.MPS01.rollup_adress: unknown rollup variable "
        "(did you mean rollup_address?)",
    ),
    (
        "unknown role",
        edit((COLLAB_VARS, "{rollup_role: sharepoint}")),
        f'{F}: all.children.collab.vars.rollup_role: "sharepoint" is not a role; '
        "roles are collab, deployment_tool, dns, mps_engine, mpssql, web_services",
    ),
    (
        "roles not a list",
        edit((COLLAB_VARS, "{rollup_roles: {dns: 1}}")),
        f"{F}: all.children.collab.vars.rollup_roles: must be a list of role names; "
        "roles are collab, deployment_tool, dns, mps_engine, mpssql, web_services",
    ),
    (
        "Jinja template in a value rollup uses",
        edit((COLLAB_VARS, '{ansible_host: "{{ inventory_hostname }}.hosting.example"}')),
        f"{F}: all.children.collab.vars.ansible_host: a Jinja template ({{{{ }}}}), which rollup does not "
        "evaluate; give the value itself",
    ),
    (
        "bad group name",
        edit(("    collab:", '    "col lab":')),
        f'{F}: all.children."col lab": not a valid group name (letters, digits, _ . -)',
    ),
    ("variable name not text", add_all_var("1: x"), f"{F}: all.vars.1: a variable name must be text"),
    (
        "same variable twice",
        edit((COLLAB_VARS, "{port: 5986, ansible_port: 5986}")),
        f"{F}: all.children.collab.vars.ansible_port: "
        "sets port again (already set by all.children.collab.vars.port)",
    ),
    (
        "setting outside all.vars",
        edit((COLLAB_VARS, "{rollup_production: true}")),
        f"{F}: all.children.collab.vars.rollup_production: "
        "an inventory-wide setting: only allowed under all.vars",
    ),
    (
        "port",
        edit(("{address: 192.0.2.31}", "{address: 192.0.2.31, port: 70000}")),
        f"{F}: all.children.collab.hosts.COLLAB01.port: must be 1-65535",
    ),
    (
        "port as text",
        edit(("port: 5986", "port: '5986'")),
        f"{F}: all.children.collab.vars.port: must be 1-65535",
    ),
    (
        "choice",
        edit(("scheme: https", "scheme: HTTPS")),
        f"{F}: all.children.collab.vars.scheme: must be one of http, https",
    ),
    (
        "transport",
        add_all_var("ansible_winrm_transport: ssl"),
        f"{F}: all.vars.ansible_winrm_transport: must be ntlm, kerberos, credssp or basic "
        "(pywinrm's plaintext and ssl are basic)",
    ),
    (
        "connection",
        add_all_var("ansible_connection: local"),
        f"{F}: all.vars.ansible_connection: must be one of winrm, psrp, ssh",
    ),
    (
        "ssh without a shell type",
        add_all_var("ansible_connection: ssh"),
        f"{F}: all.vars.ansible_connection: MPS01 is reached over ssh, which rollup supports with "
        "ansible_shell_type: powershell only (OpenSSH for Windows running PowerShell)",
    ),
    (
        "ssh with the cmd shell",
        edit(
            (
                "COLLAB01: {address: 192.0.2.31}",
                "COLLAB01: {address: 192.0.2.31, ansible_connection: ssh, ansible_shell_type: cmd}",
            )
        ),
        f"{F}: all.children.collab.hosts.COLLAB01.ansible_shell_type: COLLAB01 is reached over ssh, which "
        "rollup supports with ansible_shell_type: powershell only (OpenSSH for Windows running PowerShell)",
    ),
    (
        "message encryption",
        add_all_var("ansible_winrm_message_encryption: never"),
        f"{F}: all.vars.ansible_winrm_message_encryption: must be one of auto, always",
    ),
    (
        "boolean",
        add_all_var("rollup_production: 'yes'"),
        f"{F}: all.vars.rollup_production: must be true or false",
    ),
    (
        "address",
        edit(("192.0.2.21", "'192.0.2.21; calc'")),
        f"{F}: all.children.dns.hosts.DNS01.address: must be an IP address or a DNS name",
    ),
    (
        "user",
        edit(("rollup_user: HOSTING\\svc-rollup", "rollup_user: 'a;b'")),
        f"{F}: all.vars.rollup_user: "
        'must be a Windows user name (DOMAIN\\user or user@domain; none of "/[]:;|=,+*?<>)',
    ),
    (
        "text",
        add_all_var("ca_trust_path: ''"),
        f"{F}: all.vars.ca_trust_path: must be text of 1 to 1024 characters",
    ),
    (
        "timeout",
        add_all_var("read_timeout_s: 0"),
        f"{F}: all.vars.read_timeout_s: must be a number of seconds, more than 0 and at most 86400",
    ),
    (
        "timeouts out of order",
        add_all_var("operation_timeout_s: 40"),
        f"{F}: all.vars.operation_timeout_s: read_timeout_s (30) must exceed operation_timeout_s (40)",
    ),
    (
        "Basic over HTTP",
        edit((COLLAB_VARS, "{transport: basic}")),
        f"{F}: all.children.collab.vars.transport: basic over http sends the password of COLLAB01 in clear; "
        "use scheme: https, or set insecure_lab: true in a lab",
    ),
    (
        "lab flag in production",
        edit(
            (COLLAB_VARS, "{transport: basic, insecure_lab: true}"),
            (ALL_VARS, f"    rollup_production: true\n{ALL_VARS}"),
        ),
        f"{F}: all.children.collab.vars.insecure_lab: "
        "not allowed in a production inventory (rollup_production)",
    ),
    (
        "strategy without command",
        add_all_var("rollup_deployment_tool_strategy: command"),
        f"{F}: all.vars.rollup_deployment_tool_strategy: "
        "the command strategy needs rollup_deployment_tool_command",
    ),
    (
        "command without strategy",
        add_all_var("rollup_deployment_tool_command: deploy.cmd"),
        f"{F}: all.vars.rollup_deployment_tool_command: "
        "only used with rollup_deployment_tool_strategy: command",
    ),
    (
        "literal password",
        edit(("{env: ROLLUP_PASSWORD}", SECRET)),
        f"{F}: all.vars.rollup_password: a literal password is not allowed; "
        "use {env: NAME}, {keyring: SERVICE/USER}, {file: PATH} or {prompt: true}",
    ),
    (
        "not a reference",
        edit(("rollup_password: {env: ROLLUP_PASSWORD}", "password: [a]")),
        f"{F}: all.vars.password: must be a credential reference: "
        "{env: NAME}, {keyring: SERVICE/USER}, {file: PATH} or {prompt: true}",
    ),
    (
        "bad env",
        edit(("{env: ROLLUP_PASSWORD}", "{env: 'ROLLUP PASSWORD'}")),
        f"{F}: all.vars.rollup_password: "
        f"{{env: NAME}}: NAME must be an environment variable name (letters, digits, _)",
    ),
    (
        "bad keyring",
        edit(("{env: ROLLUP_PASSWORD}", "{keyring: rollup/}")),
        f"{F}: all.vars.rollup_password: {{keyring: SERVICE/USER}}: SERVICE and USER must both be given",
    ),
    (
        "empty keyring",
        edit(("{env: ROLLUP_PASSWORD}", "{keyring: ''}")),
        f"{F}: all.vars.rollup_password: {{keyring: SERVICE/USER}}: must name a keyring service",
    ),
    (
        "bad file",
        edit(("{env: ROLLUP_PASSWORD}", "{file: ' '}")),
        f"{F}: all.vars.rollup_password: {{file: PATH}}: must name a file",
    ),
    (
        "bad prompt",
        edit(("{env: ROLLUP_PASSWORD}", "{prompt: false}")),
        f"{F}: all.vars.rollup_password: {{prompt: true}}: the only value is true",
    ),
    (
        "YAML duplicate key",
        edit(("MPS01:\n        MPS02", "MPS01:\n        MPS01:\n        MPS02")),
        f"{F}: duplicate key 'MPS01' (line 12, column 9)",
    ),
    (
        "an integer of thousands of digits",
        edit((COLLAB_VARS, "{port: " + "9" * 5000 + "}")),
        f"{F}: an integer of 5000 characters; at most 64 are accepted (line 17, column 20)",
    ),
    (
        "an invisible text-direction character",
        edit(("COLLAB01: {address: 192.0.2.31}", 'COLLAB01: {address: "192.0.2.31\u202e"}')),
        f"{F}: all.children.collab.hosts.COLLAB01.address: "
        "contains an invisible text-direction character (U+202E)",
    ),
    (
        "production without certificate validation",
        edit(
            ("    rollup_user:", "    rollup_production: true\n    rollup_user:"),
            (COLLAB_VARS, "{port: 5986, scheme: https, cert_validation: ignore}"),
        ),
        f"{F}: all.children.collab.vars.cert_validation: ignore is not allowed in a production "
        "inventory (rollup_production) unless cert_validation_reason says why",
    ),
    (
        "a bastion without a user",
        add_all_var("rollup_ssh_bastion: jump01.hosting.example"),
        f"{F}: all.vars.rollup_ssh_bastion: must be user@jumphost or user@jumphost:port (port 1-65535)",
    ),
    (
        "a bastion port out of range",
        add_all_var("rollup_ssh_bastion: ops@jump01:70000"),
        f"{F}: all.vars.rollup_ssh_bastion: must be user@jumphost or user@jumphost:port (port 1-65535)",
    ),
    (
        "a key file without a bastion",
        add_all_var("rollup_ssh_key_file: keys/ops"),
        f"{F}: all.vars.rollup_ssh_key_file: is only used with ssh_bastion or ansible_connection: ssh; "
        "MPS01 has neither",
    ),
]


@pytest.mark.parametrize(("text", "expected"), [(t, e) for _, t, e in CASES], ids=[c[0] for c in CASES])
def test_refusal_is_one_exact_line(tmp_path: Path, text: str, expected: str) -> None:
    """Each bad inventory is refused with exactly this line, naming the file and the key path."""
    (tmp_path / "inventory").mkdir()
    (tmp_path / "inventory" / "prod.yml").write_text(text, encoding="utf-8")

    with pytest.raises(InventoryError) as caught:
        load_inventory("prod", base_dir=tmp_path)

    assert str(caught.value) == expected


@pytest.mark.parametrize(
    "line",
    [
        f"password: {SECRET}",
        f"ansible_password: {SECRET}",
        f"ansible_winrm_password: {SECRET}",
        f"ansible_winrm_pass: {SECRET}",
        f"db_passwd: {SECRET}",
        f"ClientSecret: {SECRET}",
        "sql_password: 73519",
    ],
)
def test_literal_passwords_are_refused_anywhere_without_showing_them(tmp_path: Path, line: str) -> None:
    """A plain value under any password-like key is refused, in host vars too, and never echoed."""
    key, value = line.split(": ")
    text = edit(("{address: 192.0.2.21}", f"{{address: 192.0.2.21, {line}}}"))
    (tmp_path / "inventory").mkdir()
    (tmp_path / "inventory" / "prod.yml").write_text(text, encoding="utf-8")

    with pytest.raises(InventoryError) as caught:
        load_inventory("prod", base_dir=tmp_path)

    assert str(caught.value).startswith(
        f"{F}: all.children.dns.hosts.DNS01.{key}: a literal password is not allowed"
    )
    assert value not in str(caught.value)


def test_literal_password_refused_even_in_an_unknown_place(tmp_path: Path) -> None:
    """A literal password outside any variable mapping is refused before anything else is read."""
    text = BASE + f"notes:\n  - {{admin_password: {SECRET}}}\n"
    (tmp_path / "inventory").mkdir()
    (tmp_path / "inventory" / "prod.yml").write_text(text, encoding="utf-8")

    with pytest.raises(InventoryError) as caught:
        load_inventory("prod", base_dir=tmp_path)

    assert str(caught.value).startswith(f"{F}: notes[0].admin_password: a literal password is not allowed")
    assert SECRET not in str(caught.value)


def test_no_error_text_contains_a_value_of_a_secret(tmp_path: Path) -> None:
    """No refusal in CASES, nor any with the secret in a wrong-shaped reference, shows the secret."""
    texts = [t for _, t, _ in CASES] + [
        edit(("{env: ROLLUP_PASSWORD}", f"{{env: {SECRET}-x}}")),
        edit(("{env: ROLLUP_PASSWORD}", f"{{vault: {SECRET}}}")),
        edit(("{env: ROLLUP_PASSWORD}", f"[{SECRET}]")),
        edit(("{env: ROLLUP_PASSWORD}", f"{{prompt: {SECRET}}}")),
    ]
    (tmp_path / "inventory").mkdir()
    messages = []
    for text in texts:
        (tmp_path / "inventory" / "prod.yml").write_text(text, encoding="utf-8")
        with pytest.raises(InventoryError) as caught:
            load_inventory("prod", base_dir=tmp_path)
        messages.append(str(caught.value))

    assert all(SECRET not in message and "\n" not in message for message in messages)


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("prod yml", '"prod yml": not an inventory name (letters, digits, _ . -) or a path'),
        ("missing", "inventory/missing.yml: no such file"),
        ("inventory", "inventory/inventory.yml: no such file"),
    ],
)
def test_bad_references_to_an_inventory(tmp_path: Path, ref: str, expected: str) -> None:
    """A ref that is neither a name nor an existing file is one line naming it."""
    with pytest.raises(InventoryError) as caught:
        load_inventory(ref, base_dir=tmp_path)

    assert str(caught.value) == expected


def test_production_ignores_a_certificate_only_with_a_reason(tmp_path: Path) -> None:
    """``cert_validation_reason`` lets a production host go unchecked, and the reason is kept."""
    (tmp_path / "inventory").mkdir()
    text = edit(
        ("    rollup_user:", "    rollup_production: true\n    rollup_user:"),
        (COLLAB_VARS, "{port: 5986, scheme: https, cert_validation: ignore, cert_validation_reason: CHG-42}"),
    )
    (tmp_path / "inventory" / "prod.yml").write_text(text, encoding="utf-8")

    (collab,) = [h for h in load_inventory("prod", base_dir=tmp_path).hosts if h.name == "COLLAB01"]

    assert (collab.cert_validation.value, collab.cert_validation_reason) == ("ignore", "CHG-42")


def test_every_error_in_the_docs_is_one_the_tests_produce() -> None:
    """docs/inventory.md's Errors table lists only messages these tests check for inventory/prod.yml."""
    docs = (ROOT / "docs" / "inventory.md").read_text(encoding="utf-8")
    table = docs.split("## Errors", 1)[1]
    documented = [
        m.replace("\\|", "|") for m in re.findall(r"^\|[^|]+\| `(.+)` \|$", table, flags=re.MULTILINE)
    ]
    checked = {e for _, _, e in CASES} | {
        '"prod yml": not an inventory name (letters, digits, _ . -) or a path',
        f"{F}: no such file",
    }

    assert len(documented) >= 40
    assert [m for m in documented if m not in checked] == []


@pytest.mark.parametrize(
    ("yaml_key", "shown"),
    [
        ("'A B'", '"A B"'),
        ("'A\"B'", '"A\\"B"'),
        ('"A\'B"', '"A\'B"'),
        ("'A`B'", '"A`B"'),
        ("'$(calc)'", '"$(calc)"'),
        ("'A;B'", '"A;B"'),
        ("'-MPS03'", "-MPS03"),
        ("'MPS03.'", "MPS03."),
        ("'MPS_03'", "MPS_03"),
        ("1234", "1234"),
    ],
)
def test_host_names_outside_netbios_dns_are_refused(tmp_path: Path, yaml_key: str, shown: str) -> None:
    """Quotes, backticks, $(...), ;, spaces and other non-DNS names are refused, the key shown escaped."""
    (tmp_path / "inventory").mkdir()
    text = edit(("DNS01: {address: 192.0.2.21}", f"{yaml_key}: {{address: 192.0.2.21}}"))
    (tmp_path / "inventory" / "prod.yml").write_text(text, encoding="utf-8")

    with pytest.raises(InventoryError) as caught:
        load_inventory("prod", base_dir=tmp_path)

    assert str(caught.value) == (
        f"{F}: all.children.dns.hosts.{shown}: not a valid host name "
        "(letters, digits and hyphens, in dot-separated labels of at most 63 characters)"
    )
