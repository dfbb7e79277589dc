"""The fast lookup returns exactly what Feast's get_online_features returns, on a real Redis.

Feast writes (write_to_online_store, with Feast's own key layout and TTLs); both readers read
the same store, and every value, type and event timestamp must match.
"""

from __future__ import annotations

import asyncio
import socket
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest
import redis
from feast import Entity, FeatureStore, FeatureView, Field, FileSource, RepoConfig
from feast.types import Array, Bool, Bytes, Float32, Float64, Int32, Int64, String, UnixTimestamp
from feast.value_type import ValueType

from predictflow_serving.lookup import AsyncFeatureLookup
from predictflow_serving.plan import plan_for_store
from predictflow_serving.store_client import Timeouts, async_client, ping_fresh
from predictflow_devtools.blocking_lookup import BlockingLookup
from predictflow_devtools.redis_cluster import start_redis_cluster
from predictflow_devtools.values import same

pytestmark = pytest.mark.dataplane

NOW = datetime.now(timezone.utc).replace(microsecond=0)

customer = Entity(name="customer", join_keys=["customer_id"], value_type=ValueType.INT64)
shop = Entity(name="shop", join_keys=["shop_code"], value_type=ValueType.STRING)
region = Entity(name="region", join_keys=["region_id"], value_type=ValueType.INT32)
source = FileSource(name="unused_source", path="/nonexistent/data.parquet", timestamp_field="event_timestamp")

SCALARS = [
    Field(name="i32", dtype=Int32),
    Field(name="i64", dtype=Int64),
    Field(name="f32", dtype=Float32),
    Field(name="f64", dtype=Float64),
    Field(name="text", dtype=String),
    Field(name="flag", dtype=Bool),
    Field(name="raw", dtype=Bytes),
    Field(name="seen_at", dtype=UnixTimestamp),
]
LISTS = [
    Field(name="i32s", dtype=Array(Int32)),
    Field(name="i64s", dtype=Array(Int64)),
    Field(name="f32s", dtype=Array(Float32)),
    Field(name="f64s", dtype=Array(Float64)),
    Field(name="texts", dtype=Array(String)),
    Field(name="flags", dtype=Array(Bool)),
    Field(name="raws", dtype=Array(Bytes)),
    Field(name="moments", dtype=Array(UnixTimestamp)),
]


def _view(name, entities, schema, ttl=timedelta(days=30)):
    return FeatureView(name=name, entities=entities, schema=schema, source=source, ttl=ttl, online=True)


scalars_view = _view("scalars", [customer], SCALARS)
lists_view = _view("lists", [customer], LISTS)
shops_view = _view("shops", [shop], [Field(name="stock", dtype=Int64), Field(name="shop_name", dtype=String)])
prices_view = _view("prices", [shop, region], [Field(name="price", dtype=Float64)])

SCALAR_REFS = [f"scalars:{f.name}" for f in SCALARS]
LIST_REFS = [f"lists:{f.name}" for f in LISTS]
ALL_REFS = SCALAR_REFS + LIST_REFS + ["shops:stock", "shops:shop_name", "prices:price"]


def feast_store(directory: Path, project: str, connection_string: str, key_ttl_seconds: int = 0, redis_type: str = "redis") -> FeatureStore:
    online = {"type": "redis", "connection_string": connection_string, "redis_type": redis_type}
    if key_ttl_seconds:
        online["key_ttl_seconds"] = key_ttl_seconds
    config = RepoConfig(
        project=project,
        provider="local",
        registry=str(directory / f"{project}.db"),
        online_store=online,
        offline_store={"type": "file"},
        entity_key_serialization_version=3,
        repo_path=str(directory),
    )
    return FeatureStore(config=config)


def scalar_rows(ids, when=NOW) -> pd.DataFrame:
    n = len(ids)
    return pd.DataFrame(
        {
            "customer_id": ids,
            "event_timestamp": [when - timedelta(minutes=i, microseconds=7) for i in range(n)],
            "i32": [(-1) ** i * (2**31 - 1 - i) for i in range(n)],
            "i64": [(-1) ** i * 2**40 + i for i in range(n)],
            "f32": [0.1 * i for i in range(n)],
            "f64": [None if i == 2 else -83.88 * i for i in range(n)],
            "text": [None if i == 3 else f"customer-{i}-é" * (i + 1) for i in range(n)],
            "flag": [i % 2 == 0 for i in range(n)],
            "raw": [bytes([i % 256]) * (i * 50 + 1) for i in range(n)],
            "seen_at": [when - timedelta(days=i) for i in range(n)],
        }
    )


