"""
The shape every remote operation has: a PowerShell 2.0 body and its parser.

An ``Operation`` keeps together the two things that must not drift apart:

- ``body``: the PowerShell 2.0 script that runs on a Windows host. It reads its parameters
  only from ``$p_<field>`` variables (bound by ``RemoteCommand.render``) and reports through
  ``Write-RollupResult``.
- ``parse``: the pure function that turns what the body printed (a ``CommandResult``) into a
  typed outcome, or raises ``ResultParseError``.

There is nothing else: the simulated lab runs the body itself in its PowerShell interpreter
(``rollup.lab.pwsh``), so the lab cannot agree with a script that would fail on Windows. This
package never imports the lab.

A module in ``rollup/ops/`` defines one or a few operations; ``rollup.ops.registry`` lists
them all (the lab reads a script's header to time it and to give fault scenarios their hook).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from rollup.errors import ResultParseError
from rollup.ps.command import Param, RemoteCommand

P = TypeVar("P")
R = TypeVar("R")


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandResult:
    """What running one command on one host gave back. Never carries a secret."""

    host: str
    op: str
    command: str
    """The redacted rendering of the script that ran."""
    exit_code: int
    stdout: str
    stderr: str
    duration_s: float

    def tail(self, stream: str = "stderr", lines: int = 10) -> str:
        """The last ``lines`` lines of ``stdout`` or ``stderr``, for error messages."""
        text = self.stderr if stream == "stderr" else self.stdout
        return "\n".join(text.strip().splitlines()[-lines:])


@dataclass(frozen=True, slots=True, kw_only=True)
class Operation(Generic[P, R]):
    """One remote operation: its script and its parser, side by side."""

    id: str
    """Dotted id, e.g. ``msi.install``; the header of every rendered script names it."""
    params: type[P]
    """A frozen dataclass; each field is bound as ``$p_<field>`` and carried in the header."""
    body: str
    """PowerShell 2.0; reads only ``$p_*`` variables; ends with an explicit ``exit``."""
    parse: Callable[[CommandResult, P], R]
    helpers: tuple[str, ...] = ()
    """Prelude functions the body calls (``Write-RollupResult`` is always included)."""
    kind: str = "fact"
    """Duration class in the lab (``fact``, ``msi``, ``iis``, ``complus``, ``sql``, ``copy``...)."""
    mutates: bool = False
    """Whether the operation may change the host. Read-only operations never may."""
    reads_stdin: bool = False
    """
    The body reads data from stdin (``$input``), e.g. a file upload's base64 lines. Such a
    script travels on the command line and the data follows on stdin.
    """
    timeout_s: float = 300.0
    """Default time limit on a real host; steps may override it."""
    min_powershell: str = "2.0"
    """
    The oldest PowerShell the body runs on: ``2.0``, which every HMC 4.0 host has, unless the
    operation only targets newer Windows, e.g. ``3.0`` for Hyper-V's cmdlets on Windows Server
    2012. The PowerShell checker accepts what that version has (``rollup.ps.check``).
    """
    examples: tuple[P, ...] = field(default=())
    """Parameter values used by the tests that render, parse-check and round-trip every operation."""

    def command(self, params: P) -> RemoteCommand:
        """The ``RemoteCommand`` that runs this operation with ``params``."""
        return RemoteCommand(
            op=self.id, params=params_to_mapping(params), body=self.body, helpers=self.helpers
        )

    def params_from(self, values: Mapping[str, Param]) -> P:
        """Rebuild the parameters from a script header (the lab's side of ``command``)."""
        names = {f.name for f in dataclasses.fields(self.params)}  # type: ignore[arg-type]
        unknown = sorted(set(values) - names)
        missing = sorted(names - set(values))
        if unknown or missing:
            raise ResultParseError(
                f"operation {self.id}: header parameters do not match (unknown {unknown}, missing {missing})"
            )
        return self.params(**dict(values))


def params_to_mapping(params: object) -> dict[str, Param]:
    """The fields of a parameters dataclass as the mapping ``RemoteCommand`` binds."""
    if not dataclasses.is_dataclass(params) or isinstance(params, type):
        raise TypeError(f"operation parameters must be a dataclass instance, not {type(params).__name__}")
    return {f.name: getattr(params, f.name) for f in dataclasses.fields(params)}


def compact_body(source: str) -> str:
    """
    A body without indentation, blank lines or comment lines: readable in the source, short on
    the wire (a script that reads stdin must fit cmd.exe's line, about 3,000 characters in all).
    Bodies written for it keep comments on lines of their own and use no here-strings.
    """
    lines = (line.strip() for line in source.splitlines())
    return "\n".join(line for line in lines if line and not line.startswith("#"))
