"""The baseline for predict latency: a BentoML endpoint with the churn service's signature that
returns a constant, served exactly like the churn service (`bentoml serve`, same settings)."""

from __future__ import annotations

from typing import Any, Optional

import bentoml

CONSTANT = {
    "customer_id": 1001,
    "score": 0.5,
    "features": {
        "tenure_months": 45,
        "monthly_charges": 83.88,
        "total_charges": 3774.6,
        "contract_type": "one-year",
        "support_tickets_90d": 3,
    },
    "stale": False,
    "found": True,
}


@bentoml.service(name="predictflow_echo", traffic={"timeout": 30})
class EchoService:
    @bentoml.api
    async def predict(
        self,
        ctx: bentoml.Context,
        customer_id: Optional[int] = None,
        customer_ids: Optional[list[int]] = None,
    ) -> dict[str, Any]:
        return CONSTANT
