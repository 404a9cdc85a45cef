"""
Credential references, and turning them into a user name and a password at run time.

An inventory never holds a password, only a reference to where one is kept:

- ``{env: NAME}``: the environment variable ``NAME``;
- ``{keyring: SERVICE}`` or ``{keyring: SERVICE/USER}``: the system keyring (python ``keyring``),
  under the service ``SERVICE`` and the keyring user ``USER``, or the host's ``user`` when no
  ``/USER`` is given (the text after the last ``/`` is the keyring user);
- ``{file: PATH}``: a file, relative to the inventory file, readable by its owner only;
- ``{prompt: true}``: asked on the terminal, once per run, through a callback the CLI passes in.

Parsing a reference is pure and happens when an inventory is loaded, so a wrong reference is an
``InventoryError`` before anything runs. Resolving one reads the environment, the keyring, a file
or the terminal, and fails with a ``CredentialError`` that names the host and the reference,
never the value. The password comes back as a ``rollup.secret.Secret``.
"""

from __future__ import annotations

import os
import re
import stat
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rollup.errors import CredentialError
from rollup.secret import Secret

if TYPE_CHECKING:
    from rollup.model.inventory import Host

REFERENCE_FORMS = "{env: NAME}, {keyring: SERVICE/USER}, {file: PATH} or {prompt: true}"
LITERAL_PASSWORD = f"a literal password is not allowed; use {REFERENCE_FORMS}"
"""The message for a password written in clear; it never quotes the value."""

MAX_PASSWORD_FILE_BYTES = 4096
_SECRET_WORDS = ("password", "passwd", "secret")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

Prompt = Callable[[str], str]
"""Asks the operator for a password: takes the question, returns the answer."""


@dataclass(frozen=True, slots=True)
class EnvRef:
    """A password kept in an environment variable."""

    name: str

    @property
    def kind(self) -> str:
        return "env"

    def describe(self) -> str:
        """The reference as shown to operators: kind and where, never a value."""
        return f"env {self.name}"


@dataclass(frozen=True, slots=True)
class KeyringRef:
    """A password kept in the system keyring; ``user`` None means the host's user."""

    service: str
    user: str | None = None

    @property
    def kind(self) -> str:
        return "keyring"

    def describe(self) -> str:
        return f"keyring {self.service}" + (f"/{self.user}" if self.user else "")


@dataclass(frozen=True, slots=True)
class FileRef:
    """A password kept in a file: ``path`` is resolved, ``written`` is as in the inventory."""

    path: Path
    written: str

    @property
    def kind(self) -> str:
        return "file"

    def describe(self) -> str:
        return f"file {self.written}"


@dataclass(frozen=True, slots=True)
class PromptRef:
    """A password asked on the terminal."""

    @property
    def kind(self) -> str:
        return "prompt"

    def describe(self) -> str:
        return "prompt"


@dataclass(frozen=True, slots=True)
class VaultRef:
    """
    A password encrypted with Ansible Vault (an ``ansible_password: !vault |`` value read through
    ``ansible-inventory``), decrypted by ``ansible-vault`` with ``password_file`` when a run needs it.
    """

    ciphertext: str
    password_file: Path

    @property
    def kind(self) -> str:
        return "vault"

    def describe(self) -> str:
        return f"vault {self.password_file.name}"


CredentialRef = EnvRef | KeyringRef | FileRef | PromptRef | VaultRef


@dataclass(frozen=True, slots=True)
class Credentials:
    """What a transport logs on with."""

    user: str
    password: Secret


def is_secret_key(key: str) -> bool:
    """Whether a mapping key names a secret (it contains password, passwd or secret)."""
    lowered = key.casefold()
    return any(word in lowered for word in _SECRET_WORDS)


def is_literal(value: object) -> bool:
    """Whether ``value`` is a plain value (text or a number) rather than a reference mapping."""
    return isinstance(value, str | int | float) and not isinstance(value, bool)


def parse_reference(value: Any, *, base_dir: Path) -> CredentialRef:
    """
    Turn an inventory value into a credential reference.

    Args:
        value: the YAML value of a password variable.
        base_dir: the inventory file's directory, which ``{file: PATH}`` is relative to.

    Raises:
        ValueError: with a one-line message that never contains the value.
    """
    if is_literal(value):
        raise ValueError(LITERAL_PASSWORD)
    if not isinstance(value, dict) or len(value) != 1:
        raise ValueError(f"must be a credential reference: {REFERENCE_FORMS}")
    ((kind, target),) = value.items()
    if kind == "env":
        if not isinstance(target, str) or not _ENV_NAME.match(target):
            raise ValueError("{env: NAME}: NAME must be an environment variable name (letters, digits, _)")
        return EnvRef(target)
    if kind == "keyring":
        if not isinstance(target, str) or not target.strip("/ "):
            raise ValueError("{keyring: SERVICE/USER}: must name a keyring service")
        service, slash, user = target.rpartition("/")
        if not slash:
            return KeyringRef(target)
        if not service or not user:
            raise ValueError("{keyring: SERVICE/USER}: SERVICE and USER must both be given")
        return KeyringRef(service, user)
    if kind == "file":
        if not isinstance(target, str) or not target.strip():
            raise ValueError("{file: PATH}: must name a file")
        return FileRef(base_dir / target, target)
    if kind == "prompt":
        if target is not True:
            raise ValueError("{prompt: true}: the only value is true")
        return PromptRef()
    raise ValueError(f"must be a credential reference: {REFERENCE_FORMS}")


