"""Rate limits kept across threads, with the ``limits`` library's moving window.

A :class:`Throttle` is shared by every request it governs (a connector's run, or one
resource); :meth:`Throttle.wait` blocks until a request may go out. The moving window
means no interval of the limit's length ever holds more requests than allowed, however
many threads send them — not just on average — and requests are spaced evenly so
that network jitter cannot pack two bursts into one window at the server.
"""

from __future__ import annotations

import threading
import time

from headwater.spec import RateLimit

__all__ = ["Throttle"]


class Throttle:
    """Blocks callers so that ``limit`` holds over every moving window."""

    def __init__(self, limit: RateLimit, key: str) -> None:
        from limits import parse, storage, strategies

        self.limit = limit
        self.key = key
        self._item = parse(str(limit))
        self._window = strategies.MovingWindowRateLimiter(storage.MemoryStorage())
        self._lock = threading.Lock()
        seconds = {"second": 1.0, "minute": 60.0, "hour": 3600.0}[limit.per]
        self._spacing = seconds / limit.requests
        self._next = 0.0
        #: how long callers waited in all (for logs and tests)
        self.waited = 0.0

    def wait(self) -> None:
        """Return when one more request is within the limit (and count it).

        Requests are also spaced evenly (``period / requests`` apart): granted as a
        burst, the first ones reach the server later than the last (threads starting,
        connections opening), and the server would see two bursts in one window.
        """
        while True:
            with self._lock:
                now = time.monotonic()
                if now >= self._next and self._window.hit(self._item, self.key):
                    self._next = now + self._spacing
                    return
                if now < self._next:
                    pause = self._next - now
                else:
                    reset = self._window.get_window_stats(self._item, self.key).reset_time
                    pause = max(reset - time.time(), 0.001)
            pause = min(pause, 60.0)
            self.waited += pause
            time.sleep(pause)
