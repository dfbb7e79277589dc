"""FeatureClient: Feast online features for any service, read straight from Feast's Redis layout.

Bring your own model: a service (BentoML or any other server) opens one client at start and
awaits it per request. The operator's environment says which store to read and how to behave
while it is down (see docs/serving-contract.md); the client does the rest::

    from predictflow_serving.client import FeatureClient, StoreUnavailable

    features = FeatureClient.from_env(features=["churn_features:tenure_months", "churn_features:contract_type"])
    # or FeatureClient.from_env(feature_service="churn_scoring")

    async def handle(customer_id: int):
        try:
            result = await features.get({"customer_id": customer_id})
        except StoreUnavailable as error:  # the store is down and there is nothing to answer with
            return 503, {"error": error.reason}
        if not result.found:
            return 404, {"error": "unknown customer"}
        return 200, {"score": model(result.features), "stale": result.stale}

    # probes: __is_ready__ -> await features.ready(), __is_alive__ -> await features.alive()

What a lookup returns equals Feast's `get_online_features(...).to_dict()` for the same rows
(values and their Python types, None for missing values and unknown entities), except that by
default a view's values older than its `ttl` read as missing (Feast returns them;
ttlExpiredFeatures=present reads as Feast does). A lookup of N entity rows is one pipelined
round trip to Redis.

Outage behaviour, the same for every service on the library:
- every call is bounded by the lookup deadline (PREDICTFLOW_LOOKUP_DEADLINE_SECONDS, 0.75 s);
- after a failed lookup the store is skipped for PREDICTFLOW_STORE_RETRY_SECONDS (1 s), then one
  call retries; a ready()/alive() that reaches the store ends the wait at once;
- onStoreDown=stale: while the store is skipped, each entity row is answered from a bounded LRU
  cache of the last features found for it (`stale=True`); a row never found before makes the
  call raise StoreUnavailable naming those rows;
- onStoreDown=unavailable: the call raises StoreUnavailable at once;
- failures are logged once per outage (logger "predictflow.serving"), with passwords redacted.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from operator import itemgetter
from typing import Any, Protocol

from feast import FeatureStore
from redis.exceptions import RedisError

import predictflow_contract as contract
from predictflow_runtime.redaction import redact, secrets_from_env
from predictflow_runtime.store import DEFAULT_CONFIG, open_store

from .lookup import lookup_for
from .metrics import ServingMetrics
from .plan import FeatureResult, LookupPlan, plan_for_store, references_for_store
from .resilience import StaleCache, StoreBreaker
from .settings import OnStoreDown, ServingSettings
from .store_client import Timeouts, async_online_client, ping_fresh

__all__ = ["FeatureClient", "FeatureResult", "OnStoreDown", "ServingSettings", "StoreUnavailable"]

log = logging.getLogger("predictflow.serving")

Row = Mapping[str, Any]
_STORE_ERRORS = (RedisError, OSError, TimeoutError)
DEFAULT_SETTINGS = ServingSettings()


class StoreUnavailable(Exception):
    """The online store is unreachable and the call cannot be answered without it.

    `reason` says why in words a response body can carry; `missing` holds, in stale mode, the
    entity rows (each once, in request order) that the stale cache has no features for.
    """

    def __init__(self, reason: str, missing: Sequence[Row] = ()) -> None:
        super().__init__(reason)
        self.reason = reason
        self.missing: tuple[Row, ...] = tuple(missing)


class ReadPath(Protocol):
    """What the client reads through: one pipelined round trip per call (AsyncFeatureLookup)."""

    async def get_many(self, rows: Sequence[Row]) -> list[FeatureResult]: ...


def describe(error: BaseException, secrets: Sequence[str] = ()) -> str:
    """A one-line account of a store error with every known secret and `password=` masked."""
    text = str(error) or "no answer within the deadline"
    return redact(f"{type(error).__name__}: {text}", secrets)


class FeatureClient:
    """Feature lookups with the operator's outage behaviour; one per process, shared by requests.

    Build it with `from_env` (what a service in the operator's pod does) or `from_store` (an
    already opened Feast FeatureStore). Safe for concurrent use on one event loop.
    """

    def __init__(
        self,
        plan: LookupPlan,
        connection_string: str,
        settings: ServingSettings = DEFAULT_SETTINGS,
        *,
        metrics: ServingMetrics | None = None,
        secrets: Sequence[str] = (),
        read_path: ReadPath | None = None,
        cluster: bool = False,
    ) -> None:
        """`connection_string` is Feast's (`host:port,password=...`; every node of a Redis
        Cluster with `cluster`); `secrets` are masked in logs; `read_path` replaces the Redis read
        path (tests only)."""
        self.plan = plan
        self.settings = settings
        self.metrics = metrics
        self._connection_string = connection_string
        self._cluster = cluster
        self._secrets = tuple(secrets)
        self._redis = None
        if read_path is None:
            timeout = settings.redis_timeout_seconds
            self._redis = async_online_client(connection_string, Timeouts(connect=timeout, socket=timeout), cluster=cluster)
            read_path = lookup_for(plan, self._redis)
        self._read_path = read_path
        self._deadline = settings.lookup_deadline_seconds
        self.breaker = StoreBreaker(settings.store_retry_seconds)
        self._cache: StaleCache[FeatureResult] | None = StaleCache(settings.stale_cache_size) if settings.on_store_down is OnStoreDown.STALE else None
        join_keys = plan.join_keys
        self._entity_key: Callable[[Row], Hashable] = itemgetter(*join_keys)

    @classmethod
    def from_env(
        cls,
        *,
        features: Sequence[str] | None = None,
        feature_service: str | None = None,
        environ: Mapping[str, str] = os.environ,
        metrics: ServingMetrics | None = None,
    ) -> FeatureClient:
        """The client for the store the operator's environment describes.

        Name exactly one of `features` ("<feature_view>:<feature>" references; the result's
        feature names are the bare feature names, as Feast's default) or `feature_service` (a
        FeatureService of the repo, resolved to its references). Reads PREDICTFLOW_FEAST_CONFIG
        (the rendered feature_store.yaml), PREDICTFLOW_FEATURE_REPO (the definitions),
        PREDICTFLOW_WORK_DIR (optional, where the private registry is derived), and the settings
        of ServingSettings.from_env. Feast expands ${REDIS_PASSWORD} and the like in the yaml from
        the process environment. Opening derives the registry from the definitions (about a
        second) and connects to nothing: it succeeds while Redis is down.

        Raises StoreConfigError (predictflow_runtime.store) for a missing config or repo, and
        ValueError for unknown references, a store the fast lookup does not read, or bad settings.
        """
        settings = ServingSettings.from_env(environ)
        store = open_store(
            config_path=environ.get(contract.CONFIG_ENV) or DEFAULT_CONFIG,
            repo_path=environ.get(contract.FEATURE_REPO_ENV) or contract.DEFAULT_FEATURE_REPO,
            work_dir=environ.get(contract.WORK_DIR_ENV) or None,
        )
        return cls.from_store(store, features=features, feature_service=feature_service, settings=settings, metrics=metrics, environ=environ)

    @classmethod
    def from_store(
        cls,
        store: FeatureStore,
        *,
        features: Sequence[str] | None = None,
        feature_service: str | None = None,
        settings: ServingSettings = DEFAULT_SETTINGS,
        metrics: ServingMetrics | None = None,
        environ: Mapping[str, str] = os.environ,
    ) -> FeatureClient:
        """The client for an opened Feast FeatureStore on Redis; see from_env for the arguments."""
        references = references_for_store(store, features, feature_service)
        plan = plan_for_store(store, references, respect_ttl=settings.respect_ttl)
        online = store.config.online_store
        cluster = str(getattr(getattr(online, "redis_type", None), "value", "")) == contract.FEAST_REDIS_CLUSTER_TYPE
        return cls(plan, online.connection_string, settings, metrics=metrics, secrets=secrets_from_env(environ), cluster=cluster)

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The keys of every FeatureResult.features, in reference order."""
        return self.plan.output_names

    @property
    def join_keys(self) -> tuple[str, ...]:
        """The keys an entity row must hold (other keys are ignored)."""
        return self.plan.join_keys

    @property
    def store_down(self) -> bool:
        """Whether the last lookup failed and no lookup or probe has reached the store since."""
        return self.breaker.last_error is not None

    async def get(self, row: Row) -> FeatureResult:
        """The features of one entity row, e.g. {"customer_id": 1001}; see get_many."""
        return (await self.get_many((row,)))[0]

    async def get_many(self, rows: Sequence[Row]) -> list[FeatureResult]:
        """The features of each entity row, in order, in one round trip to the store.

        A row the store does not know gives `found=False` and every feature None. While the
        store is unreachable: with onStoreDown=stale the last features found for each row,
        `stale=True`; otherwise, or when a row was never found, StoreUnavailable. Never takes
        longer than the lookup deadline. Raises ValueError when a row lacks a join key.
        """
        if not rows:
            return []
        if self.breaker.allows_attempt():
            started = time.perf_counter()
            try:
                async with asyncio.timeout(self._deadline):
                    results = await self._read_path.get_many(rows)
            except _STORE_ERRORS as error:
                self._store_failed(error)
            except KeyError as error:
                raise ValueError(f"an entity row lacks the join key {error}; rows need {list(self.join_keys)}") from None
            else:
                self._store_answered()
                cache, metrics = self._cache, self.metrics
                if cache is not None:
                    entity_key = self._entity_key
                    for row, result in zip(rows, results, strict=True):
                        if result.found:
                            cache.remember(entity_key(row), result)
                if metrics is not None:
                    metrics.lookup_seconds.observe(time.perf_counter() - started)
                    metrics.entities.inc(len(rows))
                    nulls = sum([value is None for result in results for value in result.features.values()])
                    if nulls:
                        metrics.null_features.inc(nulls)
                    if cache is not None:
                        metrics.stale_cache_entries.set(len(cache))
                return results
        return self._without_store(rows)

    def _without_store(self, rows: Sequence[Row]) -> list[FeatureResult]:
        cache = self._cache
        if cache is None:
            raise StoreUnavailable("the online store is unreachable")
        try:
            keys = [self._entity_key(row) for row in rows]
        except KeyError as error:
            raise ValueError(f"an entity row lacks the join key {error}; rows need {list(self.join_keys)}") from None
        cached = [cache.recall(key) for key in keys]
        if None in cached:
            missing = {key: row for key, row, result in zip(keys, rows, cached, strict=True) if result is None}
            raise StoreUnavailable("the online store is unreachable and no features are cached", list(missing.values()))
        return [result.as_stale() for result in cached if result is not None]

    def _store_failed(self, error: BaseException) -> None:
        described = describe(error, self._secrets)
        if self.breaker.last_error is None:
            log.warning("online store unreachable (%s); answering %s", described, self.settings.on_store_down.value)
        self.breaker.record_failure(described)
        if self.metrics is not None:
            self.metrics.store_reachable.set(0)

    def _store_answered(self) -> None:
        if self.breaker.last_error is not None:
            log.warning("online store reachable again")
        self.breaker.record_success()
        if self.metrics is not None:
            self.metrics.store_reachable.set(1)

    async def ready(self) -> bool:
        """Whether the store answers PING on a fresh connection within the probe timeout
        (PREDICTFLOW_PROBE_TIMEOUT_SECONDS, 1 s); for a readiness probe. Never raises.

        A fresh connection proves DNS, TCP, TLS and AUTH work now. When it answers after an
        outage, lookups use the store again at once instead of waiting for the retry interval.
        """
        reachable = await ping_fresh(self._connection_string, self.settings.probe_timeout_seconds, cluster=self._cluster)
        if reachable:
            self._store_answered()
        elif self.metrics is not None:
            self.metrics.store_reachable.set(0)
        return reachable

    async def alive(self) -> bool:
        """ready(), unless PREDICTFLOW_LIVENESS_CHECKS_REDIS=false (then always True); for a
        liveness probe, which should allow a long failure window (see the serving contract)."""
        if not self.settings.liveness_checks_redis:
            return True
        return await self.ready()

    async def aclose(self) -> None:
        """Close the pooled connections."""
        if self._redis is not None:
            await self._redis.aclose()
