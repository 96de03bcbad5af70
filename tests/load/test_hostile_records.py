"""Records no API should send but some do: integers beyond 64 bits, field names dlt
reserves or cannot use. Loaded through `headwater run` from a real HTTP server on
127.0.0.1 that sends the JSON text as written, on the Arrow fast path and the row path,
and read back from DuckDB."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import duckdb
import pytest
from headwater import hookimpl
from headwater.cli import main
from headwater.run.workdir import DUCKDB_CONFIG
from helpers import Declares, connector

SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "count": {"type": ["integer", "null"]},
        "amount": {"type": ["number", "null"]},
        "name": {"type": ["string", "null"]},
    },
    "required": ["id"],
}


class HostileSchema:
    """The record schema of the test connector (not a file of a package)."""

    @hookimpl(tryfirst=True)
    def headwater_record_schema(self, connector, resource):
        return SCHEMA if connector.name == "hostile" else None


@pytest.fixture
def serve(headwater_plugins):
    """Factory: serve ``body`` (JSON text, sent as written) at /items on 127.0.0.1 and
    register connector ``hostile`` reading it; returns the base URL."""
    servers = []

    def start(body: str) -> str:
        payload = body.encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        headwater_plugins(Declares(connector("hostile")), HostileSchema())
        return f"http://127.0.0.1:{server.server_port}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(params=["arrow", "rows"])
def path(request, monkeypatch):
    """Both ways records reach dlt: typed Arrow tables, and dict rows."""
    monkeypatch.setenv("HEADWATER_ARROW", "1" if request.param == "arrow" else "0")
    return request.param


def run(base_url, capsys, *extra):
    code = main(["run", "hostile", "--base-url", base_url, "--progress", "off", *extra])
    captured = capsys.readouterr()
    return code, captured.err


def query(work, sql):
    with duckdb.connect(str(work / "headwater_hostile.duckdb"), read_only=True) as con:
        return con.sql(sql).fetchall()


# JSON text: the digits are written out, as an API would send them
WIDE = """{"data": [
 {"id": 1, "count": 5, "big": 18446744073709551615},
 {"id": 2, "count": 9223372036854775808},
 {"id": 3, "count": -9223372036854775808, "amount": 1.5},
 {"id": 4, "count": 7, "amount": 9007199254740993},
 {"id": 5, "count": 9223372036854775807, "nested": {"deep": [1, 2]}},
 {"id": 6, "count": 123456789012345678901234567890},
 {"id": 7, "count": 1, "nested": {"deep": [-18446744073709551617]}}
]}"""


def test_integers_beyond_64_bits_are_quarantined_with_every_digit(
    serve, path, headwater_env, capsys
):
    base_url = serve(WIDE)
    code, err = run(base_url, capsys)
    assert code == 0, err
    loaded = query(headwater_env, "select id, count from hostile_data.items order by id")
    # the largest and smallest 64-bit integers load exactly
    assert loaded == [(3, -(2**63)), (5, 2**63 - 1)]
    kept = query(
        headwater_env, "select record, error from hostile_data.items_quarantine order by record"
    )
    records = {json.loads(r)["id"]: (r, e) for r, e in kept}
    assert set(records) == {1, 2, 4, 6, 7}
    assert "18446744073709551615" in records[1][0]
    assert "field 'big' holds the integer 18446744073709551615" in records[1][1]
    assert "9223372036854775808" in records[2][0]
    assert "field 'count' holds the integer 9223372036854775808" in records[2][1]
    # a number column is a double: 2**53 + 1 would be rounded
    assert "9007199254740993" in records[4][0]
    assert "field 'amount' is the integer 9007199254740993" in records[4][1]
    # beyond the unsigned 64-bit range too (a fast JSON decoder reads them as floats)
    assert "123456789012345678901234567890" in records[6][0]
    assert "holds the integer 123456789012345678901234567890" in records[6][1]
    assert "-18446744073709551617" in records[7][0]
    assert "OverflowError" not in err and "Traceback" not in err
    # nothing left pending: the next run loads again
    code, err = run(base_url, capsys)
    assert code == 0, err


def test_integer_beyond_64_bits_under_fail_is_one_error_naming_resource_and_field(
    serve, path, headwater_env, capsys, monkeypatch
):
    monkeypatch.setenv("SOURCES__HOSTILE__VALIDATION", "fail")
    base_url = serve(WIDE)
    code, err = run(base_url, capsys)
    lines = err.strip().splitlines()
    assert code == 1
    assert len(lines) == 1, err
    assert "resource hostile.items: a record cannot be loaded (field 'big' holds the" in lines[0]
    assert "18446744073709551615, beyond the 64-bit range" in lines[0]


def test_integer_beyond_64_bits_with_validation_off_is_still_kept_aside(
    serve, path, headwater_env, capsys, monkeypatch
):
    monkeypatch.setenv("SOURCES__HOSTILE__VALIDATION", "off")
    base_url = serve(WIDE)
    code, err = run(base_url, capsys)
    assert code == 0, err
    ids = query(headwater_env, "select id from hostile_data.items order by id")
    assert ids == [(3,), (4,), (5,)]  # off: the double is not checked, the bigint is
    kept = query(headwater_env, "select record from hostile_data.items_quarantine")
    assert sorted(json.loads(r)["id"] for (r,) in kept) == [1, 2, 6, 7]


NAMES = """{"data": [
 {"id": 1, "_dlt_id": "same", "_dlt_load_id": "L", "_dlt_parent_id": "P",
  "_dlt_list_idx": 9, "_dlt_root_id": "R", "": "empty", " ": "blank", "__": "under",
  "lines": [{"sku": "a", "_dlt_id": "same"}, {"sku": "b", "": "x"}]},
 {"id": 2, "_dlt_id": "same", "": "empty2",
  "lines": [{"sku": "c", "_dlt_id": "same", "_dlt_parent_id": "P"}]}
]}"""


def test_reserved_and_empty_field_names_neither_break_the_load_nor_row_identity(
    serve, path, headwater_env, capsys
):
    base_url = serve(NAMES)
    code, err = run(base_url, capsys)
    assert code == 0, err
    parents = query(
        headwater_env,
        "select id, _dlt_id, api_dlt_id, api_dlt_load_id, api_dlt_parent_id, api_dlt_list_idx, "
        "api_dlt_root_id, api_blank, api_blank_2, api_blank_3 from hostile_data.items order by id",
    )
    assert [p[0] for p in parents] == [1, 2]
    # dlt's own row ids, not the API's field: distinct
    assert len({p[1] for p in parents}) == 2 and "same" not in {p[1] for p in parents}
    assert parents[0][2:] == ("same", "L", "P", 9, "R", "empty", "blank", "under")
    assert parents[1][2] == "same" and parents[1][7] == "empty2"
    load_ids = query(headwater_env, "select distinct _dlt_load_id from hostile_data.items")
    assert len(load_ids) == 1 and load_ids[0][0] != "L"
    # every nested row joins its real parent
    joined = query(
        headwater_env,
        "select p.id, c.sku, c.api_dlt_id, c._dlt_id from hostile_data.items__lines c "
        "join hostile_data.items p on c._dlt_parent_id = p._dlt_id order by c.sku",
    )
    assert [(r[0], r[1], r[2]) for r in joined] == [
        (1, "a", "same"),
        (1, "b", None),
        (2, "c", "same"),
    ]
    assert len({r[3] for r in joined}) == 3  # distinct child row ids
    (orphans,) = query(
        headwater_env,
        "select count(*) from hostile_data.items__lines c left join hostile_data.items p "
        "on c._dlt_parent_id = p._dlt_id where p.id is null",
    )[0]
    assert orphans == 0


FLAT = """{"data": [
 {"id": 1, "_dlt_id": "same", "": "e1", "\\t": "t1", "name": "x"},
 {"id": 2, "_dlt_id": "same", "": "e2", "name": "y"}
]}"""


def test_reserved_names_on_flat_records(serve, path, headwater_env, capsys):
    # flat records stay on the Arrow fast path (nested ones fall back to rows)
    base_url = serve(FLAT)
    code, err = run(base_url, capsys)
    assert code == 0, err
    rows = query(
        headwater_env,
        "select id, _dlt_id, api_dlt_id, api_blank, api_blank_2 "
        "from hostile_data.items order by id",
    )
    assert [(r[0], r[2], r[3], r[4]) for r in rows] == [
        (1, "same", "e1", "t1"),
        (2, "same", "e2", None),
    ]
    assert len({r[1] for r in rows}) == 2 and "same" not in {r[1] for r in rows}


#: keys dlt's naming turns into its own ``_dlt_id`` (JSON text, as the API writes it)
DISGUISED = [r"\u0020_dlt_id", r"\t_dlt_id", r"\u200b_dlt_id", "-dlt_id", "__dlt_id"]


@pytest.mark.parametrize("key", DISGUISED)
def test_names_that_normalise_to_a_reserved_name_are_renamed(
    serve, path, headwater_env, capsys, key
):
    """Decided on the name dlt makes of a key, not on its spelling: nested rows join
    their real parents, and flat records on the Arrow path do not collide."""
    nested = ",".join(
        f'{{"id": {i}, "{key}": "SAME", "lines": [{{"sku": "s{i}"}}]}}' for i in (1, 2)
    )
    base_url = serve(f'{{"data": [{nested}]}}')
    code, err = run(base_url, capsys)
    assert code == 0, err
    parents = query(headwater_env, "select id, _dlt_id, api_dlt_id from hostile_data.items")
    assert sorted(p[2] for p in parents) == ["SAME", "SAME"]
    assert len({p[1] for p in parents} - {"SAME"}) == 2
    joined = query(
        headwater_env,
        "select p.id, c.sku from hostile_data.items__lines c "
        "join hostile_data.items p on c._dlt_parent_id = p._dlt_id order by c.sku",
    )
    assert joined == [(1, "s1"), (2, "s2")]


@pytest.mark.parametrize("key", DISGUISED)
def test_names_that_normalise_to_a_reserved_name_on_flat_records(
    serve, path, headwater_env, capsys, key
):
    rows = ",".join(f'{{"id": {i}, "{key}": "SAME", "name": "n{i}"}}' for i in (1, 2))
    base_url = serve(f'{{"data": [{rows}]}}')
    code, err = run(base_url, capsys)
    assert code == 0, err
    loaded = query(headwater_env, "select id, _dlt_id, api_dlt_id from hostile_data.items")
    assert sorted((r[0], r[2]) for r in loaded) == [(1, "SAME"), (2, "SAME")]
    assert len({r[1] for r in loaded} - {"SAME"}) == 2  # dlt's own row ids


def deep_page(depth: int, kind: str) -> str:
    """A page of two records: id 1 holds a value nested ``depth`` levels (JSON text,
    as an API writes it; orjson reads up to 1024 levels), id 2 is plain."""
    opening, closing = ('{"a": ', "}") if kind == "dict" else ("[", "]")
    deep = opening * depth + "1" + closing * depth
    return f'{{"data": [{{"id": 1, "deep": {deep}}}, {{"id": 2, "name": "plain"}}]}}'


@pytest.mark.parametrize(("depth", "kind"), [(990, "dict"), (1000, "list"), (300, "dict")])
def test_a_record_nested_deeper_than_dlt_can_write_is_quarantined(
    serve, headwater_env, capsys, depth, kind
):
    code, err = run(serve(deep_page(depth, kind)), capsys)
    assert code == 0, err
    assert query(headwater_env, "select id from hostile_data.items") == [(2,)]
    ((record, error),) = query(
        headwater_env, "select record, error from hostile_data.items_quarantine"
    )
    assert json.loads(record)["id"] == 1
    assert error.startswith("field 'deep")
    assert "nested more than 250 levels deep" in error
    assert "RecursionError" not in err and "Recursion limit" not in err


def test_a_record_just_within_the_depth_dlt_can_write_loads(serve, headwater_env, capsys):
    code, err = run(serve(deep_page(249, "dict")), capsys)  # the record: 1 + 249 levels
    assert code == 0, err
    assert query(headwater_env, "select id from hostile_data.items order by id") == [(1,), (2,)]


def test_a_record_nested_too_deep_under_fail_is_one_error(
    serve, headwater_env, capsys, monkeypatch
):
    monkeypatch.setenv("SOURCES__HOSTILE__VALIDATION", "fail")
    code, err = run(serve(deep_page(990, "dict")), capsys)
    lines = err.strip().splitlines()
    assert code == 1
    assert len(lines) == 1, err
    assert "resource hostile.items: a record cannot be loaded (field 'deep.a.a" in lines[0]
    assert "nested more than 250 levels deep" in lines[0]


def test_a_page_nested_deeper_than_a_json_parser_reads_is_not_called_malformed(
    serve, headwater_env, capsys
):
    """Valid JSON of 1100 levels: 'malformed JSON ... retry later' sent users to retry."""
    code, err = run(serve(deep_page(1100, "list")), capsys)
    [line] = err.strip().splitlines()
    assert code == 1
    assert "answered JSON nested deeper than the 1024 levels a JSON parser reads" in line
    assert "malformed" not in line and "retry later" not in line


def test_fields_that_are_one_column_under_the_naming_load_with_a_warning(
    serve, path, headwater_env, capsys
):
    """fooBar and foo_bar are both foo_bar in the table: the Arrow path failed the whole
    extract with dlt's cut-off 'NameNormalizationCollision: ... normalized from:'."""
    base_url = serve('{"data": [{"id": 1, "fooBar": 1, "foo_bar": 2}, {"id": 2, "fooBar": 3}]}')
    code, err = run(base_url, capsys)
    assert code == 0, err
    assert query(headwater_env, "select count(*) from hostile_data.items") == [(2,)]
    if path == "arrow":
        assert (
            "headwater: warning: fields 'fooBar' and 'foo_bar' of the records are both "
            "loaded as column foo_bar: the table keeps one of their values"
        ) in err, err


