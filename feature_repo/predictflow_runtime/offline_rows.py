"""The rows one materialization writes for a feature view, read from its Parquet source with Arrow.

Feast's local compute engine reads the source, keeps event times in [start, end], renames columns
by the source's field mapping, and keeps per entity the row with the newest event time (then the
newest created time). This does the same, reading only the needed columns and letting Arrow
filter, sort and pick, so no row becomes a Python object.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
from feast import FileSource
from feast.data_format import ParquetFormat

EVENT_TIME = "__predictflow_event_time"
CREATED_TIME = "__predictflow_created_time"


class UnsupportedSource(ValueError):
    """The view's offline source is not one this reader handles (Feast's own path still does)."""


@dataclass(frozen=True)
class SourceColumns:
    """Where a view's columns live in its source, and the names Feast gives them."""

    path: str
    join_keys: tuple[str, ...]
    features: tuple[str, ...]
    timestamp: str
    created: str | None
    renames: dict[str, str]  # source column -> feature view name
    endpoint_override: str | None = None

    def source_name(self, name: str) -> str:
        reverse = {target: source for source, target in self.renames.items()}
        return reverse.get(name, name)


def source_columns(view: Any, join_keys: Sequence[str], repo_path: str | None) -> SourceColumns:
    source = getattr(view, "batch_source", None)
    if not isinstance(source, FileSource):
        raise UnsupportedSource(f"{view.name}: the batch source is not a FileSource")
    if source.file_format is not None and not isinstance(source.file_format, ParquetFormat):
        raise UnsupportedSource(f"{view.name}: the batch source is not Parquet")
    if getattr(view, "aggregations", None) or getattr(view, "feature_transformation", None):
        raise UnsupportedSource(f"{view.name}: aggregations and transformations run through Feast")
    path = FileSource.get_uri_for_file_path(repo_path=repo_path, uri=source.file_options.uri)
    return SourceColumns(
        path=str(path),
        join_keys=tuple(join_keys),
        features=tuple(feature.name for feature in view.features),
        timestamp=source.timestamp_field,
        created=source.created_timestamp_column or None,
        renames=dict(source.field_mapping or {}),
        endpoint_override=source.file_options.s3_endpoint_override or None,
    )


def _dataset(columns: SourceColumns) -> ds.Dataset:
    if columns.endpoint_override and columns.path.startswith("s3://"):
        from pyarrow import fs

        filesystem = fs.S3FileSystem(endpoint_override=columns.endpoint_override)
        return ds.dataset(columns.path.removeprefix("s3://"), format="parquet", filesystem=filesystem)
    return ds.dataset(columns.path, format="parquet")


def _bound(moment: datetime, column_type: pa.DataType) -> pa.Scalar:
    """`moment` as a scalar comparable with the source's timestamp column (naive columns are UTC)."""
    if getattr(column_type, "tz", None) is None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return pa.scalar(moment, type=column_type)


RowFilter = Callable[[pa.Table], np.ndarray]


def source_row_count(columns: SourceColumns) -> int:
    """All rows of the source, from Parquet metadata."""
    return int(_dataset(columns).count_rows())


def latest_rows(columns: SourceColumns, start: datetime, end: datetime, keep: RowFilter | None = None) -> pa.Table:
    """Per entity, its newest row with an event time in [start, end], named as the view names them,
    the event time as EVENT_TIME (and the created time as CREATED_TIME). With `keep`, only the rows
    it selects are held, read batch by batch, so memory follows what is kept, not the source."""
    dataset = _dataset(columns)
    wanted = [columns.source_name(name) for name in (*columns.join_keys, *columns.features)]
    times = [columns.timestamp, *([columns.created] if columns.created else [])]
    if set(times) & set(wanted):
        raise UnsupportedSource(f"{columns.path}: a timestamp column that is also a feature or join key")
    needed = [*dict.fromkeys(wanted), *times]
    missing = [name for name in needed if name not in dataset.schema.names]
    if missing:
        raise ValueError(f"the offline source {columns.path} has no column(s) {', '.join(missing)}")
    timestamp_type = dataset.schema.field(columns.timestamp).type
    event = ds.field(columns.timestamp)
    window = (event >= _bound(start, timestamp_type)) & (event <= _bound(end, timestamp_type))
    named = {**columns.renames, columns.timestamp: EVENT_TIME, **({columns.created: CREATED_TIME} if columns.created else {})}

    def renamed(table: pa.Table) -> pa.Table:
        return table.rename_columns([named.get(name, name) for name in table.column_names])

    if keep is None:
        table = renamed(dataset.to_table(columns=needed, filter=window))
    else:
        kept = []
        for batch in dataset.to_batches(columns=needed, filter=window):
            rows = renamed(pa.Table.from_batches([batch]))
            kept.append(rows.filter(pa.array(keep(rows))))
        schema = pa.schema([dataset.schema.field(name) for name in needed])
        table = pa.concat_tables(kept) if kept else renamed(schema.empty_table())
    return newest_per_entity(table, columns.join_keys, EVENT_TIME, CREATED_TIME if columns.created else None)


def newest_per_entity(table: pa.Table, join_keys: Sequence[str], timestamp: str, created: str | None) -> pa.Table:
    """Keep one row per join-key tuple: the newest event time, then the newest created time."""
    if table.num_rows == 0 or not join_keys:
        return table
    order = [(key, "ascending") for key in join_keys] + [(timestamp, "descending")]
    if created:
        order.append((created, "descending"))
    ordered = table.take(pc.sort_indices(table, sort_keys=order))
    first = np.zeros(ordered.num_rows, dtype=bool)
    first[0] = True
    for key in join_keys:
        column = ordered.column(key).combine_chunks()
        first[1:] |= pc.not_equal(column[1:], column[:-1]).to_numpy(zero_copy_only=False)
    return ordered.filter(pa.array(first))
