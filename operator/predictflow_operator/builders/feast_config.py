"""The feature_store.yaml every Feast pod reads, rendered per online store."""

from __future__ import annotations

from typing import Any

import yaml

from ..api.models import FeatureStoreSpec
from .common import STORE_TYPE_LABEL, Owner, checksum, child_name, metadata
from .store import CA_MOUNT_DIR, COMPARE_CA_MOUNT_DIR, COMPARE_PASSWORD_ENV, COMPARE_USERNAME_ENV, REDIS_PASSWORD_ENV, REDIS_USERNAME_ENV, StoreTarget

COMPONENT = "feast-config"
CONFIG_KEY = "feature_store.yaml"
CONFIG_MOUNT_DIR = "/etc/predictflow"
# The same store as a backfill reads it to compare a sample with what it wrote into the new one.
COMPARE_KEY = "compare.yaml"
COMPARE_MOUNT_DIR = "/etc/predictflow/compare"
# Each pod derives its own registry from the repo's definitions at start: nothing shared, nothing mutable.
REGISTRY_PATH = "/tmp/predictflow/registry.db"


def feature_store_yaml(
    spec: FeatureStoreSpec,
    store: StoreTarget,
    password_env: str = REDIS_PASSWORD_ENV,
    ca_dir: str = CA_MOUNT_DIR,
    username_env: str = REDIS_USERNAME_ENV,
) -> dict[str, Any]:
    online: dict[str, Any] = {"type": "redis", "connection_string": store.connection_string(password_env, ca_dir, username_env)}
    if spec.online_store.key_ttl_seconds:
        online["key_ttl_seconds"] = spec.online_store.key_ttl_seconds
    return {
        "project": spec.project,
        "provider": "local",
        "registry": {"registry_type": "file", "path": REGISTRY_PATH, "cache_ttl_seconds": 0},
        "online_store": online,
        "offline_store": {"type": "file"},
        "entity_key_serialization_version": 3,
    }


def config_map_name(owner: Owner, store: StoreTarget) -> str:
    """One ConfigMap per store, so a store being backfilled never changes what serving reads."""
    return child_name(owner, f"feast-{store.type}-{checksum(store.endpoint)[:6]}")


def config_map(owner: Owner, spec: FeatureStoreSpec, store: StoreTarget) -> dict[str, Any]:
    rendered = yaml.safe_dump(feature_store_yaml(spec, store), sort_keys=False)
    compare = yaml.safe_dump(feature_store_yaml(spec, store, COMPARE_PASSWORD_ENV, COMPARE_CA_MOUNT_DIR, COMPARE_USERNAME_ENV), sort_keys=False)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(owner, config_map_name(owner, store), COMPONENT, **{STORE_TYPE_LABEL: store.type}),
        "data": {CONFIG_KEY: rendered, COMPARE_KEY: compare},
    }
