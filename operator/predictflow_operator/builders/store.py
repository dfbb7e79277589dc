"""What a client pod needs to reach one online store, independent of where the store runs."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from ..api.models import StoreRecord

REDIS_PASSWORD_ENV = "REDIS_PASSWORD"
CA_MOUNT_DIR = "/etc/predictflow/tls"
# A backfill reads the store that serves, to compare a sample: its password and CA under other names.
COMPARE_PASSWORD_ENV = "PREDICTFLOW_COMPARE_PASSWORD"
COMPARE_CA_MOUNT_DIR = "/etc/predictflow/compare-tls"
# The runtime sets ${<env>_AS_JSON} to the password as an escaped JSON string (predictflow_runtime.store),
# so no character of it can rewrite the connection string or the YAML around it.
AS_JSON_SUFFIX = "_AS_JSON"


@dataclass(frozen=True)
class SecretKey:
    name: str
    key: str


@dataclass(frozen=True)
class StoreTarget:
    """One online store as seen by Feast clients (materialization jobs and serving pods)."""

    type: str  # redis | elasticache
    endpoint: str  # host:port
    password: SecretKey
    tls: bool = False
    ca: SecretKey | None = None  # a PEM bundle to verify TLS; None: the system trust store
    label: str = ""  # store_label() of the record it came from

    def connection_string(self, password_env: str = REDIS_PASSWORD_ENV, ca_dir: str = CA_MOUNT_DIR) -> str:
        """Feast's connection string; the password stays a ${VAR} that Feast expands in the pod."""
        parts = [self.endpoint]
        if self.tls:
            parts.append("ssl=true")
            if self.ca is not None:
                parts.append(f"ssl_ca_certs={ca_dir}/ca.crt")
        parts.append(f"password=${{{password_env}{AS_JSON_SUFFIX}}}")
        return ",".join(parts)


def store_key(record: StoreRecord) -> str:
    """What makes two records the same store: where it runs, never how it is configured. A managed
    group is known by its id before AWS reports its endpoint; an adopted endpoint by its address."""
    if record.type == "elasticache" and record.mode == "existing":
        return f"elasticache/existing/{record.endpoint}"
    if record.type == "elasticache":
        return f"elasticache/managed/{record.region}/{record.name}"
    return f"{record.type}/{record.name}"


def same_store(a: StoreRecord | None, b: StoreRecord | None) -> bool:
    return a is not None and b is not None and bool(a.type) and store_key(a) == store_key(b)


def store_label(record: StoreRecord) -> str:
    """A label value (<= 63 characters) naming the store, for the Jobs and pod templates that use it."""
    return f"{record.type}-{hashlib.sha256(store_key(record).encode()).hexdigest()[:10]}"


def target_of(record: StoreRecord) -> StoreTarget:
    auth, ca = record.auth_secret_ref, record.ca_secret_ref
    return StoreTarget(
        type=record.type,
        endpoint=record.endpoint,
        password=SecretKey(auth.name, auth.key),
        tls=record.tls,
        ca=SecretKey(ca.name, ca.key) if ca.name else None,
        label=store_label(record),
    )
