"""What the operator reads from the serving store itself on its passes: the watermarks and INFO.

Never on the request path: one short connection per pass, as the store's monitoring credential
(the in-cluster Redis' `monitoring` user can read the watermark keys and INFO, no feature value),
with short timeouts so an unreachable store delays a pass by seconds at most. A failure is a
reading with its error, which status reports; it never fails the pass.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, cast

import redis.asyncio as aioredis
from redis.exceptions import RedisError

import predictflow_contract as contract

from ..api.models import StoreRecord
from ..builders.store import MONITOR, credential
from ..capacity import MemoryReading
from ..freshness import parse_time
from .context import ReconcileContext
from .secrets import not_permitted_message, permitted

TIMEOUT_SECONDS = 3.0


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


async def _client(ctx: ReconcileContext, record: StoreRecord) -> aioredis.Redis:
    login = credential(record, MONITOR)
    password = await _secret_value(ctx, login.password.name, login.password.key, "the monitoring password")
    host, _, port = record.endpoint.rpartition(":")
    options: dict[str, Any] = {}
    if record.tls:
        options["ssl"] = True
        if record.ca_secret_ref.name:
            options["ssl_ca_data"] = await _secret_value(ctx, record.ca_secret_ref.name, record.ca_secret_ref.key or contract.CA_FILE, "the CA bundle")
    return aioredis.Redis(
        host=host,
        port=int(port),
        username=login.username or None,
        password=password,
        socket_timeout=TIMEOUT_SECONDS,
        socket_connect_timeout=TIMEOUT_SECONDS,
        retry_on_timeout=False,
        **options,
    )


async def read_watermarks(client: aioredis.Redis, project: str) -> dict[str, datetime.datetime]:
    # redis-py types replies for both its clients at once (`Awaitable[set] | set`); this one is asyncio
    members = await cast("Awaitable[set[bytes]]", client.smembers(contract.watermark_views_key(project)))
    views = sorted(member.decode() for member in members)
    if not views:
        return {}
    values = await client.mget([contract.watermark_key(project, view) for view in views])
    return {view: parse_time(raw.decode()) for view, raw in zip(views, values, strict=True) if raw is not None}


async def read_memory(client: aioredis.Redis) -> MemoryReading:
    memory, stats = await client.info("memory"), await client.info("stats")
    return MemoryReading(
        used_bytes=int(memory.get("used_memory", 0)),
        maxmemory=int(memory.get("maxmemory", 0)),
        evicted_keys=int(stats.get("evicted_keys", 0)),
        expired_keys=int(stats.get("expired_keys", 0)),
    )


async def read(ctx: ReconcileContext, record: StoreRecord) -> StoreReading:
    try:
        client = await _client(ctx, record)
    except Unreadable as refused:
        return StoreReading(error=str(refused))
    try:
        async with asyncio.timeout(2 * TIMEOUT_SECONDS):
            return StoreReading(watermarks=await read_watermarks(client, ctx.spec.project), memory=await read_memory(client))
    except (RedisError, OSError, TimeoutError, ValueError) as error:
        return StoreReading(error=f"{type(error).__name__}: {error}" if str(error) else type(error).__name__)
    finally:
        await client.aclose()
