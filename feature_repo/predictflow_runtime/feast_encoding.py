"""Feast's Redis value layout, encoded a whole Arrow column at a time.

Feast's own materialization builds one `ValueProto` per feature per row in Python and serializes
each; that per-row path is what limits it to about 14,000 rows/s. The bytes themselves are simple:
a scalar `Value` is one tag byte and a little-endian fixed32/fixed64, a varint or a
length-prefixed string; an event time is a `Timestamp` (seconds, then nanos when not zero); an
entity key is `serialize_entity_key` v3 (the sorted join-key names, then per value its type,
length and little-endian bytes) followed by the project name. Here numpy and Arrow compute those
bytes for a whole column at once.

What is not a common scalar (lists, maps, timestamps as feature values, ...) and every null or
NaN is handed to Feast's own converter, so the result is always the bytes Feast would write.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from feast.infra.key_encoding_utils import serialize_entity_key_prefix
from feast.type_map import python_values_to_proto_values
from feast.value_type import ValueType

_MAX_VARINT = 10
_NOTHING = pa.scalar(b"", pa.large_binary())

# Tag byte = field number << 3 | wire type, for the scalar members of Value's oneof.
_TAG_BYTES = 0x0A
_TAG_STRING = 0x12
_TAG_INT32 = 0x18
_TAG_INT64 = 0x20
_TAG_DOUBLE = 0x29
_TAG_FLOAT = 0x35
_TAG_BOOL = 0x38
# google.protobuf.Timestamp: seconds = 1 (varint), nanos = 2 (varint); zero fields are omitted.
_TAG_SECONDS = 0x08
_TAG_NANOS = 0x10

FAST_VALUE_TYPES = frozenset({ValueType.DOUBLE, ValueType.FLOAT, ValueType.INT64, ValueType.INT32, ValueType.BOOL, ValueType.STRING, ValueType.BYTES})
ENTITY_VALUE_TYPES = frozenset({ValueType.INT64, ValueType.INT32, ValueType.STRING, ValueType.BYTES})


def concat(*parts: pa.Array | bytes) -> pa.Array:
    """Row-wise concatenation of binary arrays and constant byte strings (each row one value)."""
    return pc.binary_join_element_wise(*(pa.scalar(part, pa.large_binary()) if isinstance(part, bytes) else part for part in parts), _NOTHING)


def binary_from_rows(matrix: np.ndarray, lengths: np.ndarray) -> pa.BinaryArray:
    """A binary array whose row i is the first lengths[i] bytes of matrix[i]."""
    kept = np.arange(matrix.shape[1]) < lengths[:, None]
    data = np.ascontiguousarray(matrix[kept], dtype=np.uint8)
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return pa.LargeBinaryArray.from_buffers(pa.large_binary(), len(lengths), [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def _fixed_width(records: np.ndarray) -> pa.Array:
    """Each record of a packed numpy structured array as one binary value."""
    width = records.dtype.itemsize
    fixed = pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), len(records), [None, pa.py_buffer(records.tobytes())])
    return fixed.cast(pa.large_binary())


def varint_rows(values: np.ndarray, tag: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Protobuf varints of uint64 `values` (negatives already two's complement), each optionally
    after a tag byte: an (n, 11) byte matrix and each row's length."""
    values = np.ascontiguousarray(values, dtype=np.uint64)
    rows = len(values)
    lengths = np.ones(rows, dtype=np.int64)
    rest = values >> np.uint64(7)
    while rest.any():
        lengths += rest > 0
        rest >>= np.uint64(7)
    lead = 0 if tag is None else 1
    matrix = np.zeros((rows, _MAX_VARINT + lead), dtype=np.uint8)
    if tag is not None:
        matrix[:, 0] = tag
    rest = values.copy()
    for group in range(_MAX_VARINT):
        continues = (group < lengths - 1).astype(np.uint8) << 7
        matrix[:, lead + group] = (rest & np.uint64(0x7F)).astype(np.uint8) | continues
        rest >>= np.uint64(7)
    return matrix, lengths + lead


def _tagged_varints(values: np.ndarray, tag: int) -> pa.Array:
    return binary_from_rows(*varint_rows(values, tag))


def _tagged_fixed(values: np.ndarray, tag: int, layout: str) -> pa.Array:
    records = np.empty(len(values), dtype=np.dtype([("tag", "u1"), ("value", layout)]))
    records["tag"] = tag
    records["value"] = values
    return _fixed_width(records)


def _length_delimited(column: pa.Array, tag: int) -> pa.Array:
    """tag, varint length, payload: a string or bytes member of Value."""
    payload = column.cast(pa.large_binary())
    lengths = pc.binary_length(payload).to_numpy(zero_copy_only=False).astype(np.uint64)
    prefixes = binary_from_rows(*varint_rows(lengths, tag))
    return concat(prefixes, payload)


