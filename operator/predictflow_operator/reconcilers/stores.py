"""Dispatch to the reconciler of each online store type."""

from __future__ import annotations

from dataclasses import replace

from ..builders import elasticache as elasticache_builder
from ..builders import redis as redis_builder
from ..builders.store import StoreTarget
from . import elasticache, redis
from .context import ReconcileContext
from .store import StoreState

STORE_TYPES = ("redis", "elasticache")


async def ensure(ctx: ReconcileContext, store_type: str) -> StoreState:
    return await (redis.ensure(ctx) if store_type == "redis" else elasticache.ensure(ctx))


async def retire(ctx: ReconcileContext, store_type: str) -> bool:
    return await (redis.retire(ctx) if store_type == "redis" else elasticache.retire(ctx))


def target_of(ctx: ReconcileContext, store_type: str, endpoint: str) -> StoreTarget:
    """How clients reach a store that already serves (its endpoint is in the status)."""
    if store_type == "redis":
        return redis_builder.target(ctx.owner)
    cache = ctx.spec.online_store.elasticache
    if cache.mode == "existing":
        return replace(elasticache_builder.existing_target(cache), endpoint=endpoint)
    return elasticache_builder.managed_target(ctx.owner, endpoint)
