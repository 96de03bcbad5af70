"""Run: a connector run into a destination, as ``headwater run`` does.

The run itself (``pipeline``), where it keeps its state, data and lock (``workdir``),
destinations' drivers and secrets (``destinations``), dlt's errors told in one line
(``dlt_errors``), the progress display (``progress``), and the other commands' work:
``check``, ``describe``, ``query``.

May import: ``headwater.load``, ``headwater.plugin``, ``headwater.http`` and the
foundation modules. Not ``cli``, ``testing`` or ``scaffold``.

The names below are importable from ``headwater.run`` itself (documented in the
README and docs/reliability.md); they are loaded on first use, so that importing a
module of this package does not load the whole run.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from headwater.run.dlt_errors import explain
    from headwater.run.pipeline import RunResult, run_connector
    from headwater.run.workdir import (
        default_names,
        file_format_for,
        lock_path,
        pipeline_lock,
    )

_EXPORTS = {
    "RunResult": "headwater.run.pipeline",
    "run_connector": "headwater.run.pipeline",
    "explain": "headwater.run.dlt_errors",
    "default_names": "headwater.run.workdir",
    "file_format_for": "headwater.run.workdir",
    "lock_path": "headwater.run.workdir",
    "pipeline_lock": "headwater.run.workdir",
}

__all__ = [
    "RunResult",
    "default_names",
    "explain",
    "file_format_for",
    "lock_path",
    "pipeline_lock",
    "run_connector",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'headwater.run' has no attribute {name!r}")
    return getattr(import_module(module), name)
