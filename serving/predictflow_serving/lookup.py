"""Feature lookups straight from Feast's Redis layout: one round trip per request.

All HMGETs of a request (one per entity row and key group) are written to one connection in
a single send and their replies read back in order, so a batch of 100 entities costs one
round trip, like a redis-py pipeline but without its per-command bookkeeping. Feast stays the
writer; this is only the read path, and it returns what `get_online_features` returns.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import redis.asyncio
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.crc import key_slot
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from .plan import FeatureResult, LookupPlan


class _ConnectionLost(RedisConnectionError):
    """A connection that was up when the request started broke during it."""


def _hmget_commands(plan: LookupPlan, rows: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    return [("HMGET", key, *fields) for key, fields in plan.commands(rows)]


async def _send_and_read(connection: Any, commands: list[tuple[Any, ...]]) -> list[Any]:
    """Every command in one write, then their replies in order."""
    try:
        await connection.send_packed_command(connection.pack_commands(commands))
        return [await connection.read_response() for _ in commands]
    except BaseException:
        await connection.disconnect(nowait=True)  # unread replies would be read by the next request
        raise


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
            return await _send_and_read(connection, commands)
        except RedisConnectionError as error:
            raise _ConnectionLost(str(error)) from error
        finally:
            await self._pool.release(connection)


class AsyncClusterFeatureLookup:
    """Lookups on a Redis Cluster: the HMGETs of a request grouped by the primary that serves each
    key's hash slot, then every node's group in one pipelined round trip, all nodes at once.

    The slot map is redis-py's (learned from the start-up nodes). A node that is gone, a MOVED
    or ASK reply (slots moving, a replica promoted) or a cluster that is down fails the call and
    closes the client, so the next call learns the slot map afresh; the read path retries
    nothing itself (the caller answers stale or 503 meanwhile).
    """

    def __init__(self, plan: LookupPlan, cluster: RedisCluster) -> None:
        self.plan = plan
        self._cluster = cluster

    async def get(self, row: Mapping[str, Any]) -> FeatureResult:
        return (await self.get_many([row]))[0]

    async def get_many(self, rows: Sequence[Mapping[str, Any]]) -> list[FeatureResult]:
        if not rows:
            return []
        commands = _hmget_commands(self.plan, rows)
        try:
            if self._cluster._initialize:
                await self._cluster.initialize()
            by_node: dict[str, tuple[ClusterNode, list[int]]] = {}
            slots = self._cluster.nodes_manager
            for position, command in enumerate(commands):
                node = slots.get_node_from_slot(key_slot(command[1]))
                by_node.setdefault(node.name, (node, []))[1].append(position)
            if len(by_node) == 1:  # one entity, or every key on one shard: no tasks to spread
                ((node, _),) = by_node.values()
                return self.plan.decode(await _node_round_trip(node, commands))
            answers = await asyncio.gather(*(_node_round_trip(node, [commands[i] for i in positions]) for node, positions in by_node.values()))
        except (*RedisCluster.ERRORS_ALLOW_RETRY, ResponseError):
            await self._cluster.aclose()
            raise
        replies: list[Any] = [None] * len(commands)
        for (_, positions), answer in zip(by_node.values(), answers, strict=True):
            for position, reply in zip(positions, answer, strict=True):
                replies[position] = reply
        return self.plan.decode(replies)


async def _node_round_trip(node: ClusterNode, commands: list[tuple[Any, ...]]) -> list[Any]:
    connection = node.acquire_connection()
    try:
        return await _send_and_read(connection, commands)
    finally:
        node.release(connection)


def lookup_for(plan: LookupPlan, client: redis.asyncio.Redis | RedisCluster) -> AsyncFeatureLookup | AsyncClusterFeatureLookup:
    """The read path for a client: one server, or the nodes of a cluster."""
    return AsyncClusterFeatureLookup(plan, client) if isinstance(client, RedisCluster) else AsyncFeatureLookup(plan, client)
