"""Serving's Prometheus metrics, exported on BentoML's own `/metrics` of the serving port.

BentoML runs the service in worker processes and collects every worker's samples from
PROMETHEUS_MULTIPROC_DIR, so the gauges say how workers combine (`multiprocess_mode`). Every
series carries the project and the store type; nothing is labelled per entity.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

NAMESPACE = "predictflow_serving"
LABELS = ("project", "store_type")
# Resolve the 1-50 ms budget range finely; the tail buckets show timeouts and outages.
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Outcome(StrEnum):
    """What a predict request answered."""

    OK = "ok"  # fresh features from the store
    STALE = "stale"  # the store was down; answered from the stale cache
    UNAVAILABLE = "unavailable"  # the store was down; 503
    NOT_FOUND = "not_found"  # the store has no features for the entity; 404
    BAD_REQUEST = "bad_request"  # 400


class ServingMetrics:
    """The serving process's series for one project and store type."""

    def __init__(self, project: str, store_type: str, registry: CollectorRegistry = REGISTRY) -> None:
        def bound(metric: Any) -> Any:
            return metric.labels(project=project, store_type=store_type)

        self._requests = Counter(
            "requests",
            "Predict requests by what they answered.",
            [*LABELS, "outcome"],
            namespace=NAMESPACE,
            registry=registry,
        )
        self._project, self._store_type = project, store_type
        self.predict_seconds = bound(
            Histogram(
                "predict_duration_seconds",
                "Time to answer a predict request: lookup, fallback and model.",
                LABELS,
                namespace=NAMESPACE,
                buckets=LATENCY_BUCKETS,
                registry=registry,
            )
        )
        self.lookup_seconds = bound(
            Histogram(
                "lookup_duration_seconds",
                "Time of one feature lookup against the online store (one round trip).",
                LABELS,
                namespace=NAMESPACE,
                buckets=LATENCY_BUCKETS,
                registry=registry,
            )
        )
        self.entities = bound(
            Counter(
                "entities_looked_up",
                "Entities whose features were read from the online store.",
                LABELS,
                namespace=NAMESPACE,
                registry=registry,
            )
        )
        self.null_features = bound(
            Counter(
                "features_null",
                "Feature values the store returned as missing (entity unknown, or the value absent).",
                LABELS,
                namespace=NAMESPACE,
                registry=registry,
            )
        )
        self.store_reachable = bound(
            Gauge(
                "store_reachable",
                "1 when the last lookup or probe reached the online store, else 0.",
                LABELS,
                namespace=NAMESPACE,
                registry=registry,
                multiprocess_mode="livemostrecent",
            )
        )
        self.stale_cache_entries = bound(
            Gauge(
                "stale_cache_entries",
                "Entities held in the stale cache for answering while the store is down.",
                LABELS,
                namespace=NAMESPACE,
                registry=registry,
                multiprocess_mode="livesum",
            )
        )
        for outcome in Outcome:  # every outcome is a series from the start, so rate() sees its first increase
            self._requests.labels(project, store_type, outcome.value)

    def answered(self, outcome: Outcome) -> None:
        self._requests.labels(self._project, self._store_type, outcome.value).inc()
