"""
How ``rollup verify`` and ``rollup preflight`` show a report: a table per host (the default),
one JSON document on stdout (``--json``), and a JUnit XML file (``--junit FILE``) for CI and
monitoring. docs/verify.md describes the JSON fields and the JUnit mapping.

JUnit: one ``testsuite`` per host and one ``testcase`` per check; ``drift`` and ``fail`` are
``failure``s, ``unknown`` is ``skipped``, and ``error`` (a fact that could not be read), like
a host that could not be reached or logged on to (a ``session`` check not ``ok``), is an
``error``.

Also here: the options and the credential prompt the two commands share.
"""

from __future__ import annotations

import json
import re
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from rollup.checks import Check, HostReport, Report, Status
from rollup.cli.console import console
from rollup.cli.options import quiet
from rollup.credentials import CredentialCache
from rollup.errors import UsageError
from rollup.survey import DEFAULT_FORKS

F = TypeVar("F", bound=Callable[..., Any])

JSON_FORMAT = 1
"""``format`` of the JSON document; bumped only if a guaranteed field ever had to change."""
_STYLE = {
    Status.OK: "green",
    Status.DRIFT: "bold red",
    Status.FAIL: "bold red",
    Status.UNKNOWN: "yellow",
    Status.ERROR: "magenta",
}
_WORST = (Status.DRIFT, Status.FAIL, Status.ERROR, Status.UNKNOWN)
"""A host's status is the first of these any of its checks has, else ``ok`` (as the exit code ranks them)."""
_XML_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def output_options(func: F) -> F:
    """``--forks N``, ``--json`` and ``--junit FILE``."""
    func = click.option(
        "--junit",
        "junit",
        metavar="FILE",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Also write the report as JUnit XML to FILE (a testsuite per host, a testcase per check).",
    )(func)
    func = click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (docs/verify.md).")(
        func
    )
    return click.option(
        "--forks",
        type=click.IntRange(min=1, max=256),
        default=DEFAULT_FORKS,
        show_default=True,
        help="Hosts read at once.",
    )(func)


def terminal_credentials() -> CredentialCache:
    """Credentials resolved as the inventory says; ``{prompt: true}`` asks on the terminal, if any."""

    def prompt(question: str) -> str:
        return str(click.prompt(question, hide_input=True, err=True))

    terminal = sys.stdin.isatty() and sys.stderr.isatty()
    return CredentialCache(prompt=prompt if terminal else None)


def finish(report: Report, *, as_json: bool, junit: Path | None, every_file: bool = False) -> int:
    """
    Show ``report`` as asked (table or JSON), write the JUnit file, and return the exit code.
    ``every_file``: the table shows each check that is ``part_of`` something (a component's
    installed files), not one summary line for them.
    """
    if junit is not None:
        write_junit(report, junit)
    if as_json:
        click.echo(json.dumps(to_json(report), indent=2, ensure_ascii=True))
    elif quiet():
        click.echo(f"{report.summary()}; exit {int(report.exit_code)}")
    else:
        render(_console(), report, every_file=every_file)
    return int(report.exit_code)


def host_status(host: HostReport) -> Status:
    """The host's status: its worst check's (see ``_WORST``)."""
    return next((s for s in _WORST if host.count(s)), Status.OK)


def _counts(host: HostReport | Report) -> str:
    return ", ".join(f"{host.count(s)} {s.value}" for s in Status if host.count(s)) or "no checks"


def shown(checks: tuple[Check, ...], *, every_file: bool) -> list[Check]:
    """
    The table's rows: the checks, with those ``part_of`` the same thing rolled into one summary
    line where the first of them is (``rollup.verify_installed.summary_line``), unless ``every_file``.
    """
    from rollup.verify_installed import summary_line

    if every_file:
        return list(checks)
    parts: dict[str, list[Check]] = {}
    for c in checks:
        if c.part_of:
            parts.setdefault(c.part_of, []).append(c)
    rows = []
    for c in checks:
        if not c.part_of:
            rows.append(c)
        elif parts[c.part_of][0] is c:
            rows.append(summary_line(c.part_of, parts[c.part_of]))
    return rows


