"""headwater.load.incremental: plans, positions and out-of-order completion."""

from __future__ import annotations

import random
import threading
import time
from datetime import datetime, timedelta, timezone

from headwater.load.incremental import (
    STATE_KEY,
    ParentPositions,
    Plan,
    Prefix,
    RunBounds,
    SliceFilter,
    checkpointed_slices,
    merged_slices,
)
from headwater.spec import IncrementalSpec
from headwater.timebounds import isoformat

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
SPEC = IncrementalSpec("ts", "start", end_param="end", window="1h", initial="2024-01-01")


def test_prefix_advances_only_over_contiguous_completed_slices():
    order = list(range(20))
    random.Random(7).shuffle(order)
    prefix = Prefix(20)
    done = set()
    for index in order:
        done.add(index)
        expected = next((i for i in range(20) if i not in done), 20)
        assert prefix.complete(index) == expected


def test_state_exact_under_out_of_order_completion():
    """Slices finishing in a scrambled order (parallel reads): the position is always
    the end of the contiguous completed prefix, never beyond a slice still running."""
    state: dict = {}
    plan = Plan.make(SPEC, {}, RunBounds(end=T0 + timedelta(hours=8)), state)
    assert len(plan.slices) == 8
    delays = [0.05, 0.0, 0.03, 0.0, 0.01, 0.04, 0.0, 0.02]
    seen: list[tuple[int, str | None]] = []
    prefix = Prefix(8)

    def read(index):
        time.sleep(delays[index])
        yield [{"slice": index}]

    def completed(index):
        before = prefix.done
        after = prefix.complete(index)
        for done in range(before, after):
            plan.advance(plan.slices[done], None)
        seen.append((index, state[STATE_KEY].get("position")))

    pages = list(merged_slices(read, 8, 8, completed))
    assert sorted(p[0]["slice"] for p in pages) == list(range(8))
    assert [i for i, _ in seen] != list(range(8))  # really out of order
    for index, position in seen:
        # every slice up to the position is complete at that moment
        completed_so_far = {i for i, _ in seen[: seen.index((index, position)) + 1]}
        expected = next(i for i in range(9) if i not in completed_so_far or i == 8)
        want = None if expected == 0 else (T0 + timedelta(hours=expected))
        got = None if position is None else datetime.fromisoformat(position.replace("Z", "+00:00"))
        assert got == want
    plan.finish()
    assert state[STATE_KEY] == {"position": "2024-01-01T08:00:00Z", "running": False}


def test_interrupted_run_resumes_without_lookback_and_backfill_keeps_its_own_entry():
    spec = IncrementalSpec("ts", "start", end_param="end", window="1h", lookback="3h")
    state: dict = {STATE_KEY: {"position": "2024-01-01T05:00:00Z", "running": True}}
    plan = Plan.make(spec, {}, RunBounds(end=T0 + timedelta(hours=7)), state)
    assert plan.slices[0][0] == T0 + timedelta(hours=5)  # resuming: no lookback
    state[STATE_KEY]["running"] = False
    plan = Plan.make(spec, {}, RunBounds(end=T0 + timedelta(hours=7)), state)
    assert plan.slices[0][0] == T0 + timedelta(hours=2)  # a new run: lookback
    backfill = RunBounds(start=T0, end=T0 + timedelta(hours=2), backfill=True, checkpoint=True)
    plan = Plan.make(spec, {}, backfill, state).limit(1)
    plan.advance(plan.slices[0], None)
    plan.finish()
    entry = state[STATE_KEY]
    assert entry["position"] == "2024-01-01T05:00:00Z"  # the normal run's, untouched
    assert entry["backfills"] == {
        "2024-01-01T00:00:00Z/2024-01-01T02:00:00Z": {"position": "2024-01-01T01:00:00Z"}
    }
    plan = Plan.make(spec, {}, backfill, state)
    assert plan.slices == [(T0 + timedelta(hours=1), T0 + timedelta(hours=2))]
    plan.advance(plan.slices[0], None)
    plan.finish()
    assert "backfills" not in state[STATE_KEY]  # done: the range runs in full next time


