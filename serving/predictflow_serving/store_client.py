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
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from predictflow_runtime.connection import redis_kwargs


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


async def ping_fresh(connection_string: str, deadline: float) -> bool:
    """Whether Redis answers PING on a brand-new connection within `deadline` seconds.

    A fresh connection proves that the server is reachable now (DNS, TCP, TLS, AUTH), which a
    pooled connection that happens to be open cannot. Never raises.
    """
    client = async_client(connection_string, Timeouts(connect=deadline, socket=deadline))
    try:
        async with asyncio.timeout(deadline):
            return bool(await client.ping())  # type: ignore[misc]
    except (TimeoutError, RedisError, OSError):
        return False
    finally:
        try:
            await asyncio.wait_for(client.aclose(), timeout=deadline)
        except (TimeoutError, RedisError, OSError):
            pass
