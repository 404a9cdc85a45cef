"""
Whether the machine that answered at a host's address is the host the inventory names: the
comparison itself, pure. ``rollup.engine.identity`` applies it at every contact of a run (and
keeps the first contact's identity); ``rollup.preflight`` applies it in its checks, so an
``apply`` whose pre-flight reaches the wrong machine is refused naming it.
"""

from __future__ import annotations

from rollup.model.inventory import Host
from rollup.ops.host import HostFacts

NETBIOS_LENGTH = 15


def expected_computer(host: Host) -> str:
    """The computer name the host must report: ``computer_name``, else its name's first label."""
    name = host.computer_name or host.name.split(".", 1)[0]
    return name[:NETBIOS_LENGTH].upper()


def mismatch(host: Host, facts: HostFacts) -> tuple[str, str] | None:
    """(one line naming what was expected and what answered, a hint), or ``None`` when it is the host."""
    where = f"{host.name}: {host.endpoint}"
    computer = facts.computer.strip().upper()
    expected = expected_computer(host)
    if computer != expected:
        return (
            f"{where} answers as computer {computer}, not {expected}; nothing was changed there",
            f"check the inventory's address for {host.name} (a DNS change, a recycled or "
            "swapped address), or set computer_name if the host's name differs",
        )
    found = facts.machine_id or None
    if host.machine_id and found and found.upper() != host.machine_id.upper():
        return (
            f"{where} answers with machine SID {found}, not {host.machine_id}; nothing was changed there",
            f"the address of {host.name} reaches another machine of the same name",
        )
    domain = (facts.domain or "").strip().lower()
    wanted = (host.domain or "").lower()
    if wanted and domain and wanted not in (domain, domain.split(".", 1)[0]):
        return (
            f"{where} answers as a member of domain {domain}, not {host.domain}; nothing was changed there",
            f"the address of {host.name} reaches a machine of another domain of the same name",
        )
    return None
