"""The plain ``requests`` loop: offset pages downloaded and JSON-decoded, rows counted,
nothing written (wire speed: what a hand-written script cannot beat by loading less).
Runs in the ``requests`` peer environment (:mod:`benchmarks.peers`)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import _common
import requests


def run(server: Mapping[str, Any], options: Mapping[str, Any], case: str) -> dict[str, Any]:
    settings = server["settings"]
    served = server["served"]["directory_users"]
    started, cpu = time.perf_counter(), time.process_time()
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {_common.token(settings)}"
    url = settings["base_url"] + "/v1/users"
    offset = count = pages = 0
    while True:
        response = session.get(
            url, params={"offset": offset, "limit": _common.PAGE_SIZE}, timeout=60
        )
        response.raise_for_status()
        page = response.json()["users"]
        pages += 1
        count += len(page)
        if len(page) < _common.PAGE_SIZE:
            break
        offset += _common.PAGE_SIZE
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    _common.check("the requests loop", count, served)
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "records": count,
        "extra": {"requests": pages + 1, "requests_version": requests.__version__},
    }


if __name__ == "__main__":
    raise SystemExit(_common.main(run))
