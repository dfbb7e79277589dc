"""The in-cluster Redis online store: auth Secret, redis.conf, StatefulSet and Services."""

from __future__ import annotations

import base64
from typing import Any

from .. import GROUP
from ..api.models import FeatureStoreSpec, RedisStore, SecretKeyRef, StoreRecord
from .common import (
    STORE_TYPE_LABEL,
    child_name,
    CHECKSUM_ANNOTATION,
    Owner,
    checksum,
    container_security_context,
    labels,
    metadata,
    pod_security_context,
    resources,
    secret_env,
    selector,
)

COMPONENT = "redis"
PORT = 6379
PASSWORD_KEY = "password"
REDIS_UID = 999  # the redis user of the redis:7-alpine and Debian images
# Only replicas snapshot when there are replicas, so the primary's fork cost stays off the serving path.
_RDB_SAVE = "save 3600 1 300 100 60 10000"


INSTANCE_LABEL = f"{GROUP}/redis"
# Settings a StatefulSet cannot change in place, with the values that keep the plain instance name.
_IN_PLACE_DEFAULTS = {"persistence": True, "storageClassName": ""}


def instance(owner: Owner, spec: FeatureStoreSpec) -> str:
    """The StatefulSet that holds the spec's Redis. Settings a StatefulSet cannot change in place
    (persistence on or off, the storage class) name another instance, so changing them replaces the
    store through the switch; the defaults keep the plain name `<name>-redis`."""
    persistence = spec.online_store.redis.persistence
    fixed = {"persistence": persistence.enabled, "storageClassName": persistence.storage_class_name if persistence.enabled else ""}
    if fixed == _IN_PLACE_DEFAULTS:
        return child_name(owner, "redis")
    return child_name(owner, f"redis-{checksum(fixed)[:5]}")


def _labels(instance: str) -> dict[str, str]:
    return {STORE_TYPE_LABEL: "redis", INSTANCE_LABEL: instance}


def _pods(owner: Owner, instance: str) -> dict[str, str]:
    """The selector of one instance's pods (two instances run side by side during a replacement)."""
    return selector(owner, COMPONENT, **{INSTANCE_LABEL: instance})


def secret_name(instance: str) -> str:
    return f"{instance}-auth"


def config_map_name(instance: str) -> str:
    return f"{instance}-config"


def headless_name(instance: str) -> str:
    return f"{instance}-headless"


def endpoint(owner: Owner, instance: str) -> str:
    return f"{instance}.{owner.namespace}.svc:{PORT}"


def record(owner: Owner, spec: FeatureStoreSpec) -> StoreRecord:
    """The in-cluster Redis the spec asks for; retiring it deletes it with its volumes."""
    name = instance(owner, spec)
    return StoreRecord(
        type="redis",
        name=name,
        endpoint=endpoint(owner, name),
        auth_secret_ref=SecretKeyRef(name=secret_name(name), key=PASSWORD_KEY),
        deletion_policy="Delete",
    )


