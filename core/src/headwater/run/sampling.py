"""Pages watched as a run reads them: a page limit (``headwater record --pages N``,
and its replay: N pages of each resource, its window slices together) and a sample of
records for schema drift.

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


class _Budget:
    """The pages a read may still request: ``None``, any number."""

    def __init__(self, pages: int | None) -> None:
        self.left = pages
        self._lock = threading.Lock()

    def spent(self) -> bool:
        return self.left is not None and self.left <= 0

    def take(self) -> bool:
        """Whether one more page may be requested (and count it)."""
        if self.left is None:
            return True
        with self._lock:
            if self.left <= 0:
                return False
            self.left -= 1
            return True


class _Watched:
    """A paginator wrapper: at most ``pages`` pages, and the records of each page
    into ``sample``. Everything else is the wrapped paginator's.

    ``shared``: the copies (one per read: a window slice) draw on one budget of
    ``pages``, the whole resource's; otherwise each copy (a child resource's read for
    one parent record) has its own."""

    _own = (
        "_inner",
        "_pages",
        "_sample",
        "_resource",
        "_budget",
        "_shared",
        "_mark",
        "_idle",
        "_has_next_page",
    )

    def __init__(
        self,
        inner: Any,
        resource: str,
        pages: int | None,
        sample: Sample | None,
        mark: bool = False,
        budget: _Budget | None = None,
    ):
        object.__setattr__(self, "_inner", inner)
        object.__setattr__(self, "_resource", resource)
        object.__setattr__(self, "_pages", pages)
        object.__setattr__(self, "_sample", sample)
        object.__setattr__(self, "_shared", budget is not None)
        object.__setattr__(self, "_budget", budget if budget is not None else _Budget(pages))
        object.__setattr__(self, "_mark", mark)
        object.__setattr__(self, "_idle", False)

    # The page loop sends a page's request right after init_request (the first page)
    # and after has_next_page said yes (the others), in the same thread and with no
    # yield in between: that is where the thread's resource is marked and the page
    # counted.

    @property
    def has_next_page(self) -> bool:
        if self._idle or self._budget.spent():
            return False
        more = bool(self._inner.has_next_page) and self._budget.take()
        if more and self._mark:
            _reading.resource = self._resource
        return more

    @property
    def read_nothing(self) -> bool:
        """After :meth:`init_request`: the budget was spent before this read's first
        page (another window slice read the resource's pages): no request is sent
        (:func:`headwater.http.extract.iter_pages`)."""
        return bool(self._idle)

    def init_request(self, request: Any) -> None:
        if self._mark:
            _reading.resource = self._resource
        self._inner.init_request(request)
        # a wrapped watcher's limit (a replay's, under schema infer's) counts too
        idle = bool(getattr(self._inner, "read_nothing", False)) or not self._budget.take()
        object.__setattr__(self, "_idle", idle)

    def update_state(self, response: Any, data: Any = None) -> None:
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
            copy.deepcopy(self._inner, memo),
            self._resource,
            self._pages,
            self._sample,
            self._mark,
            self._budget if self._shared else None,
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
        #: the page budget of each resource that is not a child, for the whole run
        self.budgets: dict[str, _Budget] = {}

    @hookimpl(wrapper=True)
    def headwater_paginator(self, connector: Any, resource: Any, settings: Any) -> Any:
        paginator = yield
        if connector.name != self.connector or not _is_paginator(paginator):
            return paginator  # a wrong answer stays wrong: the run's check names its plugin
        # a child's pages are counted per parent record; another resource's for all of
        # its reads (every window slice)
        budget = (
            None if resource.parent else self.budgets.setdefault(resource.name, _Budget(self.pages))
        )
        return _watched_class()(
            paginator, resource.name, self.pages, self.sample, self.mark, budget
        )


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
    """Meanwhile, every resource of ``connector`` reads at most ``pages`` pages (all
    its window slices together; per parent record for a child) and keeps its first
    records in ``sample``; ``mark``: :func:`reading` names the resource a thread
    requests a page of."""
    from headwater.plugin.manager import get_registry

    pm = get_registry().pm
    plugin = _Plugin(connector, pages, sample, mark)
    pm.register(plugin, name=f"headwater-watching-{id(plugin)}")
    try:
        yield sample
    finally:
        pm.unregister(plugin)
