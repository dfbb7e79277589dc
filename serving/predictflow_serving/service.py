"""The example churn service: features from Feast's Redis online store, scored by the churn model.

Contract with the operator
--------------------------
Start (any working directory; the packages are installed, or on PYTHONPATH in development):

    bentoml serve predictflow_serving.service:ChurnService --host 0.0.0.0 --port 3000

Environment:
    PREDICTFLOW_FEAST_CONFIG   rendered feature_store.yaml (default /etc/predictflow/feature_store.yaml)
    PREDICTFLOW_FEATURE_REPO   repo definitions, may be read-only (default /opt/feature_repo)
    REDIS_PASSWORD             from a Secret; Feast expands ${REDIS_PASSWORD} in the yaml
    PREDICTFLOW_ON_STORE_DOWN  stale (default) | unavailable   <- spec.serving.onStoreDown
    PREDICTFLOW_STALE_CACHE_SIZE          customers kept for stale answers (default 50000, ~25 MB)
    PREDICTFLOW_LIVENESS_CHECKS_REDIS     true (default) | false  <- spec.serving.livenessChecksRedis
    BENTOML_HOME               must be writable (BentoML keeps metrics files there), e.g. /tmp/bentoml
    PREDICTFLOW_MODEL_STORE    the image's model store holding churn_model, e.g. /opt/bentoml/models
                               (read-only is fine; default: $BENTOML_HOME/models)
  optional: PREDICTFLOW_MODEL (default churn_model:latest), PREDICTFLOW_WORK_DIR (derived registry,
  default a fresh folder under /tmp), PREDICTFLOW_REDIS_TIMEOUT_SECONDS (0.25),
  PREDICTFLOW_LOOKUP_DEADLINE_SECONDS (0.75), PREDICTFLOW_PROBE_TIMEOUT_SECONDS (1.0),
  PREDICTFLOW_STORE_RETRY_SECONDS (1.0), PREDICTFLOW_MAX_BATCH (1000).
Writes only under /tmp (the derived Feast registry) and BENTOML_HOME; the root filesystem may
be read-only. Image build: `python -m predictflow_serving.model --data DIR` with
BENTOML_HOME=/opt/bentoml saves the model into /opt/bentoml/models.

Probes, on port 3000 (BentoML's own endpoints, backed by __is_ready__ / __is_alive__ below;
BentoML puts no timeout on these hooks, so each bounds itself):
    GET /readyz  200 when Redis answers PING on a fresh connection within 1 s, else 503 (so it
                 answers in under 2 s even when packets to Redis are dropped).
    GET /livez   the same check (unless PREDICTFLOW_LIVENESS_CHECKS_REDIS=false). Give it a long
                 failure window (e.g. periodSeconds 10, failureThreshold 6): a Redis blip must not
                 restart every pod; a restart after a real outage re-resolves the endpoint's DNS.
    Both recover by themselves when Redis returns. The hooks take up to 1 s, so give both
    probes timeoutSeconds: 2 (the kubelet's default of 1 s would cut them short).
    Note: readiness reports the store truthfully in both modes, so while Redis is down an
    unready pod leaves the Service's endpoints; stale answers reach callers that still route
    to the pod.

API:
    POST /predict {"customer_id": 1001}
        200 {"customer_id", "score", "features": {...}, "stale": false, "found": true}
        404 when the store has no features for the customer
    POST /predict {"customer_ids": [1001, 1002]}
        200 {"predictions": [ {...as above, "found": false and score null when unknown} ], "stale"}
    While Redis is unreachable: with onStoreDown=stale, answers from the last features seen for
    each customer (bounded LRU) with "stale": true, or 503 when a customer was never seen; with
    onStoreDown=unavailable, 503 at once. A 503 body is {"error", "missing"?}, never a traceback.
    The first request after Redis fails waits at most the lookup deadline (0.75 s); later ones
    skip Redis for a second (then one retries), so they answer immediately.
"""

from __future__ import annotations

