"""Feature-freshness signals on Redis pub/sub, for drift detection downstream.

After each successful materialization run, one JSON message goes to
`predictflow:freshness:<project>`:
{"project", "feature_views", "rows", "watermark", "finished_at"}
where `feature_views` names the views the run materialized, `rows` is the number of rows
written to the online store, `watermark` the new marker and `finished_at` the wall clock
at the end of the run (both ISO-8601 UTC).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import cast

from .connection import OnlineClient
from .watermark import format_watermark

FRESHNESS_CHANNEL_PREFIX = "predictflow:freshness"


def freshness_channel(project: str) -> str:
    return f"{FRESHNESS_CHANNEL_PREFIX}:{project}"


def freshness_message(project: str, feature_views: Sequence[str], rows: int, watermark: datetime, finished_at: datetime) -> str:
    return json.dumps(
        {
            "project": project,
            "feature_views": list(feature_views),
            "rows": rows,
            "watermark": format_watermark(watermark),
            "finished_at": format_watermark(finished_at),
        },
        sort_keys=True,
    )


def publish_freshness(client: OnlineClient, project: str, message: str) -> int:
    """Publish and return how many subscribers received it (0 is fine: nobody listening)."""
    # redis-py types every reply `Awaitable[Any] | Any`, for its asyncio client's sake; this one is sync
    receivers = cast(int, client.publish(freshness_channel(project), message))
    return int(receivers)