def list_rows(ids, when=NOW) -> pd.DataFrame:
    n = len(ids)
    return pd.DataFrame(
        {
            "customer_id": ids,
            "event_timestamp": [when] * n,
            "i32s": [[i, -i, 7] for i in range(n)],
            "i64s": [[2**40, -i] for i in range(n)],
            "f32s": [[0.5, 0.25 * i] for i in range(n)],
            "f64s": [[1.0 / (i + 1), -2.0] for i in range(n)],
            "texts": [["a", "", f"t{i}"] for i in range(n)],
            "flags": [[True, i % 2 == 1] for i in range(n)],
            "raws": [[b"x", bytes([i])] for i in range(n)],
            "moments": [[when, when - timedelta(hours=i)] for i in range(n)],
        }
    )


CUSTOMERS = [1001, 1002, 1003, 1004, 1005, 1006]
MISSING_CUSTOMERS = [9, 999_999_999]
SHOPS = ["zürich-1", "bern", ""]


def populate(store: FeatureStore) -> None:
    store.apply([customer, shop, region, source, scalars_view, lists_view, shops_view, prices_view])
    store.write_to_online_store("scalars", scalar_rows(CUSTOMERS))
    store.write_to_online_store("lists", list_rows(CUSTOMERS[:4]))  # 1005, 1006 have no lists row
    store.write_to_online_store(
        "shops",
        pd.DataFrame({"shop_code": SHOPS, "event_timestamp": [NOW] * 3, "stock": [5, 0, -1],
                      "shop_name": ["Zürich", "Bern", None]}),
    )
    store.write_to_online_store(
        "prices",
        pd.DataFrame({"shop_code": ["bern", "bern"], "region_id": [1, 2], "event_timestamp": [NOW] * 2,
                      "price": [9.5, 11.0]}),
    )


def assert_same_as_feast(store, rows, references, ours, full_feature_names=False) -> dict:
    """Compare every value (with its type) and every event timestamp; returns Feast's answer."""
    theirs = store.get_online_features(references, rows, full_feature_names=full_feature_names).to_dict(
        include_event_timestamps=True
    )
    assert len(ours) == len(rows)
    for reference in references:
        view, feature = reference.split(":")
        name = f"{view}__{feature}" if full_feature_names else feature
        for i, row in enumerate(ours):
            assert same(row.features[name], theirs[name][i]), (name, rows[i], row.features[name], theirs[name][i])
            moment = row.event_timestamps[view]
            # Feast reports an absent row's event time as the epoch (0).
            assert (int(moment.timestamp()) if moment else 0) == theirs[f"{name}__ts"][i], (name, rows[i])
    return theirs


@pytest.fixture(scope="module")
def stores(redis_server, tmp_path_factory):
    directory = tmp_path_factory.mktemp("feast-lookup")
    store = feast_store(directory, "lookup_types", redis_server.feast_connection_string())
    populate(store)
    return store


@pytest.fixture
def lookup_for(redis_server):
    """Opens the service's async lookup on the test Redis; closed after the test."""
    opened = []

    def open_lookup(plan):
        opened.append(BlockingLookup(plan, redis_server.feast_connection_string()))
        return opened[-1]

    yield open_lookup
    for lookup in opened:
        lookup.close()


def customer_rows(ids):
    return [{"customer_id": i} for i in ids]


def test_scalars_match_feast(stores, lookup_for):
    rows = customer_rows(CUSTOMERS + MISSING_CUSTOMERS)
    ours = lookup_for(plan_for_store(stores, SCALAR_REFS)).get_many(rows)
    theirs = assert_same_as_feast(stores, rows, SCALAR_REFS, ours)
    # The comparison covered real values, nulls and absent entities.
    assert theirs["i64"][:2] == [2**40, -(2**40) + 1] and theirs["raw"][1] == b"\x01" * 51
    assert theirs["f64"][2] is None and theirs["text"][3] is None
    assert [row.found for row in ours] == [True] * 6 + [False] * 2


def test_lists_match_feast(stores, lookup_for):
    rows = customer_rows(CUSTOMERS + MISSING_CUSTOMERS)
    ours = lookup_for(plan_for_store(stores, LIST_REFS)).get_many(rows)
    theirs = assert_same_as_feast(stores, rows, LIST_REFS, ours)
    assert theirs["texts"][2] == ["a", "", "t2"]
    assert [row.found for row in ours] == [True] * 4 + [False] * 4


