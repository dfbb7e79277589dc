"""The in-cluster Redis online store: auth Secret, ACL users, redis.conf, StatefulSet and Services.

Redis runs with ACL users and the `default` user off, so no client holds more than its job needs:

- `serving` (serving pods, a backfill's comparison) reads feature hashes and nothing else;
- `materialization` (the CronJob and backfills) also writes them, moves the watermarks and
  publishes freshness, without any keyspace-wide, admin or dangerous command;
- `replication` is the Redis pods' own: replicas sync from the primary with it, probes PING with it;
- `monitoring` (the operator) reads INFO and the watermarks, never a feature value;
- `exporter` (the optional metrics sidecar) reads INFO, the slow log's length and latency figures
  (not the slow log itself, whose entries hold command arguments, feature values among them);
- `topology` (the operator, Redis Cluster only) forms the cluster and mends its membership, and
  can do nothing else.

With `shards` > 1 the pods are the nodes of a Redis Cluster (redis_topology says how the operator
forms it); the clients then also read the slot map and the command table, which redis-py's
cluster client asks for when it connects.

Passwords live in the user-facing `<instance>-auth` Secret, one key per user. The operator renders
from it the `<instance>-acl` Secret Redis mounts: the ACL file with SHA-256 hashes only, and the
replicas' masteruser/masterauth include. It refuses (with the Secret and key named) a password it
cannot place in those files and in the clients' connection strings, so a newline or a space never
reaches a config line.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from .. import GROUP
from ..api.models import FeatureStoreSpec, RedisStore, SecretKeyRef, StoreRecord
from ..passwords import placement_problem
from .common import (
    CHECKSUM_ANNOTATION,
    STORE_TYPE_LABEL,
    Owner,
    checksum,
    child_name,
    container_security_context,
    labels,
    metadata,
    pod_security_context,
    secret_env,
    selector,
)
from .placement import HOSTNAME, ZONE, pod_placement
from .resources import EXPORTER, container_resources, redis_defaults

STORE_TYPE = "redis"
COMPONENT = STORE_TYPE
CONTAINER = "redis"
PORT = 6379
SERVING_USER, MATERIALIZATION_USER, REPLICATION_USER = "serving", "materialization", "replication"
MONITORING_USER, EXPORTER_USER, TOPOLOGY_USER = "monitoring", "exporter", "topology"
# `password` is the key every store's Secret had when Redis knew a single password, which every
# client held. It keeps its value and now belongs to the user that can do least with it.
PASSWORD_KEY = "password"
PASSWORD_KEYS = {
    REPLICATION_USER: PASSWORD_KEY,
    SERVING_USER: "serving-password",
    MATERIALIZATION_USER: "materialization-password",
    MONITORING_USER: "monitoring-password",
    EXPORTER_USER: "exporter-password",
    TOPOLOGY_USER: "topology-password",
}
# What each client role (builders.store READER / WRITER / MONITOR) authenticates as.
_ROLE_USERS = {"reader": SERVING_USER, "writer": MATERIALIZATION_USER, "monitor": MONITORING_USER}
_READ = "+hmget +hget +hgetall +hexists +hlen +hkeys +hvals +hstrlen"
_CONNECTION = "+ping +echo +auth +hello"
# ACL rules after `reset` (off, no password, no keys, no channels, no commands). Allow-lists, so a
# command Redis adds later is refused until someone decides otherwise.
USER_RULES = {
    "default": "",
    SERVING_USER: f"~* {_READ} {_CONNECTION}",
    # Feast's online write (HSET, EXPIRE, HMGET of the event timestamps), the watermarks (GET, and
    # SADD to their set, and EVAL of a GET/SET script: commands inside a script are checked against these rules too) and
    # the freshness message (PUBLISH on its channels); DBSIZE, a count, for whoever checks a fill.
    MATERIALIZATION_USER: f"~* &predictflow:freshness:* {_READ} +hset +expire +get +set +sadd +eval +publish +dbsize {_CONNECTION}",
    REPLICATION_USER: "+psync +replconf +ping +auth +hello",
    # The watermark keys only (contract.WATERMARK_PREFIX), and INFO for memory and evictions.
    MONITORING_USER: f"~predictflow:watermark* +get +mget +smembers +info {_CONNECTION}",
    EXPORTER_USER: f"+info +slowlog|len +latency|latest +latency|histogram +dbsize {_CONNECTION}",
    TOPOLOGY_USER: f"+cluster|nodes +cluster|info +cluster|myid +cluster|meet +cluster|addslotsrange +cluster|replicate +cluster|forget {_CONNECTION}",
}
# What a cluster client asks before its first command: where the slots are, and the command table.
_CLUSTER_CLIENT = "+cluster|slots +command"
# A cluster pod's own user also hands its slots to a replica before the pod stops (_HANDOVER).
_CLUSTER_POD = "+role +cluster|myid +cluster|nodes +cluster|failover"
_CLUSTER_CLIENTS = (SERVING_USER, MATERIALIZATION_USER, MONITORING_USER)
BUS_PORT = PORT + 10000  # Redis Cluster's node-to-node port
ACL_KEY, REPLICA_AUTH_KEY, PROBE_PASSWORD_KEY = "users.acl", "replica-auth.conf", "probe-password"
EXPORTER_PASSWORD_KEY = "exporter-password"
# spec.onlineStore.redis.metrics: the exporter of Debian's prometheus-redis-exporter package, which
# the project's Redis image carries (images/redis).
EXPORTER_CONTAINER, EXPORTER_PORT, EXPORTER_BINARY = "metrics", 9121, "redis_exporter"
AUTH_DIR = "/etc/redis-auth"
# spec.onlineStore.redis.tls.secretName: cert-manager's layout
TLS_KEYS = ("tls.crt", "tls.key", "ca.crt")
TLS_DIR = "/etc/redis-tls"
REDIS_UID = 999  # the redis user of the redis:7-alpine and Debian images
# Only replicas snapshot when there are replicas, so the primary's fork cost stays off the serving path.
_RDB_SAVE = "save 3600 1 300 100 60 10000"


INSTANCE_LABEL = f"{GROUP}/redis"


def clustered(redis: RedisStore) -> bool:
    return redis.shards > 1


def users(cluster: bool) -> list[str]:
    """The store's ACL users; the topology user only where there is a cluster to form."""
    return [user for user in PASSWORD_KEYS if cluster or user != TOPOLOGY_USER]


