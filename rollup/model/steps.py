"""
The step kinds of a rollup manifest: a closed set, each with its fields spelt out.

A manifest's ``steps`` list is the whole installation procedure as data. ``kind`` selects
exactly one of the models below (a pydantic discriminated union), and each model spells out
its own fields, so a typo is refused instead of being silently ignored. Every kind shares the
fields of ``_StepBase`` (``id``, ``title``, ``roles``, ``after``, ``timeout_s``, ``retry``,
``note``).

This module checks what one step can check alone. Checks that need the whole manifest (a
file a step names exists, dependencies exist and have no cycle) live in
``rollup.model.manifest_checks``.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from types import MappingProxyType
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, PlainSerializer, model_validator

from rollup.model.fields import (
    FROZEN,
    Bool,
    ExitCodes,
    FileName,
    FileNames,
    Int,
    Line,
    Names,
    Roles,
    Seconds,
    StepId,
    Str,
    Text,
    WindowsDir,
    between,
    iis_site_name,
    key_error,
    logon_domain,
    non_empty,
    one_line,
    unique,
)


def _msi_properties(value: Mapping[str, str]) -> Mapping[str, str]:
    """Public property names (upper case) and values that survive msiexec's quoting; read-only."""
    for name, text in value.items():
        if not re.fullmatch(r"[A-Z_][A-Z0-9_.]*", name):
            raise ValueError(f"{name!r} is not a public MSI property name (upper case, e.g. REBOOT)")
        if '"' in text or any(ord(ch) < 32 for ch in text):
            raise ValueError(f"{name}: value must not contain quotes or control characters")
    return MappingProxyType(dict(value))


MsiProperties = Annotated[
    Mapping[Str, Str], AfterValidator(_msi_properties), PlainSerializer(dict, return_type=dict[str, str])
]


class Retry(BaseModel):
    """
    How often a step is tried. Transient transport errors are retried up to ``attempts``; a
    remote exit code is retried only when listed in ``on_exit_codes`` (1618: another installer
    holds the Windows Installer mutex). Waits grow from ``first_wait_s`` up to ``max_wait_s``.
    """

    model_config = FROZEN

    attempts: Annotated[Int, AfterValidator(between(1, 20))] = 1
    first_wait_s: Seconds = 0
    max_wait_s: Seconds = 0
    on_exit_codes: ExitCodes = ()

    @model_validator(mode="after")
    def _consistent(self) -> Retry:
        if self.max_wait_s < self.first_wait_s:
            raise key_error("max_wait_s", f"must not be less than first_wait_s ({self.first_wait_s})")
        if self.on_exit_codes and self.attempts == 1:
            raise key_error("on_exit_codes", "retrying an exit code needs attempts above 1")
        return self


class _StepBase(BaseModel):
    """The fields every step kind has (docs/manifest.md, "Steps")."""

    model_config = FROZEN

    id: StepId
    title: Line
    roles: Roles
    after: Annotated[tuple[StepId, ...], AfterValidator(unique)] = ()
    timeout_s: Annotated[Int, AfterValidator(between(1, 86400))]
    retry: Retry = Retry()
    note: Text | None = None


class DeployLogsCheck(BaseModel):
    """The Deployment Tool's MSI logs written during the step all end in ``success_marker``."""

    model_config = FROZEN

    kind: Literal["deploy_logs"]
    log_dir: WindowsDir = "C:\\ConfigShare\\Log"
    success_marker: Line = "MainEngineThread is returning 0"


class UninstallEntriesCheck(BaseModel):
    """
    The components' Uninstall registry entries on the hosts of ``roles``: ``absent`` (removed
    everywhere) or ``new_version`` (wherever present, at the ProductVersion of the component's
    package file).
    """

    model_config = FROZEN

    kind: Literal["uninstall_entries"]
    expect: Literal["absent", "new_version"]
    components: Annotated[Names, AfterValidator(non_empty)]
    roles: Roles


Check = Annotated[DeployLogsCheck | UninstallEntriesCheck, Field(discriminator="kind")]

TEMPLATE_FIELDS = frozenset({"action", "name", "msi"})


