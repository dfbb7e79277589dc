"""Decoding the bytes Feast stores in Redis into the Python values `get_online_features` returns.

Each feature is a serialized `feast.types.Value` with exactly one field of its oneof set, and
each feature view's `_ts:<view>` field is a serialized `google.protobuf.Timestamp`.

Parsing every value with protobuf costs more than the Redis round trip itself, so the common
scalars are read straight from their wire format: one tag byte, then a little-endian
fixed32/fixed64, a varint, or a length-prefixed string. Every other shape (lists, maps,
decimals, bytes that are not exactly the expected scalar) goes through protobuf and Feast's own
conversion, so the result is always what Feast would have returned.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.type_map import NULL_TIMESTAMP_INT_VALUE, feast_value_type_to_python_type
from feast.value_type import ValueType
from google.protobuf.timestamp_pb2 import Timestamp

Decoder = Callable[[bytes | None], Any]

_unpack_double = struct.Struct("<d").unpack_from
_unpack_float = struct.Struct("<f").unpack_from
_INT64_SIGN = 1 << 63
_UINT64 = 1 << 64
_INT32_MASK = 0xFFFFFFFF

# Tag byte = field number << 3 | wire type, for the scalar members of Value's oneof.
_TAG_BYTES = 0x0A  # bytes_val = 1, length-delimited
_TAG_STRING = 0x12  # string_val = 2, length-delimited
_TAG_INT32 = 0x18  # int32_val = 3, varint
_TAG_INT64 = 0x20  # int64_val = 4, varint
_TAG_DOUBLE = 0x29  # double_val = 5, fixed64
_TAG_FLOAT = 0x35  # float_val = 6, fixed32
_TAG_BOOL = 0x38  # bool_val = 7, varint
_TAG_UNIX_TIMESTAMP = 0x40  # unix_timestamp_val = 8, varint


def decode_with_protobuf(data: bytes | None, value_type: ValueType = ValueType.UNKNOWN) -> Any:
    """The reference decoding: protobuf, then Feast's own conversion to Python.

    A missing field (None) and a null value (an empty Value) both read as None.
    """
    if not data:
        return None
    return feast_value_type_to_python_type(ValueProto.FromString(data), value_type)


def _tail_varint(data: bytes) -> int | None:
    """The unsigned varint that fills `data` after its tag byte, or None if it does not."""
    result = 0
    shift = 0
    last = len(data) - 1
    for pos in range(1, min(last + 1, 11)):
        byte = data[pos]
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result if pos == last else None
        shift += 7
    return None


def _tail_length_delimited(data: bytes) -> bytes | None:
    """The payload of a length-delimited field that fills `data`, or None if it does not."""
    if len(data) > 1 and data[1] < 0x80:
        if data[1] + 2 == len(data):
            return data[2:]
        return None
    length, pos, shift = 0, 1, 0
    while pos < len(data) and pos < 6:
        byte = data[pos]
        length |= (byte & 0x7F) << shift
        pos += 1
        if byte < 0x80:
            return data[pos:] if pos + length == len(data) else None
        shift += 7
    return None


def _decode_double(data: bytes | None) -> Any:
    if data is not None and len(data) == 9 and data[0] == _TAG_DOUBLE:
        return _unpack_double(data, 1)[0]
    return decode_with_protobuf(data, ValueType.DOUBLE)


def _decode_float(data: bytes | None) -> Any:
    if data is not None and len(data) == 5 and data[0] == _TAG_FLOAT:
        return _unpack_float(data, 1)[0]
    return decode_with_protobuf(data, ValueType.FLOAT)


def _decode_int64(data: bytes | None) -> Any:
    if data and data[0] == _TAG_INT64:
        if len(data) == 2 and data[1] < 0x80:
            return data[1]
        value = _tail_varint(data)
        if value is not None:
            return value - _UINT64 if value >= _INT64_SIGN else value
    return decode_with_protobuf(data, ValueType.INT64)


def _decode_int32(data: bytes | None) -> Any:
    if data and data[0] == _TAG_INT32:
        value = _tail_varint(data)
        if value is not None:
            value &= _INT32_MASK  # negative int32s are sign-extended to 64 bits on the wire
            return value - (1 << 32) if value >= (1 << 31) else value
    return decode_with_protobuf(data, ValueType.INT32)


def _decode_bool(data: bytes | None) -> Any:
    if data is not None and len(data) == 2 and data[0] == _TAG_BOOL and data[1] < 0x80:
        return data[1] != 0
    return decode_with_protobuf(data, ValueType.BOOL)


def _decode_string(data: bytes | None) -> Any:
    if data and data[0] == _TAG_STRING:
        payload = _tail_length_delimited(data)
        if payload is not None:
            return payload.decode("utf-8")
    return decode_with_protobuf(data, ValueType.STRING)


def _decode_bytes(data: bytes | None) -> Any:
    if data and data[0] == _TAG_BYTES:
        payload = _tail_length_delimited(data)
        if payload is not None:
            return payload
    return decode_with_protobuf(data, ValueType.BYTES)


def _decode_unix_timestamp(data: bytes | None) -> Any:
    if data and data[0] == _TAG_UNIX_TIMESTAMP:
        value = _tail_varint(data)
        if value is not None:
            seconds = value - _UINT64 if value >= _INT64_SIGN else value
            if seconds == NULL_TIMESTAMP_INT_VALUE:
                return None
            return datetime.fromtimestamp(seconds, tz=UTC)
    return decode_with_protobuf(data, ValueType.UNIX_TIMESTAMP)


_FAST_DECODERS: dict[ValueType, Decoder] = {
    ValueType.DOUBLE: _decode_double,
    ValueType.FLOAT: _decode_float,
    ValueType.INT64: _decode_int64,
    ValueType.INT32: _decode_int32,
    ValueType.BOOL: _decode_bool,
    ValueType.STRING: _decode_string,
    ValueType.BYTES: _decode_bytes,
    ValueType.UNIX_TIMESTAMP: _decode_unix_timestamp,
}


def decoder_for(value_type: ValueType) -> Decoder:
    """A decoder specialised for a feature's declared type; anything unexpected goes to protobuf."""
    fast = _FAST_DECODERS.get(value_type)
    if fast is not None:
        return fast
    return lambda data: decode_with_protobuf(data, value_type)


def event_seconds(data: bytes) -> float:
    """A `_ts:<view>` field as seconds since the epoch."""
    parsed = Timestamp.FromString(data)
    return parsed.seconds + parsed.nanos / 1_000_000_000.0


def decode_event_timestamp(data: bytes | None) -> datetime | None:
    """A `_ts:<view>` field as Feast reads it; None when the entity has no row for the view."""
    if data is None:
        return None
    parsed = Timestamp.FromString(data)
    return datetime.fromtimestamp(parsed.seconds + parsed.nanos / 1_000_000_000.0, tz=UTC)