def test_a_declared_field_the_api_spells_otherwise_fills_its_column(
    serve, path, headwater_env, capsys
):
    """The schema declares name and count, the API sends Name and Count (one column each
    under the naming): the records' fields fill the declared columns with their declared
    types, on the Arrow path too (it warned of two fields meeting and fell back to
    rows, which a filesystem destination then wrote as JSON lines, not Parquet)."""
    base_url = serve('{"data": [{"id": 1, "Name": "a", "Count": 5}, {"id": 2, "Count": null}]}')
    code, err = run(base_url, capsys)
    assert code == 0, err
    assert "both loaded as column" not in err, err  # the drift is warned about, rightly
    assert "fields seen but not declared: Count (2), Name (1)" in err
    rows = query(headwater_env, "select id, name, count from hostile_data.items order by id")
    assert rows == [(1, "a", 5), (2, None, None)]
    types = query(
        headwater_env,
        "select column_name, data_type from information_schema.columns "
        "where table_name = 'items' and column_name in ('name', 'count') order by 1",
    )
    assert types == [("count", "BIGINT"), ("name", "VARCHAR")]


def test_a_first_load_out_of_memory_loads_once_the_limit_is_raised(
    serve, headwater_env, capsys, monkeypatch
):
    """Records of 1000 fields: DuckDB ran out of memory in the first load, after dlt had
    marked the package as migrated and before the staging dataset was kept; every later
    run, the advised limit raised or --full-refresh, failed on 'hr_data_staging ... does
    not exist' until .headwater was deleted."""
    wide = [{"id": i, **{f"k{j}": j for j in range(1000)}} for i in range(100)]
    base_url = serve(json.dumps({"data": wide}))
    # a limit of the user's own: Headwater's grows with the columns (and loads them)
    monkeypatch.setenv(DUCKDB_CONFIG, '{"memory_limit": "64MB"}')
    code, err = run(base_url, capsys)
    assert code == 1 and "DuckDB ran out of its memory limit" in err, err
    # once, not as dlt's traceback for each of the job's attempts (450 lines)
    assert err.strip().count("\n") == 0, err
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS__GLOBAL_CONFIG", '{"memory_limit": "2GB"}')
    code, err = run(base_url, capsys)
    assert code == 0, err
    assert query(headwater_env, "select count(*) from hostile_data.items") == [(100,)]


