"""
Windows' WinRM 2.0 limits, as the simulated hosts enforce them.

The lab models Windows Server 2003/2008 hosts with WMF 2.0, so the defaults are WinRM 2.0's,
which are much tighter than today's: five shells per user, fifteen operations per user, a
150 KB envelope and a three-minute idle timeout. A tool that works against these works against
later Windows too; the reverse is not true. Each limit's fault is in ``faults``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limits:
    """The WinRM configuration of one simulated host (``winrm get winrm/config`` on WinRM 2.0)."""

    max_envelope_kb: int = 150
    """
    ``MaxEnvelopeSizekb``: the largest SOAP envelope accepted or sent, in KiB. A larger request
    is refused with HTTP 413 before it is processed; the Windows client reports that as
    0x80338111, "The WinRM client sent a request to the remote WS-Management service and was
    notified that the request size exceeded the configured MaxEnvelopeSize quota." Receive
    output is split so that every response fits the request's ``MaxEnvelopeSize`` and this.
    """

    max_shells_per_user: int = 5
    """``Winrs/MaxShellsPerUser``: open shells per user; one more Create gets fault 2150859173."""

    max_operations_per_user: int = 15
    """
    ``Service/MaxConcurrentOperationsPerUser``: each Command counts until its shell is deleted
    (WinRM does not release it on Signal for a text shell, MS-WSMV note 118), so a shell reused
    for many commands hits fault 2150859174 on its sixteenth; a new shell starts afresh.
    """

    idle_timeout_s: float = 180.0
    """
    ``Winrs/IdleTimeout`` (180000 ms): a shell that receives no request for this long is
    deleted; later requests on it get the shell-not-found fault. A client-requested
    ``IdleTimeOut`` in Create replaces it for that shell, as Windows does.
    """

    max_timeout_s: float = 60.0
    """``MaxTimeoutms`` (60000 ms): a longer OperationTimeout is cut to this."""

    @property
    def max_envelope_bytes(self) -> int:
        """``max_envelope_kb`` in bytes."""
        return self.max_envelope_kb * 1024


WINRM_2_0 = Limits()
"""The WinRM 2.0 defaults (Windows Server 2003/2008 with WMF 2.0, 2008 R2)."""