def _fast_values(column: pa.Array, value_type: ValueType) -> pa.Array:
    """Every row of `column` encoded as a non-null scalar of `value_type` (nulls hold garbage)."""
    if value_type in (ValueType.STRING, ValueType.BYTES):
        filled = column.fill_null("" if value_type == ValueType.STRING else b"")
        return _length_delimited(filled, _TAG_STRING if value_type == ValueType.STRING else _TAG_BYTES)
    numbers = column.fill_null(False if value_type == ValueType.BOOL else 0).to_numpy(zero_copy_only=False)
    if value_type == ValueType.DOUBLE:
        return _tagged_fixed(numbers.astype(np.float64), _TAG_DOUBLE, "<f8")
    if value_type == ValueType.FLOAT:
        return _tagged_fixed(numbers.astype(np.float32), _TAG_FLOAT, "<f4")
    if value_type == ValueType.BOOL:
        return _tagged_fixed(numbers.astype(np.uint8), _TAG_BOOL, "u1")
    if value_type == ValueType.INT64:
        return _tagged_varints(numbers.astype(np.int64).view(np.uint64), _TAG_INT64)
    if value_type == ValueType.INT32:
        # negative int32s are sign-extended to 64 bits on the wire
        return _tagged_varints(numbers.astype(np.int32).astype(np.int64).view(np.uint64), _TAG_INT32)
    raise ValueError(f"{value_type.name} has no fast encoding")


def _needs_feast(column: pa.Array, value_type: ValueType) -> np.ndarray:
    """Rows Feast's converter must encode: nulls, and NaN where a float is declared."""
    special = column.is_null()
    if value_type in (ValueType.DOUBLE, ValueType.FLOAT) and pa.types.is_floating(column.type):
        special = pc.or_(special, pc.is_nan(column).fill_null(False))
    return special.to_numpy(zero_copy_only=False).astype(bool)


def feast_values(column: pa.Array, value_type: ValueType) -> pa.Array:
    """Feast's converter over a whole column, as materialization calls it (the column's numpy form)."""
    protos = python_values_to_proto_values(column.to_numpy(zero_copy_only=False), value_type)
    return pa.array([proto.SerializeToString() for proto in protos], type=pa.large_binary())


def encode_values(column: pa.Array | pa.ChunkedArray, value_type: ValueType) -> pa.Array:
    """The serialized `Value` of every row of a feature column, byte for byte what Feast writes."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if value_type not in FAST_VALUE_TYPES:
        return feast_values(column, value_type)
    encoded = _fast_values(column, value_type)
    special = _needs_feast(column, value_type)
    if not special.any():
        return encoded
    # Feast sees the whole column's numpy form (ints with nulls become floats): keep that context.
    whole = column.to_numpy(zero_copy_only=False)
    protos = python_values_to_proto_values(whole[special], value_type)
    replacements = pa.array([proto.SerializeToString() for proto in protos], type=pa.large_binary())
    return pc.replace_with_mask(encoded, pa.array(special), replacements)


def encode_timestamps(column: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, np.ndarray]:
    """Event times as the serialized `Timestamp` Feast stores in `_ts:<view>` (microseconds, as a
    Python datetime holds them), and the same instants as int64 nanoseconds for comparisons."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if column.null_count:
        raise ValueError("event timestamps must not be null")
    micros = column.cast(pa.timestamp("us", tz=getattr(column.type, "tz", None)), safe=False).cast(pa.int64())
    micros_np = micros.to_numpy()
    seconds = np.floor_divide(micros_np, 1_000_000)
    nanos = (micros_np - seconds * 1_000_000) * 1000
    second_rows, second_lengths = varint_rows(seconds.view(np.uint64), _TAG_SECONDS)
    nano_rows, nano_lengths = varint_rows(nanos.view(np.uint64), _TAG_NANOS)
    second_lengths[seconds == 0] = 0  # proto3 omits fields at their default
    nano_lengths[nanos == 0] = 0
    encoded = concat(binary_from_rows(second_rows, second_lengths), binary_from_rows(nano_rows, nano_lengths))
    return encoded, micros_np * 1000


def _entity_values(column: pa.Array, value_type: ValueType) -> pa.Array:
    """One join key's part of serialize_entity_key v3: type, length, little-endian value."""
    if column.null_count:
        raise ValueError("join keys must not be null")
    if value_type in (ValueType.INT64, ValueType.INT32):
        wide = value_type == ValueType.INT64
        numbers = column.to_numpy(zero_copy_only=False)
        records = np.empty(len(column), dtype=np.dtype([("type", "<u4"), ("length", "<u4"), ("value", "<i8" if wide else "<i4")]))
        records["type"] = value_type.value
        records["length"] = 8 if wide else 4
        records["value"] = numbers
        return _fixed_width(records)
    if value_type in (ValueType.STRING, ValueType.BYTES):
        payload = column.cast(pa.large_binary())
        headers = np.empty(len(column), dtype=np.dtype([("type", "<u4"), ("length", "<u4")]))
        headers["type"] = value_type.value
        headers["length"] = pc.binary_length(payload).to_numpy(zero_copy_only=False)
        return concat(_fixed_width(headers), payload)
    raise ValueError(f"join keys of type {value_type.name} are not supported")


def encode_entity_keys(table: pa.Table, join_keys: Mapping[str, ValueType], project: str) -> pa.Array:
    """Feast's Redis key of every row: serialize_entity_key v3 of its join keys, then the project."""
    names: Sequence[str] = sorted(join_keys) if len(join_keys) > 1 else list(join_keys)
    parts: list[Any] = [serialize_entity_key_prefix(list(names))]
    for name in names:
        column = table.column(name).combine_chunks()
        parts.append(_entity_values(column, join_keys[name]))
    parts.append(project.encode("utf-8"))
    return concat(*parts)
