"""Watermark key naming, formatting and the interval each run materializes."""

from datetime import datetime, timedelta, timezone

import pytest

from predictflow_runtime.watermark import (
    EPOCH,
    backfill_start,
    format_watermark,
    marker_key,
    next_interval,
    parse_watermark,
)

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 26, 13, 0, 0, 123456, tzinfo=timezone.utc)


def test_marker_key_names_project_and_view():
    assert marker_key("churn", "churn_features") == "predictflow:watermark:churn:churn_features"
    assert marker_key("fraud", "churn_features") != marker_key("churn", "churn_features")


def test_watermark_round_trips_as_iso8601_utc():
    text = format_watermark(NOW)
    assert text == "2026-11-26T13:00:00.123456Z"
    assert parse_watermark(text) == NOW
    assert parse_watermark(text.encode()) == NOW


def test_watermark_is_stored_in_utc_whatever_the_input_zone():
    berlin = NOW.astimezone(timezone(timedelta(hours=1)))
    assert format_watermark(berlin) == format_watermark(NOW)


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError):
        format_watermark(datetime(2026, 1, 1))


def test_formatted_watermarks_sort_like_the_times_they_hold():
    # The forward-only Redis script compares markers as strings.
    moments = [NOW, NOW.replace(microsecond=0), NOW + timedelta(days=400), EPOCH + timedelta(seconds=1)]
    assert sorted(moments) == sorted(moments, key=format_watermark)


def test_missing_marker_means_full_backfill_over_the_ttl_window():
    interval = next_interval(None, NOW, timedelta(days=30))
    assert interval.full
    assert (interval.start, interval.end) == (NOW - timedelta(days=30), NOW)


def test_missing_marker_without_ttl_backfills_all_history():
    for ttl in (None, timedelta(0)):
        interval = next_interval(None, NOW, ttl)
        assert interval.full and interval.start == EPOCH


def test_ttl_longer_than_history_starts_at_the_epoch():
    assert backfill_start(NOW, timedelta(days=365 * 100)) == EPOCH


def test_marker_means_incremental_from_the_marker_to_now():
    marker = NOW - timedelta(minutes=30)
    interval = next_interval(marker, NOW, timedelta(days=30))
    assert not interval.full and not interval.empty
    assert (interval.start, interval.end) == (marker, NOW)


def test_full_ignores_the_marker():
    interval = next_interval(NOW - timedelta(minutes=30), NOW, timedelta(days=30), full=True)
    assert interval.full and interval.start == NOW - timedelta(days=30)


def test_marker_ahead_of_the_clock_gives_an_empty_interval_not_an_error():
    interval = next_interval(NOW + timedelta(minutes=5), NOW, None)
    assert interval.empty and interval.end == NOW
