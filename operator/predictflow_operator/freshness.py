"""How old the serving store's features are: status.freshness and the Fresh condition (pure).

The watermarks come from the store itself (reconcilers.store_reading). The status records each
view's watermark and the moment it turns stale, not its age: an age would change on every pass and
cost a write per FeatureStore per resync; kubectl shows the age of `oldestWatermark` instead, and
the operator schedules a pass for the moment the oldest view turns stale.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from croniter import croniter

from .api.models import Materialization
from .status import Check

STALE_AFTER_INTERVALS = 3
# Enough consecutive runs to see an irregular schedule's longest gap (a weekday schedule's weekend).
_RUNS_SAMPLED = 16
_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True)
class Threshold:
    seconds: int
    why: str  # how it was chosen, for the condition's message


def _rfc3339(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime(_FORMAT)


def parse_time(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(datetime.UTC)


def longest_interval(schedule: str, start: datetime.datetime) -> int:
    """The longest gap, in seconds, between consecutive runs of a cron schedule after `start`."""
    runs = croniter(schedule, start)
    times = [runs.get_next(datetime.datetime) for _ in range(_RUNS_SAMPLED + 1)]
    return int(max((b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)))


def threshold(materialization: Materialization, now: datetime.datetime) -> Threshold:
    if materialization.freshness_threshold_seconds:
        return Threshold(materialization.freshness_threshold_seconds, "spec.materialization.freshnessThresholdSeconds")
    interval = longest_interval(materialization.schedule, now)
    why = f"{STALE_AFTER_INTERVALS} intervals of the schedule {materialization.schedule!r}"
    return Threshold(STALE_AFTER_INTERVALS * interval, why)


def duration(seconds: int) -> str:
    """A short human duration: 90m, 36h, 45s."""
    if seconds % 3600 == 0 and seconds >= 3600:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0 and seconds >= 60:
        return f"{seconds // 60}m"
    return f"{seconds}s"


def freshness_status(watermarks: dict[str, datetime.datetime], limit: Threshold) -> dict:
    """status.freshness (the API's camelCase), views in name order."""
    views = [
        {
            "featureView": view,
            "watermark": _rfc3339(moment),
            "staleAt": _rfc3339(moment + datetime.timedelta(seconds=limit.seconds)),
        }
        for view, moment in sorted(watermarks.items())
    ]
    oldest = min(watermarks.values(), default=None)
    return {"thresholdSeconds": limit.seconds, "oldestWatermark": _rfc3339(oldest) if oldest else "", "views": views}


def fresh_check(watermarks: dict[str, datetime.datetime], limit: Threshold, now: datetime.datetime, suspended: bool) -> Check:
    """False naming every view older than the threshold. The message holds no age, so it stays the
    same from one pass to the next."""
    if not watermarks:
        return Check(None, "NoWatermarks", "No materialization has recorded a watermark in the serving store yet")
    allowed = datetime.timedelta(seconds=limit.seconds)
    stale = sorted(view for view, moment in watermarks.items() if now - moment > allowed)
    if not stale:
        oldest = min(watermarks, key=lambda view: watermarks[view])
        return Check(
            True,
            "Fresh",
            f"All {len(watermarks)} feature views were materialized within {duration(limit.seconds)} ({limit.why}); "
            f"the oldest, {oldest}, at {_rfc3339(watermarks[oldest])}",
        )
    named = ", ".join(f"{view} (watermark {_rfc3339(watermarks[view])})" for view in stale)
    message = f"Older than {duration(limit.seconds)} ({limit.why}): {named}"
    if suspended:
        message += "; scheduled materialization is suspended (spec.materialization.suspend)"
    return Check(False, "Stale", message)


def seconds_until_stale(watermarks: dict[str, datetime.datetime], limit: Threshold, now: datetime.datetime) -> float | None:
    """When the next view turns stale, so a pass is there to say so; None if none is still fresh."""
    allowed = datetime.timedelta(seconds=limit.seconds)
    ahead = [(moment + allowed - now).total_seconds() for moment in watermarks.values() if now - moment <= allowed]
    return min(ahead) if ahead else None
