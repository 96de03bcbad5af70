"""`headwater run` tells dlt's merge when a run served each key once, so the merge
need not deduplicate; when keys repeat, dlt deduplicates as before."""

from __future__ import annotations

import os

import dlt
import duckdb
import headwater
import headwater_directory.hooks
import pyarrow as pa
import pytest
from headwater import hookimpl
from headwater.cli import main
from headwater.http.paginators import OffsetPaginator
from headwater.load import unique as unique_module
from headwater.load.unique import DEDUPLICATED, KeyTracker, hinted
from headwater.load.validation import quarantine_table
from headwater.run import workdir
from headwater_directory.hooks import DIRECTORY
from helpers import Declares, connector, use_settings

PIPELINE, DATASET = "headwater_directory", "directory_data"
#: where `headwater run` keeps its pipelines: in the folder it runs in (the test's)
PIPELINES_DIR = ".headwater/pipelines"


class Overlapping(OffsetPaginator):
    """Offset pages whose second page starts one record early, as when a record is
    inserted before the current offset while an API is being paged through."""

    def update_state(self, response, data=None) -> None:
        first = self.offset == 0
        super().update_state(response, data)
        if first and self._has_next_page:
            self.offset -= 1


class RepeatsOneRecord:
    @hookimpl
    def headwater_paginator(self, connector, resource):
        return Overlapping(limit=100) if connector.name == "directory" else None


REPEATED = (
    "headwater: warning: directory_users: 251 records have only 250 distinct values of id, "
    "its primary key; the merge keeps one row per key, so the table has 1 fewer rows than "
    "were extracted"
)


def run_directory(work) -> tuple[int, int, object]:
    """`headwater run directory`: (rows, distinct ids, the table's dedup hint)."""
    assert main(["run", "directory", "--progress", "off"]) == 0
    with duckdb.connect(str(work / f"{PIPELINE}.duckdb"), read_only=True) as con:
        ((rows, ids),) = con.sql(
            f"select count(*), count(distinct id) from {DATASET}.directory_users"
        ).fetchall()
    pipeline = dlt.attach(pipeline_name=PIPELINE, pipelines_dir=PIPELINES_DIR)
    return rows, ids, pipeline.default_schema.tables["directory_users"].get(DEDUPLICATED)


@pytest.fixture
def vouched(headwater_plugins, api_simulator, headwater_env, monkeypatch, capsys):
    """A first `headwater run` of 250 directory users, each served once, so vouched
    for; from then on the API is paged so that one record comes twice."""
    headwater_plugins(headwater_directory.hooks)
    sim = api_simulator(DIRECTORY, records={"directory_users": 250})
    use_settings(monkeypatch, "directory", sim)
    assert run_directory(headwater_env) == (250, 250, True)
    headwater_plugins(headwater_directory.hooks, RepeatsOneRecord())
    capsys.readouterr()
    return sim


def test_keys_served_once_skip_dedup_and_repeats_do_not(
    vouched, headwater_plugins, headwater_env, capsys
):
    # One record comes twice: dlt deduplicates again, and the earlier run's hint does
    # not linger.
    sim = vouched
    sim.reset_log()
    assert run_directory(headwater_env) == (250, 250, False)
    # offsets 0, 99, 199: the 100th record came twice
    assert [r.query["offset"] for r in sim.requests_for("directory_users")] == [
        ["0"],
        ["99"],
        ["199"],
    ]
    # the summary counts what was extracted: the warning says the table has fewer
    assert REPEATED in capsys.readouterr().err.splitlines()

    # Unique again: the hint comes back.
    headwater_plugins(headwater_directory.hooks)
    sim.grow("directory_users", 3)
    assert run_directory(headwater_env) == (253, 253, True)
    capsys.readouterr()


def test_a_run_whose_keys_outgrow_memory_is_still_vouched_for(
    vouched, headwater_plugins, headwater_env, monkeypatch, capsys
):
    # keys beyond memory are counted from a file: still vouched for when unique, and
    # still left to dlt when one repeats
    monkeypatch.setattr("headwater.load.unique.MEMORY_KEY_BYTES", 100)
    sim = vouched
    assert run_directory(headwater_env) == (250, 250, False)  # the 100th came twice
    assert REPEATED in capsys.readouterr().err.splitlines()  # counted on disk alike
    headwater_plugins(headwater_directory.hooks)
    sim.grow("directory_users", 3)
    assert run_directory(headwater_env) == (253, 253, True)
    capsys.readouterr()


