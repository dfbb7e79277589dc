"""Redis clients built from a Feast `connection_string` (host:port,ssl=true,username=...,password=...),
for a single server or, with every node named (`redis_type: redis_cluster`), a Redis Cluster."""

from __future__ import annotations

import logging
from typing import Any, cast

import redis
from feast.infra.online_stores.redis import RedisOnlineStore
from redis.cluster import ClusterNode, RedisCluster

# What the runtime reads and writes through: watermarks, freshness, rows.
OnlineClient = redis.Redis | RedisCluster

log = logging.getLogger("predictflow.connection")


def redis_kwargs(connection_string: str, **overrides: Any) -> dict[str, Any]:
    """redis-py keyword arguments for a single-node connection string, parsed the way Feast does."""
    nodes, params = RedisOnlineStore._parse_connection_string(connection_string)
    if not nodes:
        raise ValueError("connection_string names no host:port")
    kwargs: dict[str, Any] = dict(params)
    kwargs["host"] = nodes[0]["host"]
    kwargs["port"] = int(nodes[0]["port"])
    # Feast json-decodes values, so an all-digit username or password arrives as an int.
    for name in ("username", "password"):
        if kwargs.get(name) is not None:
            kwargs[name] = str(kwargs[name])
    kwargs.update(overrides)
    return kwargs


def redis_client(connection_string: str, **overrides: Any) -> redis.Redis:
    return redis.Redis(**redis_kwargs(connection_string, **overrides))


def redis_cluster_client(connection_string: str, **overrides: Any) -> RedisCluster:
    """A cluster client that starts from every node the connection string names."""
    nodes, _ = RedisOnlineStore._parse_connection_string(connection_string)
    kwargs = redis_kwargs(connection_string, **overrides)
    kwargs.pop("host")
    kwargs.pop("port")
    kwargs.pop("db", None)  # cluster nodes have one database
    kwargs.pop("skip_full_coverage_check", None)
    return RedisCluster(startup_nodes=[ClusterNode(node["host"], int(node["port"])) for node in nodes], **kwargs)


def holds_no_keys(client: OnlineClient) -> bool:
    """Whether the store holds no key at all (a new store being backfilled), on every shard of a
    cluster; a question the store does not answer is a no."""
    try:
        if isinstance(client, RedisCluster):
            return all(int(cast("int", client.get_redis_connection(node).dbsize())) == 0 for node in client.get_primaries())
        return int(cast("int", client.dbsize())) == 0
    except redis.RedisError as error:
        log.debug("cannot count the store's keys: %s", error)
        return False
