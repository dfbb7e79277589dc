"""The freshness message published after each successful run."""

import json
from datetime import datetime, timezone

import pytest

from predictflow_runtime.freshness import FRESHNESS_CHANNEL_PREFIX, freshness_channel, freshness_message

pytestmark = pytest.mark.unit


def test_channel_is_per_project():
    assert freshness_channel("churn") == f"{FRESHNESS_CHANNEL_PREFIX}:churn" == "predictflow:freshness:churn"


def test_message_carries_the_contract_fields():
    watermark = datetime(2026, 11, 26, 12, tzinfo=timezone.utc)
    finished = datetime(2026, 11, 26, 12, 0, 3, tzinfo=timezone.utc)
    message = json.loads(freshness_message("churn", ["churn_features"], 200, watermark, finished))
    assert message == {
        "project": "churn",
        "feature_views": ["churn_features"],
        "rows": 200,
        "watermark": "2026-11-26T12:00:00.000000Z",
        "finished_at": "2026-11-26T12:00:03.000000Z",
    }