# Settings a StatefulSet cannot change in place, with the values that keep the plain instance name.
_IN_PLACE_DEFAULTS = {"persistence": True, "storageClassName": ""}


def instance(owner: Owner, spec: FeatureStoreSpec) -> str:
    """The StatefulSet that holds the spec's Redis. Settings a StatefulSet cannot change in place
    (persistence on or off, the storage class; TLS on or off) name another instance, so changing them replaces the
    store through the switch; the defaults keep the plain name `<name>-redis`."""
    persistence = spec.online_store.redis.persistence
    fixed: dict[str, Any] = {"persistence": persistence.enabled, "storageClassName": persistence.storage_class_name if persistence.enabled else ""}
    if spec.online_store.redis.tls.secret_name:
        # Redis and its clients would have to flip at the same instant; a new store switches over safely.
        fixed["tls"] = True
    if clustered(spec.online_store.redis):
        fixed["shards"] = spec.online_store.redis.shards
    if fixed == _IN_PLACE_DEFAULTS:
        return child_name(owner, "redis")
    return child_name(owner, f"redis-{checksum(fixed)[:5]}")


def _labels(instance: str) -> dict[str, str]:
    return {STORE_TYPE_LABEL: STORE_TYPE, INSTANCE_LABEL: instance}


def _pods(owner: Owner, instance: str) -> dict[str, str]:
    """The selector of one instance's pods (two instances run side by side during a replacement)."""
    return selector(owner, COMPONENT, **{INSTANCE_LABEL: instance})


