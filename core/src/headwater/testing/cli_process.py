"""The ``headwater`` CLI in a process of its own, started in a fraction of the time.

The conformance suite runs the CLI as a user does, in a separate process, several
times per connector (a canary secret must appear in no output of a success, a
permanent error, malformed JSON, a 401 or a SIGKILL). Most of such a process's second
is spent importing dlt, DuckDB and pyarrow, not running. On Linux, each CLI process
here is forked from a *warm* interpreter: a helper process that has imported those
modules and nothing else (no configuration read, no plugin loaded, no Python thread
started), kept for the life of the test process. The forked child then does what a
fresh ``headwater`` process does: it takes the given environment (``TZ`` and
``TMPDIR`` read again), working directory and ``PYTHONPATH`` (its entries on
``sys.path`` as at start-up), makes its standard streams as an interpreter does
(stderr line-buffered, ``PYTHONUNBUFFERED`` honoured), loads the plugins, runs
``main(argv)`` with its output in files and exits through the interpreter's own exit.
What an interpreter reads only as it starts (``PYTHONHASHSEED``, ``PYTHONWARNINGS``,
``PYTHONIOENCODING``, the locale, ...: :data:`_START_UP`) is that of a warm interpreter
started with the run's values; children of one warm interpreter share its hash seed.
A child is reaped only after its exit code is answered, so its pid cannot be reused
while it may still be signalled. Elsewhere (no ``fork``, or macOS, where forking after
such imports is not safe) each run is a fresh interpreter.

By default a CLI run here uses the conformance suite's short retry waits
(:class:`NoWaiting`: the declared status codes and counts, no backoff);
``quick_retries=False`` runs the command exactly as installed.

Usage mirrors :mod:`subprocess`::

    done = run_cli(["--debug", "run", "hr"], env=env)        # like subprocess.run
    process = start_cli(["run", "hr"], env=env)              # like subprocess.Popen
    process.kill(); process.wait()
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import importlib
import io
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from headwater.markers import hookimpl

__all__ = ["CliProcess", "CliResult", "NoWaiting", "run_cli", "start_cli"]

#: A fresh interpreter running the CLI with quick retries (where forking is not used):
#: the installed plugins plus NoWaiting, then the CLI as a program.
FRESH_SCRIPT = (
    "import sys\n"
    "from headwater.testing.cli_process import use_quick_retries\n"
    "use_quick_retries()\n"
    "from headwater.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)

#: Modules a ``headwater run`` imports, imported once by the warm interpreter. A name
#: that does not import (another dlt version) is skipped: the child imports it itself.
_WARM_MODULES = (
    "dlt",
    "dlt.pipeline.pipeline",
    "dlt.extract.extract",
    "dlt.normalize.normalize",
    "dlt.load.load",
    "dlt.destinations.impl.duckdb.duck",
    "dlt.destinations.impl.duckdb.factory",
    "duckdb",
    "pyarrow",
    "pyarrow.compute",
    "pyarrow.parquet",
    "requests",
    "jsonschema",
    "filelock",
    "headwater.cli",
    "headwater.run.pipeline",
    "headwater.testing.conformance",
)


class NoWaiting:
    """Keeps each connector's retry policy but waits 0 s between attempts."""

    @hookimpl(wrapper=True)
    def headwater_retry_policy(self, connector: Any, resource: Any) -> Any:
        import attrs

        from headwater.spec import RetryPolicy  # as attrs: when a run asks, not at import

        policy = yield
        if not isinstance(policy, RetryPolicy):
            return policy  # a wrong answer stays wrong: the run's check names its plugin
        return attrs.evolve(policy, backoff_factor=0, max_delay=0, respect_retry_after=False)


def use_quick_retries() -> None:
    """Use the installed plugins plus :class:`NoWaiting`."""
    from headwater.plugin import manager as plugins

    plugins.use(plugins.make_plugin_manager(plugins=[("conformance.no_waiting", NoWaiting())]))


