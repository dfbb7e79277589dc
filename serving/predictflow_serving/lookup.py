"""Feature lookups straight from Feast's Redis layout: one round trip per request.

All HMGETs of a request (one per entity row and key group) are written to one connection in
a single send and their replies read back in order, so a batch of 100 entities costs one
round trip, like a redis-py pipeline but without its per-command bookkeeping. Feast stays the
writer; this is only the read path, and it returns what `get_online_features` returns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import redis.asyncio
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError

from .plan import FeatureResult, LookupPlan


class _ConnectionLost(RedisConnectionError):
    """A connection that was up when the request started broke during it."""


def _hmget_commands(plan: LookupPlan, rows: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    return [("HMGET", key, *fields) for key, fields in plan.commands(rows)]


class AsyncFeatureLookup:
    """Lookups on an asyncio redis-py client (see store_client.async_client for timeouts)."""

    def __init__(self, plan: LookupPlan, client: redis.asyncio.Redis) -> None:
        self.plan = plan
        self._pool = client.connection_pool

    async def get(self, row: Mapping[str, Any]) -> FeatureResult:
        return (await self.get_many([row]))[0]

    async def get_many(self, rows: Sequence[Mapping[str, Any]]) -> list[FeatureResult]:
        if not rows:
            return []
        commands = _hmget_commands(self.plan, rows)
        try:
            return self.plan.decode(await self._round_trip(commands))
        except _ConnectionLost:
            # The server closed a pooled connection (restart, failover): one retry on a new
            # connection, which either works or fails at connect time, within its timeout.
            return self.plan.decode(await self._round_trip(commands))

    async def _round_trip(self, commands: list[tuple[Any, ...]]) -> list[list[bytes | None]]:
        connection = await self._pool.get_connection()
        try:
            await connection.send_packed_command(connection.pack_commands(commands))
            return [await connection.read_response() for _ in commands]
        except RedisConnectionError as error:
            await connection.disconnect(nowait=True)
            raise _ConnectionLost(str(error)) from error
        except BaseException:
            await connection.disconnect(nowait=True)  # unread replies would be read by the next request
            raise
        finally:
            await self._pool.release(connection)


class AsyncClusterFeatureLookup:
    """Lookups on a Redis Cluster: the HMGETs of a request grouped by the node that serves each
    key's slot, one pipelined round trip per node, every node at once (redis-py's cluster
    pipeline, which also follows MOVED and ASK while slots move or a replica is promoted)."""

    def __init__(self, plan: LookupPlan, cluster: RedisCluster) -> None:
        self.plan = plan
        self._cluster = cluster

    async def get(self, row: Mapping[str, Any]) -> FeatureResult:
        return (await self.get_many([row]))[0]

    async def get_many(self, rows: Sequence[Mapping[str, Any]]) -> list[FeatureResult]:
        if not rows:
            return []
        pipeline = self._cluster.pipeline()
        for key, fields in self.plan.commands(rows):
            pipeline.execute_command("HMGET", key, *fields)
        try:
            return self.plan.decode(await pipeline.execute())
        except RedisCluster.ERRORS_ALLOW_RETRY:
            # A node is gone or the cluster is failing over: the next call learns the slot map
            # afresh (redis-py does so only when it retries, and the read path does not retry).
            await self._cluster.aclose()
            raise


def lookup_for(plan: LookupPlan, client: redis.asyncio.Redis | RedisCluster) -> AsyncFeatureLookup | AsyncClusterFeatureLookup:
    """The read path for a client: one server, or the nodes of a cluster."""
    return AsyncClusterFeatureLookup(plan, client) if isinstance(client, RedisCluster) else AsyncFeatureLookup(plan, client)
