"""
The diagnostic log: structlog configured once, for the console or as JSON Lines.

This is not the audit log (``rollup.audit.log``): diagnostics may change shape from one version
to the next, the audit trail may not. Both redact secrets at the sink.

The processor chain is::

    merge_contextvars -> add_log_level -> TimeStamper(iso, utc)
      -> exception formatting -> RedactSecrets -> ConsoleRenderer | JSONRenderer

Exceptions are formatted into text before redaction so that a password inside an exception
message is redacted like any other value, and tracebacks never show local variables (where a
revealed password lives for the length of one call).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal, TextIO

import structlog
from structlog.typing import Processor

from rollup.audit.redact import RedactSecrets, SecretRegistry

LogFormat = Literal["console", "json"]


def configure_logging(
    fmt: LogFormat,
    level: int | str,
    stream: TextIO,
    *,
    registry: SecretRegistry | None = None,
) -> None:
    """
    Configure structlog for the whole process.

    Args:
        fmt: ``console`` (human key=value lines, colours only on a terminal) or ``json``
            (one JSON object per line).
        level: the lowest level written, as a ``logging`` number or a name (``"debug"``).
        stream: where lines go (``sys.stderr`` in the CLI).
        registry: the secrets to redact (default: ``rollup.audit.redact.PROCESS_SECRETS``).
    """
    renderer: Processor
    if fmt == "json":
        exceptions: Processor = structlog.processors.ExceptionRenderer(
            structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
        )
        renderer = structlog.processors.JSONRenderer(sort_keys=True)
    else:
        exceptions = structlog.processors.format_exc_info
        renderer = structlog.dev.ConsoleRenderer(colors=_is_terminal(stream))
    processors: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        exceptions,
        RedactSecrets(registry),
        renderer,
    ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(
            level.lower() if isinstance(level, str) else level
        ),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=True,
    )


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def configure_cli_logging(
    *, verbose: bool, log_file: Path | None, stream: TextIO, registry: SecretRegistry | None = None
) -> None:
    """
    The CLI's debug log, from the standard library's ``logging`` (where the transport writes one
    record per WS-Management request: host, action, milliseconds, outcome): with ``verbose``, as
    console lines on ``stream``; with ``log_file``, as JSON Lines appended to that file (both may
    be given). Every value is redacted (``RedactSecrets``) in both. Without either, logging is
    left as it is (Python's default: warnings only, on stderr).

    Raises:
        OSError: the log file cannot be opened.
    """
    redact = RedactSecrets(registry)
    pre_chain: list[Processor] = [
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "rollup_cli", False):
            root.removeHandler(handler)
            handler.close()

    def attach(handler: logging.Handler, renderer: Processor, exceptions: Processor) -> None:
        handler.setFormatter(
            structlog.stdlib.ProcessorFormatter(
                foreign_pre_chain=pre_chain,
                processors=[
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    exceptions,
                    redact,
                    renderer,
                ],
            )
        )
        handler.rollup_cli = True  # type: ignore[attr-defined]
        root.addHandler(handler)

    if verbose:
        attach(
            logging.StreamHandler(stream),
            structlog.dev.ConsoleRenderer(colors=_is_terminal(stream)),
            structlog.processors.format_exc_info,
        )
    if log_file is not None:
        attach(
            logging.FileHandler(log_file, encoding="utf-8"),
            structlog.processors.JSONRenderer(sort_keys=True),
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
            ),
        )
    if verbose or log_file is not None:
        root.setLevel(logging.DEBUG)
        for noisy in ("urllib3", "requests_ntlm", "spnego", "paramiko", "winrm"):  # their own chatter
            logging.getLogger(noisy).setLevel(logging.WARNING)
