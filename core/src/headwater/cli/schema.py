"""`headwater schema infer NAME`: a JSON Schema proposed from recorded or live records.

The work: :mod:`headwater.run.infer`.
"""

from __future__ import annotations

import argparse
from typing import Any

from headwater.cli.common import EXIT_OK, settings_from_args


def register(sub: Any) -> None:
    """Add the command and its arguments to the subparsers ``sub``."""
    p = sub.add_parser(
        "schema",
        help="propose record schemas from what the API really sends",
        description="Schema tools. `infer` samples records (live, or from a recording "
        "with --replay) and writes, per resource, a JSON Schema merged from the declared "
        "one and the records, for the author to review. The shipped schema is never "
        "changed. Its options: `headwater schema infer --help` and the record and "
        "replay guide.",
        epilog="examples:\n  headwater schema infer directory --replay tests/cassettes/directory\n"
        "  headwater schema infer hr --resource employees --pages 3 --out proposed/",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    infer = verbs.add_parser(
        "infer",
        help="write a proposed JSON Schema per resource",
        description="Sample the first pages of each resource and write "
        "<resource>.proposed.json to --out (default: the current folder): the declared "
        "schema with the types, nullability, formats and nested objects the records show.",
        epilog="examples:\n  headwater schema infer directory --replay tests/cassettes/directory\n"
        "  headwater schema infer hr --resource employees --pages 3 --out proposed/",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    infer.add_argument("name", help="connector name")
    infer.add_argument(
        "--resource", action="append", dest="resources", metavar="R", help="only this resource"
    )
    infer.add_argument("--replay", metavar="DIR", help="sample a recording instead of the API")
    infer.add_argument(
        "--pages", type=int, default=3, metavar="N", help="pages sampled per resource (default 3)"
    )
    infer.add_argument("--out", default=".", metavar="DIR", help="where to write the proposals")
    infer.add_argument("--base-url", help="the API's base URL (overrides settings)")
    infer.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    # start-up: `--help` and `list` import this module; the work loads on use
    from headwater.run.infer import infer_schemas

    written = infer_schemas(
        args.name,
        settings_from_args(args),
        resources=args.resources,
        replay=args.replay,
        pages=args.pages,
        out=args.out,
    )
    for resource, path, records in written:
        print(f"{resource}: {records} records sampled -> {path} (review, then copy by hand)")
    return EXIT_OK