def test_the_merge_leaves_no_staging_copy_in_the_duckdb_file(
    headwater_plugins, api_simulator, headwater_env, monkeypatch, capsys
):
    headwater_plugins(headwater_directory.hooks)
    sim = api_simulator(DIRECTORY, records={"directory_users": 120})
    use_settings(monkeypatch, "directory", sim)
    assert run_directory(headwater_env)[:2] == (120, 120)  # straight into the table
    assert run_directory(headwater_env)[:2] == (120, 120)  # merged through staging
    with duckdb.connect(str(headwater_env / f"{PIPELINE}.duckdb"), read_only=True) as con:
        staged = con.sql(f"select count(*) from {DATASET}_staging.directory_users").fetchall()
    assert staged == [(0,)]
    capsys.readouterr()


@pytest.mark.parametrize("flags", [(), ("--all-or-nothing",)], ids=["default", "all-or-nothing"])
def test_a_merge_dlt_deduplicates_is_not_held_to_headwaters_duckdb_memory_limit(
    flags, headwater_plugins, api_simulator, headwater_env, monkeypatch, capsys
):
    # dlt's deduplicating merge ranks the staged rows with a window function, which
    # DuckDB cannot spill: under Headwater's 96MB, 1M records failed with "Out of
    # Memory Error". The limit shrunk to 8MB shows it with 20,000 records.
    tight = '{"memory_limit": "8MB", "preserve_insertion_order": false}'
    monkeypatch.setitem(workdir.DUCKDB_DEFAULTS, workdir.DUCKDB_CONFIG, tight)
    monkeypatch.setenv(workdir.DUCKDB_CONFIG, tight)
    headwater_plugins(headwater_directory.hooks, RepeatsOneRecord())
    sim = api_simulator(DIRECTORY, records={"directory_users": 20_000})
    use_settings(monkeypatch, "directory", sim)
    assert main(["run", "directory", "--progress", "off", *flags]) == 0, capsys.readouterr().err
    with duckdb.connect(str(headwater_env / f"{PIPELINE}.duckdb"), read_only=True) as con:
        counts = con.sql(f"select count(*), count(distinct id) from {DATASET}.directory_users")
        assert counts.fetchall() == [(20_000, 20_000)]
    # the run leaves Headwater's limit in place for the next
    assert workdir.duckdb_memory_limited()
    capsys.readouterr()


def test_a_load_out_of_your_duckdb_memory_limit_names_the_fix_and_loads_next_time(
    headwater_plugins, api_simulator, headwater_env, monkeypatch, capsys
):
    # your own settings are yours: Headwater does not lift your limit
    monkeypatch.setenv(workdir.DUCKDB_CONFIG, '{"memory_limit": "8MB"}')
    headwater_plugins(headwater_directory.hooks, RepeatsOneRecord())
    sim = api_simulator(DIRECTORY, records={"directory_users": 20_000})
    use_settings(monkeypatch, "directory", sim)
    assert main(["run", "directory", "--progress", "off"]) != 0
    err = capsys.readouterr().err
    assert "DuckDB ran out of its memory limit" in err
    assert "raise memory_limit in DESTINATION__DUCKDB__CREDENTIALS__GLOBAL_CONFIG" in err

    monkeypatch.setenv(workdir.DUCKDB_CONFIG, '{"memory_limit": "1GB"}')
    sim.reset_log()
    assert main(["run", "directory", "--progress", "off"]) == 0
    with duckdb.connect(str(headwater_env / f"{PIPELINE}.duckdb"), read_only=True) as con:
        counts = con.sql(f"select count(*), count(distinct id) from {DATASET}.directory_users")
        assert counts.fetchall() == [(20_000, 20_000)]
    capsys.readouterr()


