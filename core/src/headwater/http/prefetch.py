"""Reading ahead: the next pages are fetched while the current one is processed.

Fetching a page is mostly waiting on the network; building Arrow tables and writing
them is CPU work. A background thread runs the page iterator into a small bounded
queue, so the two overlap while memory stays bounded (``depth`` pages, and no more
than ``records`` records when the pages are lists of them). Errors are raised in the
consumer, in order; closing the consumer stops the producer.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

__all__ = ["DEPTH", "RECORDS", "prefetched", "put_until_stopped"]

T = TypeVar("T")

#: Pages read ahead of the consumer. Enough for the fetching thread to keep going
#: while the consumer turns a batch of pages into an Arrow table and dlt writes it
#: (10k records, about 10 ms: 15-20 local pages); 4 left it waiting on a full queue.
#: 200k ``directory`` records, one process, rounds of 5: extract 1.33 s at 4, 1.23 s
#: at 32, 1.26 s at 128. A decoded page of 100 ``directory`` records holds ~50 KiB:
#: 32 are under 2 MB.
DEPTH = 32

#: Records read ahead of the consumer, whatever the pages' size: 32 pages of 1,000
#: records would hold eight times what 4 did. A page larger than this is still read
#: ahead, alone. (32 pages of the ``directory``'s 100 records: 3,200.)
RECORDS = 4_000

_DONE = object()


class _Budget:
    """Records the producer may have put ahead of the consumer (at least one page)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._cond = threading.Condition()

    def take(self, count: int, stop: threading.Event) -> bool:
        """Wait until ``count`` more records fit (or none are ahead); ``False`` when
        ``stop`` is set first."""
        with self._cond:
            while self.used and self.used + count > self.limit:
                if stop.is_set():
                    return False
                self._cond.wait(0.1)
            self.used += count
            return True

    def give_back(self, count: int) -> None:
        with self._cond:
            self.used -= count
            self._cond.notify()


class _Failed:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def put_until_stopped(buffer: queue.Queue[Any], item: Any, stop: threading.Event) -> bool:
    """Put ``item`` in the bounded ``buffer``, waiting for room until ``stop`` is set;
    whether it was put (a producer thread's way to end when its consumer has gone)."""
    while not stop.is_set():
        try:
            buffer.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def prefetched(items: Iterable[T], depth: int = DEPTH, records: int = RECORDS) -> Iterator[T]:
    """Iterate ``items`` in a background thread, up to ``depth`` ahead and, of items
    that are lists (pages of records), up to ``records`` records ahead."""
    buffer: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()
    budget = _Budget(records)

    def put(item: object) -> bool:
        return put_until_stopped(buffer, item, stop)

    def produce() -> None:
        try:
            for item in items:
                if not budget.take(_count(item), stop) or not put(item):
                    return
        except BaseException as exc:  # handed to the consumer, which raises it
            put(_Failed(exc))
            return
        put(_DONE)

    thread = threading.Thread(target=produce, name="headwater-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = buffer.get()
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.exc
            budget.give_back(_count(item))
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        thread.join(timeout=5)


def _count(item: object) -> int:
    """The records ``item`` holds, for the read-ahead's budget (a page: a list)."""
    return len(item) if isinstance(item, list) else 0
