"""The fast materialization path writes exactly what Feast's own materialization writes.

Two redis-servers, the same feature repo and offline data, the same clock: one store is written by
`FeatureStore.materialize` (`--writer feast`), the other by the Arrow path (`--writer fast`). Every
key, every hash field's bytes and every key's expiry must be the same, across every scalar value
type the lookup decodes (with nulls and NaN), list types, string, int32 and composite join keys, a
field mapping, created-time tie-breaks, and a second run over rows the store already holds (Feast
skips rows whose event time is not newer than the stored one).
"""

from __future__ import annotations

import os
import textwrap
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from redis.cluster import RedisCluster

import predictflow_contract as contract
from predictflow_devtools import feast_config
from predictflow_devtools.redis_cluster import RedisClusterServers, start_redis_cluster
from predictflow_devtools.redis_server import RedisServer, start_redis
from predictflow_runtime import fast_path
from predictflow_runtime.connection import holds_no_keys
from predictflow_runtime.fast_path import Slice
from predictflow_runtime.materialize import WRITER_FAST, WRITER_FEAST, online_store_client, run
from predictflow_runtime.store import open_store
from predictflow_runtime.watermark import read_watermark

pytestmark = [pytest.mark.dataplane, pytest.mark.timeout(300)]

KEY_TTL_SECONDS = 86_400
NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
BASE = datetime(2026, 2, 1, 8, 30, 15, 123456, tzinfo=UTC)

DEFINITIONS = """
from datetime import timedelta

from feast import Entity, FeatureView, Field, FileSource
from feast.types import Array, Bool, Bytes, Float32, Float64, Int32, Int64, String, UnixTimestamp
from feast.value_type import ValueType

card = Entity(name="card", join_keys=["card_id"], value_type=ValueType.STRING)
store = Entity(name="store", join_keys=["store_id"], value_type=ValueType.INT32)
sku = Entity(name="sku", join_keys=["sku"], value_type=ValueType.STRING)

typed_source = FileSource(
    name="typed_source", path="{offline}/typed.parquet", timestamp_field="event_timestamp", created_timestamp_column="created"
)
typed = FeatureView(
    name="typed",
    entities=[card],
    ttl=timedelta(days=3650),
    schema=[
        Field(name="f_double", dtype=Float64),
        Field(name="f_float", dtype=Float32),
        Field(name="f_int64", dtype=Int64),
        Field(name="f_int32", dtype=Int32),
        Field(name="f_bool", dtype=Bool),
        Field(name="f_string", dtype=String),
        Field(name="f_bytes", dtype=Bytes),
        Field(name="f_time", dtype=UnixTimestamp),
        Field(name="f_int64_list", dtype=Array(Int64)),
        Field(name="f_string_list", dtype=Array(String)),
    ],
    online=True,
    source=typed_source,
)

stock_source = FileSource(
    name="stock_source",
    path="{offline}/stock.parquet",
    timestamp_field="ts",
    field_mapping={{"units_raw": "units", "shop": "store_id"}},
)
stock = FeatureView(
    name="stock",
    entities=[store, sku],
    ttl=timedelta(days=3650),
    schema=[Field(name="units", dtype=Int64), Field(name="price", dtype=Float64)],
    online=True,
    source=stock_source,
)
"""


