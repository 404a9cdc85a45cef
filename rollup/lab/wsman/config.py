"""
The ``winrm/config`` resource: what a WS-Management Get of the host's configuration answers.

pypsrp's ``WSMan.update_max_payload_size()`` reads ``MaxEnvelopeSizekb`` this way (recorded in
pypsrp's ``test_wsman_update_envelope_size_*.yml``, a Server 2016 host set to 150, 500 and 4096).
The answer has the recorded elements in the recorded order. The values the lab acts on come
from the host: its ``Limits`` (``MaxEnvelopeSizekb``, ``MaxTimeoutms``,
``MaxConcurrentOperationsPerUser``, ``Winrs/IdleTimeout``, ``Winrs/MaxShellsPerUser``) and the
service settings it models (Basic and Negotiate accepted, unencrypted messages allowed, neither
Kerberos, CredSSP nor certificates). Every other value is the recorded host's, limits the lab
does not enforce included (``MaxConcurrentUsers`` 2147483647 and the like).
"""

from __future__ import annotations

from rollup.lab.wsman.limits import Limits

NS_CONFIG = "http://schemas.microsoft.com/wbem/wsman/1/config"
ACTION_GET = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Get"

_SDDL = "O:NSG:BAD:P(A;;GA;;;BA)(A;;GR;;;IU)S:P(AU;FA;GA;;;WD)(AU;SA;GXGW;;;WD)"


def _elements(pairs: list[tuple[str, object]]) -> str:
    out = []
    for name, value in pairs:
        if isinstance(value, list):
            out.append(f"<cfg:{name}>{_elements(value)}</cfg:{name}>")
        else:
            text = str(value).lower() if isinstance(value, bool) else str(value)
            out.append(f"<cfg:{name}>{text}</cfg:{name}>")
    return "".join(out)


def config_body(limits: Limits) -> str:
    """The ``cfg:Config`` element of the GetResponse."""
    client: list[tuple[str, object]] = [
        ("NetworkDelayms", 5000),
        ("URLPrefix", "wsman"),
        ("AllowUnencrypted", False),
        (
            "Auth",
            [
                ("Basic", True),
                ("Digest", True),
                ("Kerberos", True),
                ("Negotiate", True),
                ("Certificate", True),
                ("CredSSP", False),
            ],
        ),
        ("DefaultPorts", [("HTTP", 5985), ("HTTPS", 5986)]),
        ("TrustedHosts", ""),
    ]
    service: list[tuple[str, object]] = [
        ("RootSDDL", _SDDL),
        ("MaxConcurrentOperations", 4294967295),
        ("MaxConcurrentOperationsPerUser", limits.max_operations_per_user),
        ("EnumerationTimeoutms", 240000),
        ("MaxConnections", 300),
        ("MaxPacketRetrievalTimeSeconds", 120),
        ("AllowUnencrypted", True),
        (
            "Auth",
            [
                ("Basic", True),
                ("Kerberos", False),
                ("Negotiate", True),
                ("Certificate", False),
                ("CredSSP", False),
                ("CbtHardeningLevel", "Relaxed"),
            ],
        ),
        ("DefaultPorts", [("HTTP", 5985), ("HTTPS", 5986)]),
        ("IPv4Filter", "*"),
        ("IPv6Filter", "*"),
        ("EnableCompatibilityHttpListener", False),
        ("EnableCompatibilityHttpsListener", False),
        ("CertificateThumbprint", ""),
        ("AllowRemoteAccess", True),
    ]
    winrs: list[tuple[str, object]] = [
        ("AllowRemoteShellAccess", True),
        ("IdleTimeout", round(limits.idle_timeout_s * 1000)),
        ("MaxConcurrentUsers", 2147483647),
        ("MaxShellRunTime", 2147483647),
        ("MaxProcessesPerShell", 2147483647),
        ("MaxMemoryPerShellMB", 2147483647),
        ("MaxShellsPerUser", limits.max_shells_per_user),
    ]
    top: list[tuple[str, object]] = [
        ("MaxEnvelopeSizekb", limits.max_envelope_kb),
        ("MaxTimeoutms", round(limits.max_timeout_s * 1000)),
        ("MaxBatchItems", 32000),
        ("MaxProviderRequests", 4294967295),
        ("Client", client),
        ("Service", service),
        ("Winrs", winrs),
    ]
    return f'<cfg:Config xmlns:cfg="{NS_CONFIG}">{_elements(top)}</cfg:Config>'
