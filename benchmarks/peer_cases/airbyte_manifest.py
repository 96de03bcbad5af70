"""An Airbyte declarative (low-code) source, counted at the sink.

The manifest is generated from the Headwater declaration (:mod:`benchmarks.translate`)
and passed in the spec's options. The source runs as Airbyte runs it: the CDK's
``source-declarative-manifest read`` in its own process, printing one JSON message a
line; this process is the sink and decodes every line, counting the ``RECORD``
messages of the stream (a destination would then write them; none does here). The
timed span includes the source process's start-up. Runs in the ``airbyte`` peer
environment (:mod:`benchmarks.peers`).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import _common


def run(server: Mapping[str, Any], options: Mapping[str, Any], case: str) -> dict[str, Any]:
    settings = server["settings"]
    declaration = options["declaration"]
    name = declaration["name"]
    served = server["served"][name]
    work = Path.cwd()
    config = {
        "base_url": settings["base_url"],
        "token_url": settings["token_url"],
        "client_id": settings["client_id"],
        "client_secret": settings["client_secret"],
        "__injected_declarative_manifest": options["manifest"],
    }
    catalog = {
        "streams": [
            {
                "stream": {
                    "name": name,
                    "json_schema": declaration["schema"],
                    "supported_sync_modes": ["full_refresh"],
                },
                "sync_mode": "full_refresh",
                "destination_sync_mode": "overwrite",
            }
        ]
    }
    (work / "config.json").write_text(json.dumps(config))
    (work / "catalog.json").write_text(json.dumps(catalog))
    command = [
        str(Path(sys.executable).parent / "source-declarative-manifest"),
        "read",
        "--config",
        str(work / "config.json"),
        "--catalog",
        str(work / "catalog.json"),
    ]
    other: dict[str, int] = {}
    errors: list[str] = []

    def sink(stream: IO[bytes]) -> int:
        count = 0
        for line in stream:
            message = json.loads(line)
            kind = message.get("type")
            if kind == "RECORD" and message["record"]["stream"] == name:
                count += 1
            else:
                other[kind] = other.get(kind, 0) + 1
                if kind == "TRACE" and message.get("trace", {}).get("type") == "ERROR":
                    errors.append(message["trace"]["error"].get("message", "")[:300])
                elif kind == "LOG" and message["log"].get("level") in ("ERROR", "FATAL"):
                    errors.append(message["log"].get("message", "")[:300])
        return count

    started, cpu = time.perf_counter(), time.process_time()
    piped = _common.run_piped(command, sink)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    if piped["exit_code"] != 0 or errors:
        raise RuntimeError(
            f"the Airbyte source exited {piped['exit_code']}: {'; '.join(errors) or 'no message'}"
        )
    _common.check("the Airbyte sink", piped["counted"], served)
    from importlib import metadata

    return {
        "seconds": seconds,
        "cpu_seconds": cpu + piped["source_cpu_seconds"],
        "records": piped["counted"],
        "extra": {
            "sink": "counted (each message JSON-decoded)",
            "other_messages": other,
            "source_cpu_seconds": round(piped["source_cpu_seconds"], 3),
            "source_peak_rss_mb": round(piped["source_peak_rss_mb"], 1),
            "airbyte_cdk_version": metadata.version("airbyte-cdk"),
        },
    }


if __name__ == "__main__":
    raise SystemExit(_common.main(run))