def tree(depth: int, key: str = "children") -> dict:
    """A record of a category tree ``depth`` lists deep: each node's ``key`` lists
    its one child."""
    node: dict = {"id": 0}
    for level in range(depth - 1):
        node = {"id": level + 1, key: [node]}
    return {"id": 1, key: [node]}


def test_a_tree_whose_nested_tables_names_are_too_long_is_quarantined(serve, headwater_env, capsys):
    """25 levels of {"id", "children": [...]}: dlt named the 25th nested table's file
    items__children__...__children.<id>.0.parquet, longer than a file name can be; the
    normalize step failed with 'File name too long', and so did every later run."""
    base_url = serve(json.dumps({"data": [tree(25), {"id": 2, "name": "plain"}]}))
    code, err = run(base_url, capsys)
    assert code == 0, err
    assert query(headwater_env, "select id from hostile_data.items") == [(2,)]
    ((record, error),) = query(
        headwater_env, "select record, error from hostile_data.items_quarantine"
    )
    assert json.loads(record) == tree(25)
    assert error.startswith("field 'children[0].children[0].")
    assert "makes nested table items__children__children" in error
    assert "a name too long for dlt's files (at most 225 bytes)" in error
    code, err = run(base_url, capsys)  # nothing left behind fails the next run
    assert code == 0, err
    assert query(headwater_env, "select count(*) from hostile_data.items_quarantine") == [(2,)]


