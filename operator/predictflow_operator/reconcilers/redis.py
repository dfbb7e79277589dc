"""The in-cluster Redis store driver: a StatefulSet, its Services, config, passwords and ACL users.

The auth Secret is created once with a generated password per user; a store created before Redis
had users gets the keys it lacks added, its existing password kept. The ACL Secret is rendered from
it on every pass (builders.redis.acl_secret), so a rotation rolls Redis and its clients.

A larger volume size is applied in place: the PVCs are expanded (where the StorageClass allows it;
the API server says so where it does not), then the StatefulSet, whose claim templates are
immutable, is deleted without its pods and applied again. Settings no StatefulSet can change in
place name another instance (builders.redis.instance), so the switch replaces the store.

A store with shards is a Redis Cluster: observing it reads every pod's view of the cluster and
plans the next steps (redis_topology), provisioning carries them out (redis_cluster). It is ready
once every slot has a primary that answers, and is looked at again soon while it is settling.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .. import passwords
from ..api.models import FeatureStoreSpec, StoreRecord
from ..builders import redis as builder
from ..builders.common import checksum
from ..clients.kube import NotOwned, owned_by
from ..quantity import parse_quantity
from ..redis_topology import Topology, plan
from . import redis_cluster
from .context import ReconcileContext
from .secrets import SecretNotPermitted, not_permitted_message, permitted, secret_value
from .store import BilledNodes, StoreObservation

STORE_TYPE = builder.STORE_TYPE
_STATEFULSET = ("apps/v1", "StatefulSet")


@dataclass(frozen=True)
class _ClusterSeen:
    """A Redis Cluster's pods, the topology they told, and how provisioning reaches them."""

    topology: Topology
    addresses: list[redis_cluster.PodAddress]
    login: redis_cluster.Login


@dataclass(frozen=True)
class _Seen:
    stateful_set: dict[str, Any] | None
    auth_secret: dict[str, Any] | None
    cluster: _ClusterSeen | None = None


def desired_record(ctx: ReconcileContext, recorded: Sequence[StoreRecord]) -> StoreRecord:
    return builder.record(ctx.owner, ctx.spec)


def outside_cluster(record: StoreRecord) -> bool:
    return False


def asks_outside_cluster(spec: FeatureStoreSpec) -> bool:
    return False


def completed(ctx: ReconcileContext, record: StoreRecord) -> StoreRecord:
    """A record from before records were complete named the only layout there was."""
    return builder.record(ctx.owner, FeatureStoreSpec(project=ctx.spec.project))


def _passwords_checksum(secret: dict[str, Any] | None, cluster: bool) -> str:
    """Of every user's password: any rotation rolls the clients. Empty while a key is missing."""
    if secret is None or builder.missing_users(secret, cluster):
        return ""
    data = secret["data"]
    return checksum([data[builder.PASSWORD_KEYS[user]] for user in builder.users(cluster)])


def _ordinal(pod: dict[str, Any]) -> int:
    return int(pod["metadata"]["name"].rpartition("-")[2])


async def _cluster(ctx: ReconcileContext, record: StoreRecord, stateful_set: dict[str, Any], secret: dict[str, Any] | None) -> _ClusterSeen:
    """Every pod's view of the cluster and the steps that come next."""
    pods = await ctx.kube.list("v1", "Pod", ctx.owner.namespace, {builder.INSTANCE_LABEL: record.name}, owners={stateful_set["metadata"]["uid"]})
    addresses = [
        redis_cluster.PodAddress(
            pod=pod["metadata"]["name"],
            ip=(pod.get("status") or {}).get("podIP") or "",
            port=builder.PORT,
            host=(pod.get("spec") or {}).get("nodeName") or "",
            phase=(pod.get("status") or {}).get("phase") or "Pending",
        )
        for pod in sorted(pods, key=_ordinal)
        if not pod["metadata"].get("deletionTimestamp")
    ]
    try:
        password = builder.passwords_of(secret, True)[builder.TOPOLOGY_USER] if secret is not None else ""
    except ValueError:  # provisioning refuses it, naming the key
        password = ""
    login = redis_cluster.Login(builder.TOPOLOGY_USER, password, record.tls, await secret_value(ctx, record.ca_secret_ref) or "")
    members = await redis_cluster.read_members(addresses, login) if password else []
    redis = ctx.spec.online_store.redis
    # a recorded store keeps its own shard count; replicas are the spec's (it scales them in place)
    return _ClusterSeen(plan(members, record.shards, redis.replicas), addresses, login)


