"""The ``headwater`` command.

Exit codes: 0 success; 1 the run failed (API or load error); 2 usage or configuration
error (unknown connector, missing or invalid setting) — one readable line, no
traceback (``--debug`` shows it), nothing loaded; 130 interrupted (Ctrl-C, SIGINT);
143 terminated (SIGTERM).

``--help`` and ``list`` never import dlt: it is imported by the commands that run.

The top layer: may import every other package. Each command's work lives in the
layer below it (``headwater.run``, ``headwater.scaffold``, ``headwater.testing``);
``demo`` is here because it runs a connector against the simulator of
``headwater.testing``.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from headwater import __version__, redact
from headwater.cli import check as cmd_check
from headwater.cli import demo as cmd_demo
from headwater.cli import describe as cmd_describe
from headwater.cli import list as cmd_list
from headwater.cli import new as cmd_new
from headwater.cli import plugins as cmd_plugins
from headwater.cli import query as cmd_query
from headwater.cli import record as cmd_record
from headwater.cli import run as cmd_run
from headwater.cli import schema as cmd_schema
from headwater.cli import simulate as cmd_simulate
from headwater.cli.common import EXIT_FAILED, EXIT_USAGE, Parser, error_prefix
from headwater.errors import ConfigError, HeadwaterError, printable

__all__ = ["main"]

_EPILOG = """\
examples:
  headwater list
  headwater describe directory
  export SOURCES__DIRECTORY__CLIENT_ID=... SOURCES__DIRECTORY__CLIENT_SECRET=...
  headwater check directory
  headwater run directory --destination duckdb
  headwater demo                       # every connector against its simulated API

exit codes: 0 success, 1 the run failed, 2 usage or configuration error, 130 Ctrl-C, 143 SIGTERM
"""


#: The commands, in the order ``--help`` lists them: each module holds its arguments
#: (``register``) and its handler (``handle``).
COMMANDS = (
    cmd_list,
    cmd_describe,
    cmd_check,
    cmd_run,
    cmd_record,
    cmd_schema,
    cmd_demo,
    cmd_query,
    cmd_simulate,
    cmd_new,
    cmd_plugins,
)


def _parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="headwater",
        description="Pull data from REST APIs into any dlt destination.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"headwater {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show tracebacks and debug logs (secrets redacted)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="show progress logs")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    for command in COMMANDS:
        command.register(sub)
    return parser


def _show_warning(message: Any, category: type, filename: str, lineno: int, *rest: Any) -> None:
    """Headwater's own warnings (a plugin skipped) as one line, as its errors are;
    other warnings as Python shows them."""
    if category.__module__.startswith("headwater."):
        from headwater.term import BOLD, YELLOW, style

        prefix = style("headwater: warning:", YELLOW, BOLD, stream=sys.stderr)
        print(f"{prefix} {redact.redact(str(message))}", file=sys.stderr)
        return
    _python_show_warning(message, category, filename, lineno, *rest)


_python_show_warning = warnings.showwarning


class _Warnings(logging.Formatter):
    """Headwater's own warnings as the summary's warnings are told (``headwater:
    warning: ...``, one line); the other records (dlt's) as logged."""

    def format(self, record: logging.LogRecord) -> str:
        if record.name.startswith("headwater.") and record.levelno == logging.WARNING:
            from headwater.term import BOLD, YELLOW, style

            prefix = style("headwater: warning:", YELLOW, BOLD, stream=sys.stderr)
            return f"{prefix} {record.getMessage()}"
        return super().format(record)


def _setup_logging(debug: bool, verbose: bool) -> None:
    redact.install()
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(levelname)s %(name)s: %(message)s")
        if debug or verbose
        else _Warnings("%(levelname)s %(name)s: %(message)s")
    )
    if not debug:
        handler.addFilter(_no_traceback)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # dlt logs through its own logger; route it through ours at the same level.
    os.environ.setdefault("RUNTIME__LOG_LEVEL", logging.getLevelName(level))
    os.environ.setdefault("RUNTIME__LOG_FORMAT", "{levelname} {name}: {message}")
    # a failed load job is told once, in the run's one-line error: not as dlt's
    # traceback for each of its attempts (hundreds of lines for one failure)
    dlt_logger = logging.getLogger("dlt")
    dlt_logger.removeFilter(_no_job_tracebacks)
    dlt_logger.removeFilter(_no_traceback)
    dlt_logger.removeFilter(_no_signal_notes)
    if not debug:
        dlt_logger.addFilter(_no_job_tracebacks)
        dlt_logger.addFilter(_no_traceback)  # dlt's logger has a handler of its own
        dlt_logger.addFilter(_no_signal_notes)


def _no_traceback(record: logging.LogRecord) -> bool:
    """A record's message without its traceback (without ``--debug``): a library's
    warning with ``exc_info`` (dlt's "Failed to create trace dump" on a full disk)
    printed ninety lines of stack before the run's one-line error."""
    if record.exc_info or record.exc_text:
        record.exc_info, record.exc_text = None, None
    return True


def _no_signal_notes(record: logging.LogRecord) -> bool:
    """False for dlt's "Exiting runner due to signal 2" (Ctrl-C or SIGTERM in its
    normalize or load step), said before Headwater's own line about it."""
    return not str(record.msg).startswith("Exiting runner due to signal")


