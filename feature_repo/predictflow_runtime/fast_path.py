"""Materializing a feature view without Feast's per-row Python: Arrow reads, encodes and pipelines.

The result in Redis is what `FeatureStore.materialize` writes for the same interval (a data-plane
test compares the two byte for byte). Views this path does not cover (stream and on-demand views,
sources other than Parquet files, entity keys of other types, views without entities) are
materialized by Feast, and the run says so in its log.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pyarrow as pa
from feast import FeatureStore, FeatureView
from feast.infra.online_stores.redis import _versioned_fv_name
from feast.stream_feature_view import StreamFeatureView

import predictflow_contract as contract

from .bulk_write import ViewLayout, ViewWriter, WriteCount, router_for
from .connection import OnlineClient
from .feast_encoding import ENTITY_VALUE_TYPES, encode_entity_keys
from .key_slots import key_slots, slice_of_slots
from .offline_rows import RowFilter, SourceColumns, UnsupportedSource, latest_rows, source_columns, source_row_count
from .watermark import Interval

SERIALIZATION_VERSION = 3
# Rows of a source one read holds at most (about 100 bytes each once projected and sorted); a
# larger source is read in as many passes, each keeping a disjoint range of hash slots.
ROWS_PER_PASS = 2_000_000
COMPLETION_INDEX_ENV = contract.COMPLETION_INDEX_ENV
SLICES_ENV = contract.BACKFILL_SLICES_ENV


@dataclass(frozen=True)
class Slice:
    """The entities one process writes: those whose hash slot falls in range `index` of `count`
    equal ranges of the slot space. Slices of one count are disjoint and cover every entity."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ValueError(f"slice {self.index} of {self.count} does not exist")

    @property
    def whole(self) -> bool:
        return self.count == 1

    @classmethod
    def parse(cls, text: str) -> Slice:
        """`INDEX/COUNT`, e.g. 0/4."""
        index, _, count = text.partition("/")
        try:
            return cls(int(index), int(count))
        except ValueError as error:
            raise ValueError(f"a slice is INDEX/COUNT with 0 <= INDEX < COUNT, not {text!r}") from error

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Slice:
        count = int(environ.get(SLICES_ENV) or 1)
        return cls(int(environ.get(COMPLETION_INDEX_ENV) or 0) if count > 1 else 0, count)

    def passes(self, count: int) -> list[Slice]:
        """This slice split into `count` disjoint slices (their slot ranges nest inside this one's)."""
        return [Slice(self.index * count + part, self.count * count) for part in range(count)]

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


WHOLE = Slice()


def slice_filter(layout: ViewLayout, part: Slice) -> RowFilter | None:
    """Which rows of a table (join keys as the view names them) belong to `part`; None for all."""
    if part.whole:
        return None

    def keep(table: pa.Table) -> np.ndarray:
        return slice_of_slots(key_slots(encode_entity_keys(table, layout.join_keys, layout.project)), part.index, part.count)

    return keep


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


def _plan(store: FeatureStore, view: Any) -> tuple[ViewLayout, SourceColumns]:
    """The view's layout and source columns, or UnsupportedSource when Feast must write it."""
    layout = view_layout(store, view)
    repo_path = str(store.config.repo_path) if store.config.repo_path else None
    return layout, source_columns(view, list(layout.join_keys), repo_path)


def write_view(store: FeatureStore, client: OnlineClient, view: Any, interval: Interval, part: Slice = WHOLE, *, read_stored_times: bool = True) -> WriteCount:
    """Write the newest row per entity of [interval.start, interval.end] (of the entities in `part`)
    as Feast would, reading the source in as many passes as keep each under ROWS_PER_PASS rows.
    `read_stored_times=False` is for a store known to hold none: nothing there can be newer."""
    layout, columns = _plan(store, view)
    if not read_stored_times:
        layout = replace(layout, skip_dedup=True)
    writer = ViewWriter(layout, router_for(client))
    total = WriteCount()
    passes = max(1, math.ceil(source_row_count(columns) / part.count / ROWS_PER_PASS))
    for piece in part.passes(passes):
        total.add(writer.write(latest_rows(columns, interval.start, interval.end, slice_filter(layout, piece))))
    return total


def sample_filter(store: FeatureStore, view: Any, part: Slice) -> RowFilter | None:
    """Which sampled entities a slice may compare: its own (a view Feast writes belongs to slice 0)."""
    if part.whole:
        return None
    try:
        layout, _ = _plan(store, view)
    except UnsupportedSource:
        return None if part.index == 0 else (lambda table: np.zeros(table.num_rows, dtype=bool))
    return slice_filter(layout, part)