def _typed_rows(cards: int, shift: timedelta, bump: int, recreated: timedelta = timedelta(0)) -> pa.Table:
    """Every value type with nulls and NaN spread over the rows; two rows per card, the second newer."""
    ids, events, created, values = [], [], [], []
    for card in range(cards):
        for version in range(2):
            ids.append(f"card-{card:05d}-é")
            stamp = BASE + shift + timedelta(hours=card % 97, minutes=version * 7, microseconds=card)
            events.append(stamp)
            created.append(stamp + timedelta(seconds=1) + recreated)
            values.append((card, version))

    def nth(step: int, value: Any) -> list[Any]:
        return [None if (card + version) % step == 0 else value(card, version) for card, version in values]

    doubles = nth(5, lambda c, v: (c - 500) * 1.25 + v + bump)

    return pa.table(
        {
            "card_id": pa.array(ids),
            "event_timestamp": pa.array(events, pa.timestamp("us", tz="UTC")),
            "created": pa.array(created, pa.timestamp("us", tz="UTC")),
            "f_double": pa.array([float("nan") if (c * 7 + v) % 11 == 0 else x for (c, v), x in zip(values, doubles, strict=True)]),
            "f_float": pa.array(nth(6, lambda c, v: c / 3 + v + bump), pa.float32()),
            "f_int64": pa.array(nth(7, lambda c, v: (c - 100) * 1_000_003 + v + bump), pa.int64()),
            "f_int32": pa.array(nth(8, lambda c, v: (c - 300) * 7 + v + bump), pa.int32()),
            "f_bool": pa.array(nth(9, lambda c, v: (c + v + bump) % 2 == 0), pa.bool_()),
            "f_string": pa.array(nth(4, lambda c, v: "x" * ((c + bump) % 200) + f"ü{v}"), pa.string()),
            "f_bytes": pa.array(nth(10, lambda c, v: bytes([(c + bump) % 256]) * (c % 140)), pa.binary()),
            "f_time": pa.array(nth(12, lambda c, v: BASE - timedelta(days=c, seconds=v + bump)), pa.timestamp("us", tz="UTC")),
            "f_int64_list": pa.array(nth(13, lambda c, v: list(range(c % 5 + bump))), pa.list_(pa.int64())),
            "f_string_list": pa.array(nth(14, lambda c, v: [f"s{c}", ""][: c % 3]), pa.list_(pa.string())),
        }
    )


