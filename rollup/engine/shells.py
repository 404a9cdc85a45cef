"""
The WinRM shells a run's processes open, journaled so a resume can delete the stale ones.

WinRM 2.0 allows a user five shells per host (MaxShellsPerUser). A controller killed in the
middle of a run never deletes its shells; they count until they idle out, so a few kills in a
row leave no room for the resume's own shell. Each shell a run's session opens is journaled
(``shell_opened``: host, ShellId, pid) the moment it is created; ``delete_stale_shells`` deletes,
before a resume contacts the hosts for anything else, the shells that earlier processes of the
run opened (a shell already gone is skipped).
"""

from __future__ import annotations

import os
from collections.abc import Callable

from rollup.engine.journal import read_journal
from rollup.engine.journal_state import ShellOpened
from rollup.engine.rundir import RunDir
from rollup.engine.steps.context import Hosts
from rollup.errors import RollupError


def stale_shells(run: RunDir, *, pid: int | None = None) -> dict[str, list[str]]:
    """``{host: [ShellId, ...]}`` of the shells the run's other processes opened, in journal order."""
    me = os.getpid() if pid is None else pid
    found: dict[str, list[str]] = {}
    for entry in read_journal(run.journal_path).entries:
        if isinstance(entry, ShellOpened) and entry.pid != me:
            found.setdefault(entry.host, []).append(entry.shell_id)
    return found


def delete_stale_shells(run: RunDir, hosts: Hosts, say: Callable[[str], None]) -> int:
    """Delete the shells of ``stale_shells``; ``say`` is told what was deleted on each host."""
    total = 0
    for host, ids in stale_shells(run).items():
        if host not in {h.name for h in hosts.inventory.hosts}:
            continue
        try:
            deleted = hosts.delete_shells(host, ids)
        except RollupError as exc:
            say(f"{host}: the shells earlier processes of this run left open could not be deleted: {exc}")
            continue
        if deleted:
            say(f"{host}: deleted {deleted} shell(s) that earlier processes of this run left open")
        total += deleted
    return total