def test_parent_positions_are_bounded_and_never_skip():
    root: dict = {}
    parents = ParentPositions(root, limit=3)
    for i in range(5):
        parents.set(f"p{i}", T0 + timedelta(hours=i))
    parents.trim()
    assert sorted(root["parents"]) == ["p2", "p3", "p4"]
    assert root["floor"] == "2024-01-01T00:00:00Z"  # the oldest forgotten
    assert parents.get("p0") == T0 and parents.get("p9") == T0
    assert parents.get("p4") == T0 + timedelta(hours=4)


def test_merged_slices_raises_a_slice_error_and_stops_the_others():
    started = threading.Event()

    def read(index):
        if index == 1:
            started.wait(5)
            raise RuntimeError("slice 1 broke")
        started.set()
        yield [{"i": index}]

    try:
        list(merged_slices(read, 4, 2, lambda i: None))
    except RuntimeError as exc:
        assert "slice 1 broke" in str(exc)
    else:
        raise AssertionError("no error")


def test_open_ended_backfill_is_keyed_by_its_start_and_resumes_to_the_new_now():
    state: dict = {}
    first = RunBounds.for_run("2024-01-01", None, now=T0 + timedelta(hours=3))
    plan = Plan.make(SPEC, {}, first, state).limit(1)
    plan.advance(plan.slices[0], None)
    plan.finish()
    assert list(state[STATE_KEY]["backfills"]) == ["2024-01-01T00:00:00Z/now"]
    later = RunBounds.for_run("2024-01-01", None, now=T0 + timedelta(hours=4))
    plan = Plan.make(SPEC, {}, later, state)
    assert plan.slices[0][0] == T0 + timedelta(hours=1)  # resumed
    assert plan.slices[-1][1] == T0 + timedelta(hours=4)  # to the new now


def _checkpointed(with_records, workers=1, *, checkpoint=True, seconds=60.0):
    """Read a checkpointed backfill of eight 1-hour slices in which only the slices
    ``with_records`` return a record; returns the slices requested and the plan."""
    backfill = RunBounds(start=T0, end=T0 + timedelta(hours=8), backfill=True, checkpoint=True)
    plan = Plan.make(SPEC, {}, backfill, {})
    requested: list[int] = []
    lock = threading.Lock()

    def read(index):
        with lock:
            requested.append(index)
        if index in with_records:
            yield [{"slice": index}]

    pages = list(
        checkpointed_slices(
            plan,
            read,
            workers,
            lambda i: plan.advance(plan.slices[i], None),
            lambda i: i in with_records,
            checkpoint=checkpoint,
            seconds=seconds,
        )
    )
    assert [p[0]["slice"] for p in pages] == sorted(set(requested) & set(with_records))
    return sorted(requested), plan


def test_a_checkpointed_read_goes_on_over_empty_slices_and_stops_after_records():
    requested, plan = _checkpointed({3, 6})
    assert requested == [0, 1, 2, 3]  # three empty slices, then one with a record
    assert plan.more and plan.slices[-1] == (T0 + timedelta(hours=3), T0 + timedelta(hours=4))
    assert plan.entry["position"] == "2024-01-01T04:00:00Z"
    requested, plan = _checkpointed(set())
    assert requested == list(range(8)) and not plan.more  # all empty: one extract


def test_a_checkpointed_read_stops_in_groups_of_parallel_windows():
    requested, plan = _checkpointed({2}, workers=2)
    assert requested == [0, 1, 2, 3] and plan.more and len(plan.slices) == 4


def test_empty_slices_are_read_on_only_for_so_many_seconds():
    requested, plan = _checkpointed({6}, seconds=0.0)
    assert requested == [0] and plan.more  # no time left: the empty slice is loaded