def test_views_with_other_and_composite_keys_match_feast(stores, lookup_for):
    references = ["scalars:i64", "shops:stock", "shops:shop_name", "prices:price"]
    rows = [
        {"customer_id": 1001, "shop_code": "bern", "region_id": 2},
        {"customer_id": 1002, "shop_code": "zürich-1", "region_id": 1},
        {"customer_id": 5, "shop_code": "", "region_id": 1},
        {"customer_id": 1003, "shop_code": "nowhere", "region_id": 3},
    ]
    lookup = lookup_for(plan_for_store(stores, references))
    assert len(lookup.plan.groups) == 3
    ours = lookup.get_many(rows)
    theirs = assert_same_as_feast(stores, rows, references, ours)
    assert theirs["price"][0] == 11.0 and theirs["stock"][2] == -1


def test_full_feature_names_match_feast(stores, lookup_for):
    references = ["scalars:text", "lists:texts", "shops:shop_name"]
    rows = [{"customer_id": 1001, "shop_code": "bern"}, {"customer_id": 1006, "shop_code": "x"}]
    ours = lookup_for(plan_for_store(stores, references, full_feature_names=True)).get_many(rows)
    assert_same_as_feast(stores, rows, references, ours, full_feature_names=True)


def test_single_lookup_and_duplicate_rows(stores, lookup_for):
    lookup = lookup_for(plan_for_store(stores, SCALAR_REFS))
    single = lookup.get({"customer_id": 1004})
    assert_same_as_feast(stores, [{"customer_id": 1004}], SCALAR_REFS, [single])
    rows = customer_rows([1002, 1002, 9, 1002])
    assert_same_as_feast(stores, rows, SCALAR_REFS, lookup.get_many(rows))
    assert lookup.get_many([]) == []


def test_features_added_after_writing_read_as_missing(redis_server, tmp_path):
    store = feast_store(tmp_path, "lookup_evolve", redis_server.feast_connection_string())
    store.apply([customer, source, _view("evolving", [customer], [Field(name="old", dtype=Int64)])])
    store.write_to_online_store(
        "evolving", pd.DataFrame({"customer_id": [1, 2], "event_timestamp": [NOW] * 2, "old": [10, 20]})
    )
    # The view gains a feature that nothing has written yet.
    store.apply([_view("evolving", [customer], [Field(name="old", dtype=Int64), Field(name="new", dtype=Float64)])])
    references = ["evolving:old", "evolving:new"]
    rows = customer_rows([1, 2, 3])
    with BlockingLookup(plan_for_store(store, references), redis_server.feast_connection_string()) as lookup:
        ours = lookup.get_many(rows)
    theirs = assert_same_as_feast(store, rows, references, ours)
    assert theirs["old"] == [10, 20, None] and theirs["new"] == [None, None, None]


def test_values_older_than_the_views_ttl_read_missing_by_default_and_as_feast_when_asked(redis_server, tmp_path):
    """Feast's online read returns a value older than its view's ttl as present (feast-dev/feast#6821);
    ours reads it as missing unless asked to read as Feast does, and then equals Feast."""
    store = feast_store(tmp_path, "lookup_view_ttl", redis_server.feast_connection_string())
    store.apply([customer, source, _view("hourly", [customer], [Field(name="score", dtype=Float64)], ttl=timedelta(hours=1))])
    written = pd.DataFrame({"customer_id": [1, 2], "event_timestamp": [NOW - timedelta(minutes=30), NOW - timedelta(hours=5)], "score": [0.25, 0.75]})
    store.write_to_online_store("hourly", written)
    references, rows = ["hourly:score"], customer_rows([1, 2, 3])

    with BlockingLookup(plan_for_store(store, references, respect_ttl=False), redis_server.feast_connection_string()) as lookup:
        as_feast = lookup.get_many(rows)
    theirs = assert_same_as_feast(store, rows, references, as_feast)
    assert theirs["score"] == [0.25, 0.75, None], "Feast returns the five-hour-old value of a one-hour view"

    with BlockingLookup(plan_for_store(store, references), redis_server.feast_connection_string()) as lookup:
        ours = lookup.get_many(rows)
    assert [row.features["score"] for row in ours] == [0.25, None, None]
    assert [row.found for row in ours] == [True, False, False]
    assert ours[0].event_timestamps == as_feast[0].event_timestamps and ours[1].event_timestamps == {"hourly": None}


