"""
Checks across a whole manifest: everything one model cannot see on its own.

``cross_check`` runs after every section has validated. It refuses: duplicate names and ids,
references to files, components, nodes or steps that do not exist, dependency cycles (naming
the cycle), Deployment Tool lists that disagree with the components' ``uninstall`` and
``reinstall`` flags, a ``copy`` that does not cover exactly the ``to_msishare`` files, a file
replaced in the MSI share without a backup before it, and an MSI step whose file nothing puts
on its hosts first. Each error names the key path of the YAML document it is about.

``topological_order`` is the dependency order the manifest and the CLI show steps in.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from rollup.model.fields import key_error, windows_key
from rollup.model.roles import Role
from rollup.model.steps import (
    BackupStep,
    ConditionalStep,
    CopyStep,
    DeploymentToolStep,
    ExtractStep,
    MsiInstallStep,
    MsiRunTwiceStep,
    MsiUninstallStep,
    SqlObjectsCheckStep,
    Step,
    TransferStep,
    UninstallEntriesCheck,
    step_files,
)

if TYPE_CHECKING:
    from rollup.model.manifest import Manifest

_ON_TOOL_HOST = (DeploymentToolStep, ExtractStep, BackupStep, CopyStep)
"""Kinds that work on the first MPS engine server's Deployment Tool, package folder or share."""


def cross_check(m: Manifest) -> None:
    """Raise a ``rollup_key`` validation error for the first inconsistency found in ``m``."""
    _check_names(m)
    _check_dependencies(m)
    ancestors = _ancestors(m)
    for path, step, wrapper in _steps_with_paths(m):
        before = ancestors[(wrapper or step).id]
        _check_step(m, step, path, before)
        if wrapper is not None:
            if step.after:
                raise key_error(f"{path}.after", "a wrapped step follows its conditional; give after there")
            if step.roles != wrapper.roles:
                raise key_error(f"{path}.roles", "must be the roles of the conditional step that wraps it")
    _check_tool_lists(m)
    _check_msishare(m, ancestors)


def _steps_with_paths(m: Manifest) -> Iterator[tuple[str, Step, ConditionalStep | None]]:
    for i, step in enumerate(m.steps):
        yield f"steps[{i}]", step, None
        if isinstance(step, ConditionalStep):
            yield f"steps[{i}].step", step.step, step


def _check_names(m: Manifest) -> None:
    seen: dict[str, str] = {}
    for i, c in enumerate(m.components):
        if c.name in seen:
            raise key_error(f"components[{i}].name", f"duplicate component {c.name!r} (also {seen[c.name]})")
        seen[c.name] = f"components[{i}]"
        _check_file_ref(m, f"components[{i}].msi", c.msi)
    msis: dict[str, str] = {}
    for i, c in enumerate(m.components):
        if windows_key(c.msi) in msis:
            owner = msis[windows_key(c.msi)]
            raise key_error(f"components[{i}].msi", f"{c.msi!r} is already the MSI of {owner!r}")
        msis[windows_key(c.msi)] = c.name
    nodes: set[str] = set()
    for i, n in enumerate(m.initialize):
        if n.name in nodes:
            raise key_error(f"initialize[{i}].name", f"duplicate node {n.name!r}")
        nodes.add(n.name)
    ids: dict[str, str] = {}
    for path, step, _ in _steps_with_paths(m):
        if step.id in ids:
            raise key_error(f"{path}.id", f"duplicate step id {step.id!r} (also {ids[step.id]})")
        ids[step.id] = path


def _check_file_ref(m: Manifest, path: str, name: str) -> None:
    for f in m.package.files:
        if windows_key(f.name) == windows_key(name):
            if f.name != name:
                raise key_error(path, f"names {name!r}; the package spells it {f.name!r}")
            return
    raise key_error(path, f"no package file {name!r}")