#: What an interpreter reads from the environment as it starts. A run whose values of
#: these differ from a warm interpreter's is forked from one started with its values.
_START_UP = (
    "PYTHONHASHSEED",
    "PYTHONWARNINGS",
    "PYTHONIOENCODING",
    "PYTHONUTF8",
    "PYTHONDEVMODE",
    "PYTHONOPTIMIZE",
    "PYTHONSAFEPATH",
    "PYTHONNOUSERSITE",
    "PYTHONUSERBASE",
    "PYTHONHOME",
    "PYTHONPLATLIBDIR",
    "PYTHONFAULTHANDLER",
    "PYTHONTRACEMALLOC",
    "PYTHONMALLOC",
    "PYTHONPYCACHEPREFIX",
    "PYTHONDONTWRITEBYTECODE",
    "PYTHONINTMAXSTRDIGITS",
    "PYTHONWARNDEFAULTENCODING",
    "LC_ALL",
    "LC_CTYPE",
    "LANG",
)


def _serve() -> None:
    """The warm interpreter: import, then for each request line on stdin fork a child
    that runs the CLI, and answer with the child's pid, then with its exit code.

    The child stays a zombie until the next request (or the end), so its pid is not
    reused while the caller may still signal it."""
    for name in _WARM_MODULES:
        try:
            importlib.import_module(name)
        except Exception:
            continue
    started_with = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    requests = os.fdopen(os.dup(0), "rb", buffering=0)
    answers = os.fdopen(os.dup(1), "wb", buffering=0)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.close(null)
    zombie: int | None = None
    try:
        answers.write(b"ready\n")
        for line in requests:
            if zombie is not None:
                os.waitpid(zombie, 0)
                zombie = None
            request = json.loads(line)
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                requests.close()
                answers.close()
                _child(request, started_with)  # never returns
            answers.write(json.dumps({"pid": pid}).encode() + b"\n")
            info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
            zombie = pid
            code = info.si_status if info.si_code == os.CLD_EXITED else -info.si_status
            answers.write(json.dumps({"code": code}).encode() + b"\n")
    except KeyboardInterrupt:
        pass  # Ctrl-C (its children have their own); a child never returns to here
    finally:
        if zombie is not None:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(zombie, 0)


def _child(request: Mapping[str, Any], started_with: Sequence[str]) -> None:
    """In the forked child: become a fresh ``headwater`` process, run the CLI and exit
    as ``python -m headwater`` does (atexit handlers, threads joined, streams flushed,
    the exit code or SIGINT)."""
    code: int | None = 1
    try:
        unbuffered = bool(request["env"].get("PYTHONUNBUFFERED"))
        for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
            target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(target, fd)
            os.close(target)
        sys.stdin = open(0, closefd=False)  # noqa: SIM115 - the process's own streams
        # as a fresh interpreter's: stdout buffered in blocks, stderr by line
        sys.stdout = _stream(1, sys.__stdout__, line=False, unbuffered=unbuffered)
        sys.stderr = _stream(2, sys.__stderr__, line=True, unbuffered=unbuffered)
        code = _exit_code(lambda: _run(request, started_with))
        # The interpreter's exit, in Python: non-daemon threads joined, atexit handlers
        # run, streams flushed. Not its C++ static destructors: objects the warm
        # interpreter's imports made (DuckDB's, pyarrow's) would join threads only it has.
        with contextlib.suppress(Exception):
            threading._shutdown()  # type: ignore[attr-defined]
        atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        if code is None:  # an uncaught KeyboardInterrupt ends a program by SIGINT
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGINT)
    finally:
        os._exit(1 if code is None else code)


