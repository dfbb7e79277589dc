"""FeatureClient's outage logic: stale answers, StoreUnavailable, the breaker, the deadline, redaction, probes.

The store's read path is a stand-in that answers, fails or hangs on command (the decoding it
would do is covered by the lookup tests); the probes talk to real sockets on loopback: a closed
port, and a minimal server that answers every RESP command with +PONG.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from feast import Entity, FeatureView, Field, FileSource
from feast.types import Int64, String
from feast.value_type import ValueType
from google.protobuf.timestamp_pb2 import Timestamp
from redis.exceptions import ConnectionError as RedisConnectionError

from predictflow_serving.client import FeatureClient, FeatureResult, StoreUnavailable
from predictflow_serving.plan import build_plan
from predictflow_serving.settings import OnStoreDown, ServingSettings

pytestmark = pytest.mark.unit

PASSWORD = "s3cr3t-Passw0rd"
STORE = {1001: {"tenure": 3, "plan": "monthly"}, 1002: {"tenure": 40, "plan": None}}
STAMP = Timestamp(seconds=1_765_000_000).SerializeToString()


def churn_plan():
    customer = Entity(name="customer", join_keys=["customer_id"], value_type=ValueType.INT64)
    source = FileSource(name="unused", path="/nonexistent.parquet", timestamp_field="event_timestamp")
    view = FeatureView(name="v", entities=[customer], schema=[Field(name="tenure", dtype=Int64), Field(name="plan", dtype=String)], source=source)
    return build_plan("churn", [view], [customer], ["v:tenure", "v:plan"])


class ReadPath:
    """Answers from STORE, or fails, or hangs; counts the calls that reached it."""

    def __init__(self) -> None:
        self.mode = "up"
        self.calls = 0

    async def get_many(self, rows: Sequence[Mapping[str, Any]]) -> list[FeatureResult]:
        self.calls += 1
        if self.mode == "down":
            raise RedisConnectionError(f"Error 111 connecting to redis:6379 with password={PASSWORD}. Connection refused.")
        if self.mode == "hung":
            await asyncio.sleep(30)
        results = []
        for row in rows:
            known = STORE.get(row["customer_id"])
            if known is None:
                results.append(FeatureResult({"tenure": None, "plan": None}, ("v",), [None]))
            else:
                results.append(FeatureResult(dict(known), ("v",), [STAMP]))
        return results


def client_for(read_path: ReadPath, **settings: Any) -> FeatureClient:
    chosen = ServingSettings(**{"store_retry_seconds": 60.0, **settings})
    return FeatureClient(churn_plan(), "127.0.0.1:1", chosen, secrets=[PASSWORD], read_path=read_path)


def rows(*ids: int) -> list[dict[str, int]]:
    return [{"customer_id": i} for i in ids]


async def test_stale_mode_answers_the_last_features_found_flagged_stale():
    store = ReadPath()
    client = client_for(store)
    fresh = await client.get_many(rows(1001, 1002, 77))
    assert [r.found for r in fresh] == [True, True, False] and not any(r.stale for r in fresh)

    store.mode = "down"
    stale = await client.get_many(rows(1002, 1001))
    assert [r.features for r in stale] == [STORE[1002], STORE[1001]]
    assert all(r.stale and r.found for r in stale)
    assert stale[0].event_timestamps == fresh[1].event_timestamps  # the event times of the cached answer
    assert (await client.get({"customer_id": 1001, "extra": "ignored"})).stale


async def test_rows_never_found_make_the_call_unavailable_and_are_named_once():
    store = ReadPath()
    client = client_for(store)
    await client.get_many(rows(1001, 77))  # 77 is unknown to the store: nothing to remember
    store.mode = "down"
    with pytest.raises(StoreUnavailable) as raised:
        await client.get_many(rows(77, 1001, 5, 77))
    assert raised.value.missing == ({"customer_id": 77}, {"customer_id": 5})
    assert "no features are cached" in raised.value.reason and str(raised.value) == raised.value.reason


async def test_unavailable_mode_raises_at_once_and_keeps_no_cache():
    store = ReadPath()
    client = client_for(store, on_store_down=OnStoreDown.UNAVAILABLE)
    await client.get_many(rows(1001))
    store.mode = "down"
    with pytest.raises(StoreUnavailable) as raised:
        await client.get(rows(1001)[0])
    assert raised.value.reason == "the online store is unreachable" and raised.value.missing == ()
    started = time.monotonic()
    with pytest.raises(StoreUnavailable):
        await client.get(rows(1001)[0])
    assert time.monotonic() - started < 0.05 and store.calls == 2  # the breaker kept the store out of it


async def test_the_breaker_skips_the_store_until_the_retry_interval_then_one_call_retries():
    store = ReadPath()
    client = client_for(store, store_retry_seconds=0.2)
    await client.get_many(rows(1001))
    store.mode = "down"
    for _ in range(5):
        assert (await client.get(rows(1001)[0])).stale
    assert store.calls == 2 and client.store_down  # one fresh call, one failure, then skipped
    store.mode = "up"
    assert (await client.get(rows(1001)[0])).stale  # still within the interval
    await asyncio.sleep(0.25)
    assert not (await client.get(rows(1001)[0])).stale
    assert store.calls == 3 and not client.store_down


async def test_the_lookup_deadline_bounds_a_hung_store():
    store = ReadPath()
    client = client_for(store, lookup_deadline_seconds=0.1)
    await client.get_many(rows(1001))
    store.mode = "hung"
    started = time.monotonic()
    answer = await client.get(rows(1001)[0])
    assert answer.stale and time.monotonic() - started < 0.5


async def test_an_outage_is_logged_once_with_the_password_redacted_and_the_recovery_too(caplog):
    store = ReadPath()
    client = client_for(store, store_retry_seconds=0.01)
    await client.get_many(rows(1001))
    store.mode = "down"
    with caplog.at_level(logging.WARNING, logger="predictflow.serving"):
        for _ in range(3):
            await client.get(rows(1001)[0])
            await asyncio.sleep(0.02)
        store.mode = "up"
        await client.get(rows(1001)[0])
    messages = [record.getMessage() for record in caplog.records]
    assert len([m for m in messages if "online store unreachable" in m]) == 1, messages
    assert messages[-1] == "online store reachable again"
    assert not any(PASSWORD in m for m in messages) and "password=***" in messages[0]
    assert PASSWORD not in (client.breaker.last_error or "")


async def test_a_row_without_the_join_key_is_a_clear_error():
    client = client_for(ReadPath())
    with pytest.raises(ValueError, match="join key 'customer_id'"):
        await client.get({"id": 1})


async def test_probes_fail_fast_on_a_closed_port_and_liveness_can_skip_the_store():
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # closed once the block ends
    settings = ServingSettings(probe_timeout_seconds=0.5)
    client = FeatureClient(churn_plan(), f"127.0.0.1:{port}", settings, read_path=ReadPath())
    started = time.monotonic()
    assert await client.ready() is False and await client.alive() is False
    assert time.monotonic() - started < 1.5
    lenient = FeatureClient(churn_plan(), f"127.0.0.1:{port}", ServingSettings(liveness_checks_redis=False), read_path=ReadPath())
    assert await lenient.alive() is True and await lenient.ready() is False


async def _answer_pong(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Every RESP command (an array of bulk strings) gets +PONG."""
    try:
        while header := await reader.readline():
            for _ in range(int(header[1:]) * 2):
                await reader.readline()
            writer.write(b"+PONG\r\n")
            await writer.drain()
    finally:
        writer.close()


async def test_a_probe_that_reaches_the_store_closes_the_breaker_at_once():
    server = await asyncio.start_server(_answer_pong, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        store = ReadPath()
        client = FeatureClient(churn_plan(), f"127.0.0.1:{port}", ServingSettings(store_retry_seconds=60.0), read_path=store)
        await client.get_many(rows(1001))
        store.mode = "down"
        assert (await client.get(rows(1001)[0])).stale and client.store_down
        store.mode = "up"
        assert await client.ready() is True and not client.store_down
        assert not (await client.get(rows(1001)[0])).stale  # no 60 s wait for the retry slot
    finally:
        server.close()
        await server.wait_closed()
