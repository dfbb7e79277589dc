"""The ElastiCache store driver: adopt an existing endpoint, or provision a replication group through AWS."""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass

from .. import passwords
from ..api.models import FeatureStoreSpec, StoreRecord
from ..builders import elasticache as builder
from ..builders.common import Owner
from ..builders.store import store_key
from ..clients.aws import AwsError, ElastiCache
from .context import ReconcileContext
from .secrets import secret_checksum
from .store import StoreObservation

_MAX_BACKOFF = 300.0


@dataclass
class AwsMemo:
    """The last answer from AWS about one group and when to ask again: an available group is re-read
    every poll interval; failures back off (30 s, 60 s, ... 5 min) so a quota or permission error is
    reported and retried without hammering the API."""

    failures: int = 0
    ask_at: float = 0.0
    last: StoreObservation | None = None

    def fresh(self) -> bool:
        return self.last is not None and time.monotonic() < self.ask_at

    def failed(self, error: AwsError) -> StoreObservation:
        self.failures += 1
        self.ask_at = time.monotonic() + min(_MAX_BACKOFF, 30.0 * 2 ** (self.failures - 1))
        self.last = StoreObservation(False, "AwsError", f"AWS {error.code}: {error.message}", error=True)
        return self.last

    def answered(self, seen: StoreObservation, poll_seconds: float) -> StoreObservation:
        self.failures = 0
        self.ask_at = time.monotonic() + (poll_seconds if seen.ready else 0)
        self.last = seen
        return seen


def desired_record(owner: Owner, spec: FeatureStoreSpec) -> StoreRecord:
    cache = spec.online_store.elasticache
    return builder.existing_record(cache) if cache.mode == "existing" else builder.managed_record(owner, cache)


def _client(ctx: ReconcileContext, region: str) -> ElastiCache:
    if region not in ctx.memo.aws_clients:
        ctx.memo.aws_clients[region] = ElastiCache(region, ctx.settings.aws_endpoint_url)
    return ctx.memo.aws_clients[region]


def _memo(ctx: ReconcileContext, record: StoreRecord) -> AwsMemo:
    return ctx.memo.aws_answers.setdefault((ctx.owner.uid, store_key(record)), AwsMemo())


async def observe(ctx: ReconcileContext, record: StoreRecord) -> StoreObservation:
    checksum = await secret_checksum(ctx, record.auth_secret_ref) or ""
    if record.mode == "existing":
        return await _observe_existing(ctx, record, checksum)
    memo = _memo(ctx, record)
    if not memo.fresh():
        try:
            seen = _describe(record, await _client(ctx, record.region).describe(record.name), checksum)
        except AwsError as error:
            seen = memo.failed(error)
            ctx.emit("Warning", "AwsError", seen.message)
        else:
            memo.answered(seen, ctx.settings.elasticache_poll_seconds)
    # The token is read from Kubernetes every time: an AWS blip never changes what pods are told.
    last = memo.last
    assert last is not None
    return StoreObservation(last.ready, last.reason, last.message, last.endpoint, checksum, last.error, last.gone, last.detail)


def _describe(record: StoreRecord, group: dict | None, checksum: str) -> StoreObservation:
    group_id = record.name
    if group is None:
        return StoreObservation(False, "Creating", f"Replication group {group_id} does not exist yet", gone=True)
    status = group.get("Status", "unknown")
    if status == "deleting":
        return StoreObservation(False, "Deleting", f"Replication group {group_id} is being deleted", gone=True, detail=group)
    if status != "available":
        return StoreObservation(False, "Provisioning", f"Replication group {group_id} is {status}", detail=group)
    primary = group["NodeGroups"][0]["PrimaryEndpoint"]
    endpoint = f"{primary['Address']}:{primary['Port']}"
    return StoreObservation(True, "Available", f"Replication group {group_id} available at {endpoint}", endpoint, checksum, detail=group)


async def _observe_existing(ctx: ReconcileContext, record: StoreRecord, checksum: str) -> StoreObservation:
    auth, ca = record.auth_secret_ref, record.ca_secret_ref
    if not checksum:
        return StoreObservation(
            False, "AuthSecretMissing",
            f"Secret {auth.name} with key {auth.key} (spec.onlineStore.elasticache.authSecretRef) not found", record.endpoint, error=True,
        )
    if ca.name and await secret_checksum(ctx, ca) is None:
        return StoreObservation(
            False, "CASecretMissing",
            f"Secret {ca.name} with key {ca.key} (spec.onlineStore.elasticache.caSecretRef) not found", record.endpoint, error=True,
        )
    return StoreObservation(True, "EndpointAdopted", f"Using the existing endpoint {record.endpoint} over TLS", record.endpoint, checksum)


async def provision(ctx: ReconcileContext, record: StoreRecord, seen: StoreObservation) -> None:
    if record.mode == "existing":
        return
    memo = _memo(ctx, record)
    if seen.error and memo.fresh():
        return  # backing off after an AWS error
    try:
        await _provision_managed(ctx, record, seen)
    except AwsError as error:
        memo.failed(error)
        raise


async def _provision_managed(ctx: ReconcileContext, record: StoreRecord, seen: StoreObservation) -> None:
    owner, cache = ctx.owner, ctx.spec.online_store.elasticache
    aws = _client(ctx, record.region)
    await ctx.kube.create_if_absent(builder.auth_secret(owner, passwords.generate(64)))
    if seen.gone and seen.reason == "Creating":
        secret = await ctx.kube.get("v1", "Secret", record.auth_secret_ref.name, owner.namespace)
        token = base64.b64decode(secret["data"][record.auth_secret_ref.key]).decode()
        await aws.create(builder.create_request(owner, ctx.spec, token))
        _memo(ctx, record).ask_at = 0.0  # describe again next pass
        ctx.emit("Normal", "ReplicationGroupCreating", f"Creating ElastiCache replication group {record.name} ({cache.node_type})")
        return
    if seen.ready and seen.detail is not None and await converge_size(ctx, aws, seen.detail):
        _memo(ctx, record).ask_at = 0.0


async def converge_size(ctx: ReconcileContext, aws: ElastiCache, group: dict) -> bool:
    """Apply a node type or replica change with a modify call; True when one was made."""
    cache, group_id = ctx.spec.online_store.elasticache, group["ReplicationGroupId"]
    if group.get("CacheNodeType") and group["CacheNodeType"] != cache.node_type:
        await aws.modify_node_type(group_id, cache.node_type)
        ctx.emit("Normal", "ReplicationGroupModifying", f"Changing {group_id} node type to {cache.node_type}")
        return True
    replicas = len(group.get("MemberClusters") or []) - 1
    if replicas >= 0 and replicas != cache.replicas:
        await aws.set_replicas(group_id, replicas, cache.replicas)
        ctx.emit("Normal", "ReplicationGroupModifying", f"Changing {group_id} read replicas from {replicas} to {cache.replicas}")
        return True
    return False


async def retire(ctx: ReconcileContext, record: StoreRecord) -> None:
    """Managed groups follow the recorded deletionPolicy; an adopted endpoint is never touched."""
    ctx.memo.aws_answers.pop((ctx.owner.uid, store_key(record)), None)
    if record.mode != "managed" or record.deletion_policy != "Delete":
        return
    if await _client(ctx, record.region).delete(record.name):
        ctx.emit("Normal", "StoreRetired", f"Deleting ElastiCache replication group {record.name} (deletionPolicy Delete)")
