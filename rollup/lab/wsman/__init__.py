"""
The simulated hosts' WinRM service: WS-Management over HTTP(S) on loopback, with Basic and
NTLM/Negotiate authentication, MS-WSMV message encryption, the WinRS cmd shell and Windows'
WinRM 2.0 limits. See docs/lab-winrm.md. The names below are the whole public interface.
"""

from __future__ import annotations

from rollup.lab.wsman.api import (
    Action,
    AddressTaken,
    Credential,
    Delay,
    EndpointConfig,
    Fault,
    FaultReply,
    GoDown,
    NoAnswer,
    RejectAuth,
    RequestHook,
    RequestInfo,
    ResetConnection,
    ScriptOutcome,
    ScriptRun,
    ScriptRunner,
    WindowsVersion,
)
from rollup.lab.wsman.endpoint import EndpointStats
from rollup.lab.wsman.faults import WSManFault
from rollup.lab.wsman.limits import WINRM_2_0, Limits
from rollup.lab.wsman.server import LabEndpoint, LabServer

__all__ = [
    "WINRM_2_0",
    "Action",
    "AddressTaken",
    "Credential",
    "Delay",
    "EndpointConfig",
    "EndpointStats",
    "Fault",
    "FaultReply",
    "GoDown",
    "LabEndpoint",
    "LabServer",
    "Limits",
    "NoAnswer",
    "RejectAuth",
    "RequestHook",
    "RequestInfo",
    "ResetConnection",
    "ScriptOutcome",
    "ScriptRun",
    "ScriptRunner",
    "WSManFault",
    "WindowsVersion",
]