def _stock_rows(shops: int, shift: timedelta, bump: int) -> pa.Table:
    """Naive timestamps (read as UTC), source names mapped by the view, int32 and string keys."""
    shop, skus, ts, units, price = [], [], [], [], []
    for store_id in range(-shops // 2, shops // 2):
        for item in ("a", "b", "ccc"):
            shop.append(store_id)
            skus.append(f"sku-{item}")
            ts.append((BASE + shift + timedelta(seconds=abs(store_id))).replace(tzinfo=None))
            units.append(store_id * 3 + len(item) + bump)
            price.append(store_id / 8 + bump)
    return pa.table(
        {
            "shop": pa.array(shop, pa.int32()),
            "sku": pa.array(skus),
            "ts": pa.array(ts, pa.timestamp("ns")),
            "units_raw": pa.array(units, pa.int64()),
            "price": pa.array(price, pa.float64()),
        }
    )


def _write_offline(offline: Path, name: str, table: pa.Table, *, append: bool = False) -> None:
    path = offline / f"{name}.parquet"
    if append:
        table = pa.concat_tables([pq.read_table(path), table.cast(pq.read_schema(path))])
    pq.write_table(table, path)


def _keyspace(server: RedisServer) -> dict[bytes, tuple[dict[bytes, bytes], bool]]:
    """Every key: its hash fields (or string value) and whether it expires."""
    client = server.client()
    dump: dict[bytes, tuple[dict[bytes, bytes], bool]] = {}
    for key in client.scan_iter(count=5000):
        kind = client.type(key)
        if kind == b"hash":
            value = client.hgetall(key)
        elif kind == b"set":
            value = {member: b"" for member in client.smembers(key)}
        else:
            value = {b"": client.get(key)}
        dump[key] = (value, client.ttl(key) > 0)
    return dump


def _repo(directory: Path) -> tuple[Path, Path]:
    """An empty offline folder and a feature repo whose sources read from it."""
    offline, repo = directory / "offline", directory / "repo"
    offline.mkdir()
    repo.mkdir()
    (repo / "definitions.py").write_text(textwrap.dedent(DEFINITIONS.format(offline=offline)))
    return offline, repo


@pytest.fixture
def stores(tmp_path, monkeypatch):
    """A repo, its offline data, and one redis-server per writer."""
    project = f"fast_{uuid.uuid4().hex[:8]}"
    offline, repo = _repo(tmp_path)
    servers = {writer: start_redis(tmp_path / f"redis-{writer}", password=uuid.uuid4().hex) for writer in (WRITER_FEAST, WRITER_FAST)}
    opened = {}
    for writer, server in servers.items():
        config = tmp_path / f"{writer}.yaml"
        config.write_text(feast_config.feature_store_yaml(project, server, KEY_TTL_SECONDS))
        monkeypatch.setenv(contract.REDIS_PASSWORD_ENV, server.password or "")
        if server.username:
            monkeypatch.setenv(contract.REDIS_USERNAME_ENV, server.username)
        opened[writer] = (open_store(config, repo, work_dir=tmp_path / f"work-{writer}"), server)
    yield offline, opened
    for server in servers.values():
        server.stop()


def _materialize_both(opened: dict[str, Any], now: datetime, *, full: bool) -> dict[str, dict[str, int]]:
    rows = {}
    for writer, (store, server) in opened.items():
        os.environ[contract.REDIS_PASSWORD_ENV] = server.password or ""  # each store expands its own password
        report = run(store, server.client(), full=full, clock=lambda: now, writer=writer)
        assert report.succeeded, (writer, report.failures)
        rows[writer] = {result.feature_view: result.rows for result in report.results}
    return rows


def _assert_same_keyspace(opened: dict[str, Any]) -> int:
    feast_keys, fast_keys = (_keyspace(opened[writer][1]) for writer in (WRITER_FEAST, WRITER_FAST))
    assert fast_keys.keys() == feast_keys.keys(), f"{len(fast_keys.keys() ^ feast_keys.keys())} keys differ"
    different = [key for key in feast_keys if feast_keys[key] != fast_keys[key]]
    assert not different, f"{len(different)} keys differ, e.g. {different[0]!r}: feast {feast_keys[different[0]]!r}, fast {fast_keys[different[0]]!r}"
    return len(feast_keys)


def test_fast_path_writes_the_bytes_feast_writes(stores):
    offline, opened = stores
    _write_offline(offline, "typed", _typed_rows(700, timedelta(0), 0))
    _write_offline(offline, "stock", _stock_rows(120, timedelta(0), 0))

    rows = _materialize_both(opened, NOW, full=False)
    assert rows[WRITER_FAST] == rows[WRITER_FEAST] == {"typed": 700, "stock": 360}
    keys = _assert_same_keyspace(opened)
    assert keys == 700 + 360 + 3  # entities, two watermarks and the set naming them

    # Every card again at the same event times, created later with other values (so the offline
    # read picks them), half of them also at later event times; later rows for every stock entity.
    # A full run over the filled store writes the newer rows and, as Feast does, skips those whose
    # event time is not newer than the stored one.
    _write_offline(offline, "typed", _typed_rows(700, timedelta(0), 2, recreated=timedelta(minutes=1)), append=True)
    _write_offline(offline, "typed", _typed_rows(350, timedelta(days=1), 1), append=True)
    _write_offline(offline, "stock", _stock_rows(120, timedelta(days=1), 1), append=True)
    rows = _materialize_both(opened, NOW + timedelta(hours=1), full=True)
    assert rows[WRITER_FAST] == rows[WRITER_FEAST]
    _assert_same_keyspace(opened)
    fast_store, fast_server = opened[WRITER_FAST]
    later = fast_store.get_online_features(features=["typed:f_int32"], entity_rows=[{"card_id": "card-00001-é"}, {"card_id": "card-00600-é"}])
    assert later.to_dict()["f_int32"] == [(1 - 300) * 7 + 1 + 1, (600 - 300) * 7 + 1 + 0], "newer rows win, equal event times keep the stored value"


def test_slices_and_passes_write_the_whole_together(stores, monkeypatch):
    """Three slices (as the pods of an Indexed Job write them), each read in several passes, leave
    the store as one Feast run does, and their row counts add up to it."""
    offline, opened = stores
    _write_offline(offline, "typed", _typed_rows(700, timedelta(0), 0))
    _write_offline(offline, "stock", _stock_rows(120, timedelta(0), 0))
    monkeypatch.setattr(fast_path, "ROWS_PER_PASS", 150)  # 1,400 typed rows / 3 slices: 4 passes each

    feast_store, feast_server = opened[WRITER_FEAST]
    os.environ[contract.REDIS_PASSWORD_ENV] = feast_server.password or ""
    whole = run(feast_store, feast_server.client(), full=True, clock=lambda: NOW, writer=WRITER_FEAST)
    fast_store, fast_server = opened[WRITER_FAST]
    os.environ[contract.REDIS_PASSWORD_ENV] = fast_server.password or ""
    sliced = [run(fast_store, fast_server.client(), full=True, clock=lambda: NOW, part=Slice(index, 3)) for index in range(3)]

    assert all(report.succeeded for report in [whole, *sliced])
    for view in ("typed", "stock"):
        per_slice = [next(r.rows for r in report.results if r.feature_view == view) for report in sliced]
        assert all(rows > 0 for rows in per_slice), per_slice
        assert sum(per_slice) == next(r.rows for r in whole.results if r.feature_view == view)
    _assert_same_keyspace(opened)


def _cluster_keyspace(cluster: RedisClusterServers) -> dict[bytes, tuple[dict[bytes, bytes], bool]]:
    dump: dict[bytes, tuple[dict[bytes, bytes], bool]] = {}
    for node in cluster.primaries():
        dump.update(_keyspace(node))
    return dump


def test_into_a_redis_cluster_each_shard_gets_its_keys_as_feast_writes_them(tmp_path, monkeypatch):
    """Feast's own materialization into one 3-shard Redis Cluster, the fast path (one pipeline per
    shard, all at once) into another: every key on its slot's shard, byte for byte the same."""
    project = f"fast_{uuid.uuid4().hex[:8]}"
    offline, repo = _repo(tmp_path)
    _write_offline(offline, "typed", _typed_rows(700, timedelta(0), 0))
    _write_offline(offline, "stock", _stock_rows(120, timedelta(0), 0))
    password = uuid.uuid4().hex
    monkeypatch.setenv(contract.REDIS_PASSWORD_ENV, password)
    clusters = {writer: start_redis_cluster(tmp_path / f"cluster-{writer}", shards=3, password=password) for writer in (WRITER_FEAST, WRITER_FAST)}
    try:
        for writer, cluster in clusters.items():
            config = contract.feature_store_config(project, ",".join([*cluster.endpoints, "password=${REDIS_PASSWORD}"]), KEY_TTL_SECONDS, cluster=True)
            path = tmp_path / f"{writer}.yaml"
            path.write_text(yaml.safe_dump(config))
            store = open_store(path, repo, work_dir=tmp_path / f"work-{writer}")
            client = online_store_client(store)
            assert isinstance(client, RedisCluster)
            report = run(store, client, clock=lambda: NOW, writer=writer)
            assert report.succeeded, (writer, report.failures)
            assert {result.feature_view: result.rows for result in report.results} == {"typed": 700, "stock": 360}
            assert read_watermark(client, project, "typed") == NOW
        feast_keys, fast_keys = (_cluster_keyspace(clusters[writer]) for writer in (WRITER_FEAST, WRITER_FAST))
        assert len(fast_keys) == 700 + 360 + 3
        assert fast_keys == feast_keys
        for node in clusters[WRITER_FAST].primaries():
            held = node.client().dbsize()
            assert 0 < held < len(fast_keys), f"{node.endpoint} holds {held} keys: the rows were not spread over the shards"
    finally:
        for cluster in clusters.values():
            cluster.stop()


def test_a_cluster_is_empty_only_when_every_shard_is(tmp_path):
    """The fast path skips reading stored event times only in a store that holds nothing."""
    cluster = start_redis_cluster(tmp_path / "cluster", shards=3)
    try:
        client = cluster.client()
        assert holds_no_keys(client)
        for primary in cluster.primaries():
            node = primary.client()
            key = next(f"k{i}" for i in range(10_000) if client.keyslot(f"k{i}") in _owned_slots(node))
            node.set(key, 1)
            assert not holds_no_keys(client), f"a key on {primary.endpoint} alone was not seen"
            node.delete(key)
    finally:
        cluster.stop()


def _owned_slots(node: Any) -> set[int]:
    me = node.cluster("myid")
    me = me.decode() if isinstance(me, bytes) else me
    owned = set()
    for start, end, *holders in node.cluster("slots"):
        primary_id = holders[0][2]
        primary_id = primary_id.decode() if isinstance(primary_id, bytes) else primary_id
        if primary_id == me:
            owned.update(range(start, end + 1))
    return owned
