"""
The whole exception tree of rollup, readable top to bottom.

Every error a user can cause or meet has a class here, and every class maps to one
documented exit code (see ``ExitCode`` and README "Exit codes"). The CLI's single error
boundary (``rollup.cli.main``) is the only place that turns these into text and exit codes.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes, documented in README.md."""

    OK = 0
    RUN_FAILED = 1
    CONFIG = 2
    DRIFT = 3
    INTERNAL = 4
    WAITING = 5
    DONE_WITH_EXCEPTIONS = 6
    INTERRUPTED = 130


class RollupError(Exception):
    """Base of every error rollup raises on purpose; ``hint`` is advice for the operator."""

    exit_code: ExitCode = ExitCode.RUN_FAILED

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class ConfigError(RollupError, ValueError):
    """A manifest, inventory, scenario file or flag is wrong. Exit 2."""

    exit_code = ExitCode.CONFIG


class ManifestError(ConfigError):
    """A manifest file is malformed or inconsistent."""


class InventoryError(ConfigError):
    """An inventory file is malformed or inconsistent."""


class CredentialError(ConfigError):
    """A credential reference cannot be resolved (unset variable, missing keyring entry)."""


class PlanError(ConfigError):
    """The manifest and inventory cannot be turned into a plan (cycle, role with no host)."""


class PackageError(ConfigError):
    """A package file (MSI) handed in is missing, unreadable, or not an installer database."""


class UsageError(ConfigError):
    """The command line asks for something impossible."""


class RehearsalRequired(UsageError):
    """A production run has no passing rehearsal of its manifest (docs/rehearse.md). Exit 2."""


class ResultParseError(RollupError, ValueError):
    """A remote script's output did not have the shape its parser expects."""


class TransportError(RollupError):
    """
    Moving bytes to or from a host failed. ``transient`` says whether a retry may help;
    ``may_have_started`` whether the remote command may have started before the failure (the
    engine never re-runs such a command without first checking the host).
    """

    transient: bool = False
    may_have_started: bool = False

    def __init__(
        self,
        message: str,
        *,
        host: str,
        hint: str | None = None,
        transient: bool | None = None,
        may_have_started: bool = False,
    ) -> None:
        super().__init__(f"{host}: {message}", hint=hint)
        self.host = host
        if transient is not None:
            self.transient = transient
        self.may_have_started = may_have_started


class ConnectError(TransportError):
    """The host did not accept a connection (refused, unreachable, reset before answering)."""

    transient = True


class AuthError(TransportError):
    """The host refused the credentials. Never retried: retries lock accounts out."""

    transient = False


class TransportTimeout(TransportError):
    """The host did not answer in time."""

    transient = True


class ProtocolError(TransportError):
    """The host answered with a WS-Management fault or a malformed reply."""

    transient = False


class CommandFailed(RollupError):
    """A remote operation ran and reported failure."""


class DriftDetected(RollupError):
    """Verify found hosts that differ from the manifest. Exit 3."""

    exit_code = ExitCode.DRIFT


class RunFailed(RollupError):
    """A run stopped because steps failed. Exit 1."""


class RunWaiting(RollupError):
    """A run stopped at a manual gate or a failed step's decision with no terminal to ask on. Exit 5."""

    exit_code = ExitCode.WAITING


class RunDoneWithExceptions(RollupError):
    """A run ended with every step settled, but an operator skipped a step or excluded a host. Exit 6."""

    exit_code = ExitCode.DONE_WITH_EXCEPTIONS


class AuditError(RollupError):
    """An audit log cannot be read, continued or quoted: its hash chain is broken. Exit 1."""


class LockHeld(RollupError):
    """Another run holds the inventory's lock. Exit 1."""
