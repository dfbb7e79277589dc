"""Materializing a feature view without Feast's per-row Python: Arrow reads, encodes and pipelines.

The result in Redis is what `FeatureStore.materialize` writes for the same interval (a data-plane
test compares the two byte for byte). Views this path does not cover (stream and on-demand views,
sources other than Parquet files, entity keys of other types, views without entities) are
materialized by Feast, and the run says so in its log.
"""

from __future__ import annotations

from typing import Any

import redis
from feast import FeatureStore, FeatureView
from feast.infra.online_stores.redis import _versioned_fv_name
from feast.stream_feature_view import StreamFeatureView

from .bulk_write import Pipeline, ViewLayout, ViewWriter, WriteCount
from .feast_encoding import ENTITY_VALUE_TYPES
from .offline_rows import UnsupportedSource, latest_rows, source_columns
from .watermark import Interval

SERIALIZATION_VERSION = 3


def view_layout(store: FeatureStore, view: Any) -> ViewLayout:
    """How `view`'s rows are laid out in the online store, or UnsupportedSource."""
    config = store.config
    if not isinstance(view, FeatureView) or isinstance(view, StreamFeatureView):
        raise UnsupportedSource(f"{view.name}: only batch feature views take the fast path")
    if config.entity_key_serialization_version != SERIALIZATION_VERSION:
        raise UnsupportedSource(f"entity_key_serialization_version {config.entity_key_serialization_version} (the fast path writes 3)")
    join_keys = {column.name: column.dtype.to_value_type() for column in view.entity_columns}
    if not join_keys:
        raise UnsupportedSource(f"{view.name}: a view without entities")
    odd = sorted(f"{name} ({value_type.name})" for name, value_type in join_keys.items() if value_type not in ENTITY_VALUE_TYPES)
    if odd:
        raise UnsupportedSource(f"{view.name}: join keys of unsupported types: {', '.join(odd)}")
    online = config.online_store
    return ViewLayout(
        project=config.project,
        view_name=_versioned_fv_name(view, config),
        join_keys=join_keys,
        features=tuple((feature.name, feature.dtype.to_value_type()) for feature in view.features),
        key_ttl_seconds=int(getattr(online, "key_ttl_seconds", None) or 0),
        skip_dedup=bool(getattr(online, "skip_dedup", False)),
    )


def write_view(store: FeatureStore, client: redis.Redis, view: Any, interval: Interval) -> WriteCount:
    """Write the newest row per entity of [interval.start, interval.end] as Feast would."""
    layout = view_layout(store, view)
    columns = source_columns(view, list(layout.join_keys), str(store.config.repo_path) if store.config.repo_path else None)
    rows = latest_rows(columns, interval.start, interval.end)
    return ViewWriter(layout, Pipeline(client)).write(rows)