def password_secret(owner: Owner, instance: str, password: str) -> dict[str, Any]:
    """Created once with a generated password; the operator never overwrites it (rotation is the user's)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata(owner, secret_name(instance), COMPONENT, **_labels(instance)),
        "type": "Opaque",
        "data": {PASSWORD_KEY: base64.b64encode(password.encode()).decode()},
    }


def redis_conf(redis: RedisStore, role: str) -> str:
    lines = [
        f"port {PORT}",
        "bind * -::*",
        "protected-mode no",
        "dir /data",
        "include /run/redis/auth.conf",
        "tcp-keepalive 60",
        f"appendonly {'yes' if redis.persistence.enabled and redis.persistence.append_only else 'no'}",
        "appendfsync everysec",
    ]
    snapshots = redis.persistence.enabled and (role == "replica" or redis.replicas == 0)
    lines.append(_RDB_SAVE if snapshots else 'save ""')
    if redis.max_memory:
        lines += [f"maxmemory {redis.max_memory}", f"maxmemory-policy {redis.max_memory_policy}"]
    if role == "replica":
        lines += ["replica-read-only yes"]
    return "\n".join(lines) + "\n"


def config_map(owner: Owner, spec: FeatureStoreSpec, instance: str) -> dict[str, Any]:
    redis = spec.online_store.redis
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(owner, config_map_name(instance), COMPONENT, **_labels(instance)),
        "data": {"primary.conf": redis_conf(redis, "primary"), "replica.conf": redis_conf(redis, "replica")},
    }


def _start_script(owner: Owner, instance: str) -> str:
    # Pod 0 is the primary; the others replicate from it. The password goes to an emptyDir
    # include file so it is in neither the ConfigMap nor the process arguments.
    primary = f"{instance}-0.{headless_name(instance)}.{owner.namespace}.svc"
    return "\n".join(
        [
            "set -eu",
            'umask 077',
            'printf "requirepass %s\\nmasterauth %s\\n" "$REDIS_PASSWORD" "$REDIS_PASSWORD" > /run/redis/auth.conf',
            'case "$HOSTNAME" in',
            '  *-0) exec redis-server /etc/redis/primary.conf ;;',
            f'  *) exec redis-server /etc/redis/replica.conf --replicaof {primary} {PORT} ;;',
            "esac",
        ]
    )


def stateful_set(owner: Owner, spec: FeatureStoreSpec, instance: str, secret_checksum: str, default_image: str) -> dict[str, Any]:
    redis = spec.online_store.redis
    config = config_map(owner, spec, instance)
    pod_labels = _pods(owner, instance)
    probe_exec = {"exec": {"command": ["redis-cli", "ping"]}}
    volumes = [
        {"name": "config", "configMap": {"name": config["metadata"]["name"]}},
        {"name": "run", "emptyDir": {"medium": "Memory"}},
        {"name": "tmp", "emptyDir": {}},
    ]
    mounts = [
        {"name": "config", "mountPath": "/etc/redis", "readOnly": True},
        {"name": "run", "mountPath": "/run/redis"},
        {"name": "tmp", "mountPath": "/tmp"},
        {"name": "data", "mountPath": "/data"},
    ]
    body: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": metadata(owner, instance, COMPONENT, **_labels(instance)),
        "spec": {
            "serviceName": headless_name(instance),
            "replicas": 1 + redis.replicas,
            "podManagementPolicy": "OrderedReady",
            "updateStrategy": {"type": "RollingUpdate"},
            "selector": {"matchLabels": pod_labels},
            "template": {
                "metadata": {
                    "labels": labels(owner, COMPONENT, **_labels(instance)),
                    "annotations": {CHECKSUM_ANNOTATION: checksum(config["data"], secret_checksum)},
                },
                "spec": {
                    "securityContext": pod_security_context(REDIS_UID),
                    "automountServiceAccountToken": False,
                    "terminationGracePeriodSeconds": 30,
                    "containers": [
                        {
                            "name": "redis",
                            "image": redis.image or default_image,
                            "command": ["sh", "-c", _start_script(owner, instance)],
                            "ports": [{"name": "redis", "containerPort": PORT}],
                            "env": [
                                secret_env("REDIS_PASSWORD", secret_name(instance), PASSWORD_KEY),
                                # redis-cli reads the password from here, so probes carry no secret
                                secret_env("REDISCLI_AUTH", secret_name(instance), PASSWORD_KEY),
                            ],
                            "readinessProbe": {**probe_exec, "periodSeconds": 5, "timeoutSeconds": 2, "failureThreshold": 2},
                            "livenessProbe": {
                                **probe_exec,
                                "initialDelaySeconds": 10,
                                "periodSeconds": 10,
                                "timeoutSeconds": 5,
                                "failureThreshold": 6,
                            },
                            "resources": resources(redis.resources),
                            "securityContext": container_security_context(),
                            "volumeMounts": mounts,
                        }
                    ],
                    "volumes": volumes,
                },
            },
        },
    }
    if redis.persistence.enabled:
        claim: dict[str, Any] = {
            "metadata": {"name": "data"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": redis.persistence.size}}},
        }
        if redis.persistence.storage_class_name:
            claim["spec"]["storageClassName"] = redis.persistence.storage_class_name
        body["spec"]["volumeClaimTemplates"] = [claim]
        # Retiring the store (a switch away, or deleting the FeatureStore) removes its data too.
        body["spec"]["persistentVolumeClaimRetentionPolicy"] = {"whenDeleted": "Delete", "whenScaled": "Retain"}
    else:
        volumes.append({"name": "data", "emptyDir": {}})
    return body


def services(owner: Owner, instance: str) -> list[dict[str, Any]]:
    port = [{"name": "redis", "port": PORT, "targetPort": "redis"}]
    primary_pod = {**_pods(owner, instance), "statefulset.kubernetes.io/pod-name": f"{instance}-0"}
    return [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": metadata(owner, instance, COMPONENT, **_labels(instance)),
            "spec": {"selector": primary_pod, "ports": port},
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": metadata(owner, headless_name(instance), COMPONENT, **_labels(instance)),
            "spec": {
                "clusterIP": "None",
                "publishNotReadyAddresses": True,
                "selector": _pods(owner, instance),
                "ports": port,
            },
        },
    ]
