"""
What msiexec's exit codes mean: ``outcome_for``, the policy (windows-ops §3.1).

0 ok; 3010 and 1641 ok with a reboot flag; 1605 on an uninstall: already absent, ok; 1618: the
installer mutex is held, retryable (the engine waits and retries with backoff); 1603, 1619, 1638
and anything else: failed, with a hint. ``msi.install`` and ``msi.uninstall`` read their results
with it, and so can anything else that runs msiexec (the Deployment Tool's logs).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

TAIL_LINES = 40
SUCCESS = frozenset({0, 1641, 3010})
"""Exit codes after which the body does not read the log."""

EXIT_CODES: Mapping[int, str] = {
    0: "ERROR_SUCCESS",
    1602: "ERROR_INSTALL_USEREXIT",
    1603: "ERROR_INSTALL_FAILURE",
    1605: "ERROR_UNKNOWN_PRODUCT",
    1618: "ERROR_INSTALL_ALREADY_RUNNING",
    1619: "ERROR_INSTALL_PACKAGE_OPEN_FAILED",
    1620: "ERROR_INSTALL_PACKAGE_INVALID",
    1622: "ERROR_INSTALL_LOG_FAILURE",
    1638: "ERROR_PRODUCT_VERSION",
    1641: "ERROR_SUCCESS_REBOOT_INITIATED",
    3010: "ERROR_SUCCESS_REBOOT_REQUIRED",
}

_HINTS: Mapping[int, str] = {
    1603: "the installation failed: the 'Return value 3' lines name the failed action; read the whole log",
    1618: "another installation holds the Windows Installer mutex (_MSIExecute): wait for it and retry",
    1619: "the package could not be opened: check the path, that the copy is complete (size and SHA-256), "
    "and that no process holds the file open",
    1620: "the file is not a valid Windows Installer package: copy it again and check its SHA-256",
    1622: "msiexec could not write its log: check that the log's folder exists and the disk has room",
    1638: "another version of this product is installed: uninstall it first",
    1641: "the installer has started a restart of the host: wait for it to come back",
}


class MsiStatus(StrEnum):
    """How an msiexec run ended, as the engine acts on it."""

    OK = "ok"
    ABSENT = "absent"
    """An uninstall found nothing to remove (1605): the goal is met."""
    BUSY = "busy"
    """Another installation holds the installer mutex (1618): retry later."""
    FAILED = "failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class MsiOutcome:
    """The policy's verdict on one msiexec run, with the evidence from its log."""

    status: MsiStatus
    exit_code: int
    reboot_required: bool = False
    retryable: bool = False
    hint: str | None = None
    log: str = ""
    log_tail: tuple[str, ...] = ()
    failed_actions: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether the run reached its goal (installed, removed, or already absent)."""
        return self.status in (MsiStatus.OK, MsiStatus.ABSENT)


def outcome_for(
    exit_code: int,
    *,
    uninstall: bool,
    log: str = "",
    log_tail: tuple[str, ...] = (),
    failed_actions: tuple[str, ...] = (),
) -> MsiOutcome:
    """The exit-code policy of msiexec (windows-ops §3.1, peers §6.6)."""
    status, reboot, retryable = MsiStatus.FAILED, False, False
    if exit_code in (0, 3010, 1641):
        status, reboot = MsiStatus.OK, exit_code != 0
    elif exit_code == 1605 and uninstall:
        status = MsiStatus.ABSENT
    elif exit_code == 1618:
        status, retryable = MsiStatus.BUSY, True
    hint = _HINTS.get(exit_code)
    if hint is None and status is MsiStatus.FAILED:
        hint = (
            f"msiexec exited with {exit_code} ({EXIT_CODES.get(exit_code, 'not a Windows Installer code')})"
        )
    return MsiOutcome(
        status=status,
        exit_code=exit_code,
        reboot_required=reboot,
        retryable=retryable,
        hint=hint,
        log=log,
        log_tail=log_tail,
        failed_actions=failed_actions,
    )
