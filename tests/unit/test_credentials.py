"""Credential references: parsing them from an inventory, and resolving them into a Secret at run time."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keyring
import keyring.errors
import pytest
from keyring.backend import KeyringBackend

from rollup.credentials import (
    LITERAL_PASSWORD,
    CredentialCache,
    CredentialRef,
    EnvRef,
    FileRef,
    KeyringRef,
    PromptRef,
    is_secret_key,
    parse_reference,
    resolve_credentials,
)
from rollup.errors import CredentialError
from rollup.model.inventory import Host
from rollup.secret import Secret
from rollup.testing.fleet import lab_host

PASSWORD = "s3cr3t-Pw'\"$(x)"
USER = "HOSTING\\svc-rollup"


def make_host(password: CredentialRef | None, *, name: str = "MPS01", user: str | None = USER) -> Host:
    return lab_host(name, frozenset(), address="192.0.2.11", user=user, password=password)


class MemoryKeyring(KeyringBackend):
    """A keyring held in a dict, so tests never touch the real one."""

    priority = 1

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        del self.entries[(service, username)]


class LockedKeyring(MemoryKeyring):
    """A keyring that cannot be unlocked."""

    def get_password(self, service: str, username: str) -> str | None:
        raise keyring.errors.KeyringLocked("locked")


@pytest.fixture(name="memory_keyring")
def _memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"env": "ROLLUP_PASSWORD"}, EnvRef("ROLLUP_PASSWORD")),
        ({"keyring": "rollup-prod"}, KeyringRef("rollup-prod")),
        ({"keyring": "rollup/prod/svc"}, KeyringRef("rollup/prod", "svc")),
        ({"prompt": True}, PromptRef()),
    ],
)
def test_references_parse(value: Any, expected: CredentialRef) -> None:
    """Each reference form gives its reference; keyring's text after the last / is the keyring user."""
    assert parse_reference(value, base_dir=Path("inv")) == expected


def test_file_reference_resolves_against_base_dir() -> None:
    """A {file: PATH} keeps the path as written for display and joins it to the inventory's folder."""
    ref = parse_reference({"file": "secrets/pw"}, base_dir=Path("inv"))

    assert ref == FileRef(Path("inv/secrets/pw"), "secrets/pw")
    assert ref.describe() == "file secrets/pw"


@pytest.mark.parametrize("value", [PASSWORD, 1234, 12.5])
def test_literal_values_are_refused_without_echo(value: Any) -> None:
    """Text or a number where a reference belongs is a literal password; the message hides it."""
    with pytest.raises(ValueError, match="a literal password is not allowed") as caught:
        parse_reference(value, base_dir=Path())

    assert str(caught.value) == LITERAL_PASSWORD
    assert str(value) not in str(caught.value)


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        [],
        {},
        {"env": "A", "file": "b"},
        {"vault": PASSWORD},
        {"env": PASSWORD},
        {"prompt": PASSWORD},
    ],
)
def test_malformed_references_never_show_their_content(value: Any) -> None:
    """A wrong-shaped reference is refused with a message that holds none of its content."""
    with pytest.raises(ValueError, match=r"^(must be a credential reference|\{)") as caught:
        parse_reference(value, base_dir=Path())

    assert PASSWORD not in str(caught.value)


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("password", True),
        ("rollup_password", True),
        ("DB_PASSWD", True),
        ("ClientSecret", True),
        ("user", False),
    ],
)
def test_secret_keys(key: str, secret: bool) -> None:
    """Keys containing password, passwd or secret (any case) name secrets."""
    assert is_secret_key(key) is secret


