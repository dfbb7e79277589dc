"""Settings read from the environment the operator gives a serving pod.

`ServingSettings` is what the feature-lookup library needs (any service built on FeatureClient);
`ChurnSettings` is what only the example churn service needs (its model and request limits).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import predictflow_contract as contract

from .model import MODEL_NAME


class OnStoreDown(StrEnum):
    """`spec.serving.onStoreDown`: what lookups do while the online store is unreachable."""

    STALE = "stale"  # answer from the last features seen for the entity, flagged stale
    UNAVAILABLE = "unavailable"  # raise StoreUnavailable at once (a service answers 503)


class _Environment:
    """Typed reads of environment variables, with messages that name the variable."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def text(self, name: str, default: str) -> str:
        return (self._environ.get(name) or default).strip()

    def positive(self, name: str, default: float, kind: type = float) -> float:
        raw = self.text(name, str(default))
        try:
            value = kind(raw)
        except ValueError:
            raise ValueError(f"{name}={raw!r} is not a {kind.__name__}") from None
        if value <= 0:
            raise ValueError(f"{name} must be positive, not {raw}")
        return value

    def choice(self, name: str, default: str, choices: tuple[str, str]) -> str:
        value = self.text(name, default).lower()
        if value not in choices:
            raise ValueError(f"{name}={value!r}: use '{choices[0]}' or '{choices[1]}'")
        return value


@dataclass(frozen=True)
class ServingSettings:
    """How FeatureClient reads the online store and behaves while it is down."""

    on_store_down: OnStoreDown = OnStoreDown.STALE
    stale_cache_size: int = 50_000  # entities; about 25 MB for the churn features
    liveness_checks_redis: bool = True
    redis_timeout_seconds: float = 0.25  # connect and socket timeouts of feature lookups
    lookup_deadline_seconds: float = 0.75  # a whole lookup, reconnect included
    probe_timeout_seconds: float = 1.0  # the whole readiness/liveness ping, on a fresh connection
    store_retry_seconds: float = 1.0  # after a failed lookup, lookups skip the store this long
    store_type: str = "unknown"  # spec.onlineStore.type, a label on the metrics
    respect_ttl: bool = True  # spec.serving.ttlExpiredFeatures: missing (True) or present (as Feast)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> ServingSettings:
        defaults, env = cls(), _Environment(environ)
        mode = env.choice(contract.ON_STORE_DOWN_ENV, defaults.on_store_down.value, (OnStoreDown.STALE.value, OnStoreDown.UNAVAILABLE.value))
        liveness = env.choice(contract.LIVENESS_CHECKS_REDIS_ENV, "true", ("true", "false"))
        expired = env.choice(contract.TTL_EXPIRED_FEATURES_ENV, "missing", ("missing", "present"))
        return cls(
            on_store_down=OnStoreDown(mode),
            stale_cache_size=int(env.positive("PREDICTFLOW_STALE_CACHE_SIZE", defaults.stale_cache_size, int)),
            liveness_checks_redis=liveness == "true",
            redis_timeout_seconds=env.positive("PREDICTFLOW_REDIS_TIMEOUT_SECONDS", defaults.redis_timeout_seconds),
            lookup_deadline_seconds=env.positive("PREDICTFLOW_LOOKUP_DEADLINE_SECONDS", defaults.lookup_deadline_seconds),
            probe_timeout_seconds=env.positive("PREDICTFLOW_PROBE_TIMEOUT_SECONDS", defaults.probe_timeout_seconds),
            store_retry_seconds=env.positive("PREDICTFLOW_STORE_RETRY_SECONDS", defaults.store_retry_seconds),
            store_type=env.text(contract.STORE_TYPE_ENV, defaults.store_type),
            respect_ttl=expired == "missing",
        )


@dataclass(frozen=True)
class ChurnSettings:
    """The example churn service's own settings: which model it scores with, how big a batch may be."""

    model_tag: str = f"{MODEL_NAME}:latest"
    model_store: Path | None = None  # a model store directory other than $BENTOML_HOME/models
    max_batch: int = 1000

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> ChurnSettings:
        defaults, env = cls(), _Environment(environ)
        model_store = env.text("PREDICTFLOW_MODEL_STORE", "")
        return cls(
            model_tag=env.text("PREDICTFLOW_MODEL", defaults.model_tag),
            model_store=Path(model_store) if model_store else None,
            max_batch=int(env.positive("PREDICTFLOW_MAX_BATCH", defaults.max_batch, int)),
        )