@pytest.mark.parametrize(("length", "loads"), [(218, True), (219, False)])
def test_a_list_under_a_long_name_loads_while_its_table_name_fits_a_file(
    serve, headwater_env, capsys, length, loads
):
    """items__<name> of up to 225 bytes loads (the file name has 255 with its id); one
    byte more is kept aside."""
    name = "x" * length
    base_url = serve(json.dumps({"data": [{"id": 1, name: [1, 2]}, {"id": 2}]}))
    code, err = run(base_url, capsys)
    assert code == 0, err
    ids = query(headwater_env, "select id from hostile_data.items order by id")
    assert ids == ([(1,), (2,)] if loads else [(2,)])
    if loads:
        table = f"items__{name}"
        assert query(headwater_env, f"select value from hostile_data.{table} order by 1") == [
            (1,),
            (2,),
        ]


def test_every_record_too_nested_fails_the_resource_with_one_line(serve, headwater_env, capsys):
    code, err = run(serve(json.dumps({"data": [tree(30)]})), capsys)
    assert code == 1
    [line] = err.strip().splitlines()[-1:]
    assert line.startswith(
        "headwater: error: resource hostile.items: none of its 1 records can be loaded "
        "(first: field 'children[0]."
    ), err
    assert line.endswith("they are kept as JSON in table items_quarantine"), line
    assert "set validation to warn" not in line  # warn would not load them either


