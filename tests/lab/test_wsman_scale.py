"""Many simulated hosts in one server process."""

from __future__ import annotations

import winrm

from tests.lab.conftest import LOCAL_USER, PASSWORD, Lab


def test_sixty_hosts_on_distinct_addresses_each_answer_with_their_name(lab: Lab) -> None:
    """Sixty endpoints on sixty 127.0.x.y addresses in one server each answer ``hostname`` with their name."""
    configs = [lab.config(f"PROV{n:02d}") for n in range(60)]
    server = lab.start(*configs)

    names = {
        winrm.Session(server.endpoint(c.name).http_url, auth=(LOCAL_USER, PASSWORD), transport="basic")
        .run_cmd("hostname")
        .std_out
        for c in configs
    }

    assert len({c.address for c in configs}) == 60
    assert names == {f"PROV{n:02d}\r\n".encode() for n in range(60)}
