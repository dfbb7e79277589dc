"""A local redis-server as the operator's clients see it: its feature_store.yaml, rendered by the
operator's own builder, and the environment a pod would get for it."""

from __future__ import annotations

from pathlib import Path

import predictflow_contract as contract
from predictflow_operator.api.models import parse_spec
from predictflow_operator.builders import feast_config, redis
from predictflow_operator.builders.store import Credential, SecretKey, StoreTarget

from .redis_server import RedisServer

# In a pod these name the Secret keys the password and the CA come from; locally nothing reads them.
_PASSWORD_SECRET = SecretKey("local-redis-auth", "password")
_CA_SECRET = SecretKey("local-redis-tls", contract.CA_FILE)


def store_target(server: RedisServer) -> StoreTarget:
    credential = Credential(server.username or "", _PASSWORD_SECRET)
    return StoreTarget(
        type=redis.STORE_TYPE,
        endpoint=server.endpoint,
        reader=credential,
        writer=credential,
        tls=server.tls,
        ca=_CA_SECRET if server.tls else None,
    )


def feature_store_yaml(project: str, server: RedisServer, key_ttl_seconds: int = 0) -> str:
    """What the operator mounts for this store, with the CA where the server keeps it (named ca.crt)."""
    spec = parse_spec({"project": project, "onlineStore": {"keyTTLSeconds": key_ttl_seconds}})
    ca_dir = str(Path(server.ca_cert).parent) if server.ca_cert else contract.CA_MOUNT_DIR
    return feast_config.feature_store_yaml(spec, store_target(server), ca_dir=ca_dir)


def compare_yaml(project: str, server: RedisServer, key_ttl_seconds: int = 0) -> str:
    """The serving store's config as a backfill mounts it, under the compare variable names."""
    spec = parse_spec({"project": project, "onlineStore": {"keyTTLSeconds": key_ttl_seconds}})
    ca_dir = str(Path(server.ca_cert).parent) if server.ca_cert else contract.COMPARE_CA_MOUNT_DIR
    return feast_config.feature_store_yaml(
        spec, store_target(server), contract.COMPARE_PASSWORD_ENV, ca_dir, contract.COMPARE_USERNAME_ENV
    )


def credentials_env(server: RedisServer, *, compare: bool = False) -> dict[str, str]:
    """The variables the rendered connection string expands: what secretKeyRef gives a pod."""
    if server.password is None:
        raise ValueError("the operator's stores always require a password: start the server with one")
    username_env, password_env = (
        (contract.COMPARE_USERNAME_ENV, contract.COMPARE_PASSWORD_ENV) if compare else (contract.REDIS_USERNAME_ENV, contract.REDIS_PASSWORD_ENV)
    )
    env = {password_env: server.password}
    if server.username:
        env[username_env] = server.username
    return env
