"""ElastiCache: the replication group request, its ownership tags and the AUTH token Secret (pure)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from .. import FIELD_MANAGER, GROUP
from ..api.models import ElastiCacheStore, FeatureStoreSpec, SecretKeyRef, StoreRecord
from .common import STORE_TYPE_LABEL, Owner, child_name, metadata

STORE_TYPE = "elasticache"
COMPONENT = STORE_TYPE
ID_PREFIX = "pf-"  # every group id starts with it: the IAM policy's resource pattern
_MAX_ID = 40
_DIGEST_CHARS = 16  # base32: 80 bits

# The token Secret: the user edits `token`; the pods read `active`, which the operator moves only once
# AWS accepts the new token; `rotating` holds a token sent with ROTATE until it is SET.
TOKEN_KEY = "token"
ACTIVE_KEY = "active"
ROTATING_KEY = "rotating"
GROUP_ANNOTATION = f"{GROUP}/replication-group"
CLUSTER_ANNOTATION = f"{GROUP}/cluster-identity"
FEATURESTORE_ANNOTATION = f"{GROUP}/featurestore"
TOKEN_STATE_ANNOTATION = f"{GROUP}/auth-token-state"
# Set: AWS accepts `active` alone. Staged: `rotating` is about to be sent with ROTATE. Rotated: AWS
# accepts `active` and `rotating`. Rolling: `active` is the new token, the pods roll onto it, then SET.
TOKEN_STATES = ("Set", "Staged", "Rotated", "Rolling")

TAG_CLUSTER = f"{GROUP}/cluster-identity"
TAG_FEATURESTORE = f"{GROUP}/featurestore"
TAG_UID = f"{GROUP}/featurestore-uid"
TAG_MANAGED_BY = "app.kubernetes.io/managed-by"


def _readable(owner: Owner, room: int) -> str:
    readable = re.sub(r"[^a-z0-9]+", "-", f"{owner.namespace}-{owner.name}".lower()).strip("-")
    return readable[:room].strip("-")


def replication_group_id(owner: Owner, cluster_identity: str, shards: int = 1) -> str:
    """`pf-<namespace-name, cut short>-<80-bit digest of cluster identity, namespace and name>`, within
    ElastiCache's rules: <= 40 chars, lowercase, starts with a letter, no double or trailing hyphen.
    Two FeatureStores, in one cluster or in two sharing an AWS account, never meet by chance. A
    group of several shards has the shard count in the digest: a new count is a new group."""
    identity = [cluster_identity, owner.namespace, owner.name] + ([shards] if shards > 1 else [])
    raw = hashlib.sha256(json.dumps(identity).encode()).digest()
    digest = base64.b32encode(raw[:10]).decode().lower()
    readable = _readable(owner, _MAX_ID - len(ID_PREFIX) - 1 - _DIGEST_CHARS)
    return re.sub(r"-+", "-", f"{ID_PREFIX}{readable}-{digest}")


def legacy_replication_group_id(owner: Owner) -> str:
    """The id of groups created before the cluster identity (a 24-bit digest): kept by the
    FeatureStores that recorded it, never given to a new group."""
    digest = hashlib.sha256(f"{owner.namespace}/{owner.name}".encode()).hexdigest()[:6]
    readable = _readable(owner, _MAX_ID - len("pf--") - len(digest))
    return re.sub(r"-+", "-", f"pf-{readable}-{digest}")


def ownership_tags(owner: Owner, cluster_identity: str) -> list[dict[str, str]]:
    return [
        {"Key": TAG_CLUSTER, "Value": cluster_identity},
        {"Key": TAG_FEATURESTORE, "Value": f"{owner.namespace}/{owner.name}"},
        {"Key": TAG_UID, "Value": owner.uid},
        {"Key": TAG_MANAGED_BY, "Value": FIELD_MANAGER},
    ]


@dataclass(frozen=True)
class Ownership:
    ours: bool
    mismatch: str = ""  # why not, naming the tags
    legacy: bool = False  # ours by the tags written before the cluster identity; the cluster tag is to be added


def ownership(tags: dict[str, str], owner: Owner, cluster_identity: str) -> Ownership:
    """Whether a group's tags say it belongs to this FeatureStore of this cluster. The UID is not
    compared: a FeatureStore re-created under the same name adopts its retained group."""
    wanted = {TAG_MANAGED_BY: FIELD_MANAGER, TAG_FEATURESTORE: f"{owner.namespace}/{owner.name}", TAG_CLUSTER: cluster_identity}
    legacy = TAG_CLUSTER not in tags
    wrong = [
        f"{key}={tags[key]!r} (expected {value!r})" if key in tags else f"{key} missing (expected {value!r})"
        for key, value in wanted.items()
        if tags.get(key) != value and not (key == TAG_CLUSTER and legacy)
    ]
    if wrong:
        return Ownership(False, "tag " + ", tag ".join(wrong))
    return Ownership(True, legacy=legacy)


def auth_secret_name(owner: Owner, shards: int = 1) -> str:
    """One token Secret per group: a group of several shards, which a switch builds beside the one
    serving, has its own."""
    return child_name(owner, "elasticache-auth" if shards <= 1 else f"elasticache-{shards}-shards-auth")


def secret_marks(owner: Owner, group_id: str, cluster_identity: str) -> dict[str, str]:
    """What marks a token Secret as the operator's for one group: only such a Secret is adopted."""
    return {GROUP_ANNOTATION: group_id, CLUSTER_ANNOTATION: cluster_identity, FEATURESTORE_ANNOTATION: f"{owner.namespace}/{owner.name}"}


