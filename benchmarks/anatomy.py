"""Where the extract time goes: ``python -m benchmarks.anatomy [--records N] [--repeat R]``.

Against the simulated ``directory`` API (its own process), each variant below reads
every page in a fresh process and reports wall time, CPU time and CPU per page
(medians of ``--repeat``):

* ``requests_json``: the plain loop (``requests.Session.get`` + ``Response.json``);
* ``requests_orjson``: the same with ``orjson.loads(response.content)``;
* ``urllib3_orjson``: urllib3's ``PoolManager`` directly + ``orjson``;
* ``httpclient_orjson``: one ``http.client.HTTPConnection`` + ``orjson``;
* ``headwater_source``: Headwater's source for ``directory`` iterated without a
  pipeline: its HTTP path, paginator, read-ahead thread, decoding, validation and
  Arrow tables, but no dlt extract, normalize or load;
* ``headwater_pages``: only Headwater's page loop (:func:`headwater.http.extract.iter_pages`
  through the endpoint ``headwater run`` builds): session, retries, paginator,
  decoding, selector; no Arrow.

The differences say what each layer costs per page, and so what a change to it can
win (docs/performance.md, "Next steps").
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

PAGE = 100
VARIANTS = (
    "requests_json",
    "requests_orjson",
    "urllib3_orjson",
    "httpclient_orjson",
    "headwater_pages",
    "headwater_source",
)


def _token(settings: Mapping[str, str]) -> str:
    import requests

    response = requests.post(
        settings["token_url"],
        data={
            "grant_type": "client_credentials",
            "client_id": settings["client_id"],
            "client_secret": settings["client_secret"],
        },
        timeout=30,
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


def _requests(settings: Mapping[str, str], decode: str) -> int:
    import orjson
    import requests

    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {_token(settings)}"
    url = settings["base_url"] + "/v1/users"
    offset = count = 0
    while True:
        response = session.get(url, params={"offset": offset, "limit": PAGE}, timeout=60)
        response.raise_for_status()
        body = response.json() if decode == "json" else orjson.loads(response.content)
        page = body["users"]
        count += len(page)
        if len(page) < PAGE:
            return count
        offset += PAGE


def _urllib3(settings: Mapping[str, str]) -> int:
    import orjson
    import urllib3

    pool = urllib3.PoolManager()
    headers = {"Authorization": f"Bearer {_token(settings)}"}
    url = settings["base_url"] + "/v1/users"
    offset = count = 0
    while True:
        response = pool.request(
            "GET", url, fields={"offset": offset, "limit": PAGE}, headers=headers
        )
        if response.status != 200:
            raise RuntimeError(f"status {response.status}")
        page = orjson.loads(response.data)["users"]
        count += len(page)
        if len(page) < PAGE:
            return count
        offset += PAGE


def _http_client(settings: Mapping[str, str]) -> int:
    import http.client
    import urllib.parse

    import orjson

    parts = urllib.parse.urlsplit(settings["base_url"])
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    headers = {"Authorization": f"Bearer {_token(settings)}"}
    offset = count = 0
    while True:
        conn.request("GET", f"{parts.path}/v1/users?offset={offset}&limit={PAGE}", headers=headers)
        response = conn.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"status {response.status}")
        page = orjson.loads(data)["users"]
        count += len(page)
        if len(page) < PAGE:
            return count
        offset += PAGE


def _headwater_source(settings: Mapping[str, str]) -> int:
    from headwater.load.assemble import build_source

    source = build_source("directory", dict(settings))
    count = 0
    for item in source.resources["directory_users"]:
        count += getattr(item, "num_rows", None) or 1
    return count


def _headwater_pages(settings: Mapping[str, str]) -> int:
    from headwater.http.extract import iter_pages
    from headwater.load.assemble import build_endpoints

    _, endpoints = build_endpoints("directory", dict(settings))
    endpoint = endpoints["directory_users"]
    return sum(len(page) for page in iter_pages(endpoint))


RUNNERS: dict[str, Callable[[Mapping[str, str]], int]] = {
    "requests_json": lambda s: _requests(s, "json"),
    "requests_orjson": lambda s: _requests(s, "orjson"),
    "urllib3_orjson": _urllib3,
    "httpclient_orjson": _http_client,
    "headwater_pages": _headwater_pages,
    "headwater_source": _headwater_source,
}


def _variant(name: str, settings: Mapping[str, str]) -> dict[str, Any]:
    """Run one variant in this process (after its imports): wall, CPU, rows."""
    import headwater.load.assemble  # noqa: F401
    import orjson  # noqa: F401
    import requests  # noqa: F401
    import urllib3  # noqa: F401

    started, cpu = time.perf_counter(), time.process_time()
    rows = RUNNERS[name](settings)
    return {
        "rows": rows,
        "seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - cpu,
    }


def main(argv: list[str] | None = None) -> int:
    """Serve the API, run each variant ``--repeat`` times, print the table."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.anatomy")
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    parser.add_argument("--settings", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.variant:
        print(json.dumps(_variant(args.variant, json.loads(args.settings))))
        return 0
    from benchmarks.harness import Server, _clean_env, _compile_bytecode

    _compile_bytecode()
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    results: dict[str, dict[str, Any]] = {}
    with Server("--connector", "directory", "--records", str(args.records)) as server:
        settings = server.info["settings"]
        served = server.info["served"]["directory_users"]
        for name in variants:
            runs = []
            for _ in range(args.repeat):
                command = [sys.executable, "-m", "benchmarks.anatomy", "--variant", name]
                done = subprocess.run(
                    [*command, "--settings", json.dumps(settings)],
                    env=_clean_env(),
                    capture_output=True,
                    text=True,
                    check=False,
                )
                if done.returncode != 0:
                    print(f"{name}: FAILED\n{done.stderr[-2000:]}", file=sys.stderr)
                    break
                run = json.loads(done.stdout.strip().splitlines()[-1])
                if run["rows"] != served:
                    print(f"{name}: {run['rows']} rows, served {served}", file=sys.stderr)
                    break
                runs.append(run)
            if runs:
                results[name] = {
                    k: statistics.median(r[k] for r in runs) for k in ("seconds", "cpu_seconds")
                }
    pages = -(-args.records // PAGE) + 1
    base = results.get("requests_json", {}).get("seconds")
    print(f"\n== anatomy: {args.records:,} records, {pages:,} pages, medians of {args.repeat} ==")
    print("variant              seconds  records/s  x loop  CPU s  CPU ms/page")
    for name, r in results.items():
        ratio = f"{base / r['seconds']:.2f}" if base else "-"
        print(
            f"{name:<20} {r['seconds']:7.2f}  {args.records / r['seconds']:9,.0f}  {ratio:>6}"
            f"  {r['cpu_seconds']:5.2f}  {1000 * r['cpu_seconds'] / pages:11.3f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
