"""What ``pip install`` of the example connectors would give a subprocess: the package
importable and its ``headwater`` entry point visible (the CLI discovers connectors
through entry points)."""

from __future__ import annotations

from pathlib import Path

from helpers import fake_distribution


def install(root: Path) -> dict[str, str]:
    """The environment under which the CLI finds the auth_examples connectors."""
    return fake_distribution(root, "auth-examples", "auth_examples = auth_examples")
