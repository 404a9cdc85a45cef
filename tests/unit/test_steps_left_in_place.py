"""``iis_setting_left``: the rollback's read-only report of the directory security the rollup set."""

from __future__ import annotations

from typing import Any

import pytest

from rollup.engine.steps.restore import IisSettingLeft
from rollup.ops import iis

PARAMS = {
    "site": "Default Web Site",
    "vdir": "DNSProvider",
    "basic_auth_default_domain": "\\",
    "require_ssl": True,
}
HEAD = "Default Web Site/DNSProvider: left in place (the KB gives no previous value)"


class _Host:
    """What the step reads: ``iis.get_vdir`` of the step's virtual directory, answered with ``found``."""

    def __init__(self, **found: Any) -> None:
        self.p = PARAMS
        self.found = iis.VdirSecurity(
            iis_version=6, site="Default Web Site", site_id=1, vdir="DNSProvider",
            path="/LM/W3SVC/1/ROOT/DNSProvider", **found,
        )  # fmt: skip
        self.asked: list[Any] = []

    def call(self, operation: Any, params: Any) -> iis.VdirSecurity:
        self.asked.append((operation.id, params))
        return self.found


@pytest.mark.parametrize(
    ("found", "reason"),
    [
        (
            {"default_logon_domain": "\\", "require_ssl": True, "basic_auth": True},
            f"{HEAD}: basic_auth True, default_logon_domain '\\', require_ssl True",
        ),
        (
            {"default_logon_domain": "HOSTING", "require_ssl": True, "basic_auth": True},
            f"{HEAD}: basic_auth True, require_ssl True; changed since: default_logon_domain 'HOSTING'",
        ),
        (
            {"default_logon_domain": "", "require_ssl": False, "basic_auth": False},
            f"{HEAD}: none of the rollup's settings remains; changed since: basic_auth False, "
            "default_logon_domain '', require_ssl False",
        ),
    ],
)
def test_the_settings_are_reported_as_left_in_place_or_changed_since(
    found: dict[str, Any], reason: str
) -> None:
    host = _Host(**found)

    guard = IisSettingLeft().check(host)  # type: ignore[arg-type]

    assert guard.in_effect is True  # never acts: a no-op whose summary is the report
    assert guard.reason == reason
    assert host.asked == [("iis.get_vdir", iis.VdirParams("Default Web Site", "DNSProvider"))]
