"""
What the lab's Windows model needs besides a host's state when a program or a COM object of the
host acts: the lab's clock, the caller's account, the blob store and the other hosts.
``SimResult`` is the answer of the lab's Windows Installer and Deployment Tool models (an exit
code and what they report), which the programs that wrap them turn into output.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rollup.lab.state import StateStore


@dataclass(frozen=True, slots=True, kw_only=True)
class SimContext:
    """The lab's clock, the caller, the blob store and the other hosts, for one action on a host."""

    now: float
    """Seconds since the epoch, from the lab's clock (so tests can pin time)."""
    user: str
    """The account the WinRM session authenticated as (``HOSTING\\admin``)."""
    read_blob: Callable[[str], bytes]
    """Bytes of a file's content by its blob key (MSIs are real files in the lab's store)."""
    write_blob: Callable[[bytes], str]
    """Store bytes; returns the blob key (the SHA-256 hex of the bytes)."""
    peers: StateStore | None = None
    """
    Every host of the lab, for an action on other hosts as a hypervisor acts on its guests:
    ``peers.read(name)`` and ``with peers.update(name)``, each under that host's lock. The acting
    host's own state is never taken through here (its lock is held). ``None`` where the lab gives
    no such access.
    """


@dataclass(frozen=True, slots=True, kw_only=True)
class SimResult:
    """A model's answer: the exit code, and what it reports (a mapping, or ``None``)."""

    exit_code: int = 0
    result: Any = None
    stdout: str = ""
    stderr: str = ""