async def observe(ctx: ReconcileContext, record: StoreRecord) -> StoreObservation:
    secret = await ctx.kube.get("v1", "Secret", record.auth_secret_ref.name, ctx.owner.namespace)
    checksum = _passwords_checksum(secret, bool(record.shards))
    stateful_set = await ctx.kube.get(*_STATEFULSET, record.name, ctx.owner.namespace)
    if stateful_set is None:
        message = f"Creating the Redis StatefulSet {record.name}"
        return StoreObservation(False, "RedisCreating", message, record.endpoint, checksum, gone=True, detail=_Seen(None, secret))
    if not owned_by(stateful_set, ctx.owner.uid):  # a namesake: neither its readiness nor its pods are ours
        refused = NotOwned("StatefulSet", record.name, stateful_set)
        return StoreObservation(False, "NotOwned", refused.message, record.endpoint, checksum, error=True, detail=_Seen(stateful_set, secret))
    ready = (stateful_set.get("status") or {}).get("readyReplicas") or 0
    wanted = stateful_set["spec"].get("replicas", 1)
    if record.shards:
        seen_cluster = await _cluster(ctx, record, stateful_set, secret)
        topology = seen_cluster.topology
        reason = "RedisClusterReady" if topology.ready else "RedisClusterForming"
        return StoreObservation(
            topology.ready,
            reason,
            f"{topology.message} at {record.endpoint}",
            record.endpoint,
            checksum,
            detail=_Seen(stateful_set, secret, seen_cluster),
            # Redis gossips and fails over where no watch sees it; a pod that is not up yet has events of its own
            settling=bool(topology.steps) or not (topology.settled or topology.pods_silent),
            topology=topology.shards,
        )
    if ready >= 1:
        seen = StoreObservation(True, "RedisReady", f"Redis primary ready at {record.endpoint} ({ready}/{wanted} pods ready)", record.endpoint, checksum)
    else:
        seen = StoreObservation(False, "RedisStarting", f"Waiting for the Redis primary pod ({ready}/{wanted} pods ready)", record.endpoint, checksum)
    return StoreObservation(seen.ready, seen.reason, seen.message, seen.endpoint, seen.secret_checksum, detail=_Seen(stateful_set, secret))


def memory_limit(seen: StoreObservation) -> int | None:
    """Of the Redis container as the StatefulSet runs it."""
    observed: _Seen | None = seen.detail
    if observed is None or observed.stateful_set is None:
        return None
    for container in observed.stateful_set["spec"]["template"]["spec"].get("containers") or []:
        if container.get("name") == builder.CONTAINER:
            limit = ((container.get("resources") or {}).get("limits") or {}).get("memory")
            return int(parse_quantity(limit)) if limit else None
    return None


def billed_nodes(record: StoreRecord, seen: StoreObservation) -> BilledNodes | None:
    return None