def _check_dependencies(m: Manifest) -> None:
    top = {s.id for s in m.steps}
    wrapped = {s.step.id: s.id for s in m.steps if isinstance(s, ConditionalStep)}
    for i, step in enumerate(m.steps):
        for k, dep in enumerate(step.after):
            if dep in wrapped:
                raise key_error(f"steps[{i}].after[{k}]", f"{dep!r} is wrapped; depend on {wrapped[dep]!r}")
            if dep not in top:
                raise key_error(f"steps[{i}].after[{k}]", f"unknown step {dep!r}")
    index = {s.id: i for i, s in enumerate(m.steps)}
    after = {s.id: s.after for s in m.steps}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    trail: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        trail.append(node)
        for dep in after[node]:
            if state.get(dep) == 1:
                cycle = [*trail[trail.index(dep) :], dep]
                first = min(cycle, key=index.__getitem__)
                start = cycle.index(first)
                named = cycle[start:-1] + cycle[:start] + [first]
                cycle_text = " -> ".join(named)
                raise key_error(
                    f"steps[{index[first]}].after", f"dependency cycle {cycle_text} (each waits for the next)"
                )
            if dep not in state:
                visit(dep)
        trail.pop()
        state[node] = 2

    for step in m.steps:
        if step.id not in state:
            visit(step.id)