def test_a_read_without_checkpoints_reads_every_slice():
    requested, plan = _checkpointed({1, 3}, workers=3, checkpoint=False)
    assert requested == list(range(8)) and not plan.more


def test_a_boundary_keeps_its_records_up_to_the_cap_with_a_warning(monkeypatch, caplog):
    from headwater.load import incremental

    monkeypatch.setattr(incremental, "MAX_BOUNDARY_IDS", 3)
    spec = IncrementalSpec(cursor_field="ts", param="since", format="iso8601")
    at = datetime(2024, 1, 2, tzinfo=timezone.utc)
    records = [{"id": f"r{i}", "ts": "2024-01-02T00:00:00Z"} for i in range(5)]
    plan = Plan.make(spec, {}, RunBounds(), {})
    sliced = SliceFilter(spec, None, None, False, key=("id",))
    sliced.page(records)
    with caplog.at_level("WARNING", logger="headwater"):
        plan.advance(plan.slices[0], sliced.latest, sliced.found, sliced.at_latest)
    assert len(plan.root["boundary"]["ids"]) == 3
    [warning] = [r.getMessage() for r in caplog.records]
    assert warning.startswith("5 records share the incremental cursor ts = 2024-01-02T00:00:00Z")
    # the next read drops the three it knows, at that cursor only
    nxt = Plan.make(spec, {}, RunBounds(), {"headwater_incremental": plan.root})
    again = SliceFilter(spec, None, None, False, key=("id",), boundary=nxt.boundary)
    kept = again.page([*records, {"id": "r9", "ts": "2024-01-03T00:00:00Z"}])
    assert [r["id"] for r in kept] == ["r3", "r4", "r9"] and set(nxt.boundary) == {at}


def test_a_lookback_keeps_the_latest_records_loaded_in_it_up_to_the_cap(monkeypatch, caplog):
    # an append resource with a lookback reads its span again: the identities of the
    # records loaded within the lookback of the position are kept (the latest first,
    # up to the cap, with a warning), and they are skipped when they come again
    from headwater.load import incremental

    monkeypatch.setattr(incremental, "MAX_BOUNDARY_IDS", 3)
    spec = IncrementalSpec(cursor_field="ts", param="since", format="iso8601", lookback="2h")
    at = datetime(2024, 1, 2, tzinfo=timezone.utc)
    moments = [at + timedelta(minutes=30 * i) for i in range(11)]  # 00:00 ... 05:00
    records = [{"id": f"r{i}", "ts": isoformat(m)} for i, m in enumerate(moments)]
    plan = Plan.make(spec, {}, RunBounds(), {})
    sliced = SliceFilter(spec, None, None, False, key=("id",), lookback=plan.lookback)
    sliced.page(records)
    with caplog.at_level("WARNING", logger="headwater"):
        plan.advance(plan.slices[0], sliced.latest, sliced.found, sliced.at_latest, sliced.recent)
    plan.finish()
    assert list(plan.root["recent"]) == [isoformat(m) for m in moments[:-4:-1]]
    [warning] = [r.getMessage() for r in caplog.records]
    assert warning.startswith("5 records were loaded within the lookback 2h of the position")
    assert "keeps the latest 3 of them" in warning
    nxt = Plan.make(spec, {}, RunBounds(), {"headwater_incremental": plan.root})
    assert nxt.slices[0][0] == moments[6]  # 05:00 less 2h
    again = SliceFilter(spec, *nxt.slices[0], False, key=("id",), boundary=nxt.boundary)
    late = {"id": "late", "ts": isoformat(moments[8])}
    moved = {"id": "r8", "ts": isoformat(moments[8] + timedelta(minutes=15))}  # a new version
    kept = again.page([*records[6:], late, moved])
    # r6 and r7 were beyond the cap (the warning said so); the known three are skipped
    assert [r["id"] for r in kept] == ["r6", "r7", "late", "r8"]
