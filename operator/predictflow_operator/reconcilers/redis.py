"""The in-cluster Redis store driver: a StatefulSet, its Services, config and password.

A larger volume size is applied in place: the PVCs are expanded (where the StorageClass allows it;
the API server says so where it does not), then the StatefulSet, whose claim templates are
immutable, is deleted without its pods and applied again. Settings no StatefulSet can change in
place name another instance (builders.redis.instance), so the switch replaces the store.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .. import passwords
from ..api.models import FeatureStoreSpec, StoreRecord
from ..builders import redis as builder
from ..builders.common import Owner
from ..quantity import parse_quantity
from .context import ReconcileContext
from .secrets import secret_checksum
from .store import StoreObservation

_STATEFULSET = ("apps/v1", "StatefulSet")


def desired_record(ctx: ReconcileContext, recorded: Sequence[StoreRecord]) -> StoreRecord:
    return builder.record(ctx.owner, ctx.spec)


async def observe(ctx: ReconcileContext, record: StoreRecord) -> StoreObservation:
    checksum = await secret_checksum(ctx, record.auth_secret_ref) or ""
    stateful_set = await ctx.kube.get(*_STATEFULSET, record.name, ctx.owner.namespace)
    if stateful_set is None:
        return StoreObservation(False, "RedisCreating", f"Creating the Redis StatefulSet {record.name}", record.endpoint, checksum, gone=True)
    ready = (stateful_set.get("status") or {}).get("readyReplicas") or 0
    wanted = stateful_set["spec"].get("replicas", 1)
    if ready >= 1:
        seen = StoreObservation(True, "RedisReady", f"Redis primary ready at {record.endpoint} ({ready}/{wanted} pods ready)", record.endpoint, checksum)
    else:
        seen = StoreObservation(False, "RedisStarting", f"Waiting for the Redis primary pod ({ready}/{wanted} pods ready)", record.endpoint, checksum)
    return StoreObservation(seen.ready, seen.reason, seen.message, seen.endpoint, seen.secret_checksum, detail=stateful_set)


async def provision(ctx: ReconcileContext, record: StoreRecord, seen: StoreObservation) -> None:
    owner, spec, name = ctx.owner, ctx.spec, record.name
    # observing read the password already: only a store without one needs it generated
    if not seen.secret_checksum and await ctx.kube.create_if_absent(builder.password_secret(owner, name, passwords.generate())):
        ctx.emit("Normal", "PasswordGenerated", f"Generated the Redis password in Secret {record.auth_secret_ref.name}")
    checksum = seen.secret_checksum or await secret_checksum(ctx, record.auth_secret_ref)
    if not checksum:
        raise ValueError(f"Secret {record.auth_secret_ref.name} has no key {record.auth_secret_ref.key!r}")
    await ctx.kube.apply(builder.config_map(owner, spec, name))
    for service in builder.services(owner, name):
        await ctx.kube.apply(service)
    desired = builder.stateful_set(owner, spec, name, checksum, ctx.settings.redis_image)
    live: dict[str, Any] | None = seen.detail
    if live is not None and live["metadata"].get("deletionTimestamp"):
        return  # being re-created after a volume expansion: applied again once it is gone
    if live is not None and await _expand_volumes(ctx, live, desired):
        return
    await ctx.kube.apply(desired, live=live)


def _claim_size(stateful_set: dict[str, Any]) -> str | None:
    for claim in stateful_set["spec"].get("volumeClaimTemplates") or []:
        return (((claim.get("spec") or {}).get("resources") or {}).get("requests") or {}).get("storage")
    return None


async def _expand_volumes(ctx: ReconcileContext, live: dict[str, Any], desired: dict[str, Any]) -> bool:
    """True when the StatefulSet was deleted (pods kept) to be re-created with larger claims."""
    have, want = _claim_size(live), _claim_size(desired)
    if have is None or want is None or parse_quantity(have) == parse_quantity(want):
        return False
    name = live["metadata"]["name"]
    if parse_quantity(want) < parse_quantity(have):
        raise ValueError(
            f"spec.onlineStore.redis.persistence.size: the volumes of {name} cannot shrink from {have} to {want}; "
            "set it back, or change storageClassName to move to a new store"
        )
    replicas = max(live["spec"].get("replicas", 1), (live.get("status") or {}).get("replicas") or 0)
    for ordinal in range(replicas):
        claim = f"data-{name}-{ordinal}"
        # the claims are the StatefulSet's (its retention policy makes it their owner)
        patch = {"spec": {"resources": {"requests": {"storage": want}}}}
        await ctx.kube.merge_patch("v1", "PersistentVolumeClaim", claim, ctx.owner.namespace, patch, owner_uid=live["metadata"]["uid"])
    await ctx.kube.delete(*_STATEFULSET, name, ctx.owner.namespace, orphan=True)
    ctx.emit("Normal", "VolumesExpanding", f"Expanding the volumes of {name} from {have} to {want}; re-creating the StatefulSet around its running pods")
    return True


async def retire(ctx: ReconcileContext, record: StoreRecord) -> None:
    """Delete the StatefulSet (its PVCs follow by retention policy), Services, config and password."""
    owner, name = ctx.owner, record.name
    deleted = await ctx.kube.delete(*_STATEFULSET, name, owner.namespace)
    for service in (name, builder.headless_name(name)):
        await ctx.kube.delete("v1", "Service", service, owner.namespace)
    await ctx.kube.delete("v1", "ConfigMap", builder.config_map_name(name), owner.namespace)
    await ctx.kube.delete("v1", "Secret", record.auth_secret_ref.name, owner.namespace)
    if deleted:
        ctx.emit("Normal", "StoreRetired", f"Retired the in-cluster Redis {name} and its volumes")
