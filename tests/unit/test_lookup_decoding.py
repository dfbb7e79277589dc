"""The fast decoders and the key layout agree with Feast's own code, value by value."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import pytest
from feast import Entity, FeatureView, Field
from feast.infra.online_stores.helpers import _mmh3, _redis_key
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.type_map import feast_value_type_to_python_type, python_values_to_proto_values
from feast.types import Float64, Int64, String
from feast.value_type import ValueType
from google.protobuf.timestamp_pb2 import Timestamp

from predictflow_serving.plan import build_plan
from predictflow_serving.wire import decode_event_timestamp, decoder_for
from predictflow_devtools.values import same

pytestmark = pytest.mark.unit

NOW = datetime(2025, 12, 14, 8, 30, 15, 123456, tzinfo=timezone.utc)

SAMPLES: dict[ValueType, list] = {
    ValueType.INT64: [0, 1, 127, 128, 300, -1, -300, 2**31, 2**62, 2**63 - 1, -(2**63)],
    ValueType.INT32: [0, 1, 127, 128, -1, -129, 2**31 - 1, -(2**31)],
    ValueType.DOUBLE: [0.0, -0.0, 1.5, -83.88, 1e300, 5e-324, math.inf, -math.inf, math.nan],
    ValueType.FLOAT: [0.0, 1.1, -2.5, 3.4e38, math.inf, math.nan],
    ValueType.BOOL: [True, False],
    ValueType.STRING: ["", "a", "one-year", "é" * 100, "x" * 200, "z" * 20000],
    ValueType.BYTES: [b"", b"\x00", b"\xff" * 127, b"\x01" * 128, b"\x02" * 70000],
    ValueType.UNIX_TIMESTAMP: [NOW, datetime(1969, 7, 20, tzinfo=timezone.utc), datetime(1970, 1, 1, tzinfo=timezone.utc)],
    ValueType.INT64_LIST: [[], [1, -2, 2**40]],
    ValueType.INT32_LIST: [[7, -7]],
    ValueType.DOUBLE_LIST: [[0.5, -1.25, math.inf]],
    ValueType.FLOAT_LIST: [[0.1, 0.2]],
    ValueType.STRING_LIST: [["a", "", "é"]],
    ValueType.BOOL_LIST: [[True, False, True]],
    ValueType.BYTES_LIST: [[b"a", b""]],
    ValueType.UNIX_TIMESTAMP_LIST: [[NOW, NOW - timedelta(days=1)]],
}


def feast_reads(data: bytes | None, value_type: ValueType):
    """What Feast's Redis reader and OnlineResponse.to_dict make of the stored bytes."""
    proto = ValueProto()
    if data:
        proto.ParseFromString(data)
    return feast_value_type_to_python_type(proto, value_type)


@pytest.mark.parametrize("value_type", list(SAMPLES), ids=lambda t: t.name)
def test_decoders_match_feast_for_every_value(value_type):
    decode = decoder_for(value_type)
    for proto in python_values_to_proto_values(SAMPLES[value_type], value_type):
        data = proto.SerializeToString()
        expected = feast_reads(data, value_type)
        assert same(decode(data), expected), (value_type, data[:20], expected)


@pytest.mark.parametrize("value_type", list(SAMPLES), ids=lambda t: t.name)
def test_missing_and_null_values_read_as_none(value_type):
    decode = decoder_for(value_type)
    assert decode(None) is None
    assert decode(b"") is None
    assert feast_reads(b"", value_type) is None


def test_values_of_another_type_than_declared_fall_back_to_protobuf():
    mismatches = [
        (ValueType.DOUBLE, ValueProto(int64_val=5)),
        (ValueType.INT64, ValueProto(double_val=2.5)),
        (ValueType.STRING, ValueProto(bytes_val=b"raw")),
        (ValueType.FLOAT, ValueProto(string_val="x")),
        (ValueType.BOOL, ValueProto(int32_val=1)),
        (ValueType.INT64, ValueProto(null_val=0)),
    ]
    for declared, proto in mismatches:
        data = proto.SerializeToString()
        assert same(decoder_for(declared)(data), feast_reads(data, declared)), (declared, proto)


