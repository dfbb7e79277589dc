"""How full the serving store is: status.onlineStore.memory and the MemoryPressure condition (pure).

The figures come from Redis INFO (reconcilers.store_reading). Redis' used memory moves by a few
kilobytes at rest (client buffers), so the recorded figures only move when they change materially:
otherwise every pass would write the status of a FeatureStore nothing happens to.
"""

from __future__ import annotations

from dataclasses import dataclass

from .status import Check

MIB = 1024 * 1024
# A change smaller than this share of the cap (or of the use, without a cap), and under 1 MiB, is noise.
_MATERIAL_SHARE = 0.01
ADVICE = (
    "expire long-tail entities with spec.onlineStore.keyTTLSeconds, or move to a larger node "
    "(maxMemory, the container's memory limit, or the ElastiCache nodeType) or to more shards"
)


@dataclass(frozen=True)
class MemoryReading:
    """INFO memory and stats of one Redis."""

    used_bytes: int
    maxmemory: int  # 0: no maxmemory
    evicted_keys: int
    expired_keys: int


def cap(reading: MemoryReading, container_limit: int | None) -> tuple[int, str]:
    if reading.maxmemory:
        return reading.maxmemory, "maxmemory"
    if container_limit:
        return container_limit, "containerLimit"
    return 0, ""


def _material(before: int, after: int, scale: int) -> bool:
    return abs(after - before) >= max(MIB, int(_MATERIAL_SHARE * scale))


def _counter_moved(before: int, after: int) -> bool:
    """A restart resets the counters; the first eviction always counts."""
    return after < before or (before == 0) != (after == 0) or after - before >= max(1, int(_MATERIAL_SHARE * before))


def memory_status(reading: MemoryReading, container_limit: int | None, previous: dict | None) -> dict:
    """status.onlineStore.memory (camelCase): the new figures, or the previous ones while nothing
    changed materially."""
    max_bytes, source = cap(reading, container_limit)
    fresh = {
        "usedBytes": reading.used_bytes,
        "maxBytes": max_bytes,
        "maxSource": source,
        "usedPercent": round(100 * reading.used_bytes / max_bytes) if max_bytes else 0,
        "evictedKeys": reading.evicted_keys,
        "expiredKeys": reading.expired_keys,
    }
    if not previous or previous.get("maxBytes") != max_bytes or previous.get("maxSource") != source:
        return fresh
    if (
        _material(previous.get("usedBytes", 0), reading.used_bytes, max_bytes or reading.used_bytes)
        or _counter_moved(previous.get("evictedKeys", 0), reading.evicted_keys)
        or _counter_moved(previous.get("expiredKeys", 0), reading.expired_keys)
    ):
        return fresh
    return previous


def _size(count: int) -> str:
    return f"{count / MIB:.0f} MiB" if count >= MIB else f"{count} bytes"


def pressure_check(memory: dict, threshold_percent: int) -> Check:
    """True (the bad way round, as a node's MemoryPressure) at or above the threshold."""
    used, max_bytes = memory["usedBytes"], memory["maxBytes"]
    if not max_bytes:
        return Check(
            None,
            "NoMemoryCap",
            f"Redis uses {_size(used)} with no maxmemory and no container memory limit: there is no cap to judge pressure against",
        )
    where = "maxmemory" if memory["maxSource"] == "maxmemory" else "container memory limit"
    figures = f"Redis uses {memory['usedPercent']}% of its {_size(max_bytes)} {where} ({_size(used)})"
    evicted = f"; {memory['evictedKeys']} keys evicted since it started" if memory["evictedKeys"] else ""
    if memory["usedPercent"] >= threshold_percent:
        return Check(True, "AboveThreshold", f"{figures}, at or above {threshold_percent}%{evicted}: {ADVICE}")
    return Check(False, "BelowThreshold", f"{figures}, below {threshold_percent}%{evicted}")
