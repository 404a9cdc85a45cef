"""
Fault scenarios of the simulated lab: what goes wrong, on which hosts, and when.

A scenario is a YAML file (docs/lab.md has a full example) validated here with pydantic; an
unknown key, a bad value or a host glob that cannot match a host name is one ``ConfigError``
line naming the file and the key path (``scenario.yml: faults[2].hosts: ...``). It holds:

- timing: ``seed`` (for the ``probability`` triggers), ``time_factor`` (scales operation
  durations), ``durations`` (seconds per operation kind), ``latency_ms`` (before every HTTP
  answer) and ``host_latency_ms`` (per host glob);
- ``faults``: rules, each for some hosts (names or globs), an operation id or any (``*``),
  triggered on the nth matching calls or with a seeded probability. HTTP-level kinds go through
  the WinRM server's request hook; operation-level kinds through ``LabRunner``'s ``before``
  hook and the host state's fault fields (``rollup.lab.injector`` runs both);
- ``drift``: per-host differences from the pre-rollup state, applied once, when the lab is
  created (``rollup.lab.drift``).

``matches`` (from ``rollup.lab.patterns``) is how every section matches its host globs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, ValidationError, field_validator, model_validator

from rollup.errors import ConfigError
from rollup.lab.drift import Drift
from rollup.lab.patterns import Frozen, HostGlob, HostGlobs, Seconds, WindowsPath, matches
from rollup.load import key_path, read_yaml

KindName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]


def _nth_list(value: Any) -> Any:
    return [value] if isinstance(value, int) and not isinstance(value, bool) else value


# ---- fault rules ---------------------------------------------------------------------------------


class _Rule(Frozen):
    """What every fault rule has: where, for which operation, and when it triggers."""

    hosts: HostGlobs = ("*",)
    op: str = "*"
    """An operation id (``msi.install``) or ``*`` for any."""
    nth: Annotated[tuple[Annotated[int, Field(ge=1)], ...] | None, BeforeValidator(_nth_list)] = None
    """Trigger on these matching calls (1 is the first), counted per host from the lab's start."""
    probability: Annotated[float, Field(gt=0, le=1)] | None = None
    """Trigger on each matching call with this chance, drawn from the scenario's seed."""

    @field_validator("op")
    @classmethod
    def _known_op(cls, value: str) -> str:
        from rollup.ops.registry import operation

        if value != "*" and operation(value) is None:
            raise ValueError(f"no operation {value!r} (an operation id such as msi.install, or *)")
        return value

    @model_validator(mode="after")
    def _one_trigger(self) -> _Rule:
        if (self.nth is None) == (self.probability is None):
            raise ValueError("give exactly one of nth and probability")
        return self


HttpAction = Literal["start", "create", "command", "send", "receive", "signal", "delete", "any"]


class _HttpRule(_Rule):
    """
    A fault of the WinRM service, decided for each request of ``action``. ``start`` (the
    default) is the request that starts a run, whichever way its script travels: the Command,
    or for a script sent on stdin, the Send that completes it. The others are WinRS actions.
    """

    action: HttpAction = "start"

    @model_validator(mode="after")
    def _action_carries_op(self) -> _HttpRule:
        if self.op != "*" and self.action in ("create", "delete"):
            raise ValueError(f"a {self.action} request carries no operation; use op: '*'")
        return self


class Http500(_HttpRule):
    """HTTP 500 with a WS-Management fault body instead of processing the request."""

    kind: Literal["http_500"]
    fault: Literal["internal_error", "timed_out", "shell_quota", "operations_quota"] = "internal_error"


class Reset(_HttpRule):
    """The TCP connection is reset without an answer (after processing, with ``processed``)."""

    kind: Literal["reset"]
    processed: bool = False


class NoAnswer(_HttpRule):
    """The request is held ``hold_s`` seconds, then the connection closes without an answer."""

    kind: Literal["no_answer"]
    hold_s: Seconds = 60.0
    processed: bool = False


class AuthFailure(_HttpRule):
    """401 as for a wrong password, although the credentials are good."""

    kind: Literal["auth_failure"]


class HostDown(_HttpRule):
    """The host's listeners close (connections refused) and open again ``seconds`` later."""

    kind: Literal["host_down"]
    seconds: Seconds
    processed: bool = False


class Delay(_HttpRule):
    """The request waits ``seconds`` before it is processed and answered."""

    kind: Literal["delay"]
    seconds: Seconds


class InstallerBusy(_Rule):
    """Another installation holds Windows Installer's mutex ``seconds``: msiexec answers 1618."""

    kind: Literal["installer_busy"]
    seconds: Seconds


FORCED_EXIT_OPS = frozenset({"msi.install", "msi.uninstall", "iis.reset", "deploytool.command"})
"""The operations whose simulations take a forced exit code (the host state's ``forced_exit_codes``)."""


class ExitCode(_Rule):
    """
    The operation exits with ``code``: for msiexec, 1603 writes an MSI log naming the failed
    action and 3010 succeeds asking for a reboot. Only ``FORCED_EXIT_OPS`` take one; with
    ``op: '*'`` the rule counts their calls only.
    """

    kind: Literal["exit_code"]
    code: Annotated[int, Field(ge=1, le=2**31 - 1)]

    @model_validator(mode="after")
    def _takes_exit_codes(self) -> ExitCode:
        if self.op != "*" and self.op not in FORCED_EXIT_OPS:
            takers = ", ".join(sorted(FORCED_EXIT_OPS))
            raise ValueError(f"{self.op} takes no forced exit code (these do: {takers})")
        return self