def test_env_reference_resolves_to_a_secret() -> None:
    """{env: NAME} reads the variable; the password comes back as a Secret."""
    creds = resolve_credentials(make_host(EnvRef("PW")), prompt=None, env={"PW": PASSWORD})

    assert creds.user == USER
    assert isinstance(creds.password, Secret)
    assert creds.password.reveal() == PASSWORD
    assert PASSWORD not in repr(creds)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "MPS01: environment variable PW is not set (password of HOSTING\\svc-rollup)"),
        ({"PW": ""}, "MPS01: environment variable PW is empty (password of HOSTING\\svc-rollup)"),
    ],
)
def test_unset_env_is_a_credential_error_naming_variable_and_host(env: dict[str, str], expected: str) -> None:
    """An unset or empty variable is one line naming the variable and the host."""
    with pytest.raises(CredentialError) as caught:
        resolve_credentials(make_host(EnvRef("PW")), prompt=None, env=env)

    assert str(caught.value) == expected


def test_default_env_is_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without env=, the process environment is read."""
    monkeypatch.setenv("ROLLUP_TEST_PW", PASSWORD)

    assert resolve_credentials(make_host(EnvRef("ROLLUP_TEST_PW")), prompt=None).password.reveal() == PASSWORD
    assert os.environ["ROLLUP_TEST_PW"] == PASSWORD


def test_keyring_reference_uses_the_host_user(memory_keyring: MemoryKeyring) -> None:
    """{keyring: SERVICE} looks up SERVICE with the host's user; SERVICE/USER with USER."""
    memory_keyring.set_password("rollup-prod", USER, PASSWORD)
    memory_keyring.set_password("rollup-prod", "other", "x")

    assert (
        resolve_credentials(make_host(KeyringRef("rollup-prod")), prompt=None).password.reveal() == PASSWORD
    )
    assert (
        resolve_credentials(make_host(KeyringRef("rollup-prod", "other")), prompt=None).password.reveal()
        == "x"
    )


def test_missing_keyring_entry_names_service_user_and_host(memory_keyring: MemoryKeyring) -> None:
    """No entry in the keyring is one line naming where it looked."""
    with pytest.raises(CredentialError) as caught:
        resolve_credentials(make_host(KeyringRef("rollup-prod")), prompt=None)

    assert (
        str(caught.value)
        == "MPS01: the keyring has no password for service rollup-prod, user HOSTING\\svc-rollup"
    )
    assert memory_keyring.entries == {}


def test_locked_keyring_is_a_credential_error() -> None:
    """A keyring error becomes a CredentialError naming the host, not a traceback."""
    previous = keyring.get_keyring()
    keyring.set_keyring(LockedKeyring())
    try:
        with pytest.raises(CredentialError) as caught:
            resolve_credentials(make_host(KeyringRef("rollup-prod")), prompt=None)
    finally:
        keyring.set_keyring(previous)

    assert str(caught.value) == "MPS01: the keyring cannot be read: KeyringLocked"


def test_file_reference_strips_one_trailing_newline(tmp_path: Path) -> None:
    """A password file readable by its owner only gives its content without the trailing newline."""
    path = tmp_path / "pw"
    path.write_text(PASSWORD + " \r\n", encoding="utf-8")
    path.chmod(0o600)

    creds = resolve_credentials(make_host(FileRef(path, "pw")), prompt=None)

    assert creds.password.reveal() == PASSWORD + " "


@pytest.mark.parametrize(
    ("content", "mode", "problem"),
    [
        (
            b"pw\n",
            0o644,
            "has mode 0644: group or others have access; make it readable by its owner only (chmod 600)",
        ),
        (
            b"pw\n",
            0o640,
            "has mode 0640: group or others have access; make it readable by its owner only (chmod 600)",
        ),
        (
            b"pw\n",
            0o602,
            "has mode 0602: group or others have access; make it readable by its owner only (chmod 600)",
        ),
        (b"\n", 0o600, "is empty"),
        (b"pw\nmore\n", 0o400, "holds more than one line"),
        (b"\xff\xfe", 0o600, "is not UTF-8 text"),
        (b"x" * 5000, 0o600, "is over 4096 bytes"),
    ],
)
def test_bad_password_files_are_refused_naming_file(
    tmp_path: Path, content: bytes, mode: int, problem: str
) -> None:
    """Each bad password file is one line naming the host, the file and the problem, never its content."""
    path = tmp_path / "pw"
    path.write_bytes(content)
    path.chmod(mode)

    with pytest.raises(CredentialError) as caught:
        resolve_credentials(make_host(FileRef(path, "pw")), prompt=None)

    assert str(caught.value) == f"MPS01: password file {path} {problem}"


