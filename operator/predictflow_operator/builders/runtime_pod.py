"""The pod template shared by everything that runs Feast: materialization jobs and serving."""

from __future__ import annotations

from typing import Any

import predictflow_contract as contract

from ..api.models import FeatureStoreSpec, Resources
from .common import Owner, container_security_context, pod_security_context, secret_env
from .feast_config import config_map_name
from .resources import REPO_COPY, container_resources
from .store import READER, Credential, StoreTarget

RUNTIME_UID = 10001
_REPO_COPY_VOLUME = "feature-repo"


def credential_env(store: StoreTarget, role: str, username_env: str, password_env: str) -> list[dict[str, Any]]:
    """The role's username (not a secret) and password (from its Secret) under the names the
    rendered connection string expands."""
    credential: Credential = store.credential(role)
    env = [{"name": username_env, "value": credential.username}] if store.has_users else []
    return env + [secret_env(password_env, credential.password.name, credential.password.key)]


def feast_env(spec: FeatureStoreSpec, store: StoreTarget, role: str) -> list[dict[str, Any]]:
    return [
        {"name": contract.CONFIG_ENV, "value": f"{contract.CONFIG_MOUNT_DIR}/{contract.CONFIG_KEY}"},
        {"name": contract.FEATURE_REPO_ENV, "value": spec.feature_repo.path},
        {"name": contract.OFFLINE_PATH_ENV, "value": spec.offline_store.path},
        {"name": "HOME", "value": "/tmp"},
        *credential_env(store, role, contract.REDIS_USERNAME_ENV, contract.REDIS_PASSWORD_ENV),
    ]


def feast_volumes(owner: Owner, spec: FeatureStoreSpec, store: StoreTarget) -> tuple[list[dict], list[dict]]:
    """(volumes, volumeMounts) for the rendered config, /tmp, the CA bundle and a ConfigMap repo."""
    volumes: list[dict[str, Any]] = [
        {"name": "feast-config", "configMap": {"name": config_map_name(owner, store)}},
        {"name": "tmp", "emptyDir": {}},
    ]
    mounts: list[dict[str, Any]] = [
        {"name": "feast-config", "mountPath": contract.CONFIG_MOUNT_DIR, "readOnly": True},
        {"name": "tmp", "mountPath": "/tmp"},
    ]
    if store.ca is not None:
        volumes.append({"name": "store-ca", "secret": {"secretName": store.ca.name, "items": [{"key": store.ca.key, "path": contract.CA_FILE}]}})
        mounts.append({"name": "store-ca", "mountPath": contract.CA_MOUNT_DIR, "readOnly": True})
    if spec.feature_repo.config_map:
        volumes.append({"name": _REPO_COPY_VOLUME, "configMap": {"name": spec.feature_repo.config_map}})
        mounts.append({"name": _REPO_COPY_VOLUME, "mountPath": spec.feature_repo.path, "readOnly": True})
    elif spec.feature_repo.image:
        volumes.append({"name": _REPO_COPY_VOLUME, "emptyDir": {}})
        mounts.append({"name": _REPO_COPY_VOLUME, "mountPath": spec.feature_repo.path, "readOnly": True})
    return volumes, mounts


def compare_with(owner: Owner, serving: StoreTarget) -> tuple[list[dict], list[dict], list[dict]]:
    """(volumes, mounts, env) through which a backfill reads the store that serves now (as a reader)."""
    volumes: list[dict[str, Any]] = [{"name": "compare-config", "configMap": {"name": config_map_name(owner, serving)}}]
    mounts: list[dict[str, Any]] = [{"name": "compare-config", "mountPath": contract.COMPARE_MOUNT_DIR, "readOnly": True}]
    if serving.ca is not None:
        volumes.append({"name": "compare-ca", "secret": {"secretName": serving.ca.name, "items": [{"key": serving.ca.key, "path": contract.CA_FILE}]}})
        mounts.append({"name": "compare-ca", "mountPath": contract.COMPARE_CA_MOUNT_DIR, "readOnly": True})
    env = [
        {"name": contract.COMPARE_CONFIG_ENV, "value": f"{contract.COMPARE_MOUNT_DIR}/{contract.COMPARE_KEY}"},
        *credential_env(serving, READER, contract.COMPARE_USERNAME_ENV, contract.COMPARE_PASSWORD_ENV),
    ]
    return volumes, mounts, env


def repo_init_containers(spec: FeatureStoreSpec) -> list[dict[str, Any]]:
    """Copies the definitions out of spec.featureRepo.image when the repo ships in its own image.
    An argument list, no shell: the path is the user's and reaches cp as one argument."""
    if spec.feature_repo.config_map or not spec.feature_repo.image:
        return []
    return [
        {
            "name": "feature-repo",
            "image": spec.feature_repo.image,
            "command": ["cp", "-R", "--", spec.feature_repo.path.rstrip("/") + "/.", "/feature-repo/"],
            "resources": container_resources(Resources(), REPO_COPY),
            "securityContext": container_security_context(),
            "volumeMounts": [{"name": _REPO_COPY_VOLUME, "mountPath": "/feature-repo"}],
        }
    ]


def pod_spec(
    owner: Owner, spec: FeatureStoreSpec, store: StoreTarget, role: str, container: dict[str, Any], placement: dict[str, Any] | None = None
) -> dict[str, Any]:
    """`role` (builders.store READER or WRITER): whose credentials the pod gets; `placement`: pod
    spec fields saying where it runs (builders.placement)."""
    volumes, mounts = feast_volumes(owner, spec, store)
    container = {
        **container,
        "env": feast_env(spec, store, role) + container.get("env", []),
        "securityContext": container_security_context(),
        "volumeMounts": mounts,
    }
    pod: dict[str, Any] = {
        "securityContext": pod_security_context(RUNTIME_UID),
        "automountServiceAccountToken": False,
        "containers": [container],
        "volumes": volumes,
        **(placement or {}),
    }
    init = repo_init_containers(spec)
    if init:
        pod["initContainers"] = init
    return pod
