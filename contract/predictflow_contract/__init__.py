"""The contract between the operator and the pods it runs: environment, mounts, Feast's config.

The operator (predictflow_operator.builders) writes what this module names; the runtime
(predictflow_runtime) and serving (predictflow_serving) read it. It imports nothing of theirs,
and nothing but the standard library and PyYAML, so every image and every test can use it.
"""

from __future__ import annotations

from typing import Any

import yaml

# The rendered feature_store.yaml, one ConfigMap per store, mounted read-only.
CONFIG_ENV = "PREDICTFLOW_FEAST_CONFIG"
CONFIG_MOUNT_DIR = "/etc/predictflow"
CONFIG_KEY = "feature_store.yaml"
# The store that serves now, as a backfill reads it to compare a sample with what it wrote.
COMPARE_CONFIG_ENV = "PREDICTFLOW_COMPARE_CONFIG"
COMPARE_MOUNT_DIR = "/etc/predictflow/compare"
COMPARE_KEY = "compare.yaml"
# TLS trust for each of the two stores: a PEM bundle named CA_FILE in these directories.
CA_MOUNT_DIR = "/etc/predictflow/tls"
COMPARE_CA_MOUNT_DIR = "/etc/predictflow/compare-tls"
CA_FILE = "ca.crt"

# The feature repository's definitions (a folder, possibly read-only) and the offline data.
FEATURE_REPO_ENV = "PREDICTFLOW_FEATURE_REPO"
DEFAULT_FEATURE_REPO = "/opt/feature_repo"
OFFLINE_PATH_ENV = "PREDICTFLOW_OFFLINE_PATH"
# Where a process keeps its private copy of the definitions and the registry derived from them.
WORK_DIR_ENV = "PREDICTFLOW_WORK_DIR"
# A job's one-line JSON report: Kubernetes keeps the termination message for the operator to read.
REPORT_PATH_ENV = "PREDICTFLOW_REPORT_PATH"
TERMINATION_LOG = "/dev/termination-log"
# A backfill Job of several pods is an Indexed Job: each pod writes the slice of the entities its
# completion index names (Kubernetes sets JOB_COMPLETION_INDEX), out of this many.
BACKFILL_SLICES_ENV = "PREDICTFLOW_BACKFILL_SLICES"
COMPLETION_INDEX_ENV = "JOB_COMPLETION_INDEX"

# Credentials of the store a pod uses (its own role) and of the store a backfill compares with.
# Usernames are not secret; passwords come from Secrets through secretKeyRef only.
REDIS_USERNAME_ENV = "REDIS_USERNAME"
REDIS_PASSWORD_ENV = "REDIS_PASSWORD"
COMPARE_USERNAME_ENV = "PREDICTFLOW_COMPARE_USERNAME"
COMPARE_PASSWORD_ENV = "PREDICTFLOW_COMPARE_PASSWORD"
PASSWORD_ENVS = (REDIS_PASSWORD_ENV, COMPARE_PASSWORD_ENV)
# Feast pastes ${VAR} into the YAML text and splits the connection string on commas, so a password
# is referenced as ${<password env>_AS_JSON}: the runtime sets that to the password as a JSON string
# of letters, digits and \u escapes, which nothing in the password can break out of.
AS_JSON_SUFFIX = "_AS_JSON"

# Serving: one HTTP port for predictions and probes, and its behaviour, set from spec.serving.
SERVING_PORT = 3000
READY_PATH = "/readyz"
LIVE_PATH = "/livez"
ON_STORE_DOWN_ENV = "PREDICTFLOW_ON_STORE_DOWN"
LIVENESS_CHECKS_REDIS_ENV = "PREDICTFLOW_LIVENESS_CHECKS_REDIS"
# spec.serving.ttlExpiredFeatures: "missing" (a value older than its view's ttl) or "present" (as Feast).
TTL_EXPIRED_FEATURES_ENV = "PREDICTFLOW_TTL_EXPIRED_FEATURES"
# spec.onlineStore.type of the store a serving pod reads, for its metrics' labels.
STORE_TYPE_ENV = "PREDICTFLOW_STORE_TYPE"
# Prometheus text format, on the serving port (BentoML's endpoint) and on the operator's metrics port.
METRICS_PATH = "/metrics"