import gc
import logging
import time
from typing import Any

import bentoml

from predictflow_runtime.store import open_store

from .lookup import AsyncFeatureLookup
from .metrics import Outcome, ServingMetrics
from .model import FEATURE_REFERENCES, load
from .plan import plan_for_store
from .predictor import ChurnPredictor, StoreUnavailable
from .settings import ServingSettings
from .store_client import Timeouts, async_client, ping_fresh

log = logging.getLogger("predictflow.serving")


@bentoml.service(name="predictflow_churn", traffic={"timeout": 30})
class ChurnService:
    def __init__(self) -> None:
        self.settings = ServingSettings.from_env()
        store = open_store()
        plan = plan_for_store(store, FEATURE_REFERENCES, respect_ttl=self.settings.respect_ttl)
        self._connection_string = store.config.online_store.connection_string
        timeout = self.settings.redis_timeout_seconds
        client = async_client(self._connection_string, Timeouts(connect=timeout, socket=timeout))
        model = load(self.settings.model_tag, self.settings.model_store)
        self.metrics = ServingMetrics(store.config.project, self.settings.store_type)
        self.predictor = ChurnPredictor(AsyncFeatureLookup(plan, client), model, self.settings, self.metrics)
        # Feast, pandas and pyarrow leave a large heap of long-lived objects; keep the garbage
        # collector from walking it during requests (full collections showed up in the p99).
        gc.collect()
        gc.freeze()
        log.info(
            "serving %s for project %s (on store down: %s)",
            self.settings.model_tag,
            store.config.project,
            self.settings.on_store_down.value,
        )

    @bentoml.api
    async def predict(
        self,
        ctx: bentoml.Context,
        customer_id: int | None = None,
        customer_ids: list[int] | None = None,
    ) -> dict[str, Any]:
        started = time.perf_counter()
        outcome, body = await self._predict(ctx, customer_id, customer_ids)
        self.metrics.predict_seconds.observe(time.perf_counter() - started)
        self.metrics.answered(outcome)
        return body

    async def _predict(self, ctx: bentoml.Context, customer_id: int | None, customer_ids: list[int] | None) -> tuple[Outcome, dict[str, Any]]:
        if (customer_id is None) == (customer_ids is None):
            ctx.response.status_code = 400
            return Outcome.BAD_REQUEST, {"error": "send exactly one of customer_id or customer_ids"}
        ids = [customer_id] if customer_id is not None else list(customer_ids or [])
        if len(ids) > self.settings.max_batch:
            ctx.response.status_code = 400
            return Outcome.BAD_REQUEST, {"error": f"at most {self.settings.max_batch} customer_ids per request"}

        outcome = await self.predictor.predict(ids)
        if isinstance(outcome, StoreUnavailable):
            ctx.response.status_code = 503
            body: dict[str, Any] = {"error": outcome.reason}
            if outcome.missing:
                body["missing"] = list(outcome.missing)
            return Outcome.UNAVAILABLE, body
        stale = any(prediction.stale for prediction in outcome)
        answered = Outcome.STALE if stale else Outcome.OK
        if customer_id is not None:
            prediction = outcome[0]
            if not prediction.found:
                ctx.response.status_code = 404
                return Outcome.NOT_FOUND, {"error": f"no features for customer_id {customer_id}", "customer_id": customer_id}
            return answered, prediction.as_dict()
        return answered, {"predictions": [prediction.as_dict() for prediction in outcome], "stale": stale}

    async def _store_reachable(self) -> bool:
        reachable = await ping_fresh(self._connection_string, self.settings.probe_timeout_seconds)
        self.metrics.store_reachable.set(1 if reachable else 0)
        if reachable and self.predictor.breaker.last_error is not None:
            self.predictor.store_answered()  # let requests use the store again at once
        return reachable

    async def __is_ready__(self) -> bool:
        return await self._store_reachable()

    async def __is_alive__(self) -> bool:
        if not self.settings.liveness_checks_redis:
            return True
        return await self._store_reachable()
