"""Compare a sample of entities between two online stores, as a backfill does before its store serves.

The sample is deterministic: the first `limit` entity keys of each view's offline source in sorted
order. Both stores are read with Feast's own `get_online_features`, so the comparison is of what a
client would get, not of bytes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa
from feast import FeatureStore

SAMPLE = 100


EntityFilter = Callable[[pa.Table], Any]  # a table of join keys -> a boolean mask of the rows to keep


def sample_entities(view: Any, limit: int = SAMPLE, keep: EntityFilter | None = None) -> list[dict[str, Any]]:
    import pyarrow.dataset as ds

    keys = [column.name for column in view.entity_columns]
    table = ds.dataset(view.batch_source.path, format="parquet").to_table(columns=keys)
    if keep is not None:
        table = table.filter(pa.array(keep(table)))
    rows = sorted({tuple(row[k] for k in keys) for row in table.to_pylist()})[:limit]
    return [dict(zip(keys, row, strict=True)) for row in rows]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b)


def compare_sample(
    new: FeatureStore, serving: FeatureStore, views: Sequence[Any], limit: int = SAMPLE, keep: Callable[[Any], EntityFilter | None] | None = None
) -> dict[str, Any]:
    """`keep(view)` narrows a view's sample to the entities this process wrote (a backfill slice)."""
    sampled, mismatched = 0, 0
    examples: list[dict[str, Any]] = []
    for view in views:
        rows = sample_entities(view, limit, keep(view) if keep else None)
        if not rows:
            continue
        features = [f"{view.name}:{field.name}" for field in view.features]
        ours = new.get_online_features(features=features, entity_rows=rows).to_dict()
        theirs = serving.get_online_features(features=features, entity_rows=rows).to_dict()
        for index, row in enumerate(rows):
            sampled += 1
            if not all(_same(ours[name][index], theirs[name][index]) for name in ours):
                mismatched += 1
                if len(examples) < 3:
                    examples.append(row)
    return {"sampled": sampled, "mismatched": mismatched, "examples": examples}