def _no_job_tracebacks(record: logging.LogRecord) -> bool:
    """False for dlt's log records of a failed load job (with ``--debug`` they stay)."""
    message = str(record.msg)
    if message.startswith(("Transient exception in job", "Terminal exception in job")):
        return False
    if message.startswith("Job for ") and (
        " retried in load " in message or " failed terminally in load " in message
    ):
        return False  # its message holds the job's traceback; the run's error tells it
    return not (message.startswith("Package ") and " was not fully loaded." in message)


class _StdoutReaderGone:
    """``sys.stdout`` of the program that, once its reader has gone (``headwater list |
    head -1``), drops what is written instead of failing the command with a
    ``BrokenPipeError``: the command ends as it would have, with its own exit code."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._gone = False

    def write(self, text: str) -> int:
        if not self._gone:
            try:
                return int(self._stream.write(text))
            except BrokenPipeError:
                self._reader_gone()
        return len(text)

    def flush(self) -> None:
        if not self._gone:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._reader_gone()

    def _reader_gone(self) -> None:
        self._gone = True
        # what the stream still buffers is flushed again at exit: to /dev/null now
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, self._stream.fileno())
        finally:
            os.close(null)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``headwater`` command; returns the exit code."""
    if argv is None:
        # the program (not a call from Python, whose warnings and stdout are its own)
        warnings.showwarning = _show_warning
        if sys.stdout is not None:
            sys.stdout = _StdoutReaderGone(sys.stdout)  # type: ignore[assignment]
    try:
        with _sigterm_as_interrupt():
            code = _main(argv)
    except KeyboardInterrupt as exc:  # Ctrl-C before the command started (the parser's set-up)
        code = _stopped(exc)
    if argv is None:
        # Run as the program (the console script, python -m headwater): the process
        # ends next, and its last garbage collections would walk every object dlt,
        # pyarrow and DuckDB left (0.15-0.45 s after a run; docs/performance.md);
        # frozen objects are skipped. A run has closed its DuckDB connection and files
        # by now, and objects freed by reference counting are still freed.
        import gc

        gc.freeze()
    return code


def _main(argv: Sequence[str] | None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return EXIT_USAGE
    # Headwater does not phone home on the user's behalf; RUNTIME__DLTHUB_TELEMETRY=true
    # turns dlt's anonymous telemetry back on.
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    _setup_logging(args.debug, args.verbose)
    try:
        return args.handler(args)
    except ConfigError as exc:
        return _fail(exc, EXIT_USAGE, args.debug)
    except HeadwaterError as exc:
        return _fail(exc, EXIT_FAILED, args.debug)
    except KeyboardInterrupt as exc:
        return _stopped(exc)
    except Exception as exc:
        # on failure only: `--help` and `list` load nothing of the run package
        from headwater.run.dlt_errors import explain, interrupted

        if interrupted(exc):
            # Ctrl-C inside a dlt step, which wraps it in PipelineStepFailed
            return _stopped(exc)
        known = explain(exc)
        if known is not None:
            return _fail(
                known,
                EXIT_USAGE if isinstance(known, ConfigError) else EXIT_FAILED,
                args.debug,
                original=exc,
            )
        return _fail(exc, EXIT_FAILED, args.debug, unexpected=True)


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C raises ``KeyboardInterrupt``: a run stops as it
    stops for Ctrl-C (what it loaded is kept, the next run completes)."""


def _terminate(signum: int, frame: Any) -> None:
    raise _Terminated


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Meanwhile, SIGTERM (what Kubernetes, systemd and ``kill`` send) stops the
    command as Ctrl-C does, with its own line and exit code (:func:`_stopped`); by
    default Python ends at once, silently. Only in the main thread (where Python runs
    signal handlers), and only where SIGTERM has its default handling."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    ):
        yield
        return
    signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _stopped(exc: BaseException) -> int:
    """Say that the command was stopped by a signal (Ctrl-C, or SIGTERM: dlt's steps
    catch both, :class:`SignalReceivedException` with its number), and return the
    shell's exit code for it, 128 + the signal's number."""
    from headwater.run.dlt_errors import exception_chain

    terminated = any(
        isinstance(item, _Terminated) or getattr(item, "signal_code", None) == signal.SIGTERM
        for item in exception_chain(exc)
    )
    if terminated:
        print("headwater: terminated", file=sys.stderr)
        return 128 + signal.SIGTERM
    print("headwater: interrupted", file=sys.stderr)
    return 130


def _fail(
    exc: BaseException,
    code: int,
    debug: bool,
    *,
    original: BaseException | None = None,
    unexpected: bool = False,
) -> int:
    if debug:
        import traceback

        text = "".join(traceback.format_exception(original or exc))
        print(redact.redact(text), file=sys.stderr, end="")
    message = redact.redact(str(exc)).strip().splitlines()
    line = printable(message[0], limit=2000) if message else type(exc).__name__
    if unexpected:
        line = f"unexpected {type(exc).__name__}: {line} (rerun with --debug for the traceback)"
    print(f"{error_prefix()} {line}", file=sys.stderr)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