def test_concatenated_values_follow_protobuf_last_field_wins():
    data = ValueProto(double_val=1.0).SerializeToString() + ValueProto(double_val=2.0).SerializeToString()
    assert decoder_for(ValueType.DOUBLE)(data) == feast_reads(data, ValueType.DOUBLE) == 2.0


def test_event_timestamps_match_feast():
    for moment in (NOW, datetime(2025, 12, 1, tzinfo=timezone.utc), datetime(1970, 1, 1, tzinfo=timezone.utc)):
        stamp = Timestamp()
        stamp.FromDatetime(moment)
        data = stamp.SerializeToString()
        # Feast: seconds + nanos / 1e9, as an aware UTC datetime
        expected = datetime.fromtimestamp(stamp.seconds + stamp.nanos / 1e9, tz=timezone.utc)
        assert decode_event_timestamp(data) == expected
    assert decode_event_timestamp(None) is None


def _view(name, entities, fields, **kwargs):
    return FeatureView(name=name, entities=entities, schema=fields, online=True, **kwargs)


def test_keys_and_fields_match_feasts_redis_layout():
    customer = Entity(name="customer", join_keys=["customer_id"], value_type=ValueType.INT64)
    shop = Entity(name="shop", join_keys=["shop_code"], value_type=ValueType.STRING)
    region = Entity(name="region", join_keys=["region_id"], value_type=ValueType.INT32)
    blob = Entity(name="blob", join_keys=["blob_key"], value_type=ValueType.BYTES)
    views = [
        _view("by_customer", [customer], [Field(name="spend", dtype=Float64), Field(name="plan", dtype=String)]),
        _view("by_customer_too", [customer], [Field(name="visits", dtype=Int64)]),
        _view("by_shop_region", [shop, region], [Field(name="stock", dtype=Int64)]),
        _view("by_blob", [blob], [Field(name="size", dtype=Int64)]),
    ]
    types = {"customer_id": ValueType.INT64, "shop_code": ValueType.STRING, "region_id": ValueType.INT32,
             "blob_key": ValueType.BYTES}
    plan = build_plan(
        "proj",
        views,
        [customer, shop, region, blob],
        ["by_customer:plan", "by_customer:spend", "by_customer_too:visits", "by_shop_region:stock", "by_blob:size"],
    )
    row = {"customer_id": -42, "shop_code": "zürich", "region_id": 7, "blob_key": b"\x00k"}
    commands = plan.commands([row])
    assert len(commands) == 3  # one hash per distinct set of join keys

    def feast_key(keys_values):
        keys = [k for k, _ in keys_values]
        values = [python_values_to_proto_values([v], types[k])[0] for k, v in keys_values]
        return _redis_key("proj", EntityKeyProto(join_keys=keys, entity_values=values), 3)

    expected = {
        feast_key([("customer_id", -42)]): [
            _mmh3("by_customer:plan"), _mmh3("by_customer:spend"), _mmh3("by_customer_too:visits"),
            b"_ts:by_customer", b"_ts:by_customer_too",
        ],
        # Feast sorts join keys by name inside the serialized key.
        feast_key([("shop_code", "zürich"), ("region_id", 7)]): [_mmh3("by_shop_region:stock"), b"_ts:by_shop_region"],
        feast_key([("blob_key", b"\x00k")]): [_mmh3("by_blob:size"), b"_ts:by_blob"],
    }
    assert {key: list(fields) for key, fields in commands} == expected


def test_decode_lays_replies_out_as_named_features():
    customer = Entity(name="customer", join_keys=["customer_id"], value_type=ValueType.INT64)
    view = _view("v", [customer], [Field(name="a", dtype=Float64), Field(name="b", dtype=String)])
    plan = build_plan("p", [view], [customer], ["v:b", "v:a"])
    stamp = Timestamp(seconds=1_765_000_000)
    replies = [
        [ValueProto(string_val="x").SerializeToString(), ValueProto(double_val=2.5).SerializeToString(),
         stamp.SerializeToString()],
        [None, None, None],
    ]
    found, missing = plan.decode(replies)
    assert found.features == {"b": "x", "a": 2.5} and found.found
    assert found.event_timestamps == {"v": datetime.fromtimestamp(1_765_000_000, tz=timezone.utc)}
    assert missing.features == {"b": None, "a": None} and not missing.found
    assert missing.event_timestamps == {"v": None}


