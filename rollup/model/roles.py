"""
The closed set of roles a host can play in an HMC 4.0 deployment.

Inventory groups are named after roles and manifest steps target roles; both refuse a
name outside this set, so a typo cannot silently select no host.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """A role, as an inventory group name and a manifest step target."""

    DEPLOYMENT_TOOL = "deployment_tool"
    """The first MPS engine server (MPS01): the Deployment Tool, C:\\MSIShare, C:\\ConfigShare."""

    MPS_ENGINE = "mps_engine"
    """Every MPS engine server (MPS01, MPS02, ...): the COM+ application "Provisioning Engine"."""

    DNS = "dns"
    """The DNS Web Client server (DNS01): DNSClient.msi and the IIS DNSProvider directory."""

    COLLAB = "collab"
    """Every front-end SharePoint server (COLLAB01..n): the SharePoint web-service MSI."""

    MPSSQL = "mpssql"
    """The SQL server holding the ResourceManager database (MPSSQL)."""

    WEB_SERVICES = "web_services"
    """Every provisioning web-services server (PROV01..n): IIS restart at the end."""


ROLE_NAMES: frozenset[str] = frozenset(r.value for r in Role)
