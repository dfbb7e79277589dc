"""The ElastiCache store driver: adopt an existing endpoint, or provision a replication group through AWS.

A managed group is this FeatureStore's only when its tags say so (cluster identity, namespace and
name): a group whose tags say otherwise is reported, and never modified or deleted. The tags are
read with every description and again right before every modification or deletion.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .. import passwords
from ..api.models import FeatureStoreSpec, StoreRecord
from ..builders import elasticache as builder
from ..builders.common import checksum
from ..builders.store import store_key
from ..clients.aws import AwsError, ElastiCache
from . import elasticache_token as token
from .context import ReconcileContext
from .secrets import secret_checksum
from .store import BilledNodes, StoreObservation

STORE_TYPE = builder.STORE_TYPE
_MAX_BACKOFF = 300.0
_SERVING_STATES = ("available", "modifying", "snapshotting")  # a group in these answers clients


class ForeignGroup(ValueError):
    """A replication group whose tags do not say it is this FeatureStore's."""


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


@dataclass(frozen=True)
class Managed:
    """What provisioning needs of a managed group's observation."""

    group: dict[str, Any] | None
    ownership: builder.Ownership
    secret: dict[str, Any] | None
    verdict: token.SecretVerdict


def memory_limit(seen: StoreObservation) -> int | None:
    return None  # ElastiCache sets maxmemory itself, and INFO reports it


def billed_nodes(record: StoreRecord, seen: StoreObservation) -> BilledNodes | None:
    """A managed group's nodes as AWS describes them; an existing endpoint's are not the operator's to know."""
    if record.mode != "managed" or not isinstance(seen.detail, Managed) or not seen.detail.group:
        return None
    group = seen.detail.group
    if not group.get("CacheNodeType"):
        return None
    return BilledNodes(record.region, group["CacheNodeType"], len(group.get("MemberClusters") or []))


def desired_record(ctx: ReconcileContext, recorded: Sequence[StoreRecord]) -> StoreRecord:
    """A FeatureStore keeps the group id it recorded (ids made before the cluster identity included);
    only a group it never recorded in this region, with this many shards, gets a new id."""
    cache = ctx.spec.online_store.elasticache
    if cache.mode == "existing":
        return builder.existing_record(cache)
    shards = builder.record_shards(cache)
    kept = next((r.name for r in recorded if r.type == STORE_TYPE and outside_cluster(r) and r.region == cache.region and r.name and r.shards == shards), "")
    return builder.managed_record(ctx.owner, cache, kept or builder.replication_group_id(ctx.owner, ctx.settings.cluster_identity, cache.shards))


def outside_cluster(record: StoreRecord) -> bool:
    """A managed group: AWS is polled, and the FeatureStore's finalizer deletes it."""
    return record.mode == "managed"


def asks_outside_cluster(spec: FeatureStoreSpec) -> bool:
    return spec.online_store.elasticache.mode == "managed"


def completed(ctx: ReconcileContext, record: StoreRecord) -> StoreRecord:
    """A record from before records were complete (type and endpoint only): the adopted endpoint if
    the spec still names it, else the group under the id the operator used then."""
    cache = ctx.spec.online_store.elasticache
    if cache.mode == "existing" and cache.endpoint == record.endpoint:
        return builder.existing_record(cache)
    return builder.managed_record(ctx.owner, cache, builder.legacy_replication_group_id(ctx.owner))


def _client(ctx: ReconcileContext, region: str) -> ElastiCache:
    if region not in ctx.memo.aws_clients:
        ctx.memo.aws_clients[region] = ElastiCache(region, ctx.settings.aws_endpoint_url)
    return ctx.memo.aws_clients[region]


def _memo(ctx: ReconcileContext, record: StoreRecord) -> AwsMemo:
    return ctx.memo.aws_answers.setdefault((ctx.owner.uid, store_key(record)), AwsMemo())