# Materialization watermarks, kept in the online store beside the data they describe: one marker
# per feature view, and one set per project naming the views that have a marker, so the operator
# reads a project's freshness with two commands and never scans the keyspace.
WATERMARK_PREFIX = "predictflow:watermark"


def watermark_key(project: str, feature_view: str) -> str:
    return f"{WATERMARK_PREFIX}:{project}:{feature_view}"


def watermark_views_key(project: str) -> str:
    return f"{WATERMARK_PREFIX}s:{project}"


# Feast's names for what every store type looks like to its clients: single-endpoint Redis.
FEAST_ONLINE_STORE_TYPE = "redis"
FEAST_REDIS_TYPE = "redis"
FEAST_REDIS_CLUSTER_TYPE = "redis_cluster"

# Each pod derives its own registry from the definitions at start: nothing shared, nothing mutable.
# The runtime replaces this path by a file private to the process.
REGISTRY_PATH = "/tmp/predictflow/registry.db"


def variable(name: str) -> str:
    """A reference Feast expands from the environment when it loads the config."""
    return "${" + name + "}"


def json_escaped(value: str) -> str:
    """A JSON string literal of `value` made of letters, digits, quotes and \\u escapes only:
    what ${<password env>_AS_JSON} holds."""
    units = value.encode("utf-16-be")
    out = []
    for i in range(0, len(units), 2):
        code = int.from_bytes(units[i : i + 2], "big")
        out.append(chr(code) if chr(code).isascii() and chr(code).isalnum() else f"\\u{code:04x}")
    return '"' + "".join(out) + '"'


def connection_string(
    endpoint: str,
    *,
    tls: bool = False,
    ca_dir: str | None = None,
    username_env: str | None = None,
    password_env: str | None = REDIS_PASSWORD_ENV,
) -> str:
    """Feast's Redis connection string (`host:port,key=value,...`). Username and password stay
    references to the environment, so the readers and writers of one store share one config."""
    parts = [endpoint]
    if tls:
        parts.append("ssl=true")
        if ca_dir is not None:
            parts.append(f"ssl_ca_certs={ca_dir}/{CA_FILE}")
    if username_env:
        parts.append(f"username={variable(username_env)}")
    if password_env:
        parts.append(f"password={variable(password_env + AS_JSON_SUFFIX)}")
    return ",".join(parts)


def feature_store_config(project: str, connection: str, key_ttl_seconds: int = 0, cluster: bool = False) -> dict[str, Any]:
    """The feature_store.yaml every Feast process of a FeatureStore reads; `cluster`: the store is a
    Redis Cluster, and `connection` names any of its nodes (the clients read the slot map there)."""
    online: dict[str, Any] = {"type": FEAST_ONLINE_STORE_TYPE, "connection_string": connection}
    if cluster:
        online["redis_type"] = FEAST_REDIS_CLUSTER_TYPE
    if key_ttl_seconds:
        online["key_ttl_seconds"] = key_ttl_seconds
    return {
        "project": project,
        "provider": "local",
        "registry": {"registry_type": "file", "path": REGISTRY_PATH, "cache_ttl_seconds": 0},
        "online_store": online,
        "offline_store": {"type": "file"},
        "entity_key_serialization_version": 3,
    }


def render_feature_store_yaml(project: str, connection: str, key_ttl_seconds: int = 0, cluster: bool = False) -> str:
    return yaml.safe_dump(feature_store_config(project, connection, key_ttl_seconds, cluster), sort_keys=False)
