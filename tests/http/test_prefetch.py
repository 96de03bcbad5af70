"""The read-ahead (headwater.http.prefetch): pages come in order, errors after the
pages before them, and the thread reading ahead holds no more than its page and
record budgets."""

from __future__ import annotations

import threading

import pytest
from headwater.http.prefetch import prefetched

#: how long to watch for a page that must not be read (an absence needs a wait)
QUIET = 0.3


class Pages:
    """Pages of ``size`` records; ``reached[i]`` is set once page ``i`` is read."""

    def __init__(self, count: int, size: int, fail_at: int | None = None) -> None:
        self.count, self.size, self.fail_at = count, size, fail_at
        self.reached = [threading.Event() for _ in range(count + 1)]

    def __iter__(self):
        for i in range(self.count):
            if i == self.fail_at:
                raise RuntimeError(f"page {i} failed")
            self.reached[i].set()
            yield [{"page": i, "n": n} for n in range(self.size)]


def test_pages_come_in_order_and_an_error_after_the_pages_before_it():
    pages = list(prefetched(Pages(50, 3)))
    assert [p[0]["page"] for p in pages] == list(range(50))
    seen = []
    with pytest.raises(RuntimeError, match="page 7 failed"):
        for page in prefetched(Pages(50, 3, fail_at=7)):
            seen.append(page[0]["page"])
    assert seen == list(range(7))


@pytest.mark.parametrize(
    ("depth", "records", "size", "ahead"),
    [
        (32, 4_000, 100, 32),  # small pages: the page budget binds
        (32, 4_000, 1_000, 4),  # large pages: the record budget binds
        (32, 4_000, 10_000, 1),  # a page over the record budget: one at a time
    ],
)
def test_the_thread_reads_ahead_no_more_than_its_budgets(depth, records, size, ahead):
    source = Pages(100, size)
    reader = prefetched(source, depth=depth, records=records)
    first = next(reader)  # the consumer holds page 0 and takes no more
    assert first[0]["page"] == 0
    # pages 1..ahead wait in the queue; the thread has read one more, waiting for room
    assert source.reached[ahead + 1].wait(10)
    assert not source.reached[ahead + 2].wait(QUIET)
    rest = [page[0]["page"] for page in reader]
    assert rest == list(range(1, 100))


def _readers() -> int:
    return sum(t.name == "headwater-prefetch" for t in threading.enumerate())


def test_leaving_early_stops_the_thread():
    before = _readers()
    source = Pages(1_000, 10)
    reader = prefetched(source, depth=4)
    assert next(reader)[0]["page"] == 0
    assert _readers() == before + 1
    reader.close()
    assert _readers() == before
    assert not source.reached[10].is_set()
