"""ElastiCache: the replication group request and the AUTH token Secret (pure)."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

from ..api.models import ElastiCacheStore, FeatureStoreSpec, SecretKeyRef, StoreRecord
from .common import STORE_TYPE_LABEL, Owner, child_name, metadata

COMPONENT = "elasticache"
TOKEN_KEY = "token"
_MAX_ID = 40


def replication_group_id(owner: Owner) -> str:
    """Unique per namespace/name, within ElastiCache's rules: <= 40 chars, lowercase, starts with a letter,
    no double or trailing hyphen."""
    digest = hashlib.sha256(f"{owner.namespace}/{owner.name}".encode()).hexdigest()[:6]
    readable = re.sub(r"[^a-z0-9]+", "-", f"{owner.namespace}-{owner.name}".lower()).strip("-")
    readable = readable[: _MAX_ID - len("pf--") - len(digest)].strip("-")
    return re.sub(r"-+", "-", f"pf-{readable}-{digest}")


def auth_secret_name(owner: Owner) -> str:
    return child_name(owner, "elasticache-auth")


def auth_secret(owner: Owner, token: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata(owner, auth_secret_name(owner), COMPONENT, **{STORE_TYPE_LABEL: "elasticache"}),
        "type": "Opaque",
        "data": {TOKEN_KEY: base64.b64encode(token.encode()).decode()},
    }


def create_request(owner: Owner, spec: FeatureStoreSpec, token: str) -> dict[str, Any]:
    cache = spec.online_store.elasticache
    request: dict[str, Any] = {
        "ReplicationGroupId": replication_group_id(owner),
        "ReplicationGroupDescription": f"PredictFlow online store of {owner.namespace}/{owner.name}",
        "Engine": "redis",
        "EngineVersion": cache.engine_version,
        "CacheNodeType": cache.node_type,
        "ReplicasPerNodeGroup": cache.replicas,
        "AutomaticFailoverEnabled": cache.replicas > 0,
        "MultiAZEnabled": cache.replicas > 0,
        "TransitEncryptionEnabled": True,
        "AtRestEncryptionEnabled": True,
        "AuthToken": token,
        "Port": 6379,
        "Tags": [
            {"Key": "predictflow.io/featurestore", "Value": f"{owner.namespace}/{owner.name}"},
            {"Key": "app.kubernetes.io/managed-by", "Value": "predictflow-operator"},
        ],
    }
    if cache.subnet_group_name:
        request["CacheSubnetGroupName"] = cache.subnet_group_name
    if cache.security_group_ids:
        request["SecurityGroupIds"] = list(cache.security_group_ids)
    return request


def managed_record(owner: Owner, cache: ElastiCacheStore) -> StoreRecord:
    """A replication group the operator creates; its endpoint is known once AWS reports it."""
    return StoreRecord(
        type="elasticache",
        mode="managed",
        name=replication_group_id(owner),
        tls=True,
        auth_secret_ref=SecretKeyRef(name=auth_secret_name(owner), key=TOKEN_KEY),
        region=cache.region,
        deletion_policy=cache.deletion_policy,
    )


def existing_record(cache: ElastiCacheStore) -> StoreRecord:
    """An endpoint the operator adopts and never modifies or deletes."""
    ca = SecretKeyRef(name=cache.ca_secret_ref.name, key=cache.ca_secret_ref.key or "ca.crt") if cache.ca_secret_ref.name else SecretKeyRef()
    return StoreRecord(
        type="elasticache",
        mode="existing",
        endpoint=cache.endpoint,
        tls=True,
        auth_secret_ref=SecretKeyRef(name=cache.auth_secret_ref.name, key=cache.auth_secret_ref.key or TOKEN_KEY),
        ca_secret_ref=ca,
        deletion_policy="Retain",
    )
