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
