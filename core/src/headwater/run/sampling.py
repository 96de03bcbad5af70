"""Pages watched as a run reads them: a page limit (``headwater record --pages N``,
and its replay) and a sample of records for schema drift.

Both ride on the paginator, through a ``headwater_paginator`` hook wrapper registered
for one run: the paginator sees every page's records (``update_state``) and decides
whether another page is read, so no page loop changes and nothing is done per record
once the sample is full.
"""

from __future__ import annotations

import contextlib
import copy
import threading
from collections.abc import Iterator
from typing import Any

from headwater.markers import hookimpl

__all__ = ["DEFAULT_SAMPLE", "Sample", "reading", "watching"]

#: Records per resource a run keeps to check for drift (its first pages).
DEFAULT_SAMPLE = 500


class Sample:
    """The first records of each resource, up to ``size`` per resource, and how many
    pages were sampled."""

    def __init__(self, size: int = DEFAULT_SAMPLE) -> None:
        self.size = size
        self._lock = threading.Lock()
        self.records: dict[str, list[Any]] = {}
        self.pages: dict[str, int] = {}
        self._full: set[str] = set()

    def full(self, resource: str) -> bool:
        """Whether ``resource`` needs no more records (read without the lock: a page
        more or less in the sample does not matter)."""
        return resource in self._full

    def add(self, resource: str, data: Any) -> None:
        """Keep records of one page of ``resource``."""
        if not isinstance(data, list):
            return
        with self._lock:
            kept = self.records.setdefault(resource, [])
            room = self.size - len(kept)
            if room <= 0:
                self._full.add(resource)
                return
            kept.extend(data[:room])
            self.pages[resource] = self.pages.get(resource, 0) + 1
            if len(kept) >= self.size:
                self._full.add(resource)


#: the resource each thread is reading a page of (while watched with ``mark``)
_reading = threading.local()


def reading() -> str | None:
    """The resource whose page the current thread requests now, while
    :func:`watching` with ``mark`` (a recording names its cassettes so); ``None``
    outside a page read."""
    return getattr(_reading, "resource", None)


class _Watched:
    """A paginator wrapper: at most ``pages`` pages, and the records of each page
    into ``sample``. Everything else is the wrapped paginator's."""

    _own = ("_inner", "_pages", "_sample", "_resource", "_read", "_has_next_page", "_mark")

    def __init__(
        self,
        inner: Any,
        resource: str,
        pages: int | None,
        sample: Sample | None,
        mark: bool = False,
    ):
        object.__setattr__(self, "_inner", inner)
        object.__setattr__(self, "_resource", resource)
        object.__setattr__(self, "_pages", pages)
        object.__setattr__(self, "_sample", sample)
        object.__setattr__(self, "_read", 0)
        object.__setattr__(self, "_mark", mark)

    # The page loop sends a page's request right after init_request (the first page)
    # and after has_next_page said yes (the others), in the same thread and with no
    # yield in between: that is where the thread's resource is marked.

    @property
    def has_next_page(self) -> bool:
        if self._pages is not None and self._read >= self._pages:
            return False
        more = bool(self._inner.has_next_page)
        if more and self._mark:
            _reading.resource = self._resource
        return more

    def init_request(self, request: Any) -> None:
        if self._mark:
            _reading.resource = self._resource
        self._inner.init_request(request)

    def update_state(self, response: Any, data: Any = None) -> None:
        object.__setattr__(self, "_read", self._read + 1)
        sample = self._sample
        if sample is not None and not sample.full(self._resource):
            sample.add(self._resource, data)
        self._inner.update_state(response, data)

    def update_request(self, request: Any) -> None:
        self._inner.update_request(request)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self._own:
            object.__setattr__(self, name, value)
        else:
            setattr(self._inner, name, value)

    def __deepcopy__(self, memo: dict) -> Any:
        # each read of the resource gets its own paginator state; the sample is shared
        return _watched_class()(
            copy.deepcopy(self._inner, memo), self._resource, self._pages, self._sample, self._mark
        )


_CLASS: list[type] = []


def _watched_class() -> type:
    """:class:`_Watched` as a dlt ``BasePaginator`` (what the hook must return),
    built on first use: dlt is imported only when a run starts."""
    if not _CLASS:
        from dlt.sources.helpers.rest_client.paginators import BasePaginator

        class WatchedPaginator(_Watched, BasePaginator):
            pass

        _CLASS.append(WatchedPaginator)
    return _CLASS[0]


class _Plugin:
    def __init__(
        self, connector: str, pages: int | None, sample: Sample | None, mark: bool
    ) -> None:
        self.connector, self.pages, self.sample, self.mark = connector, pages, sample, mark

    @hookimpl(wrapper=True)
    def headwater_paginator(self, connector: Any, resource: Any, settings: Any) -> Any:
        paginator = yield
        if connector.name != self.connector or not _is_paginator(paginator):
            return paginator  # a wrong answer stays wrong: the run's check names its plugin
        return _watched_class()(paginator, resource.name, self.pages, self.sample, self.mark)


def _is_paginator(value: Any) -> bool:
    from dlt.sources.helpers.rest_client.paginators import BasePaginator  # dlt: a run started

    return isinstance(value, BasePaginator)


@contextlib.contextmanager
def watching(
    connector: str,
    *,
    pages: int | None = None,
    sample: Sample | None = None,
    mark: bool = False,
) -> Iterator[Sample | None]:
    """Meanwhile, every resource of ``connector`` reads at most ``pages`` pages (per
    parent record for a child) and keeps its first records in ``sample``; ``mark``:
    :func:`reading` names the resource a thread requests a page of."""
    from headwater.plugin.manager import get_registry

    pm = get_registry().pm
    plugin = _Plugin(connector, pages, sample, mark)
    pm.register(plugin, name=f"headwater-watching-{id(plugin)}")
    try:
        yield sample
    finally:
        pm.unregister(plugin)