@pytest.mark.parametrize("arrow", ["1", "0"])
def test_a_date_time_key_is_left_to_dlt_which_parses_it(
    arrow, headwater_plugins, requests_mock, headwater_env, monkeypatch, capsys
):
    # Two spellings of one instant: on the row path they are distinct text when the
    # generator sees them and one timestamp in the table, so only dlt's deduplication
    # can see that they are the same key.
    monkeypatch.setenv("HEADWATER_ARROW", arrow)
    conn = connector(primary_key="lastLoginTime")
    headwater_plugins(Declares(conn))
    instant = ["2024-01-01T00:00:00Z", "2024-01-01T00:00:00+00:00"]
    requests_mock.get(
        "https://api.test/items",
        json={"data": [{"id": f"u{i}", "lastLoginTime": t} for i, t in enumerate(instant)]},
    )
    assert main(["run", "testapi", "--progress", "off"]) == 0
    with duckdb.connect(str(headwater_env / "headwater_testapi.duckdb"), read_only=True) as con:
        rows = con.sql("select last_login_time from testapi_data.items").fetchall()
    assert len(rows) == 1
    items = dlt.attach(
        pipeline_name="headwater_testapi", pipelines_dir=PIPELINES_DIR
    ).default_schema.tables["items"]
    assert not items.get(DEDUPLICATED)
    capsys.readouterr()


def test_keys_that_a_duckdb_collation_folds_are_left_to_dlt(
    headwater_plugins, requests_mock, headwater_env, monkeypatch, capsys
):
    # With DuckDB's default_collation set to nocase, u1 and U1 are one key to the
    # merge: Headwater, which tells them apart, does not vouch.
    monkeypatch.setenv(
        "DESTINATION__DUCKDB__CREDENTIALS__GLOBAL_CONFIG", '{"default_collation": "nocase"}'
    )
    headwater_plugins(Declares(connector()))
    requests_mock.get("https://api.test/items", json={"data": [{"id": "u1"}, {"id": "U1"}]})
    assert main(["run", "testapi", "--progress", "off"]) == 0
    with duckdb.connect(str(headwater_env / "headwater_testapi.duckdb"), read_only=True) as con:
        assert con.sql("select count(*) from testapi_data.items").fetchall() == [(1,)]
    items = dlt.attach(
        pipeline_name="headwater_testapi", pipelines_dir=PIPELINES_DIR
    ).default_schema.tables["items"]
    assert items[DEDUPLICATED] is False
    capsys.readouterr()


def test_a_later_run_through_your_own_pipeline_does_not_inherit_the_hint(vouched, capsys):
    # `headwater run` vouched for the keys; a run of the same pipeline from Python, whose
    # API repeats a record, must deduplicate again.
    sim = vouched
    pipeline = dlt.pipeline(PIPELINE, destination="duckdb", dataset_name=DATASET)
    pipeline.run(headwater.source("directory", **sim.settings), loader_file_format="parquet")
    assert pipeline.default_schema.tables["directory_users"][DEDUPLICATED] is False
    with pipeline.sql_client() as client:
        assert client.execute_sql("select count(*), count(distinct id) from directory_users") == [
            (250, 250)
        ]
    capsys.readouterr()


def test_packages_left_unloaded_by_an_earlier_run_lose_the_hint(
    headwater_plugins, api_simulator, headwater_env, monkeypatch, capsys
):
    # A run that died in its load step: its package may be loaded in part, and a job
    # that runs again stages its rows twice. The next run loads it with dlt's dedup.
    from headwater.load.assemble import build_source
    from headwater.load.unique import distrust_pending

    headwater_plugins(headwater_directory.hooks)
    sim = api_simulator(DIRECTORY, records={"directory_users": 40})
    pipeline = dlt.pipeline(PIPELINE, destination="duckdb", dataset_name=DATASET)
    source = build_source("directory", sim.settings, unique_keys=True)
    pipeline.extract(source, loader_file_format="parquet")
    pipeline.normalize()
    (load_id,) = pipeline.list_normalized_load_packages()
    storage = pipeline._get_load_storage().normalized_packages
    assert storage.load_schema(load_id).tables["directory_users"][DEDUPLICATED] is True

    assert distrust_pending(pipeline) == 1
    assert storage.load_schema(load_id).tables["directory_users"][DEDUPLICATED] is False
    assert distrust_pending(pipeline) == 0
    capsys.readouterr()