def _b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def auth_secret(owner: Owner, name: str, token: str, group_id: str, cluster_identity: str) -> dict[str, Any]:
    meta = metadata(owner, name, COMPONENT, **{STORE_TYPE_LABEL: STORE_TYPE})
    meta["annotations"] = {**secret_marks(owner, group_id, cluster_identity), TOKEN_STATE_ANNOTATION: "Set"}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": meta,
        "type": "Opaque",
        "data": {TOKEN_KEY: _b64(token), ACTIVE_KEY: _b64(token)},
    }


def create_request(owner: Owner, spec: FeatureStoreSpec, token: str, group_id: str, cluster_identity: str) -> dict[str, Any]:
    cache = spec.online_store.elasticache
    request: dict[str, Any] = {
        "ReplicationGroupId": group_id,
        "ReplicationGroupDescription": f"PredictFlow online store of {owner.namespace}/{owner.name}",
        "Engine": "redis",
        "EngineVersion": cache.engine_version,
        "CacheNodeType": cache.node_type,
        "ReplicasPerNodeGroup": cache.replicas,
        # cluster mode fails over by itself: AWS requires it on
        "AutomaticFailoverEnabled": cache.replicas > 0 or cache.shards > 1,
        "MultiAZEnabled": cache.replicas > 0,
        "TransitEncryptionEnabled": True,
        "AtRestEncryptionEnabled": True,
        "AuthToken": token,
        "Port": 6379,
        "Tags": ownership_tags(owner, cluster_identity),
    }
    if cache.shards > 1:
        request.update(ClusterMode="enabled", NumNodeGroups=cache.shards, CacheParameterGroupName=cluster_parameter_group(cache.engine_version))
    if cache.subnet_group_name:
        request["CacheSubnetGroupName"] = cache.subnet_group_name
    if cache.security_group_ids:
        request["SecurityGroupIds"] = list(cache.security_group_ids)
    return request


def cluster_parameter_group(engine_version: str) -> str:
    """AWS's default parameter group with cluster mode on, for the engine's family."""
    major = engine_version.split(".")[0]
    return f"default.redis{major}.cluster.on" if int(major) >= 7 else f"default.redis{major}.{'x' if major == '6' else '0'}.cluster.on"


def managed_record(owner: Owner, cache: ElastiCacheStore, group_id: str | None = None) -> StoreRecord:
    """A replication group the operator creates (by default under the id of an empty cluster
    identity); its endpoint is known once AWS reports it. Pods read the `active` token."""
    return StoreRecord(
        type=STORE_TYPE,
        mode="managed",
        name=group_id or replication_group_id(owner, "", cache.shards),
        shards=record_shards(cache),
        tls=True,
        auth_secret_ref=SecretKeyRef(name=auth_secret_name(owner, cache.shards), key=ACTIVE_KEY),
        region=cache.region,
        deletion_policy=cache.deletion_policy,
    )


def record_shards(cache: ElastiCacheStore) -> int:
    """StoreRecord.shards of the spec's store: 0 for a single node group."""
    return cache.shards if cache.shards > 1 else 0


def store_key(record: StoreRecord) -> str:
    """A managed group is known by its id before AWS reports its endpoint; an adopted endpoint by
    its address."""
    if record.mode == "existing":
        return f"{STORE_TYPE}/existing/{record.endpoint}"
    return f"{STORE_TYPE}/managed/{record.region}/{record.name}"


def credentials(record: StoreRecord, role: str) -> tuple[str, SecretKeyRef]:
    """One AUTH token for every role, used as the `default` user."""
    return "", record.auth_secret_ref


def existing_record(cache: ElastiCacheStore) -> StoreRecord:
    """An endpoint the operator adopts and never modifies or deletes."""
    ca = SecretKeyRef(name=cache.ca_secret_ref.name, key=cache.ca_secret_ref.key or "ca.crt") if cache.ca_secret_ref.name else SecretKeyRef()
    return StoreRecord(
        type=STORE_TYPE,
        mode="existing",
        endpoint=cache.endpoint,
        shards=record_shards(cache),
        tls=True,
        auth_secret_ref=SecretKeyRef(name=cache.auth_secret_ref.name, key=cache.auth_secret_ref.key or TOKEN_KEY),
        ca_secret_ref=ca,
        deletion_policy="Retain",
    )
