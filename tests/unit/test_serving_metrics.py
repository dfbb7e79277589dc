"""What the predictor counts: lookups, entities, null features, reachability, the stale cache.

The lookup and the model are stand-ins (what is counted is the subject); the registry is a real
prometheus_client one, read back sample by sample.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from feast import Entity, FeatureView, Field, FileSource
from feast.types import Int64, String
from feast.value_type import ValueType
from prometheus_client import CollectorRegistry
from redis.exceptions import ConnectionError as RedisConnectionError

from predictflow_serving.client import FeatureClient
from predictflow_serving.metrics import Outcome, ServingMetrics
from predictflow_serving.plan import FeatureRow, build_plan
from predictflow_serving.predictor import ChurnPredictor
from predictflow_serving.settings import ServingSettings

pytestmark = pytest.mark.unit
LABELS = {"project": "churn", "store_type": "redis"}
KNOWN = {1001: {"customer_id": 1001, "tenure": 3, "plan": None}}


class Lookup:
    def __init__(self) -> None:
        self.down = False

    async def get_many(self, rows: Sequence[Mapping[str, Any]]) -> list[FeatureRow]:
        if self.down:
            raise RedisConnectionError("refused")
        out = []
        for row in rows:
            features = KNOWN.get(row["customer_id"])
            if features is None:
                out.append(FeatureRow({"customer_id": row["customer_id"], "tenure": None, "plan": None}, ("v",), [None]))
            else:
                out.append(FeatureRow(dict(features), ("v",), [b"ts"]))
        return out


class Model:
    def score(self, features: Mapping[str, Any]) -> float:
        return 0.5


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, {**LABELS, **labels})


def test_a_lookup_counts_entities_nulls_and_reachability_and_an_outage_turns_it_off() -> None:
    registry = CollectorRegistry()
    metrics = ServingMetrics("churn", "redis", registry)
    lookup = Lookup()
    settings = ServingSettings(store_retry_seconds=0.001)
    customer = Entity(name="customer", join_keys=["customer_id"], value_type=ValueType.INT64)
    source = FileSource(name="unused", path="/nonexistent.parquet", timestamp_field="event_timestamp")
    view = FeatureView(name="v", entities=[customer], schema=[Field(name="tenure", dtype=Int64), Field(name="plan", dtype=String)], source=source)
    plan = build_plan("churn", [view], [customer], ["v:tenure", "v:plan"])
    features = FeatureClient(plan, "127.0.0.1:1", settings, metrics=metrics, read_path=lookup)
    predictor = ChurnPredictor(features, Model())  # type: ignore[arg-type]

    asyncio.run(predictor.predict([1001, 4242]))
    assert sample(registry, "predictflow_serving_lookup_duration_seconds_count") == 1
    assert sample(registry, "predictflow_serving_entities_looked_up_total") == 2
    assert sample(registry, "predictflow_serving_features_null_total") == 3  # plan of 1001, tenure and plan of 4242
    assert sample(registry, "predictflow_serving_store_reachable") == 1
    assert sample(registry, "predictflow_serving_stale_cache_entries") == 1  # only the known customer is cached

    lookup.down = True
    outcome = asyncio.run(predictor.predict([1001]))
    assert isinstance(outcome, list) and outcome[0].stale
    assert sample(registry, "predictflow_serving_store_reachable") == 0
    assert sample(registry, "predictflow_serving_lookup_duration_seconds_count") == 1  # failed lookups are not timed


def test_every_outcome_is_a_series_from_the_start() -> None:
    registry = CollectorRegistry()
    metrics = ServingMetrics("churn", "redis", registry)
    assert {o.value: sample(registry, "predictflow_serving_requests_total", outcome=o.value) for o in Outcome} == {o.value: 0.0 for o in Outcome}
    metrics.answered(Outcome.NOT_FOUND)
    assert sample(registry, "predictflow_serving_requests_total", outcome="not_found") == 1
