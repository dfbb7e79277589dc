"""Churn predictions: a customer's features from FeatureClient, scored by the churn model.

Kept apart from BentoML so the request logic is plain code. The outage behaviour (stale
answers, StoreUnavailable, the breaker, the deadline) is FeatureClient's, shared with every
service built on the library.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .client import FeatureClient, FeatureResult, StoreUnavailable
from .model import ENTITY_KEY, ChurnModel

__all__ = ["ChurnPredictor", "CustomerFeatures", "Prediction", "StoreUnavailable"]


@dataclass(frozen=True)
class CustomerFeatures:
    customer_id: int
    features: dict[str, Any] | None  # None when the store has no features for the customer
    stale: bool
    found: bool

    def as_dict(self) -> dict[str, Any]:
        return {"customer_id": self.customer_id, "features": self.features, "stale": self.stale, "found": self.found}


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


class ChurnPredictor:
    def __init__(self, features: FeatureClient, model: ChurnModel) -> None:
        self.features = features
        self.model = model

    async def _lookup(self, customer_ids: Sequence[int]) -> list[FeatureResult]:
        return await self.features.get_many([{ENTITY_KEY: customer_id} for customer_id in customer_ids])

    async def lookup(self, customer_ids: Sequence[int]) -> list[CustomerFeatures]:
        """Each customer's features, unscored. Raises StoreUnavailable as FeatureClient.get_many."""
        results = await self._lookup(customer_ids)
        return [
            CustomerFeatures(customer_id, result.features if result.found else None, result.stale, result.found)
            for customer_id, result in zip(customer_ids, results, strict=True)
        ]

    async def predict(self, customer_ids: Sequence[int]) -> list[Prediction]:
        """Each customer's features and churn score. Raises StoreUnavailable as FeatureClient.get_many."""
        results = await self._lookup(customer_ids)
        score = self.model.score
        return [
            Prediction(customer_id, score(result.features), result.features, result.stale, True)
            if result.found
            else Prediction(customer_id, None, None, stale=False, found=False)
            for customer_id, result in zip(customer_ids, results, strict=True)
        ]
