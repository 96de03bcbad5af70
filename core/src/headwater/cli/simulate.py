"""`headwater simulate NAME`: serve a connector's simulated API in the foreground.

:mod:`headwater.testing`.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from typing import Any

from headwater.cli.common import (
    EXIT_OK,
)
from headwater.errors import ConfigError


def register(sub: Any) -> None:
    """Add the command and its arguments to the subparsers ``sub``."""
    p = sub.add_parser(
        "simulate",
        help="serve a connector's simulated API in the foreground",
        description="Serve one connector's API on 127.0.0.1 from its declared specs, with "
        "generated records and optional faults, and print the settings that point "
        "Headwater at it. Stop with Ctrl-C.",
        epilog="examples:\n  headwater simulate directory --port 8080\n"
        "  headwater simulate hr --fault status,status=429,retry_after=1,count=3\n"
        "  headwater simulate directory --fault drop,count=2 --latency 0.05",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("name", help="connector name")
    p.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    p.add_argument("--records", type=int, help="records per top-level resource")
    p.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="KIND[,key=value...]",
        help="inject a fault: status, drop, malformed_json, html_200 or latency, with "
        "Fault fields as key=value (resource, count, after, every, status, retry_after, delay)",
    )
    p.add_argument("--latency", type=float, default=0.0, help="seconds added to every request")
    p.add_argument("--token-ttl", type=float, default=3600.0, help="token lifetime in seconds")
    p.add_argument("--rate-limit", metavar="N/PERIOD", help="answer 429 beyond this, e.g. 5/second")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    # start-up: `--help` and `list` import this module; the work loads on use
    from headwater.plugin.manager import get_registry
    from headwater.settings import env_text, env_var
    from headwater.testing import Simulator

    connector = get_registry().get(args.name)
    faults = [_parse_fault(f) for f in args.fault]
    counts = None
    if args.records is not None:
        counts = {r.name: args.records for r in connector.resources if r.parent is None}
    try:
        sim = Simulator(
            connector,
            counts,
            port=args.port,
            faults=faults,
            latency=args.latency,
            token_ttl=args.token_ttl,
            rate_limit=args.rate_limit,
        )
    except ValueError as exc:
        # the declaration asks for responses the simulator cannot shape (e.g. a
        # data_selector with a wildcard): a problem of the connector's config
        raise ConfigError(
            f"connector {connector.name} cannot be simulated: {exc}; change the declaration"
        ) from None
    try:
        sim.start()  # idempotent: the `with` below keeps this server
    except OSError as exc:
        raise ConfigError(
            f"--port {args.port} cannot be used ({exc.strerror or exc}); give another "
            "--port, or none for a free one"
        ) from None
    with sim:
        print(f"serving {connector.name} at {sim.base_url} (Ctrl-C to stop)")
        print("these simulator-only credentials point Headwater at it:")
        for key, value in sim.settings.items():
            # quoted for the shell: a JWT kind's private_key spans several lines
            print(f"export {env_var(connector.name, key)}={shlex.quote(env_text(value))}")
        sys.stdout.flush()
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print(f"\nstopped after {len(sim.requests)} requests")
    return EXIT_OK


def _parse_fault(text: str) -> Any:
    from typing import get_args

    # start-up: `--help` and `list` import this module; the work loads on use
    from headwater.testing import Fault
    from headwater.testing.simulator import FaultKind

    kind, _, rest = text.partition(",")
    if kind not in get_args(FaultKind):
        raise ConfigError(
            f"--fault {text}: unknown fault kind {kind!r}; use one of: "
            f"{', '.join(get_args(FaultKind))}"
        )
    fields: dict[str, Any] = {}
    for item in filter(None, rest.split(",")):
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--fault {text}: expected key=value, got {item!r}")
        if key in ("count", "after", "status", "every"):
            fields[key] = None if value == "none" else int(value)
        elif key == "delay":
            fields[key] = float(value)
        else:
            fields[key] = value
    try:
        return Fault(kind, **fields)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"--fault {text}: {exc}") from None
