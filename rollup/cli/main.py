"""
The command line: argv in, exit code out.

``main`` is the single error boundary. Commands raise ``RollupError`` subclasses; this
module turns them into one line on stderr and the documented exit code (README, "Exit
codes"). Nothing below ``rollup.cli`` prints.
"""

from __future__ import annotations

import contextlib
import importlib
import pkgutil
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

import click

from rollup import __version__
from rollup.errors import ExitCode, RollupError


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="rollup")
def cli() -> None:
    """Apply Windows server update rollups across a fleet, safely, over WinRM."""


def _register_commands() -> None:
    """Every module in ``rollup/cli/commands/`` exposes ``command``, a click command or group."""
    from rollup.cli import commands

    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        cli.add_command(importlib.import_module(f"rollup.cli.commands.{info.name}").command)


_register_commands()


def main(argv: Sequence[str] | None = None) -> int:  # noqa: PLR0911 - one return per exit code
    """Run the CLI and return its exit code (see ``rollup.errors.ExitCode``)."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        result = cli.main(args=args, prog_name="rollup", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("rollup: interrupted", err=True)
        return ExitCode.INTERRUPTED
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return ExitCode.CONFIG
    except RollupError as exc:
        from rollup.cli.progress import printable  # a host's text in a message stays on its line

        click.echo(f"rollup: {printable(str(exc))}", err=True)
        if exc.hint:
            click.echo(f"hint: {printable(exc.hint)}", err=True)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("rollup: interrupted", err=True)
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        return ExitCode.OK
    except Exception as exc:
        crash = _write_crash_file(exc)
        click.echo(f"rollup: internal error: {type(exc).__name__}: {exc}", err=True)
        click.echo(f"hint: details were written to {crash}; please report them", err=True)
        return ExitCode.INTERNAL
    return int(result) if isinstance(result, int) else ExitCode.OK


def _write_crash_file(exc: BaseException) -> Path:
    import platform
    import tempfile

    path = Path(tempfile.gettempdir()) / "rollup-crash.log"
    text = (
        f"rollup {__version__} on Python {platform.python_version()} ({platform.platform()})\n\n"
        + "".join(traceback.format_exception(exc))
    )
    with contextlib.suppress(OSError):
        path.write_text(text, encoding="utf-8")
    return path
