"""Requests and limits of every container the operator creates: defaults per component, the
spec's values over them, resource by resource."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..api.models import RedisStore, Resources
from ..quantity import parse_quantity


@dataclass(frozen=True)
class Defaults:
    requests: dict[str, str] = field(default_factory=dict)
    limits: dict[str, str] = field(default_factory=dict)


# Modest requests, so a small cluster schedules a FeatureStore; memory limits above what each
# component was seen to use, so a leak is bounded without cutting a normal peak.
SERVING = Defaults({"cpu": "100m", "memory": "384Mi"}, {"cpu": "2", "memory": "1Gi"})
REDIS = Defaults({"cpu": "50m", "memory": "128Mi"}, {"cpu": "1", "memory": "1Gi"})
EXPORTER = Defaults({"cpu": "10m", "memory": "32Mi"}, {"cpu": "100m", "memory": "64Mi"})
MATERIALIZATION = Defaults({"cpu": "100m", "memory": "256Mi"}, {"cpu": "2", "memory": "2Gi"})
REPO_COPY = Defaults({"cpu": "10m", "memory": "16Mi"}, {"cpu": "100m", "memory": "64Mi"})

# Redis's own units (redis.conf): k/m/g are powers of 1000, kb/mb/gb powers of 1024.
_REDIS_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 2**10, "m": 10**6, "mb": 2**20, "g": 10**9, "gb": 2**30}
_REDIS_MEMORY = re.compile(r"^([0-9]+)([a-z]*)$")
_MIB = 2**20


def redis_memory_bytes(text: str) -> int:
    match = _REDIS_MEMORY.match(text.strip().lower())
    if not match or match.group(2) not in _REDIS_UNITS:
        raise ValueError(f"not a Redis memory size: {text!r}")
    return int(match.group(1)) * _REDIS_UNITS[match.group(2)]


def _mebibytes(size: int) -> str:
    """Rounded up, in the API server's canonical spelling (it stores 1024Mi as 1Gi)."""
    mebibytes = -(-size // _MIB)
    return f"{mebibytes // 1024}Gi" if mebibytes % 1024 == 0 else f"{mebibytes}Mi"


def redis_defaults(redis: RedisStore) -> Defaults:
    """With maxMemory, the request is the cap and the limit twice it: an AOF rewrite forks, and the
    child's copy-on-write pages count against the container too."""
    if not redis.max_memory:
        return REDIS
    request = max(redis_memory_bytes(redis.max_memory), int(parse_quantity(REDIS.requests["memory"])))
    return Defaults({**REDIS.requests, "memory": _mebibytes(request)}, {**REDIS.limits, "memory": _mebibytes(2 * request)})


def container_resources(given: Resources, defaults: Defaults) -> dict[str, Any]:
    """The spec's requests and limits over the defaults. A default never contradicts what is given:
    a default limit below a given request rises to it, a default request above a given limit falls to it."""
    requests = {**defaults.requests, **{name: str(value) for name, value in given.requests.items()}}
    limits = {**defaults.limits, **{name: str(value) for name, value in given.limits.items()}}
    for name in requests.keys() & limits.keys():
        if parse_quantity(requests[name]) <= parse_quantity(limits[name]):
            continue
        if name not in given.limits:
            limits[name] = requests[name]
        elif name not in given.requests:
            requests[name] = limits[name]
    out: dict[str, Any] = {}
    if limits:
        out["limits"] = limits
    if requests:
        out["requests"] = requests
    return out
