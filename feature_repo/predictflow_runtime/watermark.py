"""Materialization watermarks kept in the online store itself.

One marker key per feature view, `predictflow:watermark:<project>:<feature_view>`, holds the
end of the last successful materialization as an ISO-8601 UTC timestamp, and the set
`predictflow:watermarks:<project>` names the views that have one (the operator reads freshness
from both). The marker lives and dies with the data: a new or flushed Redis has no marker,
which means "backfill everything". Markers never expire, whatever the store's key_ttl_seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast

import predictflow_contract as contract

from .connection import OnlineClient

MARKER_PREFIX = contract.WATERMARK_PREFIX
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # fixed width, so later timestamps sort later as strings

# Move a marker forward only: a slow run that started earlier must not rewind a newer marker.
# SET without KEEPTTL also clears any expiry the key might have had. One write only: Redis 7.0 logs
# a script with several writes to the AOF as MULTI/EXEC, and replays that as the `default` user,
# which is off here, so those writes would be lost on restart.
_ADVANCE_SCRIPT = """
local current = redis.call('GET', KEYS[1])
if (not current) or current < ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1])
  return 1
end
return 0
"""


def marker_key(project: str, feature_view: str) -> str:
    return contract.watermark_key(project, feature_view)


def format_watermark(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("watermarks are timezone-aware")
    return moment.astimezone(UTC).strftime(_FORMAT)


def parse_watermark(raw: bytes | str) -> datetime:
    text = raw.decode() if isinstance(raw, bytes) else raw
    return datetime.fromisoformat(text).astimezone(UTC)


@dataclass(frozen=True)
class Interval:
    """What one run materializes for one feature view: event times in [start, end]."""

    start: datetime
    end: datetime
    full: bool  # True: backfill (no marker, or --full); False: incremental from the marker

    @property
    def empty(self) -> bool:
        return self.start >= self.end


def backfill_start(now: datetime, ttl: timedelta | None) -> datetime:
    """The earliest event time still worth serving: the view's ttl window, or all of history."""
    if not ttl:
        return EPOCH
    return max(EPOCH, now - ttl)


def next_interval(watermark: datetime | None, now: datetime, ttl: timedelta | None, full: bool = False) -> Interval:
    if full or watermark is None:
        return Interval(backfill_start(now, ttl), now, full=True)
    return Interval(min(watermark, now), now, full=False)


def read_watermark(client: OnlineClient, project: str, feature_view: str) -> datetime | None:
    # redis-py types every reply `Awaitable[Any] | Any`, for its asyncio client's sake; this one is sync
    raw = cast("bytes | str | None", client.get(marker_key(project, feature_view)))
    return None if raw is None else parse_watermark(raw)


def advance_watermark(client: OnlineClient, project: str, feature_view: str, moment: datetime) -> bool:
    """Set the marker to `moment` unless it already holds a later one. True if it moved."""
    # the view joins its project's set first, so no marker exists that the set does not name
    client.sadd(contract.watermark_views_key(project), feature_view)
    moved = client.eval(_ADVANCE_SCRIPT, 1, marker_key(project, feature_view), format_watermark(moment))
    return bool(moved)
