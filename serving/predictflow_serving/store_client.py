"""Redis clients for the read path: short timeouts, no retries, and a fresh-connection ping.

redis-py 6+ retries a failed command three times with exponential backoff by default, which
is how a naive client takes seconds to notice that Redis is gone. The read path instead fails
within its timeouts and lets the caller decide (stale answer or 503). The connection string is
Feast's (`host:port,ssl=true,ssl_ca_certs=...,password=...`), parsed by Feast's own parser.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import redis.asyncio
import redis.asyncio.retry
from feast.infra.online_stores.redis import RedisOnlineStore
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from predictflow_runtime.connection import redis_kwargs

AsyncOnlineClient = redis.asyncio.Redis | RedisCluster


@dataclass(frozen=True)
class Timeouts:
    """Seconds. Loopback and in-VPC Redis answer in well under a millisecond."""

    connect: float = 0.5
    socket: float = 0.5


def read_path_kwargs(connection_string: str, timeouts: Timeouts) -> dict[str, Any]:
    return redis_kwargs(
        connection_string,
        socket_connect_timeout=timeouts.connect,
        socket_timeout=timeouts.socket,
    )


def async_client(connection_string: str, timeouts: Timeouts = Timeouts()) -> redis.asyncio.Redis:
    return redis.asyncio.Redis(**read_path_kwargs(connection_string, timeouts), retry=redis.asyncio.retry.Retry(NoBackoff(), 0))


def async_cluster_client(connection_string: str, timeouts: Timeouts = Timeouts()) -> RedisCluster:
    """A Redis Cluster client starting from every node of a `redis_cluster` connection string.
    It learns the slot map from them, follows MOVED after a failover and retries nothing else."""
    nodes, _ = RedisOnlineStore._parse_connection_string(connection_string)
    kwargs = read_path_kwargs(connection_string, timeouts)
    for single_node_only in ("host", "port", "db", "skip_full_coverage_check"):
        kwargs.pop(single_node_only, None)
    startup = [ClusterNode(node["host"], int(node["port"])) for node in nodes]
    return RedisCluster(startup_nodes=startup, retry=redis.asyncio.retry.Retry(NoBackoff(), 0), **kwargs)


def async_online_client(connection_string: str, timeouts: Timeouts = Timeouts(), *, cluster: bool = False) -> AsyncOnlineClient:
    return async_cluster_client(connection_string, timeouts) if cluster else async_client(connection_string, timeouts)


async def ping_fresh(connection_string: str, deadline: float, *, cluster: bool = False) -> bool:
    """Whether Redis answers PING on a brand-new connection within `deadline` seconds. For a
    cluster: a start-up node hands out the slot map. One shard failing
    over is not the whole store down: its keys' lookups fail (stale or 503, per onStoreDown) while
    the others' answer, and the pod stays in its Service.

    A fresh connection proves that the server is reachable now (DNS, TCP, TLS, AUTH), which a
    pooled connection that happens to be open cannot. Never raises.
    """
    client = async_online_client(connection_string, Timeouts(connect=deadline, socket=deadline), cluster=cluster)
    try:
        async with asyncio.timeout(deadline):
            if isinstance(client, RedisCluster):
                await client.initialize()  # a start-up node answered CLUSTER SLOTS on a new, authenticated connection
                return True
            return bool(await client.ping())  # type: ignore[misc]
    except (TimeoutError, RedisError, OSError):
        return False
    finally:
        try:
            await asyncio.wait_for(client.aclose(), timeout=deadline)
        except (TimeoutError, RedisError, OSError):
            pass