def secret_name(instance: str) -> str:
    return f"{instance}-auth"


def acl_secret_name(instance: str) -> str:
    return f"{instance}-acl"


def store_key(record: StoreRecord) -> str:
    """An in-cluster Redis is its StatefulSet: one name per namespace."""
    return f"{STORE_TYPE}/{record.name}"


def credentials(record: StoreRecord, role: str) -> tuple[str, SecretKeyRef]:
    """The user a client role authenticates as, and the key of the store's Secret with its password."""
    user = _ROLE_USERS[role]
    return user, SecretKeyRef(name=record.auth_secret_ref.name, key=PASSWORD_KEYS[user])


def config_map_name(instance: str) -> str:
    return f"{instance}-config"


def headless_name(instance: str) -> str:
    return f"{instance}-headless"


def endpoint(owner: Owner, instance: str) -> str:
    return f"{instance}.{owner.namespace}.svc:{PORT}"


def record(owner: Owner, spec: FeatureStoreSpec) -> StoreRecord:
    """The in-cluster Redis the spec asks for; retiring it deletes it with its volumes."""
    name = instance(owner, spec)
    tls = spec.online_store.redis.tls.secret_name
    return StoreRecord(
        type=STORE_TYPE,
        name=name,
        endpoint=endpoint(owner, name),
        shards=spec.online_store.redis.shards if clustered(spec.online_store.redis) else 0,
        tls=bool(tls),
        auth_secret_ref=SecretKeyRef(name=secret_name(name), key=PASSWORD_KEY),
        ca_secret_ref=SecretKeyRef(name=tls, key="ca.crt") if tls else SecretKeyRef(),
        deletion_policy="Delete",
    )


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def password_secret(owner: Owner, instance: str, passwords: dict[str, str]) -> dict[str, Any]:
    """Created once with generated passwords (user -> password); the operator never overwrites a
    key in it (rotation is the user's), it only adds the keys it lacks."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata(owner, secret_name(instance), COMPONENT, **_labels(instance)),
        "type": "Opaque",
        "data": {PASSWORD_KEYS[user]: _b64(password) for user, password in passwords.items()},
    }


def missing_users(secret: dict[str, Any], cluster: bool) -> list[str]:
    data = secret.get("data") or {}
    return [user for user in users(cluster) if not data.get(PASSWORD_KEYS[user])]


def passwords_of(secret: dict[str, Any], cluster: bool) -> dict[str, str]:
    """user -> password, from the auth Secret; ValueError naming the key of one that cannot be placed."""
    data, name = secret.get("data") or {}, secret["metadata"]["name"]
    found = {}
    for user in users(cluster):
        key = PASSWORD_KEYS[user]
        try:
            password = base64.b64decode(data.get(key) or "").decode()
        except (ValueError, UnicodeDecodeError):
            password = "\x00"  # not UTF-8: refused below like any other control character
        problem = placement_problem(password)
        if problem:
            raise ValueError(
                f"Secret {name} key {key!r}: the password {problem}; Redis and its clients cannot be given it safely. "
                "Use printable ASCII without spaces, quotes, backslashes, commas, equals or dollar signs"
            )
        found[user] = password
    return found


def acl_file(passwords: dict[str, str], cluster: bool = False) -> str:
    lines = ["user default reset"]
    for user in (u for u in USER_RULES if u in users(cluster)):
        rules = USER_RULES[user]
        if cluster and user in _CLUSTER_CLIENTS:
            rules = f"{rules} {_CLUSTER_CLIENT}"
        elif cluster and user == REPLICATION_USER:
            rules = f"{rules} {_CLUSTER_POD}"
        digest = hashlib.sha256(passwords[user].encode()).hexdigest()
        lines.append(f"user {user} reset on #{digest} {rules}")
    return "\n".join(lines) + "\n"


def acl_secret(owner: Owner, instance: str, passwords: dict[str, str], cluster: bool = False) -> dict[str, Any]:
    """What the Redis pods mount: the users with hashed passwords, and what replicas and probes
    authenticate with. Rendered on every pass from the auth Secret; passwords come checked by passwords_of."""
    replica_auth = f"masteruser {REPLICATION_USER}\nmasterauth {passwords[REPLICATION_USER]}\n"
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata(owner, acl_secret_name(instance), COMPONENT, **_labels(instance)),
        "type": "Opaque",
        "data": {
            ACL_KEY: _b64(acl_file(passwords, cluster)),
            REPLICA_AUTH_KEY: _b64(replica_auth),
            PROBE_PASSWORD_KEY: _b64(passwords[REPLICATION_USER]),
            EXPORTER_PASSWORD_KEY: _b64(passwords[EXPORTER_USER]),
        },
    }


def redis_conf(redis: RedisStore, role: str) -> str:
    """role: primary or replica of a single-primary store, or a node of a Redis Cluster (`cluster`)."""
    if redis.tls.secret_name:
        # TLS only, replication and the cluster bus included; clients are not asked for certificates (they have users).
        listen = ["port 0", f"tls-port {PORT}", *(f"tls-{name}-file {TLS_DIR}/{key}" for name, key in zip(("cert", "key", "ca-cert"), TLS_KEYS, strict=True))]
        listen += ["tls-auth-clients no", "tls-replication yes"] + (["tls-cluster yes"] if role == "cluster" else [])
    else:
        listen = [f"port {PORT}"]
    lines = [
        *listen,
        "bind * -::*",
        # Protected mode only refuses remote clients while `default` needs no password; with
        # `default` off it never applies, and stays on should the ACL file ever lose its users.
        "protected-mode yes",
        "dir /data",
        f"aclfile {AUTH_DIR}/{ACL_KEY}",
        "tcp-keepalive 60",
        f"appendonly {'yes' if redis.persistence.enabled and redis.persistence.append_only else 'no'}",
        "appendfsync everysec",
    ]
    # In a cluster any node may become a replica, and primaries change: every node snapshots.
    snapshots = redis.persistence.enabled and (role != "primary" or redis.replicas == 0)
    lines.append(_RDB_SAVE if snapshots else 'save ""')
    if redis.max_memory:
        lines += [f"maxmemory {redis.max_memory}", f"maxmemory-policy {redis.max_memory_policy}"]
    if role != "primary":
        lines += ["replica-read-only yes", f"include {AUTH_DIR}/{REPLICA_AUTH_KEY}"]
    if role == "cluster":
        lines += [
            "cluster-enabled yes",
            "cluster-config-file nodes.conf",  # in dir, the volume
            # a primary silent for 5 s is failed over (well inside the 15 s the design allows)
            "cluster-node-timeout 5000",
            # clients are sent to pods by name (their DNS names are stable, and what a TLS certificate can name)
            "cluster-preferred-endpoint-type hostname",
            # one shard being down leaves the others serving their keys
            "cluster-require-full-coverage no",
        ]
    return "\n".join(lines) + "\n"


def config_map(owner: Owner, spec: FeatureStoreSpec, instance: str) -> dict[str, Any]:
    redis = spec.online_store.redis
    roles = ("cluster",) if clustered(redis) else ("primary", "replica")
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(owner, config_map_name(instance), COMPONENT, **_labels(instance)),
        "data": {f"{role}.conf": redis_conf(redis, role) for role in roles},
    }


def pod_host(owner: Owner, instance: str, pod: str) -> str:
    """A Redis pod's DNS name (the headless Service publishes it before the pod is ready)."""
    return f"{pod}.{headless_name(instance)}.{owner.namespace}.svc"


