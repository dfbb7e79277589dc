"""The in-cluster Redis store driver: a StatefulSet, its Services, config and password."""

from __future__ import annotations

from .. import passwords
from ..api.models import FeatureStoreSpec, StoreRecord
from ..builders import redis as builder
from ..builders.common import Owner
from .context import ReconcileContext
from .secrets import secret_checksum
from .store import StoreObservation

_STATEFULSET = ("apps/v1", "StatefulSet")


def desired_record(owner: Owner, spec: FeatureStoreSpec) -> StoreRecord:
    return builder.record(owner)


async def observe(ctx: ReconcileContext, record: StoreRecord) -> StoreObservation:
    checksum = await secret_checksum(ctx, record.auth_secret_ref) or ""
    stateful_set = await ctx.kube.get(*_STATEFULSET, record.name, ctx.owner.namespace)
    if stateful_set is None:
        return StoreObservation(False, "RedisCreating", f"Creating the Redis StatefulSet {record.name}", record.endpoint, checksum, gone=True)
    ready = (stateful_set.get("status") or {}).get("readyReplicas") or 0
    wanted = stateful_set["spec"].get("replicas", 1)
    if ready >= 1:
        return StoreObservation(True, "RedisReady", f"Redis primary ready at {record.endpoint} ({ready}/{wanted} pods ready)", record.endpoint, checksum)
    return StoreObservation(False, "RedisStarting", f"Waiting for the Redis primary pod ({ready}/{wanted} pods ready)", record.endpoint, checksum)


async def provision(ctx: ReconcileContext, record: StoreRecord, seen: StoreObservation) -> None:
    owner, spec = ctx.owner, ctx.spec
    if await ctx.kube.create_if_absent(builder.password_secret(owner, passwords.generate())):
        ctx.emit("Normal", "PasswordGenerated", f"Generated the Redis password in Secret {record.auth_secret_ref.name}")
    checksum = seen.secret_checksum or await secret_checksum(ctx, record.auth_secret_ref)
    if not checksum:
        raise ValueError(f"Secret {record.auth_secret_ref.name} has no key {record.auth_secret_ref.key!r}")
    await ctx.kube.apply(builder.config_map(owner, spec))
    for service in builder.services(owner):
        await ctx.kube.apply(service)
    await ctx.kube.apply(builder.stateful_set(owner, spec, checksum, ctx.settings.redis_image))


async def retire(ctx: ReconcileContext, record: StoreRecord) -> None:
    """Delete the StatefulSet (its PVCs follow by retention policy), Services, config and password."""
    owner = ctx.owner
    deleted = await ctx.kube.delete(*_STATEFULSET, record.name, owner.namespace)
    for service in builder.services(owner):
        await ctx.kube.delete("v1", "Service", service["metadata"]["name"], owner.namespace)
    await ctx.kube.delete("v1", "ConfigMap", builder.config_map_name(owner), owner.namespace)
    await ctx.kube.delete("v1", "Secret", record.auth_secret_ref.name, owner.namespace)
    if deleted:
        ctx.emit("Normal", "StoreRetired", f"Retired the in-cluster Redis {record.name} and its volumes")
