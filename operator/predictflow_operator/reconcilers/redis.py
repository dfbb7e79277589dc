"""The in-cluster Redis store: provision it, report its readiness, retire it."""

from __future__ import annotations

from .. import passwords
from ..builders import redis as redis_builder
from ..builders.common import checksum
from .context import ReconcileContext
from .store import StoreState

_STATEFULSET = ("apps/v1", "StatefulSet")


async def _password_checksum(ctx: ReconcileContext) -> str:
    owner = ctx.owner
    created = await ctx.kube.create_if_absent(
        redis_builder.password_secret(owner, passwords.generate())
    )
    if created:
        ctx.emit("Normal", "PasswordGenerated", f"Generated the Redis password in Secret {redis_builder.secret_name(owner)}")
    secret = await ctx.kube.get("v1", "Secret", redis_builder.secret_name(owner), owner.namespace)
    data = (secret or {}).get("data") or {}
    if redis_builder.PASSWORD_KEY not in data:
        raise ValueError(f"Secret {redis_builder.secret_name(owner)} has no key {redis_builder.PASSWORD_KEY!r}")
    return checksum(data[redis_builder.PASSWORD_KEY])


async def ensure(ctx: ReconcileContext) -> StoreState:
    owner, spec = ctx.owner, ctx.spec
    secret_checksum = await _password_checksum(ctx)
    await ctx.kube.apply(redis_builder.config_map(owner, spec))
    for service in redis_builder.services(owner):
        await ctx.kube.apply(service)
    applied = await ctx.kube.apply(redis_builder.stateful_set(owner, spec, secret_checksum, ctx.settings.redis_image))
    state = applied.get("status") or {}
    ready = state.get("readyReplicas") or 0
    wanted = 1 + spec.online_store.redis.replicas
    target = redis_builder.target(owner)
    if ready >= 1:
        message = f"Redis primary ready at {target.endpoint} ({ready}/{wanted} pods ready)"
        return StoreState("redis", target, True, "RedisReady", message, secret_checksum)
    return StoreState(
        "redis", target, False, "RedisStarting", f"Waiting for the Redis primary pod ({ready}/{wanted} pods ready)", secret_checksum
    )


async def retire(ctx: ReconcileContext) -> bool:
    """Delete the StatefulSet (its PVCs follow by retention policy), Services, config and password."""
    owner = ctx.owner
    deleted = await ctx.kube.delete(*_STATEFULSET, redis_builder.name(owner), owner.namespace)
    for service in redis_builder.services(owner):
        await ctx.kube.delete("v1", "Service", service["metadata"]["name"], owner.namespace)
    await ctx.kube.delete("v1", "ConfigMap", redis_builder.config_map_name(owner), owner.namespace)
    await ctx.kube.delete("v1", "Secret", redis_builder.secret_name(owner), owner.namespace)
    if deleted:
        ctx.emit("Normal", "StoreRetired", f"Retired the in-cluster Redis {redis_builder.name(owner)} and its volumes")
    return deleted