def _run(request: Mapping[str, Any], started_with: Sequence[str]) -> Any:
    """Take the run's environment, folder and ``sys.path``; run the CLI's ``main``."""
    env = request["env"]
    os.environ.clear()
    os.environ.update(env)
    time.tzset()  # TZ
    tempfile.tempdir = None  # TMPDIR
    os.chdir(request["cwd"])
    wanted = [os.path.abspath(p) for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    dropped = {os.path.abspath(p) for p in started_with} - set(wanted)
    sys.path[:] = [p for p in sys.path if p == "" or os.path.abspath(p) not in dropped]
    sys.path[1:1] = [p for p in wanted if p not in sys.path]
    importlib.invalidate_caches()
    sys.argv = ["headwater", *request["argv"]]
    if request["quick_retries"]:
        use_quick_retries()
    # the CLI as a program, as FRESH_SCRIPT runs it (testing does not import cli)
    return importlib.import_module("headwater.cli").main(request["argv"])


def _exit_code(run: Any) -> int | None:
    """``run()``'s exit code as the interpreter would make it (``None``: SIGINT)."""
    try:
        result = run()
    except SystemExit as exit:
        result = exit.code
    except KeyboardInterrupt:
        traceback.print_exc()
        return None
    except BaseException:
        traceback.print_exc()
        return 1
    if result is None or isinstance(result, int):
        return result or 0
    print(result, file=sys.stderr)
    return 1


def _stream(fd: int, like: Any, *, line: bool, unbuffered: bool) -> Any:
    """A text stream on ``fd`` with the encoding and error handler of ``like`` (the
    warm interpreter's own, made at its start as a fresh one's are)."""
    raw = io.FileIO(fd, "w", closefd=False)
    return io.TextIOWrapper(
        raw if unbuffered else io.BufferedWriter(raw),
        encoding=getattr(like, "encoding", None),
        errors=getattr(like, "errors", None),
        line_buffering=line,
        write_through=unbuffered,
    )


def forking() -> bool:
    """Whether CLI runs are forked from a warm interpreter here (Linux only)."""
    return sys.platform.startswith("linux") and hasattr(os, "fork")


class CliResult:
    """A finished CLI run: ``returncode``, ``stdout`` and ``stderr`` (text)."""

    def __init__(self, argv: Sequence[str], returncode: int, stdout: str, stderr: str) -> None:
        self.args = list(argv)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr


class _Warm:
    """One warm interpreter, started with the given start-up variables (:data:`_START_UP`);
    runs one CLI child at a time."""

    def __init__(self, start_up: tuple[tuple[str, str], ...]) -> None:
        env = {k: v for k, v in os.environ.items() if k not in _START_UP}
        env.update(start_up)
        # In this process's group, so that a Ctrl-C reaches the children as it reaches
        # a fresh process's (and ends this interpreter, quietly).
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from headwater.testing.cli_process import _serve; _serve()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            bufsize=0,
            env=env,
        )
        assert self.process.stdout is not None
        self.answers = self.process.stdout.fileno()
        # Bytes read from the pipe and not yet answered: one read may hold two answers
        # (a child that ends at once), which select() would no longer see as waiting.
        self.unread = b""
        try:
            ready = self._answer(timeout=300)
        except BaseException:
            self.close()
            raise
        if ready != "ready":
            self.close()
            raise RuntimeError("the warm interpreter for CLI runs did not start")

    def alive(self) -> bool:
        return self.process.poll() is None

    def send(self, request: Mapping[str, Any]) -> int:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(request).encode() + b"\n")
        return int(json.loads(self._answer(timeout=60))["pid"])

    def exit_code(self, timeout: float | None) -> int:
        return int(json.loads(self._answer(timeout))["code"])

    def _answer(self, timeout: float | None) -> str:
        """The next line from the warm interpreter (``TimeoutExpired`` after
        ``timeout`` seconds; ``None`` waits as long as it takes)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self.unread:
            left = None if deadline is None else max(deadline - time.monotonic(), 0)
            ready, _, _ = select.select([self.answers], [], [], left)
            if not ready:
                raise subprocess.TimeoutExpired(["headwater"], timeout or 0)
            chunk = os.read(self.answers, 4096)
            if not chunk:
                raise RuntimeError("the warm interpreter for CLI runs exited")
            self.unread += chunk
        line, self.unread = self.unread.split(b"\n", 1)
        return line.decode().strip()

    def close(self) -> None:
        """End the interpreter (it reaps its last child) and close its pipes."""
        assert self.process.stdin is not None and self.process.stdout is not None
        with contextlib.suppress(OSError):
            self.process.stdin.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()


#: Idle warm interpreters (about 150 MB each) by their start-up variables, the most
#: recently used last: one per start-up, :data:`_MAX_IDLE` in all.
_idle: dict[tuple[tuple[str, str], ...], list[_Warm]] = {}
_MAX_IDLE = 2
_lock = threading.Lock()


def _start_up(env: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple((k, env[k]) for k in _START_UP if k in env)


def _take(start_up: tuple[tuple[str, str], ...]) -> _Warm:
    with _lock:
        idle = _idle.pop(start_up, [])
    for warm in idle:
        if warm.alive():
            return warm
        warm.close()
    return _Warm(start_up)


def _give_back(warm: _Warm, start_up: tuple[tuple[str, str], ...]) -> None:
    """Keep ``warm`` for the next run, unless one like it is idle already; the
    interpreters kept longest idle beyond :data:`_MAX_IDLE` end."""
    surplus = []
    with _lock:
        if _idle.get(start_up):
            surplus.append(warm)
        else:
            _idle.pop(start_up, None)
            _idle[start_up] = [warm]
        while len(_idle) > _MAX_IDLE:
            surplus.extend(_idle.pop(next(iter(_idle))))
    for extra in surplus:
        extra.close()


@atexit.register
def _close_all() -> None:
    with _lock:
        warms = [warm for idle in _idle.values() for warm in idle]
        _idle.clear()
    for warm in warms:
        warm.close()


class CliProcess:
    """A running CLI process (see :func:`start_cli`)."""

    def __init__(
        self, argv: Sequence[str], env: Mapping[str, str], cwd: str | Path, quick_retries: bool
    ) -> None:
        self.args = list(argv)
        self.returncode: int | None = None
        cwd = os.path.abspath(cwd)
        if not os.path.isdir(cwd):
            raise FileNotFoundError(errno.ENOENT, "no such directory", cwd)
        self._folder = Path(tempfile.mkdtemp(prefix="headwater-cli-"))
        self._stdout = self._folder / "stdout"
        self._stderr = self._folder / "stderr"
        self._warm: _Warm | None = None
        self._popen: subprocess.Popen[bytes] | None = None
        if forking():
            self._start_up = _start_up(env)
            self._warm = _take(self._start_up)
            request = {
                "argv": self.args,
                "env": dict(env),
                "cwd": cwd,
                "stdout": str(self._stdout),
                "stderr": str(self._stderr),
                "quick_retries": quick_retries,
            }
            try:
                self.pid = self._warm.send(request)
            except BaseException:
                self._warm.close()
                raise
        else:
            fresh = ["-c", FRESH_SCRIPT] if quick_retries else ["-m", "headwater"]
            with open(self._stdout, "wb") as out, open(self._stderr, "wb") as err:
                self._popen = subprocess.Popen(
                    [sys.executable, *fresh, *self.args],
                    env=dict(env),
                    cwd=cwd,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                )
            self.pid = self._popen.pid

    def poll(self) -> int | None:
        """The exit code if the process has ended, else ``None``."""
        if self.returncode is None:
            try:
                self.wait(timeout=0)
            except subprocess.TimeoutExpired:
                return None
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the process to end (``subprocess.TimeoutExpired`` after ``timeout``)."""
        if self.returncode is not None:
            return self.returncode
        if self._popen is not None:
            self.returncode = self._popen.wait(timeout)
        else:
            assert self._warm is not None
            self.returncode = self._warm.exit_code(timeout)
            _give_back(self._warm, self._start_up)
            self._warm = None
        return self.returncode

    def send_signal(self, signum: int) -> None:
        """Send ``signum`` to the process (nothing if it has ended)."""
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)

    def kill(self) -> None:
        """SIGKILL the process."""
        self.send_signal(signal.SIGKILL)

    def output(self) -> tuple[str, str]:
        """What the process wrote to stdout and stderr (call after :meth:`wait`)."""
        return (
            self._stdout.read_text(errors="replace"),
            self._stderr.read_text(errors="replace"),
        )

    def result(self, timeout: float | None = None) -> CliResult:
        """Wait, then the run's code and output; the output files are removed."""
        code = self.wait(timeout)
        stdout, stderr = self.output()
        for path in (self._stdout, self._stderr):
            path.unlink(missing_ok=True)
        self._folder.rmdir()
        return CliResult(self.args, code, stdout, stderr)


def start_cli(
    argv: Sequence[str],
    env: Mapping[str, str],
    cwd: str | Path | None = None,
    *,
    quick_retries: bool = True,
) -> CliProcess:
    """Start ``headwater *argv`` with exactly ``env`` in ``cwd`` (default: this one);
    with ``quick_retries`` (the default), retries do not wait (:class:`NoWaiting`)."""
    return CliProcess(argv, env, cwd if cwd is not None else os.getcwd(), quick_retries)


def run_cli(
    argv: Sequence[str],
    env: Mapping[str, str],
    cwd: str | Path | None = None,
    timeout: float | None = 600,
    *,
    quick_retries: bool = True,
) -> CliResult:
    """Run ``headwater *argv`` to its end; its code and output, like ``subprocess.run``
    (``subprocess.TimeoutExpired`` after ``timeout``, the process killed)."""
    process = start_cli(argv, env, cwd, quick_retries=quick_retries)
    try:
        return process.result(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.result()
        raise