def _start_script(owner: Owner, instance: str, cluster: bool) -> str:
    # Static text: no secret, no user string. A cluster node announces its DNS name to clients.
    if cluster:
        return f'exec redis-server /etc/redis/cluster.conf --cluster-announce-hostname "$HOSTNAME.{headless_name(instance)}.{owner.namespace}.svc"'
    # Pod 0 is the primary; the others replicate from it.
    primary = pod_host(owner, instance, f"{instance}-0")
    return "\n".join(
        [
            "set -eu",
            'case "$HOSTNAME" in',
            "  *-0) exec redis-server /etc/redis/primary.conf ;;",
            f"  *) exec redis-server /etc/redis/replica.conf --replicaof {primary} {PORT} ;;",
            "esac",
        ]
    )


# preStop of a cluster pod: a primary asks one of its healthy replicas to take over (CLUSTER FAILOVER
# waits until the replica has every write), then waits to be a replica itself; the pod stops
# without its slots going dark for cluster-node-timeout, and without losing a write. Static text.
_HANDOVER = """set -u
cli() { redis-cli $TLS --user replication "$@"; }
[ "$(cli role | head -n 1)" = master ] || exit 0
me=$(cli cluster myid)
replica=$(cli cluster nodes | awk -v me="$me" '$4 == me && $3 ~ /slave/ && $3 !~ /fail/ { split($2, a, "[:@,]"); print a[1]; exit }')
[ -n "$replica" ] || exit 0
cli -h "$replica" cluster failover || exit 0
for _ in $(seq 1 40); do [ "$(cli role | head -n 1)" = slave ] && exit 0; sleep 0.25; done
"""


