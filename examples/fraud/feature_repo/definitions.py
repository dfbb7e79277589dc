"""Feast definitions of the fraud example: a card, its transaction aggregates, the model's features.

Only Feast is imported here: the platform's materialization jobs load this file in their own
image. The Parquet offline store is at $PREDICTFLOW_OFFLINE_PATH (the FeatureStore's
spec.offlineStore.path); without it, this folder's data/ (what `python -m fraud_example.data`
writes).
"""

import os
from datetime import timedelta

from feast import Entity, FeatureService, FeatureView, Field, FileSource
from feast.types import Float64, Int64, String
from feast.value_type import ValueType

_OFFLINE = os.environ.get("PREDICTFLOW_OFFLINE_PATH") or os.path.join(os.path.dirname(__file__), "data")

card = Entity(
    name="card",
    join_keys=["card_id"],
    value_type=ValueType.INT64,
    description="A payment card",
)

card_activity_source = FileSource(
    name="card_activity_source",
    path=f"{_OFFLINE.rstrip('/')}/card_activity.parquet",
    timestamp_field="event_timestamp",
    created_timestamp_column="created",
)

card_activity = FeatureView(
    name="card_activity",
    entities=[card],
    # The example's data is a fixed snapshot (November 2026), so its aggregates must stay servable
    # for years; a production view of hourly counts would use a ttl of hours.
    ttl=timedelta(days=3650),
    schema=[
        Field(name="txn_count_1h", dtype=Int64),
        Field(name="txn_amount_sum_24h", dtype=Float64),
        Field(name="avg_amount_30d", dtype=Float64),
        Field(name="distinct_merchants_7d", dtype=Int64),
        Field(name="chargebacks_90d", dtype=Int64),
        Field(name="home_country", dtype=String),
    ],
    online=True,
    source=card_activity_source,
    tags={"team": "payments-risk"},
)

# What the fraud model reads; home_country is in the view for other consumers, not for the model.
fraud_scoring = FeatureService(
    name="fraud_scoring",
    features=[
        card_activity[["txn_count_1h", "txn_amount_sum_24h", "avg_amount_30d", "distinct_merchants_7d", "chargebacks_90d"]],
    ],
)
