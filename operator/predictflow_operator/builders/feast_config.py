"""The feature_store.yaml every Feast pod reads, rendered per online store."""

from __future__ import annotations

from typing import Any

import predictflow_contract as contract

from ..api.models import FeatureStoreSpec
from .common import STORE_TYPE_LABEL, Owner, checksum, child_name, metadata
from .store import StoreTarget

COMPONENT = "feast-config"


def feature_store_yaml(
    spec: FeatureStoreSpec,
    store: StoreTarget,
    password_env: str = contract.REDIS_PASSWORD_ENV,
    ca_dir: str = contract.CA_MOUNT_DIR,
    username_env: str = contract.REDIS_USERNAME_ENV,
) -> str:
    connection = store.connection_string(password_env, ca_dir, username_env)
    return contract.render_feature_store_yaml(spec.project, connection, spec.online_store.key_ttl_seconds, store.cluster)


def config_map_name(owner: Owner, store: StoreTarget) -> str:
    """One ConfigMap per store, so a store being backfilled never changes what serving reads."""
    return child_name(owner, f"feast-{store.type}-{checksum(store.endpoint)[:6]}")


def config_map(owner: Owner, spec: FeatureStoreSpec, store: StoreTarget) -> dict[str, Any]:
    compare = feature_store_yaml(spec, store, contract.COMPARE_PASSWORD_ENV, contract.COMPARE_CA_MOUNT_DIR, contract.COMPARE_USERNAME_ENV)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(owner, config_map_name(owner, store), COMPONENT, **{STORE_TYPE_LABEL: store.type}),
        "data": {contract.CONFIG_KEY: feature_store_yaml(spec, store), contract.COMPARE_KEY: compare},
    }
