"""The load jobs dlt's DuckDB client makes, handed to Headwater while a load runs.

Headwater adjusts a few of dlt's DuckDB load jobs during ``headwater run``'s load: a
large load checkpoints after each file (:mod:`headwater.run.wal`), and a merge job
gets the memory its keys need (:mod:`headwater.run.merge_memory`). Both wrap the jobs
dlt's ``DuckDbClient.create_load_job`` returns; this module wraps that method once per
process and, while :func:`wrapping_jobs` is active in a thread, passes each job that
thread's load makes to the given functions, in the order they were entered. Other
threads, and loads outside :func:`wrapping_jobs`, get dlt's jobs unchanged.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["wrapping_jobs"]

#: A function given each job dlt's DuckDB client makes; it may replace ``job.run``.
JobWrapper = Callable[[Any], None]

_state = threading.local()


@contextmanager
def wrapping_jobs(wrapper: JobWrapper) -> Iterator[None]:
    """Meanwhile, each load job dlt's DuckDB client makes in this thread is passed to
    ``wrapper`` once it is made (nothing changes where dlt's client has no
    ``create_load_job`` to wrap)."""
    if not _wrapped():
        yield
        return
    wrappers: list[JobWrapper] = getattr(_state, "wrappers", [])
    _state.wrappers = [*wrappers, wrapper]
    try:
        yield
    finally:
        _state.wrappers = wrappers


@functools.cache
def _wrapped() -> bool:
    """Wrap dlt's ``DuckDbClient.create_load_job`` (once per process)."""
    from dlt.destinations.impl.duckdb.duck import DuckDbClient

    create = getattr(DuckDbClient, "create_load_job", None)
    if create is None:
        return False

    def create_load_job(self: Any, *args: Any, **kwargs: Any) -> Any:
        job = create(self, *args, **kwargs)
        if job is not None:
            for wrapper in getattr(_state, "wrappers", ()):
                wrapper(job)
        return job

    DuckDbClient.create_load_job = create_load_job  # type: ignore[method-assign]
    return True
