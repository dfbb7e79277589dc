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
    PREDICTFLOW_TTL_EXPIRED_FEATURES      missing (default) | present  <- spec.serving.ttlExpiredFeatures
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

The lookup and its outage behaviour are the library's (predictflow_serving.client.FeatureClient,
docs/serving-contract.md); this service adds the model, the request shapes and the metrics.

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
    POST /features  the same bodies, rules (400, 404 for an unknown single customer, 503) and
        answers as /predict without "score" (a batch still answers {"predictions": [...], "stale"}):
        the features only, nothing scored, not counted in the predict metrics.
"""

from __future__ import annotations

import gc
import logging
import time
from typing import Any

import bentoml

from predictflow_runtime.store import open_store

from .client import FeatureClient, StoreUnavailable
from .metrics import Outcome, ServingMetrics
from .model import ENTITY_KEY, FEATURE_REFERENCES, load
from .predictor import ChurnPredictor, CustomerFeatures, Prediction
from .settings import ChurnSettings, ServingSettings

log = logging.getLogger("predictflow.serving")

API_ROUTES = ("/predict", "/features")


# The APIs' return type. Annotated `dict[str, Any]`, BentoML derived the return type's JSON
# schema on every response (to choose the media type) and encoded through a model it built per
# call: more time than the feature lookup. This model's media type is fixed, and it encodes
# whatever keys it holds.
class JSONAnswer(bentoml.IODescriptor):
    """A JSON object: an answer, a batch of answers, or an error."""

    model_config = {"extra": "allow"}
    media_type = "application/json"


def unavailable_body(error: StoreUnavailable) -> dict[str, Any]:
    body: dict[str, Any] = {"error": error.reason}
    if error.missing:
        body["missing"] = [row[ENTITY_KEY] for row in error.missing]
    return body


@bentoml.service(
    name="predictflow_churn",
    traffic={"timeout": 30},
    # Per-request costs BentoML adds by default, each a large share of a lookup's time: an
    # access-log line per request, and OpenTelemetry's middleware, which builds a (never
    # sampled: no exporter is configured, the sample rate is 0) span and its attributes for
    # every request unless the path is excluded. Drop the exclusion when tracing is wanted.
    logging={"access": {"enabled": False}},
    tracing={"excluded_urls": [f"{route}$" for route in API_ROUTES]},
)
class ChurnService:
    def __init__(self) -> None:
        settings = ServingSettings.from_env()
        self.settings = ChurnSettings.from_env()
        store = open_store()
        self.metrics = ServingMetrics(store.config.project, settings.store_type)
        self.feature_client = FeatureClient.from_store(store, features=FEATURE_REFERENCES, settings=settings, metrics=self.metrics)
        self.predictor = ChurnPredictor(self.feature_client, load(self.settings.model_tag, self.settings.model_store))
        # Feast, pandas and pyarrow leave a large heap of long-lived objects; keep the garbage
        # collector from walking it during requests (full collections showed up in the p99).
        gc.collect()
        gc.freeze()
        log.info(
            "serving %s for project %s (on store down: %s)",
            self.settings.model_tag,
            store.config.project,
            settings.on_store_down.value,
        )

    @bentoml.api
    async def predict(
        self,
        ctx: bentoml.Context,
        customer_id: int | None = None,
        customer_ids: list[int] | None = None,
    ) -> JSONAnswer:
        started = time.perf_counter()
        outcome, body = await self._answer(ctx, customer_id, customer_ids, scored=True)
        self.metrics.predict_seconds.observe(time.perf_counter() - started)
        self.metrics.answered(outcome)
        return JSONAnswer.model_validate(body)

    @bentoml.api
    async def features(
        self,
        ctx: bentoml.Context,
        customer_id: int | None = None,
        customer_ids: list[int] | None = None,
    ) -> JSONAnswer:
        """/predict without the model: the features the store (or the stale cache) holds."""
        _, body = await self._answer(ctx, customer_id, customer_ids, scored=False)
        return JSONAnswer.model_validate(body)

    async def _answer(self, ctx: bentoml.Context, customer_id: int | None, customer_ids: list[int] | None, *, scored: bool) -> tuple[Outcome, dict[str, Any]]:
        if (customer_id is None) == (customer_ids is None):
            ctx.response.status_code = 400
            return Outcome.BAD_REQUEST, {"error": "send exactly one of customer_id or customer_ids"}
        ids = [customer_id] if customer_id is not None else list(customer_ids or [])
        if len(ids) > self.settings.max_batch:
            ctx.response.status_code = 400
            return Outcome.BAD_REQUEST, {"error": f"at most {self.settings.max_batch} customer_ids per request"}

        answers: list[Prediction] | list[CustomerFeatures]
        try:
            answers = await (self.predictor.predict(ids) if scored else self.predictor.lookup(ids))
        except StoreUnavailable as error:
            ctx.response.status_code = 503
            return Outcome.UNAVAILABLE, unavailable_body(error)
        stale = any(answer.stale for answer in answers)
        answered = Outcome.STALE if stale else Outcome.OK
        if customer_id is not None:
            answer = answers[0]
            if not answer.found:
                ctx.response.status_code = 404
                return Outcome.NOT_FOUND, {"error": f"no features for customer_id {customer_id}", "customer_id": customer_id}
            return answered, answer.as_dict()
        return answered, {"predictions": [answer.as_dict() for answer in answers], "stale": stale}

    async def __is_ready__(self) -> bool:
        return await self.feature_client.ready()

    async def __is_alive__(self) -> bool:
        return await self.feature_client.alive()