def resolve_credentials(
    host: Host, *, prompt: Prompt | None, env: Mapping[str, str] = os.environ
) -> Credentials:
    """
    Fetch the user name and password of ``host`` from where its reference points.

    Args:
        host: a host of a loaded inventory.
        prompt: asks the operator; None when there is no terminal.
        env: the environment to read ``{env: NAME}`` from.

    Raises:
        CredentialError: one line naming the host and the reference, never the value.
    """
    if host.user is None:
        raise CredentialError(f"{host.name}: no user is set; set user (or ansible_user) in the inventory")
    ref = host.password
    if ref is None:
        raise CredentialError(
            f"{host.name}: no password reference is set; set password to one of {REFERENCE_FORMS}"
        )
    return Credentials(host.user, Secret(_fetch(ref, host=host.name, user=host.user, prompt=prompt, env=env)))


class CredentialCache:
    """
    Resolves each (reference, user) once per run, so a prompt is asked once, not once per host.

    Thread-safe: host workers may ask for credentials at the same time.
    """

    def __init__(self, *, prompt: Prompt | None, env: Mapping[str, str] = os.environ) -> None:
        self._prompt = prompt
        self._env = env
        self._lock = threading.Lock()
        self._known: dict[tuple[CredentialRef | None, str | None], Credentials] = {}

    def get(self, host: Host) -> Credentials:
        """The credentials of ``host``; see ``resolve_credentials``."""
        key = (host.password, host.user)
        with self._lock:
            found = self._known.get(key)
            if found is None:
                found = resolve_credentials(host, prompt=self._prompt, env=self._env)
                self._known[key] = found
            return found


def _fetch(ref: CredentialRef, *, host: str, user: str, prompt: Prompt | None, env: Mapping[str, str]) -> str:
    match ref:
        case EnvRef(name):
            value = env.get(name)
            if value is None:
                raise CredentialError(f"{host}: environment variable {name} is not set (password of {user})")
            if not value:
                raise CredentialError(f"{host}: environment variable {name} is empty (password of {user})")
            return value
        case KeyringRef(service, keyring_user):
            return _from_keyring(service, keyring_user or user, host=host)
        case FileRef(path):
            return _from_file(path, host=host)
        case VaultRef(ciphertext, password_file):
            return _from_vault(ciphertext, password_file, host=host, user=user)
        case PromptRef():
            if prompt is None:
                raise CredentialError(
                    f"{host}: the password of {user} is {{prompt: true}} but there is no terminal to ask on"
                )
            answer = prompt(f"Password of {user} (for {host})")
            if not answer:
                raise CredentialError(f"{host}: no password was entered for {user}")
            return answer


VAULT_TIMEOUT_S = 60


def _from_vault(ciphertext: str, password_file: Path, *, host: str, user: str) -> str:
    """Decrypt a vaulted password with ``ansible-vault`` (Ansible's own program; rollup has no vault code)."""
    import shutil
    import subprocess

    program = shutil.which("ansible-vault")
    if program is None:
        raise CredentialError(
            f"{host}: the password of {user} is encrypted with Ansible Vault; decrypting it needs "
            "ansible-vault (ansible-core) installed"
        )
    try:
        done = subprocess.run(
            [program, "decrypt", "--vault-password-file", str(password_file), "--output", "-"],
            input=ciphertext.encode("utf-8"),
            capture_output=True,
            timeout=VAULT_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise CredentialError(
            f"{host}: ansible-vault took over {VAULT_TIMEOUT_S} s (password of {user})"
        ) from None
    if done.returncode != 0:
        lines = [
            line for line in done.stderr.decode("utf-8", "replace").splitlines() if line.startswith("ERROR")
        ]
        reason = (
            lines[-1].removeprefix("ERROR! ").removeprefix("ERROR: ") if lines else f"exit {done.returncode}"
        )
        raise CredentialError(
            f"{host}: ansible-vault could not decrypt the password of {user} with {password_file}: {reason}"
        )
    value = done.stdout.decode("utf-8", "replace")
    if not value:
        raise CredentialError(f"{host}: the vaulted password of {user} is empty")
    return value


def _from_keyring(service: str, user: str, *, host: str) -> str:
    import keyring
    import keyring.errors

    try:
        value = keyring.get_password(service, user)
    except keyring.errors.KeyringError as exc:
        raise CredentialError(f"{host}: the keyring cannot be read: {type(exc).__name__}") from None
    if not value:
        raise CredentialError(f"{host}: the keyring has no password for service {service}, user {user}")
    return str(value)


def _from_file(path: Path, *, host: str) -> str:
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise CredentialError(f"{host}: password file {path} is not a regular file")
        if info.st_mode & 0o077:
            raise CredentialError(
                f"{host}: password file {path} has mode {stat.S_IMODE(info.st_mode):04o}: group or others "
                f"have access; make it readable by its owner only (chmod 600)"
            )
        if info.st_size > MAX_PASSWORD_FILE_BYTES:
            raise CredentialError(f"{host}: password file {path} is over {MAX_PASSWORD_FILE_BYTES} bytes")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise CredentialError(f"{host}: password file {path} does not exist") from None
    except OSError as exc:
        raise CredentialError(f"{host}: password file {path} cannot be read: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CredentialError(f"{host}: password file {path} is not UTF-8 text") from None
    text = text.removesuffix("\n").removesuffix("\r")
    if not text:
        raise CredentialError(f"{host}: password file {path} is empty")
    if "\n" in text or "\r" in text:
        raise CredentialError(f"{host}: password file {path} holds more than one line")
    return text
