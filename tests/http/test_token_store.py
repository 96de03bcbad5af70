"""The default token store: owner-only files, atomic writes, keyed by the setting."""

from __future__ import annotations

import stat
import sys
import threading

import pytest
from headwater.http.token_store import (
    FileTokenStore,
    MemoryTokenStore,
    default_token_dir,
    setting_key,
)

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")


@posix_only
def test_files_and_directory_are_owner_only(tmp_path):
    store = FileTokenStore(tmp_path / "tokens")
    store.save("crm", "k1", "rt-2")
    assert stat.S_IMODE((tmp_path / "tokens").stat().st_mode) == 0o700
    path = store.path("crm")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert store.load("crm", "k1") == "rt-2"
    # nothing left behind by the atomic write but the file and its lock
    assert {p.name for p in (tmp_path / "tokens").iterdir()} <= {"crm.json", "crm.json.lock"}


def test_a_new_setting_is_not_answered_with_the_stale_stored_token(tmp_path):
    store = FileTokenStore(tmp_path)
    old, new = setting_key("crm", "rt-original"), setting_key("crm", "rt-new-from-user")
    assert old != new and "rt-original" not in old
    store.save("crm", old, "rt-rotated")
    assert store.load("crm", old) == "rt-rotated"
    assert store.load("crm", new) is None


def test_two_refresh_tokens_of_one_connector_keep_an_entry_each(tmp_path):
    """Two tenants of one connector sharing a token directory: saving one's rotated
    token does not lose the other's (its next run would send a refused token)."""
    store = FileTokenStore(tmp_path)
    a, b = setting_key("crm", "rt-tenant-a"), setting_key("crm", "rt-tenant-b")
    with store.lock("crm"):
        store.save("crm", a, "rt-a-2")
    with store.lock("crm"):
        store.save("crm", b, "rt-b-2")
    assert FileTokenStore(tmp_path).load("crm", a) == "rt-a-2"
    assert FileTokenStore(tmp_path).load("crm", b) == "rt-b-2"


def test_a_file_keeps_the_most_recent_entries(tmp_path):
    from headwater.http.token_store import MAX_ENTRIES

    store = FileTokenStore(tmp_path)
    keys = [setting_key("crm", f"rt-{i}") for i in range(MAX_ENTRIES + 2)]
    for i, key in enumerate(keys):
        store.save("crm", key, f"rotated-{i}")
    assert store.load("crm", keys[0]) is None and store.load("crm", keys[1]) is None
    assert store.load("crm", keys[-1]) == f"rotated-{MAX_ENTRIES + 1}"
    assert store.load("crm", keys[2]) == "rotated-2"


def test_an_unreadable_file_counts_as_no_token(tmp_path):
    store = FileTokenStore(tmp_path)
    store.path("crm").write_text("{not json")
    assert store.load("crm", "k") is None
    assert store.load("other", "k") is None


def test_the_directory_comes_from_headwater_token_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("HEADWATER_TOKEN_DIR", str(tmp_path / "t"))
    assert default_token_dir() == tmp_path / "t"
    assert FileTokenStore().directory == tmp_path / "t"


def test_the_lock_serialises_threads_and_processes(tmp_path):
    store = FileTokenStore(tmp_path)
    inside: list[int] = []
    overlap = []

    def refresh(n: int) -> None:
        with store.lock("crm"):
            inside.append(n)
            if len(inside) > 1:
                overlap.append(list(inside))
            store.save("crm", "k", f"rt-{n}")
            inside.remove(n)

    threads = [threading.Thread(target=refresh, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not overlap
    assert store.load("crm", "k") in {f"rt-{n}" for n in range(8)}


def test_memory_store_round_trip():
    store = MemoryTokenStore()
    store.save("crm", "k", "v")
    assert store.load("crm", "k") == "v" and store.load("crm", "x") is None


def test_a_hooked_stores_repr_stays_out_of_errors_and_reprs():
    """A store from the headwater_token_store hook (a vault client) may show its own
    credentials in its repr: errors and the authenticator's repr name its class only."""
    from headwater.errors import RunError
    from headwater.http.authenticators import OAuth2RefreshTokenAuthenticator
    from headwater.http.token_store import TokenStore

    canary = "vault-token-canary-5b1c"

    class VaultStore(TokenStore):
        def __repr__(self) -> str:
            return f"VaultStore(token={canary!r})"

        def load(self, connector: str, key: str) -> str | None:
            raise ConnectionError(f"vault unreachable with {canary}")

    auth = OAuth2RefreshTokenAuthenticator(
        "https://auth.test/token",
        "client",
        "secret",
        "rt-setting",
        store=VaultStore(),
        connector="crm",
    )
    assert canary not in repr(auth) and "VaultStore" in repr(auth)
    with pytest.raises(RunError) as err:
        auth.token()
    assert canary not in str(err.value)
    assert "VaultStore could not be read" in str(err.value)