def _handover(tls: list[str]) -> dict[str, Any]:
    return {"exec": {"command": ["sh", "-c", f"TLS='{' '.join(tls)}'\n{_HANDOVER}"]}}


def exporter_container(redis: RedisStore, instance: str, image: str) -> dict[str, Any]:
    """The metrics sidecar: INFO and latency as Prometheus metrics, as the `exporter` user, over the pod's loopback."""
    # Over TLS the certificate names the Service, not localhost; the connection never leaves the pod.
    address = [f"-redis.addr=rediss://localhost:{PORT}", "-skip-tls-verification"] if redis.tls.secret_name else [f"-redis.addr=redis://localhost:{PORT}"]
    return {
        "name": EXPORTER_CONTAINER,
        "image": image,
        "command": [EXPORTER_BINARY],
        # CONFIG would show settings the exporter user has no business reading: it is not allowed, nor asked.
        "args": [*address, f"-redis.user={EXPORTER_USER}", "-config-command=-", "-set-client-name=false", f"-web.listen-address=:{EXPORTER_PORT}"],
        "ports": [{"name": "metrics", "containerPort": EXPORTER_PORT}],
        # the exporter reads its password from REDIS_PASSWORD: never a flag, so never in the pod spec
        "env": [secret_env("REDIS_PASSWORD", acl_secret_name(instance), EXPORTER_PASSWORD_KEY)],
        "readinessProbe": {"httpGet": {"path": "/health", "port": "metrics"}, "periodSeconds": 10},
        "resources": container_resources(redis.metrics.resources, EXPORTER),
        "securityContext": container_security_context(),
    }


def pod_count(redis: RedisStore) -> int:
    return (redis.shards if clustered(redis) else 1) * (1 + redis.replicas)


def _spread(redis: RedisStore) -> tuple[dict[str, Any], ...]:
    """Copies of the data apart: the pods of a store with replicas or shards spread over nodes and zones (softly)."""
    if pod_count(redis) < 2:
        return ()
    return tuple({"maxSkew": 1, "topologyKey": key, "whenUnsatisfiable": "ScheduleAnyway"} for key in (HOSTNAME, ZONE))


