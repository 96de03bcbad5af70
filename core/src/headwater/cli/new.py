"""`headwater new NAME`: scaffold a connector distribution (the work: :mod:`headwater.scaffold`)."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    """Add the command and its arguments to the subparsers ``sub``."""
    p = sub.add_parser(
        "new",
        help="scaffold a new connector distribution",
        description="Create a connector distribution for a new API: pyproject with the "
        "entry point, the hooks module, a JSON Schema, a settings schema, tests that run the "
        "conformance suite, and a README. It installs and its tests pass as generated. "
        "With --from-rest-api or --from-openapi, the connector declares the API that a dlt "
        "rest_api config or an OpenAPI document describes.",
        epilog="examples:\n  headwater new acme\n  headwater new acme --directory ~/src\n"
        "  headwater new acme --from-rest-api rest_api_config.py\n"
        "  headwater new petstore --from-openapi openapi.yaml --tag pet\n"
        '  cd headwater-acme && pip install -e ".[duckdb,test]" && pytest',
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("name", help="connector name: lower case letters, digits and _ (not __)")
    p.add_argument(
        "--directory",
        default=".",
        help="where to create headwater-NAME/ (default: the current directory)",
    )
    p.add_argument(
        "--force", action="store_true", help="write into headwater-NAME/ even if it exists"
    )
    p.add_argument(
        "--from-rest-api",
        metavar="FILE",
        help="a dlt rest_api config: .json, .yaml, .toml, or a .py file holding the dict "
        "(// comments and dlt.secrets[...] allowed)",
    )
    p.add_argument(
        "--from-openapi",
        metavar="FILE_OR_URL",
        help="an OpenAPI 3.0/3.1 document (JSON or YAML): a resource per collection GET",
    )
    p.add_argument(
        "--path",
        action="append",
        metavar="GLOB",
        help="with --from-openapi: only paths matching GLOB (e.g. '/v1/users*'); repeatable",
    )
    p.add_argument(
        "--tag",
        action="append",
        help="with --from-openapi: only operations with this tag; repeatable",
    )
    p.add_argument(
        "--sample",
        action="store_true",
        help="with --from-openapi: fetch a page of each resource (credentials from the "
        "environment, as for `headwater run`) and reconcile the schemas with it",
    )
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    # start-up: `--help` and `list` import this module; the work loads on use
    from headwater.scaffold import cmd_new as scaffold

    return scaffold(args)