def test_key_ttl_expiry_matches_feast(redis_server, tmp_path):
    store = feast_store(tmp_path, "lookup_ttl", redis_server.feast_connection_string(), key_ttl_seconds=2)
    view = _view("expiring", [customer], [Field(name="score", dtype=Float64)])
    store.apply([customer, source, view])
    references = ["expiring:score"]
    rows = customer_rows([1, 2])
    frame = pd.DataFrame({"customer_id": [1, 2], "event_timestamp": [NOW] * 2, "score": [0.5, 0.25]})
    raw = redis_server.client()
    with BlockingLookup(plan_for_store(store, references), redis_server.feast_connection_string()) as lookup:
        keys = [key for key, _ in lookup.plan.commands(rows)]

        for _ in range(5):  # the read must happen before the 2 s TTL runs out
            store.write_to_online_store("expiring", frame)
            assert all(0 < raw.pttl(key) <= 2000 for key in keys)  # Feast set the EXPIRE
            before = lookup.get_many(rows)
            theirs_before = store.get_online_features(references, rows).to_dict()
            if raw.exists(*keys) == len(keys):
                break
        assert [row.features["score"] for row in before] == theirs_before["score"] == [0.5, 0.25]

        deadline = time.monotonic() + 30
        while raw.exists(*keys) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not raw.exists(*keys), "Redis did not expire the keys"
        after = lookup.get_many(rows)
    theirs = assert_same_as_feast(store, rows, references, after)
    assert theirs["score"] == [None, None] and not any(row.found for row in after)


def test_scalars_and_lists_in_one_request_match_feast(stores, lookup_for):
    rows = customer_rows(CUSTOMERS + MISSING_CUSTOMERS)
    references = SCALAR_REFS + LIST_REFS
    lookup = lookup_for(plan_for_store(stores, references))
    assert_same_as_feast(stores, rows, references, lookup.get_many(rows))
    assert_same_as_feast(stores, rows[:1], references, [lookup.get(rows[0])])


def test_tls_and_password_match_feast(redis_tls_server, tmp_path):
    connection_string = f"{redis_tls_server.feast_connection_string()},ssl_ca_certs={redis_tls_server.ca_cert}"
    assert "ssl=true" in connection_string and "password=" in connection_string
    store = feast_store(tmp_path, "lookup_tls", connection_string)
    populate(store)
    rows = customer_rows(CUSTOMERS + MISSING_CUSTOMERS)
    with BlockingLookup(plan_for_store(store, SCALAR_REFS), connection_string) as lookup:
        ours = lookup.get_many(rows)
    assert_same_as_feast(store, rows, SCALAR_REFS, ours)
    assert sum(row.found for row in ours) == len(CUSTOMERS)

    without_password = connection_string.replace(f"password={redis_tls_server.password}", "password=wrong")
    with BlockingLookup(plan_for_store(store, SCALAR_REFS), without_password) as lookup:
        with pytest.raises(redis.AuthenticationError):
            lookup.get_many(rows)


def test_lookup_recovers_after_redis_restarts(redis_server, stores, lookup_for):
    """A pooled connection broken by a restart costs no failed request once Redis is back."""
    lookup = lookup_for(plan_for_store(stores, ["scalars:i64"]))
    before = lookup.get({"customer_id": 1001}).features
    redis_server.client().execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
    assert lookup.get({"customer_id": 1001}).features == before


# --- timeouts: servers that never answer -------------------------------------------------


@pytest.fixture
def silent_server():
    """Accepts connections and never replies: a hung Redis."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    yield f"127.0.0.1:{listener.getsockname()[1]}"
    listener.close()


@pytest.fixture
def unreachable_server():
    """A port whose accept queue is full, so new connections hang in SYN-SENT: a dropped route."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    address = listener.getsockname()
    fillers = []
    for _ in range(8):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(address)
        fillers.append(filler)
    time.sleep(0.2)
    probe = socket.socket()
    probe.settimeout(0.5)
    try:
        probe.connect(address)
        pytest.skip("this kernel completes connections beyond the accept backlog")
    except (TimeoutError, socket.timeout):
        pass
    finally:
        probe.close()
    yield f"127.0.0.1:{address[1]}"
    for filler in fillers:
        filler.close()
    listener.close()


def _plan(stores):
    return plan_for_store(stores, ["scalars:i64"])


