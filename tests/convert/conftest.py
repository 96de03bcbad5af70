"""Helpers of the conversion tests: load a source into DuckDB and read every table back."""

from __future__ import annotations

from typing import Any

import pytest

#: dlt's own columns: random per load, so never compared
DLT_COLUMNS = ("_dlt_id", "_dlt_load_id", "_dlt_parent_id", "_dlt_list_idx", "_dlt_root_id")


def loaded(pipeline: Any) -> dict[str, dict[str, Any]]:
    """Every data table of ``pipeline``'s dataset: its columns (name -> type) and its rows
    (sorted, dlt's own columns left out)."""
    dataset = pipeline.dataset_name
    with pipeline.sql_client() as client:
        columns = client.execute_sql(
            "select table_name, column_name, data_type from information_schema.columns "
            "where table_schema = %s order by table_name, column_name",
            dataset,
        )
        tables: dict[str, dict[str, Any]] = {}
        for table, column, data_type in columns:
            if table.startswith("_dlt_"):
                continue
            tables.setdefault(table, {"columns": {}, "rows": []})
            if column not in DLT_COLUMNS:
                tables[table]["columns"][column] = data_type
        for table, info in tables.items():
            names = sorted(info["columns"])
            quoted = ", ".join(f'"{n}"' for n in names)
            rows = client.execute_sql(f'select {quoted} from "{dataset}"."{table}"')
            info["rows"] = sorted(tuple(str(v) for v in row) for row in rows)
    return tables


@pytest.fixture
def load_into(duckdb_pipeline):
    """Factory: run ``source`` into a new DuckDB pipeline and return :func:`loaded`."""

    def run(source: Any, name: str) -> dict[str, dict[str, Any]]:
        pipeline = duckdb_pipeline(name, dataset_name="api_data")
        pipeline.run(source)
        return loaded(pipeline)

    return run
