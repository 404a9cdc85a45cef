"""
Which machine answered: a run acts only on the host the inventory names.

An address in an inventory can point at the wrong machine: a DNS change, a recycled address, two
lines swapped, a lab that took over the loopback addresses of another. So before the first
command on a host, and again after every reconnect, ``rollup.engine.steps.context.Hosts`` reads
the host's facts (``host.facts``, read-only) and ``IdentityBook.check`` compares them:

- the computer name must be the inventory's: ``computer_name`` when the inventory gives one,
  else the host name's first label, as Windows reports it (upper case, at most 15 characters,
  the NetBIOS name);
- the machine SID must be the inventory's ``machine_id`` when it gives one;
- the computer's domain must be the inventory's ``domain`` when it gives one (its DNS name, or
  the DNS name's first label: ``hosting.local`` or ``HOSTING``);
- within a run, the machine must be the one that answered at the run's first contact with that
  host: its computer name and machine SID are recorded then (``identity/<HOST>.json`` in the run
  directory, written once, and an audit record), and a later contact, a reconnect or a resume,
  that finds another machine is refused.

A mismatch is ``IdentityMismatch``: one line naming the host, the address, what was expected and
what answered. The session is closed before anything else is sent, the host is refused for the
rest of the run, and the steps on it fail with that line (steps on other hosts go on).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from rollup.audit.durable import make_dir, write_once
from rollup.errors import CommandFailed
from rollup.identity import mismatch
from rollup.model.inventory import Host
from rollup.ops.host import HostFacts


class IdentityMismatch(CommandFailed):
    """The machine at a host's address is not the host the inventory names."""


@dataclass(frozen=True, slots=True)
class Identity:
    """What a host answered as."""

    computer: str
    machine_id: str | None


def _recorded(path: Path) -> Identity | None:
    """The identity kept at ``path``; ``None`` if there is none, or only what a kill left of one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Identity(computer=str(data["computer"]), machine_id=data.get("machine_id"))
    except (OSError, ValueError, KeyError, TypeError):
        return None


class IdentityBook:
    """
    Checks each contact with a host (see the module docstring). With ``folder``, the identity of
    each host at its first contact in the run is kept there and later contacts must match it;
    ``on_first`` is called once per host when that happens (the audit record).
    """

    def __init__(
        self, folder: Path | None = None, on_first: Callable[[Host, Identity], None] | None = None
    ) -> None:
        self._folder = folder
        self._on_first = on_first
        self._lock = threading.Lock()

    def check(self, host: Host, facts: HostFacts) -> Identity:
        """
        The identity ``facts`` show, when it is ``host``'s.

        Raises:
            IdentityMismatch: another computer name, another machine SID than the inventory's,
                or another machine than the one this run first reached at this host's address.
        """
        found = Identity(computer=facts.computer.strip().upper(), machine_id=facts.machine_id or None)
        where = f"{host.name}: {host.endpoint}"
        problem = mismatch(host, facts)
        if problem is not None:
            raise IdentityMismatch(problem[0], hint=problem[1])
        self._against_first_contact(host, found, where)
        return found

    def _against_first_contact(self, host: Host, found: Identity, where: str) -> None:
        if self._folder is None:
            return
        path = self._folder / f"{host.name}.json"
        with self._lock:
            first = _recorded(path)
            if first is None:
                make_dir(self._folder)
                path.unlink(missing_ok=True)  # an empty record a kill left while writing it
                write_once(path, (json.dumps(asdict(found), sort_keys=True) + "\n").encode("utf-8"))
                if self._on_first is not None:
                    self._on_first(host, found)
                return
        if first.machine_id and found.machine_id != first.machine_id:
            raise IdentityMismatch(
                f"{where} is another machine than this run first reached there (machine SID "
                f"{found.machine_id or 'unknown'}, was {first.machine_id}); nothing was changed there",
                hint="the address now reaches another machine (or a lab was recreated); "
                "start a new run if that machine is the right one",
            )