async def _auth_secret(ctx: ReconcileContext, record: StoreRecord, secret: dict[str, Any] | None) -> dict[str, Any]:
    """The auth Secret with a password for every user: created, or completed, never overwritten."""
    name, cluster = record.auth_secret_ref.name, bool(record.shards)
    if secret is None:
        generated = {user: passwords.generate() for user in builder.users(cluster)}
        if await ctx.kube.create_if_absent(builder.password_secret(ctx.owner, record.name, generated)):
            ctx.emit("Normal", "PasswordGenerated", f"Generated the Redis users' passwords in Secret {name}")
        secret = await ctx.kube.get("v1", "Secret", name, ctx.owner.namespace)
        if secret is None:
            raise ValueError(f"Secret {name} vanished while it was being created")
    if not owned_by(secret, ctx.owner.uid):  # a namesake's password is neither used nor completed
        raise NotOwned("Secret", name, secret)
    missing = builder.missing_users(secret, cluster)
    if not missing:
        return secret
    keys = ", ".join(builder.PASSWORD_KEYS[user] for user in missing)
    added = builder.password_secret(ctx.owner, record.name, {user: passwords.generate() for user in missing})["data"]
    completed = await ctx.kube.merge_patch("v1", "Secret", name, ctx.owner.namespace, {"data": added})
    if completed is None:
        raise ValueError(f"Secret {name} vanished while it was being completed")
    ctx.emit("Normal", "PasswordGenerated", f"Added generated passwords ({keys}) to Secret {name}")
    return completed


async def _tls_checksum(ctx: ReconcileContext) -> str:
    """Of the spec's TLS Secret (Redis reads its certificate at start only: a renewal rolls it);
    ValueError while it is missing or incomplete, before any pod would wait on it."""
    name = ctx.spec.online_store.redis.tls.secret_name
    if not name:
        return ""
    secret = await ctx.kube.get("v1", "Secret", name, ctx.owner.namespace)
    if secret is not None and not permitted(ctx, secret):
        raise SecretNotPermitted(f"spec.onlineStore.redis.tls.secretName: {not_permitted_message(ctx, name)}")
    data = (secret or {}).get("data") or {}
    missing = [key for key in builder.TLS_KEYS if not data.get(key)]
    if secret is None or missing:
        what = "does not exist" if secret is None else f"lacks {', '.join(missing)}"
        raise ValueError(f"spec.onlineStore.redis.tls.secretName: Secret {name} {what} (it needs tls.crt, tls.key and ca.crt)")
    return checksum([data[key] for key in builder.TLS_KEYS])


async def provision(ctx: ReconcileContext, record: StoreRecord, seen: StoreObservation) -> None:
    owner, spec, name = ctx.owner, ctx.spec, record.name
    observed: _Seen = seen.detail
    cluster = bool(record.shards)
    secret = await _auth_secret(ctx, record, observed.auth_secret)
    acl = builder.acl_secret(owner, name, builder.passwords_of(secret, cluster), cluster)  # ValueError: a password it cannot place
    await ctx.kube.apply(acl)
    await ctx.kube.apply(builder.config_map(owner, spec, name))
    for service in builder.services(owner, name, cluster):
        await ctx.kube.apply(service)
    budget = builder.pod_disruption_budget(owner, spec, name)
    if budget is not None:
        await ctx.kube.apply(budget)
    else:
        await ctx.kube.delete("policy/v1", "PodDisruptionBudget", name, owner.namespace)
    desired = builder.stateful_set(
        owner, spec, name, checksum(acl["data"], await _tls_checksum(ctx)), ctx.settings.redis_image, ctx.settings.redis_exporter_image
    )
    live = observed.stateful_set
    if live is not None and live["metadata"].get("deletionTimestamp"):
        return  # being re-created after a volume expansion: applied again once it is gone
    if live is not None and await _expand_volumes(ctx, live, desired):
        return
    await ctx.kube.apply(desired, live=live)
    if observed.cluster is not None:
        await redis_cluster.carry_out(observed.cluster.topology.steps, observed.cluster.addresses, observed.cluster.login)


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
    await ctx.kube.delete("policy/v1", "PodDisruptionBudget", name, owner.namespace)
    await ctx.kube.delete("v1", "ConfigMap", builder.config_map_name(name), owner.namespace)
    await ctx.kube.delete("v1", "Secret", builder.acl_secret_name(name), owner.namespace)
    await ctx.kube.delete("v1", "Secret", record.auth_secret_ref.name, owner.namespace)
    if deleted:
        ctx.emit("Normal", "StoreRetired", f"Retired the in-cluster Redis {name} and its volumes")
