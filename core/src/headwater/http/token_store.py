"""Where rotated OAuth2 refresh tokens are kept between runs.

A token endpoint that *rotates* refresh tokens answers each refresh with a new one and
refuses the old one from then on: a run that loses the new token leaves the next run
with a dead credential. The authenticator therefore hands every new refresh token to a
:class:`TokenStore` before using the access token it came with, and the next run reads
it back from there.

The store is chosen by the ``headwater_token_store`` hook (a vault or a secrets manager
can replace it); the builtin answer is :class:`FileTokenStore`: one JSON file per
connector under ``HEADWATER_TOKEN_DIR`` (default: the user data directory,
``platformdirs.user_data_dir("headwater")/tokens``), the directory owner-only (0700),
each file owner-only (0600), written atomically (a temporary file then ``os.replace``),
under an OS file lock so two concurrent runs of one connector refresh one after the
other instead of each spending the same refresh token. Never inside a dataset or a
destination, never logged.

Entries are keyed by a digest of the ``refresh_token`` *setting*: a user who sets a new
refresh token (after the old one was revoked) gets the new one used, not a stale stored
one, and two deployments of one connector with different refresh tokens (two tenants,
two accounts) sharing a token directory keep one entry each. The digest is a salted
SHA-256, so the stored file holds no other secret than the tokens it stores. A file keeps
the :data:`MAX_ENTRIES` most recently saved entries; older ones (refresh tokens long
replaced by a new setting) are dropped.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "MAX_ENTRIES",
    "TOKEN_DIR_ENV",
    "FileTokenStore",
    "MemoryTokenStore",
    "TokenStore",
    "default_token_dir",
    "setting_key",
]

#: The environment variable naming the directory of the default token store.
TOKEN_DIR_ENV = "HEADWATER_TOKEN_DIR"

#: How many entries (refresh_token settings) one connector's file keeps at most.
MAX_ENTRIES = 32

_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]")


def setting_key(connector: str, refresh_token: str) -> str:
    """The store key of the ``refresh_token`` setting of ``connector``: a salted
    digest, so the key reveals nothing about the token."""
    digest = hashlib.sha256(f"headwater-token-store\0{connector}\0{refresh_token}".encode())
    return digest.hexdigest()[:32]


class TokenStore:
    """The interface of a token store (the ``headwater_token_store`` hook returns one).

    ``load`` and ``save`` are called with the connector's name and the key of its
    ``refresh_token`` setting (:func:`setting_key`). ``lock`` is held around a whole
    refresh (load, token request, save); a store shared by several processes should
    make it exclusive across them. Subclasses override :meth:`load` and :meth:`save`.
    """

    def load(self, connector: str, key: str) -> str | None:
        """The refresh token stored for ``connector`` under ``key`` (``None``: none)."""
        raise NotImplementedError

    def save(self, connector: str, key: str, token: str) -> None:
        """Keep ``token`` as the refresh token of ``connector`` under ``key``."""
        raise NotImplementedError

    @contextlib.contextmanager
    def lock(self, connector: str) -> Iterator[None]:
        """Held around one refresh of ``connector``'s token (default: a no-op)."""
        yield


class MemoryTokenStore(TokenStore):
    """A store in memory (for tests, or a process that runs once)."""

    def __init__(self) -> None:
        self.tokens: dict[tuple[str, str], str] = {}

    def load(self, connector: str, key: str) -> str | None:
        """The stored token, if any."""
        return self.tokens.get((connector, key))

    def save(self, connector: str, key: str, token: str) -> None:
        """Keep ``token``."""
        self.tokens[(connector, key)] = token


def default_token_dir() -> Path:
    """``HEADWATER_TOKEN_DIR``, else ``<user data dir>/headwater/tokens``."""
    configured = os.environ.get(TOKEN_DIR_ENV)
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("headwater", appauthor=False)) / "tokens"


class FileTokenStore(TokenStore):
    """One owner-only JSON file per connector in ``directory`` (default:
    :func:`default_token_dir`)."""

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self.directory = Path(directory) if directory is not None else default_token_dir()
        self._thread_lock = threading.RLock()

    def __repr__(self) -> str:
        return f"FileTokenStore({str(self.directory)!r})"

    def path(self, connector: str) -> Path:
        """The file holding ``connector``'s tokens."""
        return self.directory / f"{_SAFE_NAME.sub('_', connector)}.json"

    def _ensure_directory(self) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        with contextlib.suppress(OSError):  # a directory the user owns but shares: tighten
            os.chmod(self.directory, 0o700)

    @contextlib.contextmanager
    def lock(self, connector: str) -> Iterator[None]:
        """An OS file lock (``filelock``) next to the connector's file: exclusive across
        processes, released when its holder dies."""
        import filelock

        self._ensure_directory()
        path = self.path(connector)
        with self._thread_lock, filelock.FileLock(str(path) + ".lock", mode=0o600):
            yield

    def _entries(self, connector: str) -> dict[str, str]:
        """The connector's entries, key -> refresh token (an unreadable file: none)."""
        try:
            data = json.loads(self.path(connector).read_text("utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict):
            return {}
        tokens = data.get("tokens")
        if not isinstance(tokens, dict):
            return {}
        return {k: v for k, v in tokens.items() if isinstance(v, str) and v}

    def load(self, connector: str, key: str) -> str | None:
        """The stored token, if any (an unreadable file counts as none)."""
        return self._entries(connector).get(key)

    def save(self, connector: str, key: str, token: str) -> None:
        """Write the connector's file atomically, owner-only, keeping its other entries
        (call it under :meth:`lock`, as the authenticator does, so that concurrent saves
        of two entries do not lose one)."""
        self._ensure_directory()
        target = self.path(connector)
        entries = self._entries(connector)
        entries.pop(key, None)  # the newest last: the oldest go first beyond MAX_ENTRIES
        entries[key] = token
        kept = dict(list(entries.items())[-MAX_ENTRIES:])
        text = json.dumps({"tokens": kept})
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=self.directory)
        try:
            # mkstemp creates the file 0600 already: the token is never readable by others
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
