"""headwater.timebounds: durations, dates, formats, windows."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

import pytest
from headwater.timebounds import (
    exact,
    format_bound,
    format_duration,
    parse_auto,
    parse_duration,
    parse_instant,
    parse_value,
    windows,
)

T = datetime(2024, 3, 4, 5, 6, 7, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("text", "seconds"), [("1d", 86400), ("6h", 21600), ("1d12h", 129600), ("2w", 1209600)]
)
def test_durations(text, seconds):
    assert parse_duration(text) == timedelta(seconds=seconds)
    assert parse_duration(format_duration(parse_duration(text))) == parse_duration(text)


@pytest.mark.parametrize("text", ["0d", "0h0m", "", "1 day", "d", "-1h", 5])
def test_bad_durations_are_one_line(text):
    with pytest.raises(ValueError) as err:
        parse_duration(text, "window")
    assert "\n" not in str(err.value) and "window" in str(err.value)


@pytest.mark.parametrize(
    ("fmt", "written"),
    [
        ("iso8601", "2024-03-04T05:06:07Z"),
        ("date", "2024-03-04"),
        ("unix", 1709528767),
        ("unix_ms", 1709528767000),
        ("strftime:%Y%m%d%H%M%S", "20240304050607"),
    ],
)
def test_formats_round_trip(fmt, written):
    assert format_bound(T, fmt) == written
    back = parse_value(written, fmt)
    assert back == (T.replace(hour=0, minute=0, second=0) if fmt == "date" else T)
    assert parse_value(str(written), fmt) == back  # as text from a query string


@pytest.mark.parametrize(
    ("fmt", "down", "up"),
    [
        ("date", "2024-03-04", "2024-03-05"),
        ("unix", 1709528767, 1709528768),
        ("strftime:%Y%m%d%H%M", "202403040506", "202403040507"),
        ("strftime:%Y-%m", "2024-03", "2024-04"),
        ("iso8601", "2024-03-04T05:06:07.250000Z", "2024-03-04T05:06:07.250000Z"),
    ],
)
def test_an_end_finer_than_its_format_is_written_up(fmt, down, up):
    # an end bound written down (date: the day it falls in) would leave out the records
    # before it in that day; written up, the range asked holds all of [start, end)
    moment = T + timedelta(milliseconds=250)
    assert format_bound(moment, fmt) == down
    assert format_bound(moment, fmt, up=True) == up
    assert exact(moment, fmt) is (fmt == "iso8601")
    midnight = datetime(2024, 3, 4, tzinfo=timezone.utc)
    assert format_bound(midnight, "date", up=True) == "2024-03-04"  # exact: as it is


def test_instants_and_auto():
    assert parse_instant("2024-03-04") == datetime(2024, 3, 4, tzinfo=timezone.utc)
    assert parse_instant("2024-03-04T06:06:07+01:00") == T
    assert parse_auto(1709528767) == (T, "unix")
    assert parse_auto("2024-03-04T05:06:07Z") == (T, "iso8601")
    with pytest.raises(ValueError, match="is not a date"):
        parse_instant("tomorrow", "--start")
    with pytest.raises(ValueError, match="is not a unix value"):
        parse_value("abc", "unix")
    with pytest.raises(ValueError):
        parse_value(True, "unix")


def test_windows_cover_the_range_exactly():
    end = T + timedelta(hours=5, minutes=30)
    slices = windows(T, end, timedelta(hours=2))
    assert slices[0][0] == T and slices[-1][1] == end
    assert all(a[1] == b[0] for a, b in itertools.pairwise(slices))
    assert [u - lo for lo, u in slices][-1] == timedelta(hours=1, minutes=30)
    assert windows(T, T, timedelta(hours=1)) == []
    assert windows(T, end, None) == [(T, end)]


def test_pendulum_instants_cut_into_windows():
    """dlt hands out pendulum datetimes (``dlt.sources.incremental``'s values): their
    difference is pendulum's own duration, which a stdlib timedelta could not divide,
    so a windowed read given them failed before any request."""
    import pendulum

    start = parse_instant(pendulum.datetime(2024, 1, 1, 1), "initial_value")
    end = parse_instant(pendulum.datetime(2024, 1, 1, 3, 30), "end_value")
    assert type(start) is datetime and start == datetime(2024, 1, 1, 1, tzinfo=timezone.utc)
    slices = windows(start, end, timedelta(hours=1))
    assert [upper for _, upper in slices][-1] == end and len(slices) == 3