def test_a_table_name_too_long_that_reaches_dlt_is_one_line_naming_the_fix(
    serve, headwater_env, capsys, monkeypatch
):
    """Records the check above did not catch (here: it is switched off): the normalize
    step's 'File name too long' with the whole path became one line naming the table,
    the package that keeps failing, and what to do."""
    from headwater.load import validation

    monkeypatch.setattr(validation, "MAX_TABLE_NAME_BYTES", 10_000)
    code, err = run(serve(json.dumps({"data": [{"id": 1, "x" * 300: [1]}]})), capsys)
    assert code == 1
    line = err.strip().splitlines()[-1]
    assert line.startswith(
        "headwater: error: the normalize step failed: dlt cannot name a file after table items__xxx"
    ), err
    assert "(307 bytes): records of resource items nest lists too deep" in line
    assert "fails every run this way: move it away" in line
    assert len(line) < 600, line


def wide_evolution(serve, fields):
    """Base URLs of a page of plain records, then of one with ``fields`` more fields
    in a nested object (dlt adds a column for each)."""
    plain = [{"id": i, "name": f"n{i}"} for i in range(250)]
    wide = [{"id": 1, "stats": {f"d{i}": i for i in range(fields)}}]
    return serve(json.dumps({"data": plain})), serve(json.dumps({"data": wide}))


@pytest.mark.parametrize("fields", [200, 300])
def test_a_record_adding_hundreds_of_columns_loads_under_headwaters_memory_limit(
    serve, headwater_env, capsys, fields
):
    """A second load adding 200 columns to a table with rows failed under Headwater's
    own limit: 'TransactionException: ... Failed to commit: failed to pin block of
    size 256.0 KiB (61.8 MiB/61.9 MiB used)'. The limit now grows with the columns."""
    plain, wide = wide_evolution(serve, fields)
    code, err = run(plain, capsys)
    assert code == 0, err
    code, err = run(wide, capsys)
    assert code == 0, err
    columns = query(
        headwater_env,
        "select count(*) from information_schema.columns where table_schema = "
        "'hostile_data' and table_name = 'items' and column_name like 'stats__d%'",
    )
    assert columns == [(fields,)]
    last = f"select stats__d{fields - 1} from hostile_data.items where id = 1"
    assert query(headwater_env, last) == [(fields - 1,)]


def test_a_commit_that_cannot_pin_a_block_is_the_memory_limit_line(
    serve, headwater_env, capsys, monkeypatch
):
    """Under a limit of the user's own, DuckDB's commit that finds no memory for a block
    is told as the memory limit run out of, naming the setting to raise."""
    plain, wide = wide_evolution(serve, 300)
    monkeypatch.setenv(DUCKDB_CONFIG, '{"memory_limit": "64MB"}')
    code, err = run(plain, capsys)
    assert code == 0, err
    code, err = run(wide, capsys)
    [line] = err.strip().splitlines()
    assert code == 1
    assert line.startswith(
        "headwater: error: the load step failed: DuckDB ran out of its memory limit "
        "(TransactionContext Error: Failed to commit: "
    ), line
    assert "raise memory_limit in DESTINATION__DUCKDB__CREDENTIALS__GLOBAL_CONFIG" in line