def test_full_feature_names_and_collisions():
    customer = Entity(name="customer", join_keys=["customer_id"], value_type=ValueType.INT64)
    one = _view("one", [customer], [Field(name="x", dtype=Int64)])
    two = _view("two", [customer], [Field(name="x", dtype=Int64)])
    with pytest.raises(ValueError, match="collide"):
        build_plan("p", [one, two], [customer], ["one:x", "two:x"])
    plan = build_plan("p", [one, two], [customer], ["one:x", "two:x"], full_feature_names=True)
    assert plan.output_names == ("one__x", "two__x")


@pytest.mark.parametrize(
    "reference, message",
    [("nope:x", "not in project"), ("one:nope", "not in feature view"), ("one", "is not"), ("one@v2:x", "versioned")],
)
def test_bad_references_are_rejected_up_front(reference, message):
    customer = Entity(name="customer", join_keys=["customer_id"], value_type=ValueType.INT64)
    one = _view("one", [customer], [Field(name="x", dtype=Int64)])
    with pytest.raises(ValueError, match=message):
        build_plan("p", [one], [customer], [reference])


def test_common_scalars_never_reach_protobuf(monkeypatch):
    import predictflow_serving.wire as wire

    def refuse(*_):
        raise AssertionError("decoded with protobuf")

    monkeypatch.setattr(wire, "decode_with_protobuf", refuse)
    scalars = [t for t in SAMPLES if not t.name.endswith("_LIST")]
    for value_type in scalars:
        decode = wire.decoder_for(value_type)
        for proto in python_values_to_proto_values(SAMPLES[value_type], value_type):
            data = proto.SerializeToString()
            if data:  # b"" is a null (Feast writes NaN and b"" that way); it needs no decoding
                decode(data)


def test_a_value_older_than_its_views_ttl_reads_as_missing_unless_read_as_feast_does():
    customer = Entity(name="customer", join_keys=["customer_id"], value_type=ValueType.INT64)
    short = _view("short", [customer], [Field(name="a", dtype=Float64)], ttl=timedelta(hours=1))
    forever = _view("forever", [customer], [Field(name="b", dtype=Float64)], ttl=timedelta(0))
    references = ["short:a", "forever:b"]
    now = 1_765_000_000.0

    def reply(written_at):
        stamp = Timestamp(seconds=int(written_at)).SerializeToString()
        return [ValueProto(double_val=1.5).SerializeToString(), ValueProto(double_val=2.5).SerializeToString(), stamp, stamp]

    plan = build_plan("p", [short, forever], [customer], references)
    fresh, expired = plan.decode([reply(now - 3599), reply(now - 3601)], now=now)
    assert fresh.features == {"a": 1.5, "b": 2.5} and fresh.event_timestamps["short"] is not None
    # Feast's OUTSIDE_MAX_AGE: the short view's value and event time are gone; the view without a ttl stays
    assert expired.features == {"a": None, "b": 2.5}
    assert expired.event_timestamps["short"] is None and expired.event_timestamps["forever"] is not None and expired.found

    as_feast = build_plan("p", [short, forever], [customer], references, respect_ttl=False)
    [kept] = as_feast.decode([reply(now - 10 * 3600)], now=now)
    assert kept.features == {"a": 1.5, "b": 2.5}

    only_short = build_plan("p", [short], [customer], ["short:a"])
    [gone] = only_short.decode([[ValueProto(double_val=1.5).SerializeToString(), Timestamp(seconds=int(now - 7200)).SerializeToString()]], now=now)
    assert gone.features == {"a": None} and not gone.found, "an entity whose every view expired is not found"
