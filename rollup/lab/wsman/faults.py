"""
The WS-Management faults a Windows host answers with, as values.

Every fault the simulated server sends is built here, with Windows' own wording and codes, so
that the client libraries see exactly what they would see from Windows. The sources are the
real exchanges recorded from Windows (pypsrp's captures: ``test_winrs_operation_timeout``,
``test_winrs_bad_cmd_id``, ``test_winrs_no_cmd_shell``, ``test_winrs_fail_poll_process``),
the message texts of ``wsman.h`` for each ``ERROR_WSMAN_*`` code, and the messages Windows
Server 2008 R2 prints for the WinRM 2.0 quotas.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

SENDER: Final = "s:Sender"
RECEIVER: Final = "s:Receiver"

FAULT_DETAIL = "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/"


@dataclass(frozen=True, slots=True)
class WSManFault:
    """
    One SOAP fault, as Windows renders it in ``s:Fault`` (always with HTTP status 500).

    ``reason`` goes in ``s:Reason/s:Text``; ``message`` in ``f:WSManFault/f:Message``, wrapped
    in ``f:ProviderFault`` (the cmd shell plugin, ``winrscmd.dll``) when ``provider`` is set.
    Windows ends both texts with a space (two after a full stop in some messages); so do we.
    """

    code: Literal["s:Sender", "s:Receiver"]
    subcode: str
    reason: str
    wsman_code: int
    message: str
    detail: str | None = None
    provider: bool = False


def operation_timed_out() -> WSManFault:
    """Nothing to return within the request's OperationTimeout (clients retry the Receive)."""
    text = (
        "The WS-Management service cannot complete the operation within the time specified in "
        "OperationTimeout.  "
    )
    return WSManFault(RECEIVER, "w:TimedOut", text, 2150858793, text)


_INVALID_SELECTORS = (
    "The WS-Management service cannot process the request because the request contained invalid "
    "selectors for the resource. "
)


def shell_not_found(shell_id: str) -> WSManFault:
    """The ShellId names no open shell: never created, deleted, or closed for being idle."""
    return WSManFault(
        SENDER,
        "w:InvalidSelectors",
        _INVALID_SELECTORS,
        2150858843,
        f"The request for the Windows Remote Shell with ShellId {shell_id} failed because the shell was "
        "not found on the server. Possible causes are: the specified ShellId is incorrect or the shell no "
        "longer exists on the server. Provide the correct ShellId or create a new shell and retry the "
        "operation. ",
        detail=FAULT_DETAIL + "UnexpectedSelectors",
    )


def command_not_found() -> WSManFault:
    """The CommandId names no command of the shell (never started, or already signalled)."""
    return WSManFault(
        SENDER,
        "w:InvalidSelectors",
        _INVALID_SELECTORS,
        2150858843,
        "The Windows Remote Shell received a request to perform an operation on a command identifier that "
        "does not exist. Either the command has completed execution or the client specified an invalid "
        "command identifier. ",
        detail=FAULT_DETAIL + "UnexpectedSelectors",
    )


def invalid_parameter() -> WSManFault:
    """A body the cmd shell plugin cannot use (a Receive without CommandId, an unknown signal)."""
    text = "The parameter is incorrect. "
    return WSManFault(
        SENDER, "w:InvalidParameter", text, 87, text, detail=FAULT_DETAIL + "InvalidValue", provider=True
    )


def file_not_found() -> WSManFault:
    """CreateProcess found no executable (``WINRS_SKIP_CMD_SHELL`` with a bare or wrong path)."""
    text = "The system cannot find the file specified. "
    return WSManFault(RECEIVER, "w:InternalError", text, 2147942402, text, provider=True)


def filename_too_long() -> WSManFault:
    """CreateProcess refused a command line over 32,767 characters (ERROR_FILENAME_EXCED_RANGE)."""
    text = "The filename or extension is too long. "
    return WSManFault(RECEIVER, "w:InternalError", text, 2147942606, text, provider=True)


def shell_quota(limit: int) -> WSManFault:
    """Create refused: the user already has MaxShellsPerUser shells open (ERROR_WSMAN_QUOTA_MAX_SHELLS)."""
    text = (
        f"The WS-Management service cannot process the request. This user is allowed a maximum number of "
        f"{limit} concurrent shells, which has been exceeded. Close existing shells or raise the quota for "
        "this user. "
    )
    return WSManFault(SENDER, "w:QuotaLimit", text, 2150859173, text)


def operations_quota(limit: int) -> WSManFault:
    """Command refused: MaxConcurrentOperationsPerUser reached (ERROR_WSMAN_QUOTA_MAX_OPERATIONS)."""
    text = (
        f"The WS-Management service cannot process the request. This user is allowed a maximum number of "
        f"{limit} concurrent operations, which has been exceeded. Close existing operations for this user, "
        "or raise the quota for this user. "
    )
    return WSManFault(SENDER, "w:QuotaLimit", text, 2150859174, text)


def already_exists() -> WSManFault:
    """Create with a client-chosen ShellId that is already open (ERROR_WSMAN_TARGET_ALREADY_EXISTS)."""
    text = "The WS-Management service cannot process a Create request because the target already exists. "
    return WSManFault(SENDER, "w:AlreadyExists", text, 2150858851, text)


def action_not_supported(action: str) -> WSManFault:
    """An Action outside the six WinRS operations (ERROR_WSMAN_ACTION_NOT_SUPPORTED)."""
    text = "The WS-Management service does not support the action specified in the request. "
    return WSManFault(SENDER, "a:ActionNotSupported", text, 2150858771, f"{text}Action: {action} ")


def resource_not_found() -> WSManFault:
    """A ResourceURI other than the cmd shell (ERROR_WSMAN_RESOURCE_NOT_FOUND)."""
    text = (
        "The WS-Management service cannot process the request. The service cannot find the resource "
        "identified by the resource URI and selectors. "
    )
    detail = FAULT_DETAIL + "InvalidResourceURI"
    return WSManFault(SENDER, "w:DestinationUnreachable", text, 2150858752, text, detail)


def invalid_xml() -> WSManFault:
    """A body that is not a SOAP envelope (ERROR_WSMAN_INVALID_XML)."""
    text = "The WS-Management service cannot process the request because the XML is invalid. "
    return WSManFault(SENDER, "w:SchemaValidationError", text, 2150858819, text)


def provider_failure(detail: str) -> WSManFault:
    """The simulated host's own code failed; ``detail`` names the exception (ERROR_WSMAN_PROVIDER_FAILURE)."""
    return WSManFault(
        RECEIVER,
        "w:InternalError",
        "An error was encountered inside the plugin. ",
        2150858755,
        f"An error was encountered inside the plugin. Simulated host error: {detail} ",
        provider=True,
    )