class DiskFull(_Rule):
    """
    Writing under ``path`` fails with "There is not enough space on the disk.", for ``seconds``
    or until released (``rollup lab release``).
    """

    kind: Literal["disk_full"]
    path: WindowsPath
    seconds: Seconds | None = None


class LockedFile(_Rule):
    """
    Another process holds ``path`` open: rename, overwrite and delete fail, for ``seconds`` or
    until released (``rollup lab release``).
    """

    kind: Literal["locked_file"]
    path: WindowsPath
    seconds: Seconds | None = None


class Slow(_Rule):
    """The operation takes ``seconds`` (before the time factor) instead of its kind's duration."""

    kind: Literal["slow"]
    seconds: Annotated[float, Field(ge=0, le=86400)]


HttpFault = Http500 | Reset | NoAnswer | AuthFailure | HostDown | Delay
OperationFault = InstallerBusy | ExitCode | DiskFull | LockedFile | Slow
FaultRule = Annotated[HttpFault | OperationFault, Field(discriminator="kind")]
HTTP_KINDS = frozenset({"http_500", "reset", "no_answer", "auth_failure", "host_down", "delay"})
FAULT_KINDS = HTTP_KINDS | {"installer_busy", "exit_code", "disk_full", "locked_file", "slow"}


# ---- the scenario --------------------------------------------------------------------------------


class Scenario(Frozen):
    """A whole scenario file. The empty scenario is a lab where nothing goes wrong."""

    seed: Annotated[int, Field(ge=0, le=2**63 - 1)] = 0
    time_factor: Annotated[float, Field(ge=0, le=1000)] = 1.0
    durations: dict[KindName, Annotated[float, Field(ge=0)]] = Field(default_factory=dict)
    latency_ms: Annotated[float, Field(ge=0, le=60000)] = 0.0
    host_latency_ms: dict[HostGlob, Annotated[float, Field(ge=0, le=60000)]] = Field(default_factory=dict)
    faults: tuple[FaultRule, ...] = ()
    drift: tuple[Drift, ...] = ()

    @field_validator("durations")
    @classmethod
    def _known_kinds(cls, value: dict[str, float]) -> dict[str, float]:
        known = operation_kinds()
        for kind in value:
            if kind not in known:
                raise ValueError(f"no operation kind {kind!r}; the kinds are {', '.join(sorted(known))}")
        return value

    def latency_s(self, host: str) -> float:
        """Latency of ``host``'s HTTP answers: its first ``host_latency_ms`` glob, else ``latency_ms``."""
        for pattern, value in self.host_latency_ms.items():
            if matches(pattern, host):
                return value / 1000
        return self.latency_ms / 1000

    def host_patterns(self) -> Iterator[tuple[str, str]]:
        """Every host name or glob with its key path (``faults[0].hosts[1]``)."""
        for pattern in self.host_latency_ms:
            yield f"host_latency_ms.{pattern}", pattern
        for section, entries in (("faults", self.faults), ("drift", self.drift)):
            for index, entry in enumerate(entries):
                for position, pattern in enumerate(entry.hosts):
                    suffix = "" if len(entry.hosts) == 1 else f"[{position}]"
                    yield f"{section}[{index}].hosts{suffix}", pattern


def operation_kinds() -> frozenset[str]:
    """The duration classes of the operations (``Operation.kind``), which ``durations`` may name."""
    from rollup.lab.runner import DEFAULT_DURATIONS
    from rollup.ops.registry import all_operations

    return frozenset(DEFAULT_DURATIONS) | {op.kind for op in all_operations().values()}


def parse_scenario(data: Any, *, source: str) -> Scenario:
    """
    Validate a parsed scenario document (``None``, an empty file, is the empty scenario).

    Raises:
        ConfigError: one line, ``<source>: <key path>: <problem>``.
    """
    try:
        return Scenario.model_validate({} if data is None else data)
    except ValidationError as exc:
        raise ConfigError(_message(exc, source)) from None


def load_scenario(path: Path, *, display: str | None = None) -> Scenario:
    """Read and validate a scenario file; every failure is one ``ConfigError`` line naming the file."""
    source = display or str(path)
    return parse_scenario(read_yaml(path, error=ConfigError, display=source), source=source)


def check_hosts(scenario: Scenario, hosts: Sequence[str], *, source: str) -> None:
    """
    Refuse a host name or glob that matches no host of the lab (a typo would otherwise make a
    rule that never fires).

    Raises:
        ConfigError: ``<source>: faults[0].hosts: 'COLAB*' matches no host of the lab``.
    """
    for where, pattern in scenario.host_patterns():
        if not any(matches(pattern, host) for host in hosts):
            raise ConfigError(f"{source}: {where}: {pattern!r} matches no host of the lab")


def _message(exc: ValidationError, source: str) -> str:
    """The first error as one line; the fault kind pydantic adds to the key path is left out."""
    first = exc.errors(include_url=False)[0]
    loc: list[int | str] = []
    for part in first["loc"]:
        if isinstance(part, str) and (
            part in FAULT_KINDS or part == "[key]" or part.startswith(("function-", "tagged-union["))
        ):
            continue
        loc.append(part)
    message = first["msg"]
    if first["type"] == "extra_forbidden":
        message = "unknown key"
    elif first["type"] == "missing":
        message = "required key is missing"
    elif first["type"] == "union_tag_invalid":
        message = f"unknown kind; one of {', '.join(sorted(FAULT_KINDS))}"
    elif first["type"] == "union_tag_not_found":
        message = f"kind is missing; one of {', '.join(sorted(FAULT_KINDS))}"
    message = message.removeprefix("Value error, ")
    return f"{source}: {key_path(loc)}: {' '.join(message.split())}"
