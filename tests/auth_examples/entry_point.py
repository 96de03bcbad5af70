"""What ``pip install`` of the example connectors would give a subprocess: the package
importable and its ``headwater`` entry point visible (the CLI discovers connectors
through entry points)."""

from __future__ import annotations

import os
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent


def install(root: Path) -> dict[str, str]:
    """Write a ``auth-examples`` distribution's metadata under ``root`` and return the
    environment (``PYTHONPATH``) under which the CLI finds the example connectors."""
    site = root / "site"
    info = site / "auth_examples-0.1.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: auth-examples\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[headwater]\nauth_examples = auth_examples\n")
    paths = [str(site), str(TESTS), os.environ.get("PYTHONPATH", "")]
    return {"PYTHONPATH": os.pathsep.join(p for p in paths if p)}
