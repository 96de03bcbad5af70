"""The conformance suite for recordings, adopted as a connector author would, against
the recording committed beside this file (``headwater record directory --to
tests/replay/cassettes/directory`` from the simulator), and the ``headwater_replay``
fixture on its own."""

from __future__ import annotations

from pathlib import Path

import headwater
from headwater.testing import rows_of
from headwater.testing.recording import RecordingSuite

RECORDING = Path(__file__).parent / "cassettes" / "directory"


class TestDirectoryRecording(RecordingSuite):
    connector = "directory"
    recording = "cassettes/directory"
    strict = True


def test_fixture_replays_offline_without_credentials(headwater_env, headwater_replay):
    settings = headwater_replay("directory", RECORDING)
    assert settings["client_secret"] == "redacted-client_secret"
    rows = rows_of(headwater.source("directory", **settings))
    assert len(rows) == 12
    assert {r["id"] for r in rows} == {f"d-{n:06d}" for n in range(1, 13)}
