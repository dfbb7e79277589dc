"""What the operator reads from the serving store itself: the watermarks and INFO.

Never on the request path, and never inside a reconcile pass: each FeatureStore's StoreReader
task reads on its own interval, as the store's monitoring credential (the in-cluster Redis'
`monitoring` user can read the watermark keys and INFO, no feature value), with short timeouts,
and wakes the passes when the reading changed. A failure is a reading with its error, which
status reports; it never fails a pass.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError

import predictflow_contract as contract

from .. import capacity
from ..api.models import StoreRecord
from ..builders.store import MONITOR, credential, store_key
from ..capacity import MemoryReading
from ..freshness import parse_time
from .context import ReconcileContext
from .secrets import not_permitted_message, permitted

TIMEOUT_SECONDS = 3.0
log = logging.getLogger("predictflow.store_reading")


@dataclass(frozen=True)
class StoreReading:
    watermarks: dict[str, datetime.datetime] = field(default_factory=dict)
    memory: MemoryReading | None = None
    error: str = ""  # what stopped the reading, in the words of whoever refused


class Unreadable(Exception):
    pass


async def _secret_value(ctx: ReconcileContext, name: str, key: str, what: str) -> str:
    secret = await ctx.kube.get("v1", "Secret", name, ctx.owner.namespace)
    if secret is None:
        raise Unreadable(f"Secret {name} ({what}) does not exist")
    if not permitted(ctx, secret):
        raise Unreadable(not_permitted_message(ctx, name))
    value = (secret.get("data") or {}).get(key)
    if not value:
        raise Unreadable(f"Secret {name} has no key {key!r} ({what})")
    return base64.b64decode(value).decode()


Client = aioredis.Redis | RedisCluster


async def _client(ctx: ReconcileContext, record: StoreRecord) -> Client:
    login = credential(record, MONITOR)
    password = await _secret_value(ctx, login.password.name, login.password.key, "the monitoring password")
    host, _, port = record.endpoint.rpartition(":")
    options: dict[str, Any] = {}
    if record.tls:
        options["ssl"] = True
        if record.ca_secret_ref.name:
            options["ssl_ca_data"] = await _secret_value(ctx, record.ca_secret_ref.name, record.ca_secret_ref.key or contract.CA_FILE, "the CA bundle")
    common: dict[str, Any] = {
        "host": host,
        "port": int(port),
        "username": login.username or None,
        "password": password,
        "socket_timeout": TIMEOUT_SECONDS,
        "socket_connect_timeout": TIMEOUT_SECONDS,
        **options,
    }
    if record.shards:
        return RedisCluster(**common)
    return aioredis.Redis(retry_on_timeout=False, **common)


async def read_watermarks(client: Client, project: str) -> dict[str, datetime.datetime]:
    # redis-py types replies for both its clients at once (`Awaitable[set] | set`); this one is asyncio
    members = await cast("Awaitable[set[bytes]]", client.smembers(contract.watermark_views_key(project)))
    views = sorted(member.decode() for member in members)
    if not views:
        return {}
    keys = [contract.watermark_key(project, view) for view in views]
    # in a cluster the views' keys live in different slots, which one MGET may not span
    values = await (client.mget_nonatomic(keys) if isinstance(client, RedisCluster) else client.mget(keys))
    return {view: parse_time(raw.decode()) for view, raw in zip(views, values, strict=True) if raw is not None}


def _memory_reading(memory: dict[str, Any], stats: dict[str, Any]) -> MemoryReading:
    return MemoryReading(
        used_bytes=int(memory.get("used_memory", 0)),
        maxmemory=int(memory.get("maxmemory", 0)),
        evicted_keys=int(stats.get("evicted_keys", 0)),
        expired_keys=int(stats.get("expired_keys", 0)),
    )


async def read_memory(client: Client) -> MemoryReading:
    """Of the one Redis, or of a cluster's fullest primary (the first to reach its cap)."""
    if isinstance(client, RedisCluster):
        readings = [
            _memory_reading(await client.info("memory", target_nodes=node), await client.info("stats", target_nodes=node)) for node in client.get_primaries()
        ]
        return max(readings, key=lambda r: (r.used_bytes / r.maxmemory if r.maxmemory else 0.0, r.used_bytes))
    return _memory_reading(await client.info("memory"), await client.info("stats"))


def _error(error: Exception) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


class StoreReader:
    """One FeatureStore's readings of its serving store, taken by its own task (`keep_reading`) so
    that no reconcile pass ever waits on Redis. The connection is kept between readings, so the
    password Secret is read only to (re)connect; a failing store is retried less and less often."""

    def __init__(self, interval: float, longest: float) -> None:
        self.interval, self.longest = interval, max(interval, longest)
        self.latest: tuple[str, StoreReading] | None = None  # (store key, reading)
        self.due = asyncio.Event()  # set by a pass that found no reading of the store serving now
        self._client: Client | None = None
        self._connected_to = ""

    def reading_of(self, record: StoreRecord) -> StoreReading | None:
        """The newest reading of this store, None before the first."""
        if self.latest is None or self.latest[0] != store_key(record):
            return None
        return self.latest[1]

    async def read(self, ctx: ReconcileContext, record: StoreRecord) -> StoreReading:
        key = store_key(record)
        if self._client is not None and self._connected_to != key:
            await self.close()
        try:
            if self._client is None:
                self._client, self._connected_to = await _client(ctx, record), key
            async with asyncio.timeout(2 * TIMEOUT_SECONDS):
                return StoreReading(watermarks=await read_watermarks(self._client, ctx.spec.project), memory=await read_memory(self._client))
        except Unreadable as refused:
            return StoreReading(error=str(refused))
        except (RedisError, OSError, TimeoutError, ValueError) as error:
            await self.close()  # a rotated password or a moved endpoint: the next reading starts afresh
            return StoreReading(error=_error(error))

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    async def keep_reading(self, current: Callable[[], tuple[ReconcileContext, StoreRecord | None]], wake: Callable[[], None]) -> None:
        """Read the serving store every `interval` seconds (doubling up to `longest` while it fails),
        and wake the passes when what was read changed what status would say."""
        delay = self.interval
        try:
            while True:
                try:
                    ctx, record = current()
                    if record is not None and record.type:
                        before = self.reading_of(record)
                        reading = await self.read(ctx, record)
                        self.latest = (store_key(record), reading)
                        if before is None or changed(before, reading):
                            wake()
                        delay = min(2 * delay, self.longest) if reading.error else self.interval
                except Exception:  # the passes report the FeatureStore; this task must go on reading
                    log.exception("reading the serving store failed")
                self.due.clear()
                try:
                    await asyncio.wait_for(self.due.wait(), timeout=delay)
                except TimeoutError:
                    pass
        finally:
            await self.close()


def changed(before: StoreReading, after: StoreReading) -> bool:
    """What status is made of moved: the watermarks, readable or not, or memory materially. One
    error for another is no change: status keeps telling the first of a failing streak."""
    if bool(before.error) != bool(after.error):
        return True
    if before.error:
        return False
    if before.watermarks != after.watermarks:
        return True
    if before.memory is None or after.memory is None:
        return before.memory is not after.memory
    recorded = capacity.memory_status(before.memory, None, None)
    return capacity.memory_status(after.memory, None, recorded) is not recorded
