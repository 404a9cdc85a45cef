"""
Authentication: Basic on every request, and NTLM (raw or inside SPNEGO) per TCP connection.

NTLM is verified by pyspnego acting as the acceptor. pyspnego reads the accepted passwords
from the file named by the ``NTLM_USER_FILE`` environment variable, which is process-wide, so
one file serves every endpoint of the process: ``USER_FILE`` keeps it, in a private temporary
directory (mode 0700, file 0600), holding the union of the registered accounts. An account
therefore has one password across the lab (as a domain account has); each endpoint then checks
that the authenticated principal is one of its own accounts.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import shutil
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import spnego

from rollup.errors import ConfigError
from rollup.lab.wsman.api import Credential

CHALLENGE_HEADERS: tuple[tuple[str, str], ...] = (
    ("WWW-Authenticate", "Negotiate"),
    ("WWW-Authenticate", 'Basic realm="WSMAN"'),
)
"""What a Windows host with Basic and Negotiate enabled offers on a 401 (never ``NTLM`` or ``Kerberos``)."""


def _key(user: str) -> tuple[str, str]:
    domain, _, name = user.rpartition("\\")
    return domain.upper(), name.upper()


class _UserFile:
    """The process's ``NTLM_USER_FILE``: every registered account as a ``DOMAIN:USER:PASSWORD`` line."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._directory: Path | None = None
        self._accounts: dict[tuple[str, str], tuple[Credential, int]] = {}

    def register(self, host: str, credentials: Iterable[Credential]) -> None:
        """
        Add accounts (counted, so two endpoints may share one).

        Raises:
            ConfigError: an account is already registered with another password.
        """
        with self._lock:
            for credential in credentials:
                key = _key(credential.user)
                known = self._accounts.get(key)
                if known is not None and known[0].password.reveal() != credential.password.reveal():
                    raise ConfigError(
                        f"lab host {host}: account {credential.user} has another password on another lab host"
                    )
                self._accounts[key] = (credential, 1 if known is None else known[1] + 1)
            self._write()

    def unregister(self, credentials: Iterable[Credential]) -> None:
        """Drop one registration of each account; the file goes away with the last."""
        with self._lock:
            for credential in credentials:
                key = _key(credential.user)
                known = self._accounts.get(key)
                if known is None:
                    continue
                if known[1] > 1:
                    self._accounts[key] = (known[0], known[1] - 1)
                else:
                    del self._accounts[key]
            self._write()

    def _write(self) -> None:
        if not self._accounts:
            if self._directory is not None:
                shutil.rmtree(self._directory, ignore_errors=True)
                self._directory = None
            return
        if self._directory is None:
            self._directory = Path(tempfile.mkdtemp(prefix="rollup-lab-ntlm-"))
        path = self._directory / "users"
        staging = self._directory / "users.new"
        lines = "".join(f"{c.domain}:{c.name}:{c.password.reveal()}\n" for c, _ in self._accounts.values())
        descriptor = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(lines)
        staging.replace(path)
        os.environ["NTLM_USER_FILE"] = str(path)


USER_FILE = _UserFile()


class Authenticator:
    """One endpoint's accounts: checks Basic credentials and NTLM principals."""

    def __init__(self, credentials: Iterable[Credential]) -> None:
        self._accounts = {_key(c.user): c for c in credentials}

    def basic(self, value: str) -> str | None:
        """The principal of a valid ``Basic`` header value (without the scheme), else ``None``."""
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return None
        user, colon, password = decoded.partition(":")
        account = self._accounts.get(_key(user))
        if not colon or account is None:
            return None
        if not hmac.compare_digest(account.password.reveal().encode(), password.encode()):
            return None
        return account.user

    def accepts(self, principal: str) -> bool:
        """Whether an NTLM-authenticated principal (``DOMAIN\\user`` or ``user``) is an account here."""
        return _key(principal) in self._accounts


@dataclass(frozen=True, slots=True)
class LegResult:
    """
    One step of a Negotiate handshake.

    ``principal`` is set once the handshake is complete and the principal is accepted;
    ``token`` (base64) goes back in ``WWW-Authenticate: <scheme> <token>``: the challenge on a
    401, or SPNEGO's final token on the 200 that completes authentication.
    """

    failed: bool
    token: str | None = None
    principal: str | None = None


class NegotiateSession:
    """The NTLM security context of one TCP connection."""

    def __init__(self) -> None:
        self._context: Any = None
        self.principal: str | None = None

    @property
    def context(self) -> Any:
        """The completed pyspnego context (for message encryption), or ``None``."""
        return self._context if self.principal is not None else None

    def reset(self) -> None:
        """Forget the context: the next request must authenticate again."""
        self._context = None
        self.principal = None

    def step(self, token_b64: str, authenticator: Authenticator) -> LegResult:
        """
        Feed one token from ``Authorization: Negotiate|NTLM <token>``. A token after a
        completed handshake starts a new one, as a client re-authenticating does.
        """
        if self.principal is not None:
            self.reset()
        if self._context is None:
            self._context = spnego.server(protocol="negotiate")
        try:
            out = self._context.step(base64.b64decode(token_b64.strip(), validate=True))
        except Exception:  # a malformed or wrong token from the network: any parse error is a refusal
            self.reset()
            return LegResult(failed=True)
        token = None if out is None else base64.b64encode(out).decode("ascii")
        if not self._context.complete:
            return LegResult(failed=False, token=token)
        principal = str(self._context.client_principal or "")
        if not authenticator.accepts(principal):
            self.reset()
            return LegResult(failed=True)
        self.principal = principal
        return LegResult(failed=False, token=token, principal=principal)