@pytest.mark.parametrize(
    ("make", "problem"), [(lambda p: None, "does not exist"), (Path.mkdir, "is not a regular file")]
)
def test_missing_or_odd_password_file(tmp_path: Path, make: Any, problem: str) -> None:
    """A missing file, or a directory in its place, is one line naming it."""
    path = tmp_path / "pw"
    make(path)

    with pytest.raises(CredentialError) as caught:
        resolve_credentials(make_host(FileRef(path, "pw")), prompt=None)

    assert str(caught.value) == f"MPS01: password file {path} {problem}"


def test_prompt_asks_through_the_callback() -> None:
    """{prompt: true} asks the callback with a question naming the user and the host."""
    questions: list[str] = []

    def ask(question: str) -> str:
        questions.append(question)
        return PASSWORD

    creds = resolve_credentials(make_host(PromptRef()), prompt=ask)

    assert creds.password.reveal() == PASSWORD
    assert questions == ["Password of HOSTING\\svc-rollup (for MPS01)"]


def test_prompt_without_terminal_names_the_host() -> None:
    """With no prompt callback (no terminal), a prompt reference is a CredentialError naming the host."""
    with pytest.raises(CredentialError) as caught:
        resolve_credentials(make_host(PromptRef(), name="COLLAB02"), prompt=None)

    assert str(caught.value) == (
        "COLLAB02: the password of HOSTING\\svc-rollup is {prompt: true} but there is no terminal to ask on"
    )


def test_empty_prompt_answer_is_refused() -> None:
    """An empty answer is not a password."""
    with pytest.raises(CredentialError) as caught:
        resolve_credentials(make_host(PromptRef()), prompt=lambda _: "")

    assert str(caught.value) == "MPS01: no password was entered for HOSTING\\svc-rollup"


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        (
            make_host(EnvRef("PW"), user=None),
            "MPS01: no user is set; set user (or ansible_user) in the inventory",
        ),
        (
            make_host(None),
            "MPS01: no password reference is set; set password to one of "
            "{env: NAME}, {keyring: SERVICE/USER}, {file: PATH} or {prompt: true}",
        ),
    ],
)
def test_missing_user_or_reference(host: Host, expected: str) -> None:
    """A host without a user or a password reference cannot log on; the error says which."""
    with pytest.raises(CredentialError) as caught:
        resolve_credentials(host, prompt=None, env={"PW": PASSWORD})

    assert str(caught.value) == expected


def test_cache_asks_once_per_reference_and_user() -> None:
    """One run prompts once for hosts sharing a reference and user, again for another user."""
    questions: list[str] = []

    def ask(question: str) -> str:
        questions.append(question)
        return PASSWORD

    cache = CredentialCache(prompt=ask, env={})
    hosts = [make_host(PromptRef(), name=n) for n in ("MPS01", "MPS02", "DNS01")]
    hosts.append(make_host(PromptRef(), name="PROV01", user="HOSTING\\other"))

    results = [cache.get(host) for host in hosts]

    assert len(questions) == 2
    assert {r.password.reveal() for r in results} == {PASSWORD}
    assert results[3].user == "HOSTING\\other"


def test_describe_never_shows_a_value() -> None:
    """describe() shows kind and target: what inventory show prints."""
    refs: list[CredentialRef] = [
        EnvRef("PW"),
        KeyringRef("svc"),
        KeyringRef("svc", "u"),
        FileRef(Path("/x/pw"), "pw"),
        PromptRef(),
    ]

    assert [r.describe() for r in refs] == ["env PW", "keyring svc", "keyring svc/u", "file pw", "prompt"]
    assert [r.kind for r in refs] == ["env", "keyring", "keyring", "file", "prompt"]
