"""
The command line: argv in, exit code out.

``main`` is the single error boundary. Commands raise ``RollupError`` subclasses; this
module turns them into one line on stderr and the documented exit code (README, "Exit
codes"). Nothing below ``rollup.cli`` prints.
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import os
import pkgutil
import stat
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

import click

from rollup import __version__
from rollup.errors import ExitCode, RollupError


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="rollup")
@click.option(
    "-v", "--verbose", is_flag=True, help="A debug log on stderr (every WinRM request: host, action, time)."
)
@click.option(
    "--log-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Append the debug log to this file as JSON Lines (secrets redacted).",
)
@click.option(
    "-q", "--quiet", is_flag=True, help="Print only the result: no progress, tables or notes (errors still)."
)
def cli(verbose: bool, log_file: Path | None, quiet: bool) -> None:
    """Apply Windows server update rollups across a fleet, safely, over WinRM."""
    from rollup.audit.logconfig import configure_cli_logging

    try:
        configure_cli_logging(verbose=verbose, log_file=log_file, stream=sys.stderr)
    except OSError as exc:
        raise click.BadParameter(f"{log_file}: {exc.strerror}", param_hint="--log-file") from None


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
    except OSError as exc:
        if exc.errno not in _NO_SPACE:
            return _internal_error(exc)
        from rollup.cli.progress import printable

        where = f" ({printable(str(exc.filename))})" if exc.filename else ""
        click.echo(f"rollup: no space left on the device{where}", err=True)
        click.echo(
            "hint: free space there (or choose another --runs-dir), then run the command again; "
            "a run that had started goes on with `rollup apply --resume last`",
            err=True,
        )
        return ExitCode.RUN_FAILED
    except Exception as exc:
        return _internal_error(exc)
    return int(result) if isinstance(result, int) else ExitCode.OK


_NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})


def _internal_error(exc: Exception) -> int:
    crash = _write_crash_file(exc)
    click.echo(f"rollup: internal error: {type(exc).__name__}: {exc}", err=True)
    if crash is None:
        click.echo("hint: no crash file could be written; please report this error", err=True)
    else:
        click.echo(f"hint: details were written to {crash}; please report them", err=True)
    return ExitCode.INTERNAL


def crash_dir() -> Path:
    """
    The private directory crash files go to: ``rollup-<uid>`` in the system's temporary
    directory, created for this user alone (mode 0700).
    """
    import tempfile

    return Path(tempfile.gettempdir()) / f"rollup-{os.geteuid()}"


def _private_dir_fd(path: Path) -> int:
    """
    Open ``path`` as a directory only this user can use, creating it so; never through a symlink.

    Raises:
        OSError: it is a symlink or not a directory, belongs to someone else, or others may use it.
    """
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o700)
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    info = os.fstat(fd)
    if info.st_uid != os.geteuid() or stat.S_IMODE(info.st_mode) & 0o077:
        os.close(fd)
        raise PermissionError(errno.EPERM, "not a private directory of this user", str(path))
    return fd


def _write_crash_file(exc: BaseException) -> Path | None:
    """
    Write the traceback to a new file in ``crash_dir()``; its path, or ``None`` if that failed.

    The file is created afresh (``O_EXCL``, mode 0600) without following a symlink, in a directory
    only this user can write to, so no other local user can point it at a file of the operator's.
    """
    import platform
    import secrets
    from datetime import UTC, datetime

    text = (
        f"rollup {__version__} on Python {platform.python_version()} ({platform.platform()})\n\n"
        + "".join(traceback.format_exception(exc))
    )
    folder = crash_dir()
    name = f"crash-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{os.getpid()}-{secrets.token_hex(3)}.log"
    try:
        dir_fd = _private_dir_fd(folder)
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
            fd = os.open(name, flags, 0o600, dir_fd=dir_fd)
        finally:
            os.close(dir_fd)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
    except OSError:
        return None
    return folder / name
