"""Time bounds of incremental loading: durations, dates, cursor formats and windows.

A foundation module (no Headwater imports): the spec validates declarations with it,
the settings and the CLI check user input with it, the loader computes and formats
request bounds with it, and the simulator parses them back.

* durations are written ``"1d"``, ``"6h"``, ``"30m"``, ``"45s"``, ``"2w"`` or a sum
  such as ``"1d12h"`` (:func:`parse_duration`);
* instants the user gives (``start_date``, ``--start``, ``--end``, an ``initial``) are
  ISO 8601 dates or date-times; a date is midnight UTC and a date-time without an
  offset is UTC (:func:`parse_instant`);
* a cursor or bound *format* (:data:`FORMATS`) says how an API writes instants:
  ``iso8601`` (``2024-01-02T03:04:05Z``, with microseconds when the instant has
  them), ``date`` (``2024-01-02``), ``unix``
  (seconds), ``unix_ms`` (milliseconds) or ``strftime:<pattern>`` (e.g.
  ``strftime:%Y%m%d%H%M``) — :func:`format_bound` writes one (an instant finer than
  the format: the value it falls in, or the next one for an end), :func:`parse_value`
  reads one;
* :func:`windows` cuts ``[start, end)`` into consecutive slices of one duration.
"""

from __future__ import annotations

import contextlib
import re
from datetime import date, datetime, timedelta, timezone
from typing import Any

__all__ = [
    "FORMATS",
    "MAX_SLICES",
    "check_format",
    "exact",
    "format_bound",
    "format_duration",
    "isoformat",
    "parse_auto",
    "parse_duration",
    "parse_instant",
    "parse_value",
    "windows",
]

#: The declared formats of cursor values and request bounds (plus ``strftime:<pattern>``).
FORMATS = ("iso8601", "date", "unix", "unix_ms")

_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION = re.compile(r"^(?:\d+[wdhms])+$")
_PART = re.compile(r"(\d+)([wdhms])")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def parse_duration(text: Any, what: str = "duration") -> timedelta:
    """``"1d"``, ``"6h"``, ``"1d12h"`` ... as a timedelta; raises ValueError (one line,
    naming ``what``) for anything else, or for zero."""
    if isinstance(text, timedelta):
        value = text
    else:
        raw = str(text).strip().lower().replace(" ", "")
        if not isinstance(text, str) or not _DURATION.match(raw):
            raise ValueError(
                f"{what} {text!r} is not a duration; write a number and a unit "
                "(w, d, h, m, s), e.g. 1d, 6h or 1d12h"
            )
        value = timedelta(seconds=sum(int(n) * _UNITS[u] for n, u in _PART.findall(raw)))
    if value <= timedelta(0):
        raise ValueError(f"{what} {text!r} must be longer than zero, e.g. 1d or 6h")
    return value


def format_duration(value: timedelta) -> str:
    """``value`` written as :func:`parse_duration` reads it (``"1d12h"``)."""
    seconds = int(value.total_seconds())
    parts = []
    for unit, size in _UNITS.items():
        if unit == "w":
            continue
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def parse_instant(text: Any, what: str = "date") -> datetime:
    """An ISO 8601 date (midnight UTC) or date-time (UTC unless it has an offset) as
    an aware UTC datetime; a datetime passes through (naive taken as UTC). Raises
    ValueError (one line, naming ``what``) for anything else."""
    if isinstance(text, datetime):
        return _utc(text)
    if isinstance(text, date):
        return datetime(text.year, text.month, text.day, tzinfo=timezone.utc)
    raw = str(text).strip()
    try:
        return _iso(raw)
    except ValueError:
        raise ValueError(
            f"{what} {text!r} is not a date; write an ISO 8601 date or date-time, "
            "e.g. 2024-01-31 or 2024-01-31T06:00:00Z"
        ) from None


def _utc(value: datetime) -> datetime:
    if type(value) is not datetime:
        # a subclass (pendulum's, which dlt hands out) subtracts into its own duration
        # type, which a stdlib timedelta cannot divide: the windows' arithmetic failed
        value = datetime(
            value.year,
            value.month,
            value.day,
            value.hour,
            value.minute,
            value.second,
            value.microsecond,
            tzinfo=value.tzinfo,
            fold=value.fold,
        )
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def _iso(raw: str) -> datetime:
    if not raw:
        raise ValueError("empty")
    if raw.endswith(("Z", "z")):
        raw = raw[:-1] + "+00:00"
    if len(raw) > 19 and raw[-6] == " " and raw[-3] == ":":  # "+01:00" form-decoded
        raw = raw[:-6] + "+" + raw[-5:]
    if len(raw) == 10:
        day = date.fromisoformat(raw)
        return datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
    return _utc(datetime.fromisoformat(raw))