async def observe(ctx: ReconcileContext, record: StoreRecord) -> StoreObservation:
    if record.mode == "existing":
        return await _observe_existing(ctx, record, await secret_checksum(ctx, record.auth_secret_ref) or "")
    secret = await ctx.kube.get("v1", "Secret", record.auth_secret_ref.name, ctx.owner.namespace)
    data = (secret or {}).get("data") or {}
    # Pods read the active token; a Secret from before it existed holds it under `token` until marked.
    value = data.get(record.auth_secret_ref.key) or data.get(builder.TOKEN_KEY)
    checksum_ = checksum(value) if value else ""
    identity = ctx.settings.cluster_identity
    if not identity:
        return StoreObservation(
            False,
            "ClusterIdentityMissing",
            f"Replication group {record.name} is left alone: the operator has no cluster identity (chart value clusterIdentity, "
            "PREDICTFLOW_CLUSTER_IDENTITY), so it cannot tell its groups from another cluster's",
            secret_checksum=checksum_,
            error=True,
        )
    verdict = token.judge_secret(secret, ctx.owner, record.name, identity)
    memo = _memo(ctx, record)
    if not memo.fresh():
        try:
            seen = await _describe(ctx, record)
        except AwsError as error:
            seen = memo.failed(error)
            ctx.emit("Warning", "AwsError", seen.message)
        else:
            memo.answered(seen, ctx.settings.elasticache_poll_seconds)
    # The token is read from Kubernetes every time: an AWS blip never changes what pods are told.
    last = memo.last
    assert last is not None
    if last.error:
        return StoreObservation(last.ready, last.reason, last.message, last.endpoint, checksum_, True, last.gone)
    group, ownership = last.detail
    if verdict.kind == token.FOREIGN:
        return StoreObservation(False, "AuthSecretForeign", verdict.message, secret_checksum=checksum_, error=True)
    if group is not None and verdict.kind == token.ABSENT:
        return StoreObservation(
            False,
            "AuthTokenUnknown",
            f"Replication group {record.name} exists but its token Secret {record.auth_secret_ref.name} does not: restore the Secret "
            "(kept when the group was retained) or delete the group",
            secret_checksum=checksum_,
            error=True,
        )
    message = last.message
    if secret is not None and last.ready:
        waiting = token.rotation_step(secret, group, None).message
        message = f"{message}; {waiting}" if waiting else message
    return StoreObservation(last.ready, last.reason, message, last.endpoint, checksum_, False, last.gone, Managed(group, ownership, secret, verdict))


async def _ownership(ctx: ReconcileContext, aws: ElastiCache, record: StoreRecord, group: dict[str, Any]) -> builder.Ownership:
    seen = builder.ownership(await aws.tags(group["ARN"]), ctx.owner, ctx.settings.cluster_identity)
    if seen.legacy and record.name != builder.legacy_replication_group_id(ctx.owner):
        return builder.Ownership(False, f"tag {builder.TAG_CLUSTER} missing (expected {ctx.settings.cluster_identity!r})")
    return seen


async def _describe(ctx: ReconcileContext, record: StoreRecord) -> StoreObservation:
    aws, group_id = _client(ctx, record.region), record.name
    group = await aws.describe(group_id)
    if group is None:
        return StoreObservation(False, "Creating", f"Replication group {group_id} does not exist yet", gone=True, detail=(None, builder.Ownership(True)))
    ownership = await _ownership(ctx, aws, record, group)
    if not ownership.ours:
        return StoreObservation(
            False,
            "ForeignReplicationGroup",
            f"Replication group {group_id} in {record.region} exists but is not this FeatureStore's: {ownership.mismatch}; "
            "the operator neither modifies nor deletes it",
            error=True,
        )
    status, detail = group.get("Status", "unknown"), (group, ownership)
    if status == "deleting":
        return StoreObservation(False, "Deleting", f"Replication group {group_id} is being deleted", gone=True, detail=detail)
    if status not in _SERVING_STATES:
        return StoreObservation(False, "Provisioning", f"Replication group {group_id} is {status}", detail=detail)
    # cluster mode: clients start at the configuration endpoint and read the slot map there
    primary = group.get("ConfigurationEndpoint") if record.shards else group["NodeGroups"][0]["PrimaryEndpoint"]
    if not primary:
        return StoreObservation(False, "Provisioning", f"Replication group {group_id} is {status} without a configuration endpoint yet", detail=detail)
    endpoint = f"{primary['Address']}:{primary['Port']}"
    state = "" if status == "available" else f" ({status})"
    return StoreObservation(True, "Available", f"Replication group {group_id} available at {endpoint}{state}", endpoint, detail=detail)


async def _observe_existing(ctx: ReconcileContext, record: StoreRecord, checksum: str) -> StoreObservation:
    auth, ca = record.auth_secret_ref, record.ca_secret_ref
    if not checksum:
        return StoreObservation(
            False,
            "AuthSecretMissing",
            f"Secret {auth.name} with key {auth.key} (spec.onlineStore.elasticache.authSecretRef) not found",
            record.endpoint,
            error=True,
        )
    if ca.name and await secret_checksum(ctx, ca) is None:
        return StoreObservation(
            False,
            "CASecretMissing",
            f"Secret {ca.name} with key {ca.key} (spec.onlineStore.elasticache.caSecretRef) not found",
            record.endpoint,
            error=True,
        )
    return StoreObservation(True, "EndpointAdopted", f"Using the existing endpoint {record.endpoint} over TLS", record.endpoint, checksum)