def test_a_source_for_your_own_pipeline_leaves_dedup_to_dlt(
    headwater_plugins, api_simulator, duckdb_pipeline
):
    # Other destinations may compare keys case-insensitively: only `headwater run`
    # into DuckDB or Postgres vouches for keys.
    headwater_plugins(headwater_directory.hooks)
    sim = api_simulator(DIRECTORY, records={"directory_users": 30})
    pipeline = duckdb_pipeline("own")
    pipeline.run(headwater.source("directory", **sim.settings), loader_file_format="parquet")
    assert pipeline.default_schema.tables["directory_users"][DEDUPLICATED] is False


def tracked(*items, data_type: str = "text", max_bytes: int = 1000) -> KeyTracker:
    tracker = KeyTracker("id", data_type, max_bytes, ignore_table=quarantine_table("users"))
    for item in items:
        tracker.add(item)
    return tracker


def test_distinct_keys_across_tables_and_records_are_unique():
    tracker = tracked(pa.table({"id": ["a", "b"]}), [{"id": "c"}, {"id": "d"}])
    assert tracker.unique() and tracker.rows == 4
    assert tracked(
        pa.table({"id": pa.array([1, 2], pa.int32())}), [{"id": 3}], data_type="bigint"
    ).unique()


@pytest.mark.parametrize(
    ("items", "data_type", "reason"),
    [
        ((pa.table({"id": ["a", "b"]}), pa.table({"id": ["c", "a"]})), "text", None),
        (([{"id": "a"}, {"id": None}], [{"id": None}]), "text", None),  # two without a key
        (([{"id": 1}], [{"id": 2}, {"id": 1}]), "bigint", None),
        (([{"id": "a"}], [{"id": 1}]), "text", "a key that is not text"),
        (([{"id": "a"}, {"id": 1}],), "text", "a key that is not text"),
        # dlt would make one integer of "01" and 1, or of 1.0 and 1
        (([{"id": "01"}, {"id": "1"}],), "bigint", "a key that is not bigint"),
        (([{"id": "01"}], [{"id": 1}]), "bigint", "a key that is not bigint"),
        (([{"id": 1.0}],), "bigint", "a key that is not bigint"),
        (([{"id": 2**64}],), "bigint", "a key that is not bigint"),  # Arrow overflows
        (([{"id": {"a": 1}}],), "text", "a key that is not text"),
        ((pa.table({"other": ["a"]}),), "text", "a table without id"),
        (({"id": "a"},), "text", "an item of type dict"),
        (([{"id": str(i)} for i in range(200)],), "text", "more than 1000 bytes of keys"),
    ],
)
def test_keys_that_may_repeat_are_not_vouched_for(items, data_type, reason):
    tracker = tracked(*items, data_type=data_type)
    assert not tracker.unique()
    assert tracker.spoiled == reason


