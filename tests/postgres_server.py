"""A PostgreSQL server for the destination tests.

:func:`postgres_server` gives the server to test against, in this order:

1. ``HEADWATER_TEST_POSTGRES`` (``postgresql://user:password@host:port/database``), as
   ``eval "$(.ci/start-postgres)"`` sets it (CI does). If it is set, the server must
   answer: a set but unreachable server is an error, not a reason to skip.
2. Otherwise a private server started for the session by ``.ci/start-postgres
   --no-install`` in a temporary directory (initdb and pg_ctl, on a free port on
   127.0.0.1, run as the ``postgres`` user when root), stopped at the end.
3. Otherwise (no server binaries, or it would not start) the tests skip, saying why and
   how to get a server.

Each test gets its own schemas (datasets) on it: :meth:`PostgresServer.new_dataset`.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

__all__ = ["ENV", "START_SCRIPT", "PostgresServer", "ServerUnavailable", "postgres_server"]

ENV = "HEADWATER_TEST_POSTGRES"
START_SCRIPT = Path(__file__).resolve().parents[1] / ".ci" / "start-postgres"
HOW = (
    f"set {ENV}=postgresql://user:password@127.0.0.1:5432/db, or run "
    f'eval "$(.ci/start-postgres)" (installs PostgreSQL with apt when missing and starts '
    "a throwaway server), or install the PostgreSQL server binaries (initdb, pg_ctl) so "
    "the tests start a private one"
)


# Read when the tests are collected: Headwater's ``headwater_env`` fixture removes every
# HEADWATER_* variable from the environment of each test, before a test asks for the
# server.
_URL_AT_START = os.environ.get(ENV, "").strip()


class ServerUnavailable(Exception):
    """No PostgreSQL server can be had here; the message says why."""


class PostgresServer:
    """A running PostgreSQL server the tests may create schemas on."""

    def __init__(self, url: str) -> None:
        self.url = url
        parts = urlsplit(url)
        self.password = parts.password or ""

    def __repr__(self) -> str:  # never show the password in a test report
        shown = self.url.replace(f":{self.password}@", ":***@") if self.password else self.url
        return f"<PostgresServer {shown}>"

    def connect(self):  # -> psycopg2 connection
        import psycopg2

        return psycopg2.connect(self.url, connect_timeout=10)

    def new_dataset(self, prefix: str) -> str:
        """A dataset (schema) name no other test uses."""
        return f"{prefix}_{uuid.uuid4().hex[:10]}"

    def drop_datasets(self, *names: str) -> None:
        """Drop these schemas and the staging schemas dlt makes beside them."""
        with contextlib.closing(self.connect()) as con, con.cursor() as cur:
            con.autocommit = True
            for name in names:
                for schema in (name, f"{name}_staging"):
                    cur.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _answer(url: str) -> str | None:
    """``None`` when the server at ``url`` answers a query, else why not (no password)."""
    server = PostgresServer(url)
    try:
        with contextlib.closing(server.connect()) as con, con.cursor() as cur:
            cur.execute("select 1")
            cur.fetchone()
    except Exception as exc:
        text = " ".join(str(exc).split())
        return text.replace(server.password, "***") if server.password else text
    return None


def _start_private() -> tuple[str, str]:
    """Start a server with ``.ci/start-postgres --no-install``; ``(url, its directory)``."""
    if shutil.which("bash") is None:
        raise ServerUnavailable("no bash to run .ci/start-postgres")
    if not START_SCRIPT.exists():
        raise ServerUnavailable(f"{START_SCRIPT} is missing")
    # Under the system temporary directory, not pytest's (mode 0700, owned by us): when
    # root, the server runs as the postgres user, which must reach its directory.
    directory = tempfile.mkdtemp(prefix="headwater-pytest-postgres.")
    env = {**os.environ, "HEADWATER_PG_DIR": directory}
    env.pop(ENV, None)
    result = subprocess.run(
        ["bash", str(START_SCRIPT), "--no-install"],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
        check=False,
    )
    found = re.search(rf"^export {ENV}=(\S+)$", result.stdout, re.M)
    if result.returncode != 0 or found is None:
        shutil.rmtree(directory, ignore_errors=True)
        lines = result.stderr.strip().splitlines() or [f"exit status {result.returncode}"]
        raise ServerUnavailable(lines[-1])
    return found.group(1), directory


def _stop_private(directory: str) -> None:
    subprocess.run(
        ["bash", str(START_SCRIPT), "stop"],
        env={**os.environ, "HEADWATER_PG_DIR": directory},
        capture_output=True,
        timeout=120,
        check=False,
    )
    shutil.rmtree(directory, ignore_errors=True)


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """The server for this test session (see the module's docstring).

    Raises :class:`ServerUnavailable` when none can be had, and :class:`RuntimeError`
    when ``HEADWATER_TEST_POSTGRES`` is set but its server does not answer.
    """
    url = os.environ.get(ENV, "").strip() or _URL_AT_START
    if url:
        problem = _answer(url)
        if problem is not None:
            raise RuntimeError(f"{ENV} is set, but its server does not answer: {problem}")
        yield PostgresServer(url)
        return
    try:
        url, directory = _start_private()
    except ServerUnavailable as exc:
        raise ServerUnavailable(
            f"no PostgreSQL server ({exc}); to test against one, {HOW}"
        ) from None
    try:
        problem = _answer(url)
        if problem is not None:
            raise ServerUnavailable(
                f"the private PostgreSQL server does not answer ({problem}); {HOW}"
            )
        yield PostgresServer(url)
    finally:
        _stop_private(directory)