async def provision(ctx: ReconcileContext, record: StoreRecord, seen: StoreObservation) -> None:
    if record.mode == "existing" or seen.error or not isinstance(seen.detail, Managed):
        return  # an adopted endpoint; an AWS error being backed off; a group or Secret that is not ours
    memo = _memo(ctx, record)
    try:
        await _provision_managed(ctx, record, seen, seen.detail)
    except AwsError as error:
        memo.failed(error)
        raise


async def _provision_managed(ctx: ReconcileContext, record: StoreRecord, seen: StoreObservation, managed: Managed) -> None:
    owner, spec, identity = ctx.owner, ctx.spec, ctx.settings.cluster_identity
    aws = _client(ctx, record.region)
    secret = await token.ensure_secret(ctx, record, managed.secret, managed.verdict, passwords.generate(64))
    if secret is None:
        raise ValueError(f"Secret {record.auth_secret_ref.name} could not be created")
    group = managed.group
    if group is None:
        if seen.reason == "Creating":
            await aws.create(builder.create_request(owner, spec, token.active_token(secret), record.name, identity))
            _memo(ctx, record).ask_at = 0.0  # describe again next pass
            ctx.emit("Normal", "ReplicationGroupCreating", f"Creating ElastiCache replication group {record.name} ({spec.online_store.elasticache.node_type})")
        return

    async def verify() -> None:
        """Right before a modification: the group's tags still say it is ours."""
        ownership = await _ownership(ctx, aws, record, group)
        if not ownership.ours:
            _memo(ctx, record).ask_at = 0.0
            raise ForeignGroup(f"Replication group {record.name} is not this FeatureStore's ({ownership.mismatch}): left unmodified")

    if managed.ownership.legacy:
        await verify()
        await aws.add_tags(group["ARN"], builder.ownership_tags(owner, identity))
        ctx.emit("Normal", "ReplicationGroupTagged", f"Tagged replication group {record.name} with this cluster's identity")
    if group.get("Status") != "available":
        return
    if await converge_size(ctx, aws, group, verify):
        _memo(ctx, record).ask_at = 0.0
        return
    state = (secret["metadata"].get("annotations") or {}).get(builder.TOKEN_STATE_ANNOTATION)
    if token.rotation_step(secret, group, True).do:  # something to send or write: check the tags first
        if state != "Rotated":
            await verify()
        await token.rotate(ctx, aws, record, secret, group)
        _memo(ctx, record).ask_at = 0.0


async def converge_size(ctx: ReconcileContext, aws: ElastiCache, group: dict, verify: Callable[[], Awaitable[None]] | None = None) -> bool:
    """Apply a node type or replica change with a modify call; True when one was made."""
    cache, group_id = ctx.spec.online_store.elasticache, group["ReplicationGroupId"]
    if group.get("CacheNodeType") and group["CacheNodeType"] != cache.node_type:
        if verify is not None:
            await verify()
        await aws.modify_node_type(group_id, cache.node_type)
        ctx.emit("Normal", "ReplicationGroupModifying", f"Changing {group_id} node type to {cache.node_type}")
        return True
    shards = max(1, len(group.get("NodeGroups") or []))
    replicas = len(group.get("MemberClusters") or []) // shards - 1
    if replicas >= 0 and replicas != cache.replicas:
        if verify is not None:
            await verify()
        await aws.set_replicas(group_id, replicas, cache.replicas)
        ctx.emit("Normal", "ReplicationGroupModifying", f"Changing {group_id} read replicas from {replicas} to {cache.replicas}")
        return True
    return False


async def retire(ctx: ReconcileContext, record: StoreRecord) -> None:
    """Managed groups follow the recorded deletionPolicy: a retained group keeps its token Secret
    (released from this FeatureStore), a deleted one is deleted only if its tags say it is ours.
    An adopted endpoint is never touched."""
    ctx.memo.aws_answers.pop((ctx.owner.uid, store_key(record)), None)
    if record.mode != "managed":
        return
    if record.deletion_policy != "Delete":
        await token.release(ctx, record)
        return
    aws = _client(ctx, record.region)
    group = await aws.describe(record.name)
    if group is None or group.get("Status") == "deleting":
        return
    ownership = await _ownership(ctx, aws, record, group)
    if not ownership.ours:
        raise ForeignGroup(f"Replication group {record.name} is not this FeatureStore's ({ownership.mismatch}): not deleted")
    if await aws.delete(record.name):
        ctx.emit("Normal", "StoreRetired", f"Deleting ElastiCache replication group {record.name} (deletionPolicy Delete)")
