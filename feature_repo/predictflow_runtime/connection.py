"""Redis clients built from a Feast `connection_string` (host:port,ssl=true,username=...,password=...)."""

from __future__ import annotations

from typing import Any

import redis
from feast.infra.online_stores.redis import RedisOnlineStore


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
