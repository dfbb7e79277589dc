"""Feast definitions of the churn example: one entity, one feature view.

The offline store location comes from PREDICTFLOW_OFFLINE_PATH (a local folder or an
s3:// prefix, from the FeatureStore's spec.offlineStore.path); the default is the repo's
own data/ folder, which `python -m predictflow_runtime.datagen` fills.
"""

import os
from datetime import timedelta

from feast import Entity, FeatureView, Field, FileSource
from feast.types import Float64, Int64, String
from feast.value_type import ValueType

_OFFLINE = os.environ.get("PREDICTFLOW_OFFLINE_PATH") or os.path.join(os.path.dirname(__file__), "data")

customer = Entity(
    name="customer",
    join_keys=["customer_id"],
    value_type=ValueType.INT64,
    description="A subscriber of the telecom churn example",
)

churn_source = FileSource(
    name="churn_source",
    path=f"{_OFFLINE.rstrip('/')}/churn_features.parquet",
    timestamp_field="event_timestamp",
    created_timestamp_column="created",
)

churn_features = FeatureView(
    name="churn_features",
    entities=[customer],
    ttl=timedelta(days=3650),
    schema=[
        Field(name="tenure_months", dtype=Int64),
        Field(name="monthly_charges", dtype=Float64),
        Field(name="total_charges", dtype=Float64),
        Field(name="contract_type", dtype=String),
        Field(name="support_tickets_90d", dtype=Int64),
    ],
    online=True,
    source=churn_source,
    tags={"team": "churn"},
)