def check_command_template(value: str) -> str:
    """A Deployment Tool command template: placeholders ``{action}``, ``{name}`` and ``{msi}`` only."""
    try:
        parsed = list(string.Formatter().parse(value))
    except ValueError as exc:
        raise ValueError(f"is not a valid template: {exc}") from None
    for _, field, spec, conversion in parsed:
        if field is None:
            continue
        if field not in TEMPLATE_FIELDS or spec or conversion:
            raise ValueError(f"{{{field}}} is not a placeholder; use {{action}}, {{name}} or {{msi}}")
    return value


class DeploymentToolStep(_StepBase):
    """
    An action of the HMC Deployment Tool on the first MPS engine server. ``manual`` (the
    default) shows ``checklist`` to an operator and waits; ``command`` runs the site's own
    ``command_template`` once per component or node. Either way ``checks`` run afterwards.
    """

    kind: Literal["deployment_tool"]
    action: Literal["uninstall", "reinstall", "initialize", "start_deployment"]
    components: Names = ()
    nodes: Names = ()
    strategy: Literal["manual", "command"] = "manual"
    command_template: Annotated[Line, AfterValidator(check_command_template)] | None = None
    checklist: tuple[Text, ...] = ()
    checks: tuple[Check, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> DeploymentToolStep:
        wants_components = self.action in ("uninstall", "reinstall")
        if wants_components and not self.components:
            raise key_error("components", f"the {self.action} action needs at least one component")
        if not wants_components and self.components:
            raise key_error("components", f"the {self.action} action takes no components")
        if self.action == "initialize" and not self.nodes:
            raise key_error("nodes", "the initialize action needs at least one node")
        if self.action != "initialize" and self.nodes:
            raise key_error("nodes", f"the {self.action} action takes no nodes")
        if self.strategy == "command" and self.command_template is None:
            raise key_error("command_template", "the command strategy needs a command_template")
        if self.strategy == "manual" and self.command_template is not None:
            raise key_error("command_template", "only the command strategy uses a command_template")
        if self.strategy == "manual" and not self.checklist:
            raise key_error("checklist", "a manual action needs a checklist for the operator")
        if self.command_template is not None:
            used = {f for _, f, _, _ in string.Formatter().parse(self.command_template) if f}
            if "msi" in used and not wants_components:
                raise key_error("command_template", f"{{msi}} has no value for the {self.action} action")
            if "name" in used and self.action == "start_deployment":
                raise key_error("command_template", "{name} has no value for the start_deployment action")
        return self


class ExtractStep(_StepBase):
    """Put every package file into ``package.extract_to``, verified by size and pinned SHA-256."""

    kind: Literal["extract"]


class BackupStep(_StepBase):
    """
    Keep the current copies of ``files`` in ``package.msishare`` as
    ``<name>.<UTC yyyyMMddTHHmmssZ>.bak`` beside them (``rename`` or ``copy``); an existing
    backup name is never overwritten, and a file absent from the share is recorded, not an error.
    """

    kind: Literal["backup"]
    files: FileNames
    method: Literal["rename", "copy"]


class CopyStep(_StepBase):
    """Copy ``files`` from ``package.extract_to`` into ``package.msishare``, verified afterwards."""

    kind: Literal["copy"]
    files: FileNames


class TransferStep(_StepBase):
    """Send one package file to ``to_dir`` on every host of the step's roles, verified there."""

    kind: Literal["transfer"]
    file: FileName
    to_dir: WindowsDir


class MsiInstallStep(_StepBase):
    """``msiexec /i`` of a package file that sits in ``from_dir`` on the target, silently."""

    kind: Literal["msi_install"]
    file: FileName
    from_dir: WindowsDir
    properties: MsiProperties = Field(default_factory=lambda: MappingProxyType({}))
    ok_exit_codes: ExitCodes = (0, 1641, 3010)


class MsiUninstallStep(_StepBase):
    """
    ``msiexec /x`` of the installed product that the package file ``product_of`` replaces,
    whatever its installed version; 1605 (not installed) counts as done.
    """

    kind: Literal["msi_uninstall"]
    product_of: FileName
    ok_exit_codes: ExitCodes = (0, 1605, 1641, 3010)


class MsiRunTwiceStep(_StepBase):
    """
    A package run two times, as the KB asks for ``DNSClient.msi``: the first run removes the
    installed old version, the second installs the new one.
    """

    kind: Literal["msi_run_twice"]
    file: FileName
    from_dir: WindowsDir
    properties: MsiProperties = Field(default_factory=lambda: MappingProxyType({}))
    ok_exit_codes: ExitCodes = (0, 1641, 3010)


LogonDomain = Annotated[Str, AfterValidator(one_line(255)), AfterValidator(logon_domain)]


class IisSettingStep(_StepBase):
    """Directory security of one IIS virtual directory (Basic-auth default domain, SSL)."""

    kind: Literal["iis_setting"]
    site: Annotated[Line, AfterValidator(iis_site_name)]
    vdir: FileName
    basic_auth_default_domain: LogonDomain | None = None
    require_ssl: Bool | None = None

    @model_validator(mode="after")
    def _something_to_set(self) -> IisSettingStep:
        if self.basic_auth_default_domain is None and self.require_ssl is None:
            raise key_error("require_ssl", "set basic_auth_default_domain, require_ssl or both")
        return self


class IisRestartStep(_StepBase):
    """``iisreset /restart`` on every host of the step's roles, then the IIS services checked."""

    kind: Literal["iis_restart"]


class SqlObjectsCheckStep(_StepBase):
    """Read-only check that every object of the manifest's ``sql`` section exists."""

    kind: Literal["sql_objects_check"]


class ComplusRestartStep(_StepBase):
    """Shut down and start a COM+ application, waiting ``settle_s`` in between."""

    kind: Literal["complus_restart"]
    application: Line
    settle_s: Annotated[Int, AfterValidator(between(0, 600))] = 5


class ManualGateStep(_StepBase):
    """A checklist an operator confirms before the steps after it may run."""

    kind: Literal["manual_gate"]
    checklist: Annotated[tuple[Text, ...], AfterValidator(non_empty)]


class OfflineAddressBookCondition(BaseModel):
    """True when the count of offline address books has reached ``at_least`` (of ``limit``)."""

    model_config = FROZEN

    fact: Literal["offline_address_book_count"]
    at_least: Annotated[Int, AfterValidator(between(1, 10_000_000))]
    limit: Annotated[Int, AfterValidator(between(1, 10_000_000))]

    @model_validator(mode="after")
    def _below_limit(self) -> OfflineAddressBookCondition:
        if self.at_least > self.limit:
            raise key_error("at_least", f"must not exceed limit ({self.limit})")
        return self


_SimpleStep = (
    DeploymentToolStep
    | ExtractStep
    | BackupStep
    | CopyStep
    | TransferStep
    | MsiInstallStep
    | MsiUninstallStep
    | MsiRunTwiceStep
    | IisSettingStep
    | IisRestartStep
    | SqlObjectsCheckStep
    | ComplusRestartStep
    | ManualGateStep
)
InnerStep = Annotated[_SimpleStep, Field(discriminator="kind")]
"""A step a ``conditional`` step may wrap: any kind but ``conditional``."""


class ConditionalStep(_StepBase):
    """
    One wrapped step that runs only when ``when`` holds. ``override`` lets an operator decide:
    ``auto`` evaluates the condition, ``always`` and ``never`` skip the evaluation. A skipped
    step counts as done for the steps after it.
    """

    kind: Literal["conditional"]
    when: OfflineAddressBookCondition
    override: Literal["auto", "always", "never"] = "auto"
    step: InnerStep


Step = Annotated[_SimpleStep | ConditionalStep, Field(discriminator="kind")]
"""Any step of a manifest; ``kind`` selects the model."""

STEP_KINDS: tuple[str, ...] = (
    "deployment_tool",
    "extract",
    "backup",
    "copy",
    "transfer",
    "msi_install",
    "msi_uninstall",
    "msi_run_twice",
    "iis_setting",
    "iis_restart",
    "sql_objects_check",
    "complus_restart",
    "manual_gate",
    "conditional",
)
"""The closed set of step kinds, in the order the documentation presents them."""


def step_files(step: BaseModel) -> tuple[tuple[str, str], ...]:
    """The package files ``step`` names, as ``(key path below the step, file name)`` pairs."""
    found: list[tuple[str, str]] = []
    for key in ("file", "product_of"):
        value = getattr(step, key, None)
        if isinstance(value, str):
            found.append((key, value))
    for i, name in enumerate(getattr(step, "files", ())):
        found.append((f"files[{i}]", name))
    return tuple(found)