def stateful_set(owner: Owner, spec: FeatureStoreSpec, instance: str, secret_checksum: str, default_image: str, exporter_image: str = "") -> dict[str, Any]:
    redis = spec.online_store.redis
    cluster = clustered(redis)
    config = config_map(owner, spec, instance)
    pod_labels = _pods(owner, instance)
    tls = ["--tls", "--cacert", f"{TLS_DIR}/ca.crt"] if redis.tls.secret_name else []
    probe_exec = {"exec": {"command": ["redis-cli", *tls, "--user", REPLICATION_USER, "ping"]}}
    volumes = [
        {"name": "config", "configMap": {"name": config["metadata"]["name"]}},
        {
            "name": "auth",
            "secret": {"secretName": acl_secret_name(instance), "items": [{"key": k, "path": k} for k in (ACL_KEY, REPLICA_AUTH_KEY)], "defaultMode": 0o440},
        },
        {"name": "tmp", "emptyDir": {}},
    ]
    mounts = [
        {"name": "config", "mountPath": "/etc/redis", "readOnly": True},
        {"name": "auth", "mountPath": AUTH_DIR, "readOnly": True},
        {"name": "tmp", "mountPath": "/tmp"},
        {"name": "data", "mountPath": "/data"},
    ]
    if redis.tls.secret_name:
        items = [{"key": key, "path": key} for key in TLS_KEYS]
        volumes.append({"name": "tls", "secret": {"secretName": redis.tls.secret_name, "items": items, "defaultMode": 0o440}})
        mounts.append({"name": "tls", "mountPath": TLS_DIR, "readOnly": True})
    body: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": metadata(owner, instance, COMPONENT, **_labels(instance)),
        "spec": {
            "serviceName": headless_name(instance),
            "replicas": pod_count(redis),
            # cluster nodes start on their own and are joined by the operator; replicas need their primary first
            "podManagementPolicy": "Parallel" if cluster else "OrderedReady",
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
                            "name": CONTAINER,
                            "image": redis.image or default_image,
                            "command": ["sh", "-c", _start_script(owner, instance, cluster)],
                            "ports": [{"name": "redis", "containerPort": PORT}] + ([{"name": "cluster-bus", "containerPort": BUS_PORT}] if cluster else []),
                            "env": [
                                # redis-cli reads the password from here, so probes carry no secret; from the
                                # rendered Secret, so it always matches the ACL file Redis loaded with it
                                secret_env("REDISCLI_AUTH", acl_secret_name(instance), PROBE_PASSWORD_KEY),
                            ],
                            "readinessProbe": {**probe_exec, "periodSeconds": 5, "timeoutSeconds": 2, "failureThreshold": 2},
                            **({"lifecycle": {"preStop": _handover(tls)}} if cluster else {}),
                            "livenessProbe": {
                                **probe_exec,
                                "initialDelaySeconds": 10,
                                "periodSeconds": 10,
                                "timeoutSeconds": 5,
                                "failureThreshold": 6,
                            },
                            "resources": container_resources(redis.resources, redis_defaults(redis)),
                            "securityContext": container_security_context(),
                            "volumeMounts": mounts,
                        }
                    ],
                    "volumes": volumes,
                    **pod_placement(redis, pod_labels, _spread(redis)),
                },
            },
        },
    }
    if redis.metrics.enabled:
        body["spec"]["template"]["spec"]["containers"].append(exporter_container(redis, instance, exporter_image or redis.image or default_image))
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


def pod_disruption_budget(owner: Owner, spec: FeatureStoreSpec, instance: str) -> dict[str, Any] | None:
    """With replicas, a drain takes one Redis pod at a time, so never a shard's last copy. Without,
    every pod is a last copy: that is the spec's choice, and no budget blocks drains for it."""
    if spec.online_store.redis.replicas < 1:
        return None
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(owner, instance, COMPONENT, **_labels(instance)),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": _pods(owner, instance)}},
    }


def services(owner: Owner, instance: str, cluster: bool = False) -> list[dict[str, Any]]:
    port = [{"name": "redis", "port": PORT, "targetPort": "redis"}]
    # A cluster client may start at any node (it then reads the slot map); the others, at the primary only.
    primary_pod = _pods(owner, instance) if cluster else {**_pods(owner, instance), "statefulset.kubernetes.io/pod-name": f"{instance}-0"}
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
