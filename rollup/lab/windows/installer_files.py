"""
What Windows Installer does to a host's files when it installs or removes a product.

``install_components``: the product becomes a client of each component its package carries, and
each file goes to its path (``[ProgramFilesFolder]`` is ``C:\\Program Files``, or
``C:\\Program Files (x86)`` on a 64-bit host: the lab's packages are 32-bit), by Windows
Installer's file versioning rules (the default ``REINSTALLMODE=omus``):

- no file there: it is installed;
- a versioned file over a versioned one: it replaces only an older version (an equal or newer
  file stays: "or later");
- an unversioned file over a versioned one: the versioned file stays;
- over an unversioned file: it is replaced (Windows Installer keeps an unversioned file modified
  since it was installed; the lab keeps no creation times, so it replaces it).

A major upgrade removes the older product first (``RemoveExistingProducts`` early in the
sequence, ``register_product``): its files go with it, whatever their version, unless another
installed product shares their component; the versioning rules then apply to what is left.

A file in use (``HostState.locked_files``) cannot be replaced: the new file waits in
``pending_files`` for the next restart (the lab's restart moves it into place),
``PendingFileRenameOperations`` is set, and the install asks for a restart (exit code 3010).

``remove_components``: the product leaves each component's clients; a component no installed
product uses any more has its files deleted (a file in use stays where it is). A component
shared by several packages therefore keeps its files until the last of them is removed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rollup.lab.windows.hostfiles import PayloadFile, host_file, is_locked, remove_file, utc
from rollup.lab.windows.versioninfo import read_version
from rollup.msifiles import split_folder

if TYPE_CHECKING:
    from rollup.lab.context import SimContext
    from rollup.lab.state import HostState, LabFile

PENDING_RENAME = "PendingFileRenameOperations"
"""The ``HostState.pending_reboot`` reason of a file waiting for a restart."""


def host_path(state: HostState, path: str) -> str:
    """``[ProgramFilesFolder]a\\b.dll`` on this host (see the module docstring)."""
    wow = state.arch == "AMD64"
    folders = {
        "ProgramFilesFolder": "C:\\Program Files (x86)" if wow else "C:\\Program Files",
        "CommonFilesFolder": "C:\\Program Files (x86)\\Common Files"
        if wow
        else "C:\\Program Files\\Common Files",
        "WindowsFolder": "C:\\WINDOWS" if state.os_version.startswith("5.") else "C:\\Windows",
    }
    token, rest = split_folder(path)
    return f"{folders[token]}\\{rest}"


def _version(entry: LabFile, ctx: SimContext) -> tuple[int, ...] | None:
    """The version resource's file version of a file on the host, or ``None`` (unversioned)."""
    if entry.blob is None:
        return None
    found = read_version(ctx.read_blob(entry.blob), key=entry.sha256)
    return None if found is None else found.file_parts


def _replaces(new: PayloadFile, old: LabFile | None, ctx: SimContext) -> bool:
    if old is None:
        return True
    installed = _version(old, ctx)
    if new.row.version is None:
        return installed is None
    if installed is None:
        return True
    wanted = tuple(int(part) for part in new.row.version.split("."))
    return installed < (*wanted, 0, 0, 0)[:4]


def install_components(
    state: HostState, product_code: str, payload: Sequence[PayloadFile], ctx: SimContext
) -> tuple[bool, tuple[str, ...]]:
    """
    Install ``payload`` for ``product_code``: whether a restart is needed (a file was in use),
    and what the log tells.
    """
    from rollup.lab.state import InstalledComponent, path_key

    events = []
    restart = False
    for item in payload:
        component = state.components.setdefault(
            item.row.component, InstalledComponent(component=item.row.component)
        )
        if product_code not in component.clients:
            component.clients.append(product_code)
        target = host_path(state, item.row.path)
        if not any(path_key(f) == path_key(target) for f in component.files):
            component.files.append(target)
        old = host_file(state, target)
        if not _replaces(item, old, ctx):
            events.append(
                f"File: {target}; Won't Overwrite; Existing file is of an equal or greater version."
            )
            continue
        new = _lab_file(target, item, ctx)
        if old is not None and is_locked(state, target):
            state.pending_files[path_key(target)] = new
            if PENDING_RENAME not in state.pending_reboot:
                state.pending_reboot.append(PENDING_RENAME)
            events.append(f"File: {target}; In use; the new file is installed at the next restart.")
            restart = True
            continue
        state.files[path_key(target)] = new
        events.append(f"File: {target}; Installed; Version: {item.row.version or '(unversioned)'}.")
    return restart, tuple(events)


def remove_components(state: HostState, product_code: str) -> tuple[str, ...]:
    """Remove ``product_code`` from its components; delete the files of those no product uses."""
    events = []
    for guid, component in list(state.components.items()):
        if product_code not in component.clients:
            continue
        component.clients.remove(product_code)
        if component.clients:
            events.append(f"Component {guid} is kept: used by {', '.join(component.clients)}.")
            continue
        for path in component.files:
            if is_locked(state, path):
                events.append(f"File: {path}; In use; left in place.")
            else:
                remove_file(state, path)
        del state.components[guid]
    return tuple(events)


def _lab_file(target: str, item: PayloadFile, ctx: SimContext) -> LabFile:
    from rollup.lab.state import LabFile

    return LabFile(
        path=target,
        size=len(item.data),
        mtime=utc(ctx.now),
        sha256=hashlib.sha256(item.data).hexdigest(),
        blob=ctx.write_blob(item.data),
    )