@pytest.mark.parametrize("many_endings", [False, True], ids=["grouped", "counted-at-once"])
def test_keys_are_counted_exactly_whatever_they_end_with(many_endings):
    # keys are counted a group at a time, by their last character (integers: their
    # last four bits); ids ending in more characters than there are groups, at once
    endings = [chr(0x4E00 + i) for i in range(100)] if many_endings else list("0123456789xyz")
    keys = [f"{prefix}{end}" for prefix in ("a", "bb", "c-c") for end in endings]

    def unique(*items, data_type="text"):
        return tracked(*items, data_type=data_type, max_bytes=2**20).unique()

    assert unique(pa.table({"id": keys}), [{"id": None}])
    again = keys[len(keys) // 2]
    assert not unique(pa.table({"id": keys}), [{"id": again}])
    assert not unique(pa.table({"id": keys}), [{"id": None}, {"id": None}])
    numbers = pa.table({"id": pa.array(range(1000), pa.int32())})
    assert unique(numbers, [{"id": 1000}], data_type="bigint")
    assert not unique(numbers, [{"id": 999}], data_type="bigint")
    # pages of string and large_string keys are one key space
    large = pa.table({"id": pa.array(["a0"], pa.large_string())})
    assert not unique(pa.table({"id": ["a0"]}), large)


def test_keys_that_outgrow_memory_are_counted_from_a_file(tmp_path):
    # beyond memory_bytes the keys go to a Parquet file, and DuckDB counts them
    def spilled(*items, data_type="text"):
        tracker = KeyTracker("id", data_type, memory_bytes=100)
        for item in items:
            tracker.add(item)
        assert tracker.spill_dir is not None
        folder = tracker.spill_dir
        try:
            return tracker.unique()
        finally:
            assert not os.path.exists(folder)  # removed once counted

    keys = pa.table({"id": [f"k{i}" for i in range(300)]})
    assert spilled(keys, [{"id": "x"}, {"id": None}])
    assert not spilled(keys, [{"id": "k7"}])  # one on disk, one still in memory
    assert not spilled(keys, [{"id": None}], [{"id": None}])
    numbers = pa.table({"id": pa.array(range(300), pa.int32())})
    assert spilled(numbers, [{"id": 300}], data_type="bigint")
    assert not spilled(numbers, [{"id": 299}], data_type="bigint")


def test_keys_that_cannot_go_to_disk_are_left_to_dlt(monkeypatch):
    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("tempfile.mkdtemp", full)
    tracker = KeyTracker("id", memory_bytes=100)
    tracker.add(pa.table({"id": [f"k{i}" for i in range(300)]}))
    assert not tracker.unique()
    assert tracker.spoiled == "keys that could not be written to disk (OSError)"


def test_a_run_that_stops_early_leaves_no_file_of_keys(monkeypatch):
    monkeypatch.setattr("headwater.load.unique.MEMORY_KEY_BYTES", 100)
    made = []
    real = unique_module.KeyTracker._spill

    def spill(self):
        real(self)
        made.append(self.spill_dir)

    monkeypatch.setattr(unique_module.KeyTracker, "_spill", spill)
    items = hinted(iter([pa.table({"id": [f"k{i}" for i in range(300)]})] * 3), "id")
    next(items), next(items)  # the first hint, then the first table
    assert made and os.path.isdir(made[0])
    items.close()
    assert not os.path.exists(made[0])


def test_one_row_without_a_key_is_unique_as_dlt_deduplicates_it():
    assert tracked([{"id": "a"}, {"id": None}]).unique()


def test_quarantined_rows_do_not_count_but_other_tables_do():
    quarantined = dlt.mark.with_hints(
        [{"id": "a"}], dlt.mark.make_hints(table_name=quarantine_table("users")), True
    )
    assert tracked([{"id": "a"}], quarantined).unique()
    elsewhere = dlt.mark.with_table_name([{"id": "z"}], "other")
    tracker = tracked([{"id": "a"}], elsewhere)
    assert not tracker.unique() and tracker.spoiled == "an item for another table"


def flag(item) -> bool:
    return item.meta.hints["additional_table_hints"][DEDUPLICATED]


def test_hints_come_first_off_then_as_measured():
    def hints(items):
        out = list(hinted(items, "id"))
        # the first hint rides on the first item (add_limit counts items)
        return flag(out[0]), [out[0].data, *out[1:-1]], flag(out[-1])

    assert hints([[{"id": "a"}], [{"id": "b"}]]) == (False, [[{"id": "a"}], [{"id": "b"}]], True)
    assert hints([[{"id": "a"}], [{"id": "a"}]])[2] is False
    # closed early: only the first hint went out
    items = hinted(iter([[{"id": "a"}], [{"id": "b"}]]), "id")
    first = next(items)
    assert flag(first) is False and first.data == [{"id": "a"}]
    assert next(items) == [{"id": "b"}]
    items.close()
    # no item: the hint alone; items marked already (quarantine) go by first, and the
    # hint rides on the table's first item (add_limit counts neither apart)
    [alone, last] = hinted(iter([]), "id")
    assert (flag(alone), alone.data, flag(last)) == (False, [], True)
    quarantined = dlt.mark.with_hints(
        [{"id": "x"}], dlt.mark.make_hints(table_name=quarantine_table("users")), True
    )
    out = list(
        hinted(iter([quarantined, [{"id": "a"}]]), "id", ignore_table=quarantine_table("users"))
    )
    assert out[0] is quarantined and flag(out[1]) is False and out[1].data == [{"id": "a"}]
    assert flag(out[2]) is True and len(out) == 3


@pytest.fixture
def load_limits(monkeypatch):
    """DuckDB's memory limit as each load job of the run saw it."""
    from dlt.destinations.impl.duckdb.duck import DuckDbCopyJob

    seen: list[str] = []
    run = DuckDbCopyJob.run

    def observed(self):
        client = self._job_client.sql_client
        ((limit,),) = client.execute_sql("select current_setting('memory_limit')")
        seen.append(limit)
        return run(self)

    monkeypatch.setattr(DuckDbCopyJob, "run", observed)
    return seen


@pytest.mark.parametrize("large", [False, True], ids=["small load", "large load"])
def test_a_large_load_runs_under_the_smaller_duckdb_limit(
    large, load_limits, headwater_plugins, api_simulator, headwater_env, monkeypatch, capsys
):
    """Past DUCKDB_LARGE_LOAD_BYTES of files, the data outgrows any limit and the
    smallest bounds the peak at no cost; a smaller load of Parquet files runs under
    DUCKDB_PARQUET_LOAD_LIMIT."""
    if large:
        monkeypatch.setattr(workdir, "DUCKDB_LARGE_LOAD_BYTES", 1_000)
    headwater_plugins(headwater_directory.hooks)
    sim = api_simulator(DIRECTORY, records={"directory_users": 250})
    use_settings(monkeypatch, "directory", sim)
    assert run_directory(headwater_env) == (250, 250, True)
    expected = duckdb.connect(
        config={
            "memory_limit": workdir.DUCKDB_LARGE_LOAD_LIMIT
            if large
            else workdir.DUCKDB_PARQUET_LOAD_LIMIT
        }
    ).sql("select current_setting('memory_limit')")
    assert load_limits and set(load_limits) == {expected.fetchone()[0]}
    assert workdir.duckdb_memory_limited()  # the default is left as it was
    capsys.readouterr()


def test_a_large_load_of_json_lines_keeps_the_default_limit(
    load_limits, headwater_plugins, api_simulator, headwater_env, monkeypatch, capsys
):
    """The row path's JSON lines are read through 32 MiB buffers: under 48MB a load of
    200k records failed "Out of Memory"."""
    monkeypatch.setattr(workdir, "DUCKDB_LARGE_LOAD_BYTES", 1_000)
    monkeypatch.setenv("HEADWATER_ARROW", "0")
    headwater_plugins(headwater_directory.hooks)
    sim = api_simulator(DIRECTORY, records={"directory_users": 250})
    use_settings(monkeypatch, "directory", sim)
    assert run_directory(headwater_env)[:2] == (250, 250)
    expected = duckdb.connect(config={"memory_limit": "96MB"}).sql(
        "select current_setting('memory_limit')"
    )
    assert load_limits and set(load_limits) == {expected.fetchone()[0]}
    capsys.readouterr()


def test_your_own_duckdb_limit_holds_for_a_large_load(
    load_limits, headwater_plugins, api_simulator, headwater_env, monkeypatch, capsys
):
    monkeypatch.setattr(workdir, "DUCKDB_LARGE_LOAD_BYTES", 1_000)
    monkeypatch.setenv(workdir.DUCKDB_CONFIG, '{"memory_limit": "200MB"}')
    headwater_plugins(headwater_directory.hooks)
    sim = api_simulator(DIRECTORY, records={"directory_users": 250})
    use_settings(monkeypatch, "directory", sim)
    assert run_directory(headwater_env) == (250, 250, True)
    expected = duckdb.connect(config={"memory_limit": "200MB"}).sql(
        "select current_setting('memory_limit')"
    )
    assert load_limits and set(load_limits) == {expected.fetchone()[0]}
    capsys.readouterr()
