"""The local-development feature_store.yaml, for tests and the demo.

The operator renders the production file itself; this one has the same shape: a file
registry, a Redis online store and the file offline store. Put `${REDIS_PASSWORD}` into
`connection_string` to have Feast take the password from the environment.
"""

from __future__ import annotations

from pathlib import Path

import yaml


def local_config(project: str, connection_string: str, registry_path: Path | str, key_ttl_seconds: int = 0) -> dict:
    online_store: dict = {"type": "redis", "connection_string": connection_string}
    if key_ttl_seconds:
        online_store["key_ttl_seconds"] = key_ttl_seconds
    return {
        "project": project,
        "provider": "local",
        "registry": {"path": str(registry_path), "cache_ttl_seconds": 60},
        "online_store": online_store,
        "offline_store": {"type": "file"},
        "entity_key_serialization_version": 3,
    }


def render_local_config(
    project: str, connection_string: str, registry_path: Path | str, key_ttl_seconds: int = 0
) -> str:
    return yaml.safe_dump(local_config(project, connection_string, registry_path, key_ttl_seconds), sort_keys=False)
