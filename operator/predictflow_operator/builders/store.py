"""What a client pod needs to reach one online store, independent of where the store runs."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol, cast

import predictflow_contract as contract

from ..api.models import SecretKeyRef, StoreRecord
from . import elasticache, redis

# What a client does with the store: serving and a backfill's comparison read, materialization writes.
READER, WRITER = "reader", "writer"
# The operator itself, reading watermarks and INFO (reconcilers.store_reading).
MONITOR = "monitor"


@dataclass(frozen=True)
class SecretKey:
    name: str
    key: str


@dataclass(frozen=True)
class Credential:
    username: str  # "": the store's single AUTH token (the `default` user)
    password: SecretKey


@dataclass(frozen=True)
class StoreTarget:
    """One online store as seen by Feast clients (materialization jobs and serving pods)."""

    type: str  # a key of LAYOUTS
    endpoint: str  # host:port
    reader: Credential
    writer: Credential
    tls: bool = False
    ca: SecretKey | None = None  # a PEM bundle to verify TLS; None: the system trust store
    label: str = ""  # store_label() of the record it came from
    cluster: bool = False  # a Redis Cluster: endpoint is where clients start

    def credential(self, role: str) -> Credential:
        return self.writer if role == WRITER else self.reader

    @property
    def has_users(self) -> bool:
        return bool(self.reader.username or self.writer.username)

    def connection_string(
        self,
        password_env: str = contract.REDIS_PASSWORD_ENV,
        ca_dir: str = contract.CA_MOUNT_DIR,
        username_env: str = contract.REDIS_USERNAME_ENV,
    ) -> str:
        return contract.connection_string(
            self.endpoint,
            tls=self.tls,
            ca_dir=ca_dir if self.ca is not None else None,
            username_env=username_env if self.has_users else None,
            password_env=password_env,
        )


class Layout(Protocol):
    """What the builders of a store type say about its records: the pure half of a store driver
    (reconcilers.stores holds the half that reads and writes)."""

    STORE_TYPE: str

    def store_key(self, record: StoreRecord) -> str: ...

    def credentials(self, record: StoreRecord, role: str) -> tuple[str, SecretKeyRef]: ...


LAYOUTS: dict[str, Layout] = {module.STORE_TYPE: cast(Layout, module) for module in (redis, elasticache)}


def store_key(record: StoreRecord) -> str:
    """What makes two records the same store: where it runs, never how it is configured."""
    return LAYOUTS[record.type].store_key(record)


def same_store(a: StoreRecord | None, b: StoreRecord | None) -> bool:
    return a is not None and b is not None and bool(a.type) and a.type == b.type and store_key(a) == store_key(b)


def store_label(record: StoreRecord) -> str:
    """A label value (<= 63 characters) naming the store, for the Jobs and pod templates that use it."""
    return f"{record.type}-{hashlib.sha256(store_key(record).encode()).hexdigest()[:10]}"


def credential(record: StoreRecord, role: str) -> Credential:
    """The role's username ("" for a store's single AUTH token) and the Secret key of its password."""
    username, ref = LAYOUTS[record.type].credentials(record, role)
    return Credential(username, SecretKey(ref.name, ref.key))


def target_of(record: StoreRecord) -> StoreTarget:
    ca = record.ca_secret_ref
    return StoreTarget(
        type=record.type,
        endpoint=record.endpoint,
        reader=credential(record, READER),
        writer=credential(record, WRITER),
        tls=record.tls,
        ca=SecretKey(ca.name, ca.key) if ca.name else None,
        label=store_label(record),
        cluster=record.shards > 0,
    )