def topological_order(nodes: Sequence[tuple[str, Sequence[str]]]) -> tuple[str, ...]:
    """
    Kahn's algorithm over ``(id, after)`` pairs, taking the earliest-listed ready node first,
    so a file already in dependency order keeps its order. Dependencies must exist and form
    no cycle (``Manifest`` guarantees both).
    """
    position = {node: i for i, (node, _) in enumerate(nodes)}
    waiting = {node: len(set(after)) for node, after in nodes}
    dependents: dict[str, list[str]] = {node: [] for node, _ in nodes}
    for node, after in nodes:
        for dep in set(after):
            dependents[dep].append(node)
    ready = [position[node] for node, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        node = nodes[heapq.heappop(ready)][0]
        order.append(node)
        for nxt in dependents[node]:
            waiting[nxt] -= 1
            if waiting[nxt] == 0:
                heapq.heappush(ready, position[nxt])
    return tuple(order)


def _ancestors(m: Manifest) -> dict[str, frozenset[str]]:
    """Every top-level step's transitive dependencies (the graph is known to be acyclic)."""
    after = {s.id: s.after for s in m.steps}
    found: dict[str, frozenset[str]] = {}
    for step_id in m.step_order():
        acc: set[str] = set()
        for dep in after[step_id]:
            acc |= found[dep] | {dep}
        found[step_id] = frozenset(acc)
    return found


def _check_step(m: Manifest, step: Step, path: str, before: frozenset[str]) -> None:
    is_msi_step = isinstance(step, MsiInstallStep | MsiRunTwiceStep | MsiUninstallStep)
    for key, name in step_files(step):
        _check_file_ref(m, f"{path}.{key}", name)
        if is_msi_step and not name.lower().endswith(".msi"):
            raise key_error(f"{path}.{key}", f"{name!r} is not an .msi package")
    if isinstance(step, _ON_TOOL_HOST) and step.roles != (Role.DEPLOYMENT_TOOL,):
        raise key_error(f"{path}.roles", f"a {step.kind} step runs on deployment_tool only")
    if isinstance(step, DeploymentToolStep):
        _check_tool_step(m, step, path)
    if isinstance(step, SqlObjectsCheckStep) and m.sql is None:
        raise key_error(path, "the manifest has no sql section to check")
    if isinstance(step, CopyStep) and not any(isinstance(m.step(a), ExtractStep) for a in before):
        raise key_error(f"{path}.after", "copies from extract_to, so an extract step must come before it")
    if isinstance(step, MsiInstallStep | MsiRunTwiceStep) and not _is_staged(m, step, before):
        roles = ", ".join(step.roles)
        raise key_error(
            f"{path}.from_dir",
            f"no step before this one puts {step.file} in {step.from_dir} on {roles}; add a transfer step",
        )


def _check_tool_step(m: Manifest, step: DeploymentToolStep, path: str) -> None:
    for k, name in enumerate(step.components):
        component = next((c for c in m.components if c.name == name), None)
        if component is None:
            raise key_error(f"{path}.components[{k}]", f"no component {name!r}")
        if component.managed_by != "deployment_tool":
            raise key_error(f"{path}.components[{k}]", f"{name!r} is not a Deployment Tool component")
        if not getattr(component, step.action):
            raise key_error(f"{path}.components[{k}]", f"{name!r} is not marked {step.action}: true")
    for k, node in enumerate(step.nodes):
        if node not in {n.name for n in m.initialize}:
            raise key_error(f"{path}.nodes[{k}]", f"no initialize node {node!r}")
    for c, check in enumerate(step.checks):
        if not isinstance(check, UninstallEntriesCheck):
            continue
        flag = "uninstall" if check.expect == "absent" else "reinstall"
        for k, name in enumerate(check.components):
            component = next((x for x in m.components if x.name == name), None)
            if component is None or not getattr(component, flag):
                raise key_error(
                    f"{path}.checks[{c}].components[{k}]", f"no component {name!r} marked {flag}: true"
                )


def _is_staged(m: Manifest, step: MsiInstallStep | MsiRunTwiceStep, before: frozenset[str]) -> bool:
    """Whether a step before ``step`` puts its file into ``from_dir`` on all of its hosts."""
    folder, file = windows_key(step.from_dir), windows_key(step.file)
    on_tool_host = step.roles == (Role.DEPLOYMENT_TOOL,)
    for step_id in before:
        prior = m.step(step_id)
        if isinstance(prior, ExtractStep) and on_tool_host and folder == windows_key(m.package.extract_to):
            return True
        if (
            isinstance(prior, CopyStep)
            and on_tool_host
            and folder == windows_key(m.package.msishare)
            and file in {windows_key(f) for f in prior.files}
        ):
            return True
        if (
            isinstance(prior, TransferStep)
            and windows_key(prior.file) == file
            and windows_key(prior.to_dir) == folder
            and set(step.roles) <= set(prior.roles)
        ):
            return True
    return False


def _check_tool_lists(m: Manifest) -> None:
    """Each flagged component is uninstalled/reinstalled, and each node initialized, exactly once."""
    for action in ("uninstall", "reinstall", "initialize"):
        done: dict[str, str] = {}
        for path, step, _ in _steps_with_paths(m):
            if not isinstance(step, DeploymentToolStep) or step.action != action:
                continue
            key = "nodes" if action == "initialize" else "components"
            for k, name in enumerate(getattr(step, key)):
                if name in done:
                    raise key_error(f"{path}.{key}[{k}]", f"{name!r} is already in step {done[name]!r}")
                done[name] = step.id
        if action == "initialize":
            for i, node in enumerate(m.initialize):
                if node.name not in done:
                    raise key_error(f"initialize[{i}]", f"no deployment_tool step initializes {node.name!r}")
            continue
        for i, c in enumerate(m.components):
            if getattr(c, action) and c.name not in done:
                raise key_error(f"components[{i}].{action}", f"no {action} step lists {c.name!r}")


def _check_msishare(m: Manifest, ancestors: dict[str, frozenset[str]]) -> None:
    """``copy`` covers exactly the ``to_msishare`` files, each backed up by an earlier ``backup``."""
    wanted = {windows_key(f.name) for f in m.msishare_files()}
    copied: dict[str, str] = {}
    backed_up: set[tuple[str, str]] = set()  # (backup step id, file key)
    for step in m.all_steps():
        if isinstance(step, BackupStep):
            backed_up |= {(step.id, windows_key(f)) for f in step.files}
    for path, step, wrapper in _steps_with_paths(m):
        if not isinstance(step, CopyStep):
            continue
        earlier = ancestors[(wrapper or step).id]
        for k, name in enumerate(step.files):
            key = windows_key(name)
            if key not in wanted:
                raise key_error(f"{path}.files[{k}]", f"{name!r} is not marked to_msishare: true")
            if key in copied:
                raise key_error(f"{path}.files[{k}]", f"{name!r} is already copied by step {copied[key]!r}")
            copied[key] = step.id
            if not any(b in earlier and f == key for b, f in backed_up):
                raise key_error(f"{path}.files[{k}]", f"{name!r} would be replaced before any backup step")
    _check_all_copied(m, copied)


def _check_all_copied(m: Manifest, copied: dict[str, str]) -> None:
    for i, f in enumerate(m.package.files):
        if f.to_msishare and windows_key(f.name) not in copied:
            raise key_error(f"package.files[{i}].to_msishare", f"no copy step copies {f.name!r}")
    for path, step, _ in _steps_with_paths(m):
        if isinstance(step, BackupStep):
            for k, name in enumerate(step.files):
                if windows_key(name) not in copied:
                    raise key_error(f"{path}.files[{k}]", f"{name!r} is not replaced by any copy step")