def render(console: Console, report: Report, *, every_file: bool = False) -> None:
    """A table per host (check, expected, actual, status), then a summary line."""
    pinned = "pinned" if report.pinned else "not pinned"
    console.print(
        f"[bold]rollup {report.kind}[/] of {escape(report.inventory)} against {escape(report.manifest_id)} "
        f"({pinned}, digest {report.manifest_digest[:16]})"
    )
    for host in report.hosts:
        roles = f" ({', '.join(host.roles)})" if host.roles else ""
        console.print(f"[bold]{escape(host.host)}{roles}[/]: {_counts(host)}")  # not a title: no padding
        table = Table(header_style="bold")
        for column in ("Check", "Expected", "Actual", "Status"):
            table.add_column(column, overflow="fold")
        for c in shown(host.checks, every_file=every_file):
            actual = escape(c.actual) + (f"\n[dim]{escape(c.detail)}[/]" if c.detail else "")
            style = _STYLE[c.status]
            table.add_row(escape(c.name), escape(c.expected), actual, f"[{style}]{c.status.value}[/]")
        console.print(table)
    console.print(f"{report.summary()}; exit {int(report.exit_code)}")


def _console() -> Console:
    """Stdout (``rollup.cli.console``: piped, names and paths are never wrapped)."""
    return console(soft_wrap=False)


def to_json(report: Report) -> dict[str, Any]:
    """The ``--json`` document (docs/verify.md lists its guaranteed fields)."""
    return {
        "format": JSON_FORMAT,
        "kind": report.kind,
        "manifest": {"id": report.manifest_id, "digest": report.manifest_digest, "pinned": report.pinned},
        "inventory": report.inventory,
        "started_at": report.started_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "duration_s": round(report.duration_s, 3),
        "exit_code": int(report.exit_code),
        "summary": _summary(report, hosts=len(report.hosts)),
        "hosts": [
            {
                "host": host.host,
                "roles": list(host.roles),
                "status": host_status(host).value,
                "summary": _summary(host),
                "checks": [_check(c) for c in host.checks],
            }
            for host in report.hosts
        ],
    }


def _summary(what: HostReport | Report, **extra: int) -> dict[str, int]:
    total = len(what.checks) if isinstance(what, HostReport) else sum(1 for _ in what.checks())
    return {**extra, "checks": total, **{s.value: what.count(s) for s in Status}}


def _check(c: Check) -> dict[str, str]:
    found = {
        "group": c.group,
        "name": c.name,
        "expected": c.expected,
        "actual": c.actual,
        "status": c.status.value,
        "detail": c.detail,
    }
    if c.part_of:
        found["component"] = c.part_of
    return found


def _text(value: str) -> str:
    """Text XML 1.0 can carry (control characters dropped)."""
    return _XML_UNSAFE.sub("", value)


def to_junit(report: Report) -> str:
    """The report as JUnit XML (see the module docstring for the mapping)."""
    root = ET.Element("testsuites", name=f"rollup {report.kind}")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for host in report.hosts:
        suite = ET.SubElement(root, "testsuite", name=_text(host.host), hostname=_text(host.host))
        suite.set("timestamp", report.started_at.strftime("%Y-%m-%dT%H:%M:%S"))
        properties = ET.SubElement(suite, "properties")
        for name, value in (
            ("roles", ",".join(host.roles)),
            ("manifest", report.manifest_id),
            ("manifest_digest", report.manifest_digest),
            ("inventory", report.inventory),
        ):
            ET.SubElement(properties, "property", name=name, value=_text(value))
        counts = {"tests": len(host.checks), "failures": 0, "errors": 0, "skipped": 0}
        for c in host.checks:
            case = ET.SubElement(
                suite, "testcase", classname=_text(f"{host.host}.{c.group}"), name=_text(c.name)
            )
            case.set("time", "0")
            outcome = _outcome(c)
            if outcome is not None:
                tag, key = outcome
                counts[key] += 1
                message = f"expected {c.expected}; actual {c.actual}"
                element = ET.SubElement(case, tag, message=_text(message), type=c.status.value)
                element.text = _text(c.detail or message)
        for key, number in counts.items():
            suite.set(key, str(number))
            totals[key] += number
        suite.set("time", f"{host.duration_s:.3f}")
    for key, number in totals.items():
        if key != "skipped":  # the Jenkins JUnit schema has no skipped on testsuites (each testsuite has it)
            root.set(key, str(number))
    root.set("time", f"{report.duration_s:.3f}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _outcome(c: Check) -> tuple[str, str] | None:
    """The JUnit element and counter of a check that is not ``ok``."""
    if c.status is Status.OK:
        return None
    if c.status is Status.ERROR or c.group == "session":
        return "error", "errors"
    if c.status is Status.UNKNOWN:
        return "skipped", "skipped"
    return "failure", "failures"


def write_junit(report: Report, path: Path) -> None:
    """
    Write the JUnit XML to ``path``.

    Raises:
        UsageError: the file cannot be written.
    """
    try:
        path.write_text(to_junit(report), encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--junit {path}: cannot be written: {exc.strerror}") from None
