"""Progress of a run: a live status line on a terminal, plain log lines otherwise.

Both are dlt collectors (``dlt.pipeline(progress=...)``): dlt reports rows per table while
it extracts and normalizes, and jobs while it loads. Progress goes to stderr, so stdout
keeps only the run's summary.
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
from typing import Any, Literal, TextIO

from dlt.common.runtime.collector import Collector, NullCollector

from headwater.term import BOLD, DIM, GREEN, is_terminal, style

__all__ = ["LogProgress", "ProgressMode", "TerminalProgress", "make_progress"]

ProgressMode = Literal["auto", "bar", "log", "off"]

# dlt's counters that are not tables
_STEP_COUNTERS = {"Resources", "Files", "Jobs", "Items"}


class _Counting(Collector):
    """Counts what dlt reports; subclasses decide when and how to show it."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.step = ""
        self.counters: dict[str, int] = {}
        self.totals: dict[str, int] = {}
        self.started = time.monotonic()
        self._lock = threading.Lock()

    def update(
        self,
        name: str,
        inc: int = 1,
        total: int | None = None,
        inc_total: int | None = None,
        message: str | None = None,
        label: str | None = None,
    ) -> None:
        """Count ``inc`` more of ``name`` (a table's rows, or dlt's files and jobs)."""
        if label:  # dlt's sub-counters ("Failed" jobs): the step's error tells the story
            return
        with self._lock:
            self.counters[name] = self.counters.get(name, 0) + inc
            if total is not None:
                self.totals[name] = total
            if inc_total:
                self.totals[name] = self.totals.get(name, 0) + inc_total
            self._changed()

    def _start(self, step: str) -> None:
        with self._lock:
            self.step = step.split(" ")[0].lower()
            self.counters, self.totals = {}, {}
            self.started = time.monotonic()

    def __exit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
        # a step that raised (an error, Ctrl-C, SIGTERM) did not finish: its partial
        # counts are not reported as done; the command's own line says what happened
        self._failed = exc_type is not None
        try:
            super().__exit__(exc_type, exc_val, exc_tb)
        finally:
            self._failed = False

    def _stop(self) -> None:
        with self._lock:
            if getattr(self, "_failed", False):
                return
            if self._tables() or "Jobs" in self.counters:  # else nothing to report
                self._finished()

    def _changed(self) -> None:
        raise NotImplementedError

    def _finished(self) -> None:
        raise NotImplementedError

    def _tables(self) -> dict[str, int]:
        """Rows per user table (not dlt's own tables or step counters) so far."""
        return {
            n: c for n, c in self.counters.items() if n not in _STEP_COUNTERS and c and n[0] != "_"
        }

    def describe(self) -> str:
        """What the current step has done so far, e.g. ``users 1,200 rows, groups 40 rows``."""
        tables = self._tables()
        parts = [f"{n} {c:,} rows" for n, c in sorted(tables.items())]
        elapsed = time.monotonic() - self.started
        if len(tables) == 1 and elapsed >= 1:
            parts[0] += f" ({sum(tables.values()) / elapsed:,.0f}/s)"
        if "Jobs" in self.counters or "Jobs" in self.totals:
            done, total = self.counters.get("Jobs", 0), self.totals.get("Jobs")
            parts.append(f"{done}/{total} jobs" if total else f"{done} jobs")
        if not parts:
            return "starting"
        return ", ".join(parts)


class TerminalProgress(_Counting):
    """One status line redrawn in place (at most ``fps`` times a second); each finished
    step leaves one line behind."""

    def __init__(self, stream: TextIO | None = None, fps: float = 8.0) -> None:
        super().__init__(stream)
        self.interval = 1.0 / fps
        self._drawn = 0.0
        encoding = (getattr(self.stream, "encoding", None) or "").lower().replace("-", "")
        self.done_mark = "✓" if encoding == "utf8" else "ok"

    def _line(self, text: str) -> None:
        width = shutil.get_terminal_size((100, 20)).columns - 1
        self.stream.write("\r\x1b[K" + text[:width])
        self.stream.flush()

    def _changed(self) -> None:
        now = time.monotonic()
        if now - self._drawn < self.interval:
            return
        self._drawn = now
        elapsed = now - self.started
        self._line(
            f"{style(self.step, BOLD, stream=self.stream)} {self.describe()}  "
            + style(f"{elapsed:.1f} s", DIM, stream=self.stream)
        )

    def _finished(self) -> None:
        elapsed = time.monotonic() - self.started
        self._line(
            style(self.done_mark, GREEN, stream=self.stream)
            + f" {self.step:<9} {self.describe()}  "
            + style(f"{elapsed:.1f} s", DIM, stream=self.stream)
        )
        self.stream.write("\n")
        self.stream.flush()


class LogProgress(_Counting):
    """A plain, timestamped line every ``period`` seconds and one per finished step: for
    pipes, files, CI and schedulers' logs.

    dlt counts a table's rows as they reach it, 10,000 at a time on the fast path, and
    not at all while a request is retried: a clock thread writes the line when dlt has
    reported nothing for a ``period``, with the records the page loops have read."""

    def __init__(self, stream: TextIO | None = None, period: float = 10.0) -> None:
        super().__init__(stream)
        self.period = period
        self._logged = 0.0
        self._read_before = 0
        self._stopped = threading.Event()
        self._clock: threading.Thread | None = None

    def _write(self, text: str) -> None:
        self.stream.write(f"{time.strftime('%H:%M:%S')} headwater: {text}\n")
        self.stream.flush()

    def _start(self, step: str) -> None:
        from headwater.http.extract import records_read

        super()._start(step)
        self._logged = time.monotonic()
        self._read_before = records_read()
        self._stopped.clear()
        self._clock = threading.Thread(target=self._tick, name="headwater-progress", daemon=True)
        self._clock.start()

    def _stop(self) -> None:
        self._stopped.set()
        if self._clock is not None:
            self._clock.join()
            self._clock = None
        super()._stop()

    def _tick(self) -> None:
        while not self._stopped.wait(self._logged + self.period - time.monotonic()):
            with self._lock:
                self._changed()

    def describe(self) -> str:
        """As :meth:`_Counting.describe`, with the records read while extracting when
        they are more than dlt has counted (``extract: 4,200 records read``)."""
        from headwater.http.extract import records_read

        text = super().describe()
        read = records_read() - self._read_before
        if self.step == "extract" and read > sum(self._tables().values()):
            return f"{read:,} records read" + ("" if text == "starting" else f", {text}")
        return text

    def _changed(self) -> None:
        now = time.monotonic()
        if now - self._logged >= self.period:
            self._logged = now
            self._write(f"{self.step}: {self.describe()} ({now - self.started:.0f} s)")

    def _finished(self) -> None:
        elapsed = time.monotonic() - self.started
        self._write(f"{self.step} done in {elapsed:.1f} s: {super().describe()}")


def make_progress(mode: ProgressMode = "auto", stream: TextIO | None = None) -> Any:
    """A dlt collector for ``mode``: ``bar`` (a live line), ``log`` (plain lines), ``off``,
    or ``auto`` (``bar`` on a terminal, else ``log``)."""
    stream = stream or sys.stderr
    if mode == "off":
        return NullCollector()
    if mode == "bar" or (mode == "auto" and is_terminal(stream)):
        return TerminalProgress(stream)
    return LogProgress(stream)
