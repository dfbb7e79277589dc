"""Churn predictions: features from the online store (fast lookup), the model, and the fallback.

Kept apart from BentoML so the outage behaviour is plain code: with the store unreachable a
request either gets the last features seen for each customer, flagged stale, or a clear
"unavailable" outcome that the service turns into a 503, never a hang or a traceback.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.exceptions import RedisError

from predictflow_runtime.redaction import redact, secrets_from_env

from .lookup import AsyncFeatureLookup
from .metrics import ServingMetrics
from .model import ENTITY_KEY, ChurnModel
from .resilience import StaleCache, StoreBreaker
from .settings import OnStoreDown, ServingSettings

log = logging.getLogger("predictflow.serving")


@dataclass(frozen=True)
class Prediction:
    customer_id: int
    score: float | None
    features: dict[str, Any] | None
    stale: bool
    found: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "customer_id": self.customer_id,
            "score": self.score,
            "features": self.features,
            "stale": self.stale,
            "found": self.found,
        }


@dataclass(frozen=True)
class StoreUnavailable:
    reason: str
    missing: tuple[int, ...] = ()  # stale mode: customers with no features in the cache


Outcome = list[Prediction] | StoreUnavailable


def describe(error: BaseException) -> str:
    text = str(error) or "no answer within the deadline"
    return redact(f"{type(error).__name__}: {text}", secrets_from_env())


class ChurnPredictor:
    def __init__(self, lookup: AsyncFeatureLookup, model: ChurnModel, settings: ServingSettings, metrics: ServingMetrics) -> None:
        self.lookup = lookup
        self.model = model
        self.settings = settings
        self.metrics = metrics
        self.cache = StaleCache(settings.stale_cache_size)
        self.breaker = StoreBreaker(settings.store_retry_seconds)

    async def predict(self, customer_ids: Sequence[int]) -> Outcome:
        if self.breaker.allows_attempt():
            rows = [{ENTITY_KEY: customer_id} for customer_id in customer_ids]
            started = time.perf_counter()
            try:
                async with asyncio.timeout(self.settings.lookup_deadline_seconds):
                    features = await self.lookup.get_many(rows)
            except (RedisError, OSError, TimeoutError) as error:
                self.store_failed(error)
            else:
                self.metrics.lookup_seconds.observe(time.perf_counter() - started)
                self.metrics.entities.inc(len(rows))
                self.store_answered()
                predictions = [self._fresh(customer_id, row) for customer_id, row in zip(customer_ids, features, strict=True)]
                self.metrics.stale_cache_entries.set(len(self.cache))
                return predictions
        return self._without_store(customer_ids)

    def _fresh(self, customer_id: int, row: Any) -> Prediction:
        nulls = sum(value is None for value in row.features.values())
        if nulls:
            self.metrics.null_features.inc(nulls)
        if not row.found:
            return Prediction(customer_id, None, None, stale=False, found=False)
        self.cache.remember(customer_id, row.features)
        return Prediction(customer_id, self.model.score(row.features), row.features, stale=False, found=True)

    def _without_store(self, customer_ids: Sequence[int]) -> Outcome:
        if self.settings.on_store_down is OnStoreDown.UNAVAILABLE:
            return StoreUnavailable("the online store is unreachable")
        cached = {customer_id: self.cache.recall(customer_id) for customer_id in customer_ids}
        missing = tuple(customer_id for customer_id, features in cached.items() if features is None)
        if missing:
            return StoreUnavailable("the online store is unreachable and no features are cached", missing)
        predictions = []
        for customer_id in customer_ids:
            features = cached[customer_id]
            assert features is not None
            predictions.append(Prediction(customer_id, self.model.score(features), features, stale=True, found=True))
        return predictions

    def store_failed(self, error: BaseException) -> None:
        if self.breaker.last_error is None:
            mode = self.settings.on_store_down.value
            log.warning("online store unreachable (%s); answering %s", describe(error), mode)
        self.breaker.record_failure(describe(error))
        self.metrics.store_reachable.set(0)

    def store_answered(self) -> None:
        if self.breaker.last_error is not None:
            log.warning("online store reachable again")
        self.breaker.record_success()
        self.metrics.store_reachable.set(1)
