"""dlt's ``rest_api_source`` over the directory API, merged on ``id`` into DuckDB.
Runs in the ``dlt`` peer environment (:mod:`benchmarks.peers`).

* ``dlt_rest_api_defaults``: every dlt default (``insert_values`` load files);
* ``dlt_rest_api_tuned``: what a user tuning dlt for speed would set: Parquet load
  files (``loader_file_format="parquet"``), buffers of 100,000 items instead of 5,000
  and one extract file per 100,000 rows.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import _common

TUNED_ENV = {
    "DATA_WRITER__BUFFER_MAX_ITEMS": "100000",
    "DATA_WRITER__FILE_MAX_ITEMS": "100000",
}


def _phases(trace: Any) -> dict[str, float]:
    out: dict[str, float] = {}
    for step in getattr(trace, "steps", None) or ():
        if step.started_at is not None and step.finished_at is not None:
            seconds = (step.finished_at - step.started_at).total_seconds()
            out[step.step] = round(out.get(step.step, 0.0) + seconds, 3)
    return out


def run(server: Mapping[str, Any], options: Mapping[str, Any], case: str) -> dict[str, Any]:
    tuned = case == "dlt_rest_api_tuned"
    if tuned:
        os.environ.update(TUNED_ENV)
    import dlt
    from dlt.sources.helpers.rest_client.auth import OAuth2ClientCredentials
    from dlt.sources.helpers.rest_client.paginators import OffsetPaginator
    from dlt.sources.rest_api import rest_api_source

    settings = server["settings"]
    served = server["served"]["directory_users"]
    work = Path.cwd()
    database = work / "bench.duckdb"
    dataset = "directory_data"
    started, cpu = time.perf_counter(), time.process_time()
    # What a user would write: dlt's own OAuth2 (one token request; one resource here).
    auth = OAuth2ClientCredentials(
        access_token_url=settings["token_url"],
        client_id=settings["client_id"],
        client_secret=settings["client_secret"],
    )
    source = rest_api_source(
        {
            "client": {
                "base_url": settings["base_url"],
                "auth": auth,
                # No total in the response: total_path=None, stop on the empty page.
                "paginator": OffsetPaginator(
                    limit=_common.PAGE_SIZE, total_path=None, stop_after_empty_page=True
                ),
            },
            "resource_defaults": {"primary_key": "id", "write_disposition": "merge"},
            "resources": [
                {
                    "name": "directory_users",
                    "endpoint": {"path": "v1/users", "data_selector": "users"},
                }
            ],
        }
    )
    pipeline = dlt.pipeline(
        pipeline_name="bench_dlt",
        destination=dlt.destinations.duckdb(str(database)),
        dataset_name=dataset,
        pipelines_dir=str(work / "pipelines"),
    )
    if tuned:
        pipeline.run(source, loader_file_format="parquet")
    else:
        pipeline.run(source)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    loaded = _common.count_rows(database, dataset, "directory_users")
    _common.check(f"DuckDB table {dataset}.directory_users", loaded, served)
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "records": loaded,
        "phases": _phases(pipeline.last_trace),
        "extra": {
            "file_format": "parquet, buffers of 100,000" if tuned else "insert_values (default)",
            "dlt_version": dlt.__version__,
        },
    }


if __name__ == "__main__":
    raise SystemExit(_common.main(run))