def check_format(fmt: Any) -> str:
    """``fmt`` if it is a known format (:data:`FORMATS` or ``strftime:<pattern>``),
    else ValueError naming the choices."""
    if isinstance(fmt, str) and (
        fmt in FORMATS or (fmt.startswith("strftime:") and len(fmt) > len("strftime:"))
    ):
        return fmt
    raise ValueError(
        f"format {fmt!r} is unknown; use one of {', '.join(FORMATS)} or strftime:<pattern> "
        "(e.g. strftime:%Y%m%d)"
    )


#: Steps tried, shortest first, to find the next value a format can write (:func:`format_bound`).
_STEPS = tuple(timedelta(seconds=s) for s in (0.001, 1, 60, 3600, 86400, 31 * 86400, 366 * 86400))


def format_bound(value: datetime, fmt: str, *, up: bool = False) -> str | int:
    """``value`` written in format ``fmt`` (an int for ``unix``/``unix_ms``). A format
    coarser than ``value`` (``date`` for 06:00) writes the value it falls in (the day);
    with ``up``, the first value it can write that is not before ``value`` (the next
    day): an end bound that leaves out nothing before it."""
    text = _format(value, fmt)
    if not up or exact(value, fmt):
        return text
    floor = parse_value(text, fmt)
    for step in _STEPS:
        later = _format(floor + step, fmt)
        with contextlib.suppress(ValueError):
            if parse_value(later, fmt) >= _utc(value):
                return later
    return text


def exact(value: datetime, fmt: str) -> bool:
    """Whether format ``fmt`` writes ``value`` itself (``date`` writes midnight only,
    ``unix`` whole seconds); a format that cannot read back what it writes counts as
    exact (nothing better can be said)."""
    try:
        return parse_value(_format(value, fmt), fmt) == _utc(value)
    except ValueError:
        return True


def _format(value: datetime, fmt: str) -> str | int:
    value = _utc(value)
    if fmt == "iso8601":
        return isoformat(value)
    if fmt == "date":
        return value.date().isoformat()
    if fmt == "unix":
        return int((value - _EPOCH) // timedelta(seconds=1))
    if fmt == "unix_ms":
        return int((value - _EPOCH) // timedelta(milliseconds=1))
    return value.strftime(check_format(fmt)[len("strftime:") :])


def isoformat(value: datetime) -> str:
    """RFC 3339 UTC text, ``Z`` suffix, microseconds only when there are some."""
    text = _utc(value).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def parse_value(value: Any, fmt: str) -> datetime:
    """A cursor value or bound written in format ``fmt``, as an aware UTC datetime.

    Lenient where it is safe: an ``iso8601`` or ``date`` value may be either a date or
    a date-time; ``unix``/``unix_ms`` accept numbers and numeric text. Raises
    ValueError for a value the format cannot read (and for ``None`` and booleans)."""
    if value is None or isinstance(value, bool):
        raise ValueError(f"{value!r} is not a {fmt} value")
    if isinstance(value, datetime):
        return _utc(value)
    try:
        if fmt in ("iso8601", "date"):
            if not isinstance(value, str):
                raise ValueError
            return _iso(value.strip())
        if fmt in ("unix", "unix_ms"):
            number = float(value)
            if number != number or abs(number) > 1e16:  # NaN, or beyond any date
                raise ValueError
            seconds = number / 1000 if fmt == "unix_ms" else number
            return _EPOCH + timedelta(seconds=seconds)
        pattern = check_format(fmt)[len("strftime:") :]
        return _utc(datetime.strptime(str(value), pattern))
    except (ValueError, TypeError, OverflowError):
        raise ValueError(f"{value!r} is not a {fmt} value") from None


def parse_auto(value: Any) -> tuple[datetime, str]:
    """A cursor value of undeclared format: a number is ``unix`` seconds, text is
    ``iso8601`` (or numeric text, ``unix``). Returns the instant and the format found;
    raises ValueError as :func:`parse_value`."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return parse_value(value, "unix"), "unix"
    try:
        return parse_value(value, "iso8601"), "iso8601"
    except ValueError:
        try:
            return parse_value(value, "unix"), "unix"
        except ValueError:
            raise ValueError(f"{value!r} is neither an ISO 8601 date-time nor a number") from None


#: The most slices one range is cut into (:func:`windows`).
MAX_SLICES = 200_000


def windows(
    start: datetime, end: datetime, window: timedelta | None
) -> list[tuple[datetime, datetime]]:
    """``[start, end)`` as consecutive slices ``window`` long (the last one shorter);
    one slice without a window; none when ``start >= end``. More than
    :data:`MAX_SLICES` is a :class:`ValueError` saying so (a window of ``1s`` over
    years would fill memory before the first request)."""
    if start >= end:
        return []
    if window is None:
        return [(start, end)]
    count = -(-(end - start) // window)
    if count > MAX_SLICES:
        raise ValueError(
            f"window {format_duration(window)} cuts {isoformat(start)} to {isoformat(end)} "
            f"into {count:,} slices, more than {MAX_SLICES:,}; use a longer window or a "
            "later start"
        )
    out = []
    lower = start
    while lower < end:
        upper = min(lower + window, end)
        out.append((lower, upper))
        lower = upper
    return out
