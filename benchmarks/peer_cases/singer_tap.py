"""A Singer SDK tap (``RESTStream``), counted at the sink.

The tap's stream is configured from the Headwater declaration (path, records path,
offset pagination, OAuth2 client credentials, primary key, JSON schema) passed in the
spec's options, and written as a Singer SDK user would: an ``OAuthAuthenticator`` with
a client-credentials body, an ``OffsetPaginator`` that stops on a short page. The tap
runs in its own process (this script with ``--tap CONFIG``), printing Singer messages;
this process is the sink and decodes every line, counting the ``RECORD`` messages (a
target would then write them; none does here). The timed span includes the tap
process's start-up. Runs in the ``singer`` peer environment (:mod:`benchmarks.peers`).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import _common


def _tap_class(declaration: Mapping[str, Any]) -> Any:
    """The tap, built from the declaration."""
    from singer_sdk import Tap
    from singer_sdk import typing as th
    from singer_sdk.authenticators import OAuthAuthenticator
    from singer_sdk.pagination import OffsetPaginator
    from singer_sdk.streams import RESTStream

    page_size = int(declaration["page_size"])
    field = declaration["data_field"]

    class ClientCredentials(OAuthAuthenticator):
        @property
        def oauth_request_body(self) -> dict:
            return {
                "grant_type": "client_credentials",
                "client_id": self.client_id,
                "client_secret": self.client_secret,
            }

    class ShortPageStops(OffsetPaginator):
        def has_more(self, response: Any) -> bool:
            return len(response.json()[field]) >= page_size

    class Stream(RESTStream):
        name = declaration["name"]
        path = declaration["path"]
        primary_keys = declaration["primary_key"]
        records_jsonpath = f"$.{field}[*]"
        schema = declaration["schema"]

        @property
        def url_base(self) -> str:
            return self.config["base_url"]

        @property
        def authenticator(self) -> Any:
            if not hasattr(self, "_auth"):
                self._auth = ClientCredentials(
                    auth_endpoint=self.config["token_url"],
                    client_id=self.config["client_id"],
                    client_secret=self.config["client_secret"],
                )
            return self._auth

        def get_new_paginator(self) -> Any:
            return ShortPageStops(start_value=0, page_size=page_size)

        def get_url_params(self, context: Any, next_page_token: Any) -> dict:
            return {
                declaration["offset_param"]: next_page_token or 0,
                declaration["limit_param"]: page_size,
            }

    class TapBench(Tap):
        name = "tap-headwater-bench"
        config_jsonschema = th.PropertiesList(
            th.Property("base_url", th.StringType, required=True),
            th.Property("token_url", th.StringType, required=True),
            th.Property("client_id", th.StringType, required=True),
            th.Property("client_secret", th.StringType, required=True, secret=True),
        ).to_dict()

        def discover_streams(self) -> list:
            return [Stream(self)]

    return TapBench


def tap_main(config_path: str) -> None:
    """The tap process: sync every stream to stdout."""
    config = json.loads(Path(config_path).read_text())
    tap = _tap_class(config.pop("declaration"))(config=config, validate_config=True)
    tap.sync_all()
    sys.stdout.flush()


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
        "declaration": declaration,
    }
    (work / "config.json").write_text(json.dumps(config))
    command = [sys.executable, str(Path(__file__).resolve()), "--tap", str(work / "config.json")]
    other: dict[str, int] = {}

    def sink(stream: IO[bytes]) -> int:
        count = 0
        for line in stream:
            message = json.loads(line)
            kind = message.get("type")
            if kind == "RECORD" and message["stream"] == name:
                count += 1
            else:
                other[kind] = other.get(kind, 0) + 1
        return count

    started, cpu = time.perf_counter(), time.process_time()
    piped = _common.run_piped(command, sink)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    if piped["exit_code"] != 0:
        raise RuntimeError(f"the Singer tap exited {piped['exit_code']} (see the log)")
    _common.check("the Singer sink", piped["counted"], served)
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
            "singer_sdk_version": metadata.version("singer-sdk"),
        },
    }


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--tap":
        tap_main(sys.argv[2])
        raise SystemExit(0)
    raise SystemExit(_common.main(run))
