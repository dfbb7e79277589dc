"""The fraud scoring service: a card's aggregates from the online store, scored by the fraud model.

    bentoml serve fraud_example.service:FraudService --port 3000

Run by a PredictFlow FeatureStore (spec.serving.image), it gets its store from the environment the
operator sets (docs/serving-contract.md); FeatureClient reads it and behaves as
spec.serving.onStoreDown says while the store is down. Besides that environment it reads
FRAUD_MODEL (default fraud_model:latest) from BentoML's model store at $BENTOML_HOME/models.

API, on port 3000:
    POST /score {"card_id": 400001}
        200 {"card_id", "fraud_score", "features": {...}, "stale"}; 404 when the store has no
        aggregates for the card
    POST /score {"card_ids": [400001, 400002]}   (at most 500)
        200 {"scores": [{"card_id", "fraud_score", "features", "found", "stale"}], "stale"}; an
        unknown card has "found": false and "fraud_score": null
    400 for a body with neither or both; 503 {"error", "missing"?} when the store is unreachable
    and the answer cannot come from the last features seen (onStoreDown).
    GET /readyz, /livez: whether the store answers (FeatureClient.ready / alive).
"""

from __future__ import annotations

import logging
import os
from typing import Any

import bentoml

from predictflow_serving.client import FeatureClient, FeatureResult, StoreUnavailable

from .model import MODEL_NAME, load

FEATURE_SERVICE = "fraud_scoring"
MAX_CARDS = 500

log = logging.getLogger("fraud_example")


@bentoml.service(name="fraud_example", traffic={"timeout": 10})
class FraudService:
    def __init__(self) -> None:
        self.features = FeatureClient.from_env(feature_service=FEATURE_SERVICE)
        self.model = load(os.environ.get("FRAUD_MODEL") or f"{MODEL_NAME}:latest")
        unserved = sorted(set(self.model.features) - set(self.features.feature_names))
        if unserved:
            raise RuntimeError(f"the FeatureService {FEATURE_SERVICE} does not serve the model's features {unserved}")
        log.info("scoring cards with %s over %s", self.model.features, FEATURE_SERVICE)

    def _scored(self, card_id: int, result: FeatureResult) -> dict[str, Any]:
        return {
            "card_id": card_id,
            "fraud_score": self.model.score(result.features) if result.found else None,
            "features": result.features if result.found else None,
            "found": result.found,
            "stale": result.stale,
        }

    @bentoml.api
    async def score(self, ctx: bentoml.Context, card_id: int | None = None, card_ids: list[int] | None = None) -> dict[str, Any]:
        if (card_id is None) == (card_ids is None):
            ctx.response.status_code = 400
            return {"error": "send exactly one of card_id or card_ids"}
        ids = [card_id] if card_id is not None else list(card_ids or [])
        if len(ids) > MAX_CARDS:
            ctx.response.status_code = 400
            return {"error": f"at most {MAX_CARDS} card_ids per request"}
        try:
            results = await self.features.get_many([{"card_id": card} for card in ids])
        except StoreUnavailable as error:
            ctx.response.status_code = 503
            body: dict[str, Any] = {"error": error.reason}
            if error.missing:
                body["missing"] = [row["card_id"] for row in error.missing]
            return body
        scored = [self._scored(card, result) for card, result in zip(ids, results, strict=True)]
        if card_id is not None:
            if not scored[0]["found"]:
                ctx.response.status_code = 404
                return {"error": f"no aggregates for card_id {card_id}", "card_id": card_id}
            return {key: scored[0][key] for key in ("card_id", "fraud_score", "features", "stale")}
        return {"scores": scored, "stale": any(answer["stale"] for answer in scored)}

    async def __is_ready__(self) -> bool:
        return await self.features.ready()

    async def __is_alive__(self) -> bool:
        return await self.features.alive()
