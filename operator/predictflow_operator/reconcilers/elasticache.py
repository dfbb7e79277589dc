"""The ElastiCache store: adopt an existing endpoint, or provision a replication group through AWS."""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass

from .. import passwords
from ..builders import elasticache as builder
from ..builders.common import Owner, checksum
from ..clients.aws import AwsError, ElastiCache
from .context import ReconcileContext
from .store import StoreState

_MAX_BACKOFF = 300.0


@dataclass
class _Memo:
    """The last answer from AWS and when to ask again: an available group is re-read every poll
    interval; failures back off (30 s, 60 s, ... 5 min) so a quota or permission error is reported
    and retried without hammering the API."""

    key: str = ""
    failures: int = 0
    ask_at: float = 0.0
    last: StoreState | None = None


_memo: dict[Owner, _Memo] = {}


def _client(ctx: ReconcileContext) -> ElastiCache:
    if ctx.aws is None:
        ctx.aws = ElastiCache(ctx.spec.online_store.elasticache.region, ctx.settings.aws_endpoint_url)
    return ctx.aws


async def _secret_checksum(ctx: ReconcileContext, name: str, key: str) -> str | None:
    secret = await ctx.kube.get("v1", "Secret", name, ctx.owner.namespace)
    value = ((secret or {}).get("data") or {}).get(key)
    return checksum(value) if value else None


async def ensure(ctx: ReconcileContext) -> StoreState:
    if ctx.spec.online_store.elasticache.mode == "existing":
        return await _ensure_existing(ctx)
    memo = _memo.setdefault(ctx.owner, _Memo())
    key = checksum(ctx.spec.online_store.elasticache.model_dump())
    if memo.key == key and memo.last is not None and time.monotonic() < memo.ask_at:
        return memo.last
    memo.key = key
    try:
        memo.last = await _ensure_managed(ctx)
    except AwsError as error:
        memo.failures += 1
        memo.ask_at = time.monotonic() + min(_MAX_BACKOFF, 30.0 * 2 ** (memo.failures - 1))
        memo.last = StoreState("elasticache", None, False, "AwsError", f"AWS {error.code}: {error.message}")
        ctx.emit("Warning", "AwsError", memo.last.message)
        return memo.last
    memo.failures = 0
    memo.ask_at = time.monotonic() + (ctx.settings.elasticache_poll_seconds if memo.last.ready else 0)
    return memo.last


async def _ensure_existing(ctx: ReconcileContext) -> StoreState:
    cache = ctx.spec.online_store.elasticache
    target = builder.existing_target(cache)
    secret_checksum = await _secret_checksum(ctx, target.password.name, target.password.key)
    if secret_checksum is None:
        return StoreState(
            "elasticache", target, False, "AuthSecretMissing",
            f"Secret {target.password.name} with key {target.password.key} (spec.onlineStore.elasticache.authSecretRef) not found",
        )
    if target.ca is not None and await _secret_checksum(ctx, target.ca.name, target.ca.key) is None:
        return StoreState(
            "elasticache", target, False, "CASecretMissing",
            f"Secret {target.ca.name} with key {target.ca.key} (spec.onlineStore.elasticache.caSecretRef) not found",
        )
    return StoreState("elasticache", target, True, "EndpointAdopted", f"Using the existing endpoint {target.endpoint} over TLS", secret_checksum)


async def _ensure_managed(ctx: ReconcileContext) -> StoreState:
    owner, cache = ctx.owner, ctx.spec.online_store.elasticache
    aws = _client(ctx)
    await ctx.kube.create_if_absent(builder.auth_secret(owner, passwords.generate(64)))
    secret_checksum = await _secret_checksum(ctx, builder.auth_secret_name(owner), builder.TOKEN_KEY)
    group_id = builder.replication_group_id(owner)
    group = await aws.describe(group_id)
    if group is None:
        secret = await ctx.kube.get("v1", "Secret", builder.auth_secret_name(owner), owner.namespace)
        token = base64.b64decode(secret["data"][builder.TOKEN_KEY]).decode()
        await aws.create(builder.create_request(owner, ctx.spec, token))
        ctx.emit("Normal", "ReplicationGroupCreating", f"Creating ElastiCache replication group {group_id} ({cache.node_type})")
        return StoreState("elasticache", None, False, "Creating", f"Creating ElastiCache replication group {group_id}", secret_checksum)
    status = group.get("Status", "unknown")
    if status == "deleting":
        return StoreState("elasticache", None, False, "Deleting", f"Replication group {group_id} is being deleted; it will be recreated")
    if status != "available":
        return StoreState("elasticache", None, False, "Provisioning", f"Replication group {group_id} is {status}", secret_checksum)
    await _converge_size(ctx, aws, group)
    primary = group["NodeGroups"][0]["PrimaryEndpoint"]
    target = builder.managed_target(owner, f"{primary['Address']}:{primary['Port']}")
    return StoreState("elasticache", target, True, "Available", f"Replication group {group_id} available at {target.endpoint}", secret_checksum)


async def _converge_size(ctx: ReconcileContext, aws: ElastiCache, group: dict) -> None:
    cache, group_id = ctx.spec.online_store.elasticache, group["ReplicationGroupId"]
    if group.get("CacheNodeType") and group["CacheNodeType"] != cache.node_type:
        await aws.modify_node_type(group_id, cache.node_type)
        ctx.emit("Normal", "ReplicationGroupModifying", f"Changing {group_id} node type to {cache.node_type}")
        return
    replicas = len(group.get("MemberClusters") or []) - 1
    if replicas >= 0 and replicas != cache.replicas:
        await aws.set_replicas(group_id, replicas, cache.replicas)
        ctx.emit("Normal", "ReplicationGroupModifying", f"Changing {group_id} read replicas from {replicas} to {cache.replicas}")


async def retire(ctx: ReconcileContext) -> bool:
    """Managed groups follow deletionPolicy; an existing endpoint is never touched."""
    owner, cache = ctx.owner, ctx.spec.online_store.elasticache
    _memo.pop(owner, None)
    if cache.mode != "managed" or cache.deletion_policy != "Delete":
        return False
    deleted = await _client(ctx).delete(builder.replication_group_id(owner))
    if deleted:
        ctx.emit("Normal", "StoreRetired", f"Deleting ElastiCache replication group {builder.replication_group_id(owner)} (deletionPolicy Delete)")
    return deleted

