"""Write a run's report file: build the model, render it, and write the HTML (docs/report.md)."""

from __future__ import annotations

from pathlib import Path

from rollup.engine.rundir import RunDir
from rollup.errors import UsageError
from rollup.runreport.build import build_report
from rollup.runreport.model import VerifyMatrix
from rollup.runreport.render import render_html

REPORT_NAME = "report.html"
"""The report's default name, in the run directory."""


def write_report(
    run: RunDir, out: Path | None = None, *, runs_dir: Path | None = None, verify: VerifyMatrix | None = None
) -> Path:
    """
    Write ``run``'s report to ``out`` (default ``report.html`` in the run directory) and return its path.

    Raises:
        UsageError: the file cannot be written.
    """
    target = run.path / REPORT_NAME if out is None else out
    html = render_html(build_report(run, runs_dir=runs_dir, verify=verify))
    try:
        target.write_text(html, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{target}: the report cannot be written: {exc.strerror or exc}") from None
    return target