@pytest.mark.parametrize("server", ["silent_server", "unreachable_server"])
def test_async_lookup_honours_short_timeouts(request, server, stores):
    address = request.getfixturevalue(server)

    async def attempt():
        client = async_client(address, Timeouts(connect=0.3, socket=0.3))
        try:
            await AsyncFeatureLookup(_plan(stores), client).get({"customer_id": 1001})
        finally:
            await client.aclose()

    started = time.monotonic()
    with pytest.raises((redis.TimeoutError, redis.ConnectionError)):
        asyncio.run(attempt())
    assert time.monotonic() - started < 2.0


def test_fresh_ping_tells_reachable_from_unreachable(redis_server, redis_tls_server, silent_server):
    tls = f"{redis_tls_server.feast_connection_string()},ssl_ca_certs={redis_tls_server.ca_cert}"
    wrong_password = tls.replace(redis_tls_server.password, "wrong")
    no_tls = f"{redis_tls_server.endpoint},password={redis_tls_server.password}"

    def ping(connection_string):
        started = time.monotonic()
        result = asyncio.run(ping_fresh(connection_string, deadline=0.5))
        return result, time.monotonic() - started

    assert ping(redis_server.feast_connection_string())[0] is True
    assert ping(tls)[0] is True
    for unhealthy in (wrong_password, no_tls, silent_server):
        reachable, elapsed = ping(unhealthy)
        assert reachable is False and elapsed < 1.5, (unhealthy.split(",")[0], elapsed)


@pytest.fixture(scope="module")
def redis_cluster(tmp_path_factory):
    """Three shards, a replica each (cluster-node-timeout 3 s), so a primary can fail over."""
    cluster = start_redis_cluster(tmp_path_factory.mktemp("redis-cluster"), shards=3, replicas=1)
    yield cluster
    cluster.stop()


@pytest.fixture(scope="module")
def cluster_store(redis_cluster, tmp_path_factory):
    """Feast writes the same rows into the cluster (redis_type: redis_cluster)."""
    store = feast_store(tmp_path_factory.mktemp("feast-cluster"), "lookup_cluster", redis_cluster.feast_connection_string(), redis_type="redis_cluster")
    populate(store)
    return store


def test_a_cluster_lookup_reads_every_shard_and_matches_feast(redis_cluster, cluster_store):
    keys_per_shard = [node.client().dbsize() for node in redis_cluster.primaries()]
    assert len(keys_per_shard) == 3 and all(keys_per_shard), f"Feast's rows do not span the shards: {keys_per_shard}"
    for rows, references in (
        (customer_rows(CUSTOMERS + MISSING_CUSTOMERS), SCALAR_REFS + LIST_REFS),
        ([{"shop_code": code, "region_id": region} for code in SHOPS for region in (1, 2)], ["shops:stock", "shops:shop_name", "prices:price"]),
    ):
        with BlockingLookup(plan_for_store(cluster_store, references), redis_cluster.feast_connection_string(), cluster=True) as lookup:
            assert_same_as_feast(cluster_store, rows, references, lookup.get_many(rows))


def test_a_cluster_lookup_follows_a_failover_without_a_restart(redis_cluster, cluster_store):
    """Kill the primary of a customer's shard: its replica is promoted (Redis Cluster's own
    failover) and the same lookup answers again, with the same values, without being reopened."""
    rows = customer_rows(CUSTOMERS)
    plan = plan_for_store(cluster_store, SCALAR_REFS)
    with BlockingLookup(plan, redis_cluster.feast_connection_string(), Timeouts(connect=0.5, socket=0.5), cluster=True) as lookup:
        before = [row.features for row in lookup.get_many(rows)]
        key = plan.commands(rows[:1])[0][0]
        victim = _owner(redis_cluster, key)
        victim.stop()
        started = time.monotonic()
        errors = 0
        while True:
            # readiness: the store is there while one shard fails over (the pod stays in its Service)
            assert asyncio.run(ping_fresh(redis_cluster.feast_connection_string(), deadline=1.0, cluster=True))
            try:
                after = [row.features for row in lookup.get_many(rows)]
                break
            except redis.RedisError:
                errors += 1
                assert time.monotonic() - started < 15, f"no answer {time.monotonic() - started:.1f} s after the primary died"
                time.sleep(0.2)
        assert after == before
        assert _owner(redis_cluster, key) is not victim, "no replica took the dead primary's slots"
        print(f"failover: answered again {time.monotonic() - started:.1f} s after the primary died ({errors} failed lookups)")


def _owner(cluster, key: bytes):
    """The node serving `key`'s slot now, as a fresh cluster client learns it."""
    client = cluster.client()
    node = client.nodes_manager.get_node_from_slot(client.keyslot(key))
    return next(server for server in cluster.nodes if server.port == int(node.port))
