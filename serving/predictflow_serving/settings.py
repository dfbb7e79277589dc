"""The serving process's settings, read from the environment the operator gives the pod."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import predictflow_contract as contract

from .model import MODEL_NAME


class OnStoreDown(StrEnum):
    """`spec.serving.onStoreDown`: what predictions do while the online store is unreachable."""

    STALE = "stale"  # answer from the last features seen for the entity, flagged stale
    UNAVAILABLE = "unavailable"  # answer 503 at once


@dataclass(frozen=True)
class ServingSettings:
    on_store_down: OnStoreDown = OnStoreDown.STALE
    stale_cache_size: int = 50_000  # about 25 MB for the churn features
    liveness_checks_redis: bool = True
    model_tag: str = f"{MODEL_NAME}:latest"
    model_store: Path | None = None  # a model store directory other than $BENTOML_HOME/models
    redis_timeout_seconds: float = 0.25  # connect and socket timeouts of feature lookups
    lookup_deadline_seconds: float = 0.75  # a whole lookup, reconnect included
    probe_timeout_seconds: float = 1.0  # the whole readiness/liveness ping, on a fresh connection
    store_retry_seconds: float = 1.0  # after a failed lookup, requests skip the store this long
    max_batch: int = 1000
    store_type: str = "unknown"  # spec.onlineStore.type, a label on the metrics
    respect_ttl: bool = True  # spec.serving.ttlExpiredFeatures: missing (True) or present (as Feast)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> ServingSettings:
        defaults = cls()

        def text(name: str, default: str) -> str:
            return (environ.get(name) or default).strip()

        def number(name: str, default: float, kind: type = float) -> float:
            raw = text(name, str(default))
            try:
                value = kind(raw)
            except ValueError:
                raise ValueError(f"{name}={raw!r} is not a {kind.__name__}") from None
            if value <= 0:
                raise ValueError(f"{name} must be positive, not {raw}")
            return value

        mode = text(contract.ON_STORE_DOWN_ENV, defaults.on_store_down.value).lower()
        if mode not in {m.value for m in OnStoreDown}:
            raise ValueError(f"{contract.ON_STORE_DOWN_ENV}={mode!r}: use 'stale' or 'unavailable'")
        liveness = text(contract.LIVENESS_CHECKS_REDIS_ENV, "true").lower()
        if liveness not in ("true", "false"):
            raise ValueError(f"{contract.LIVENESS_CHECKS_REDIS_ENV}={liveness!r}: use 'true' or 'false'")
        expired = text(contract.TTL_EXPIRED_FEATURES_ENV, "missing").lower()
        if expired not in ("missing", "present"):
            raise ValueError(f"{contract.TTL_EXPIRED_FEATURES_ENV}={expired!r}: use 'missing' or 'present'")
        return cls(
            on_store_down=OnStoreDown(mode),
            stale_cache_size=int(number("PREDICTFLOW_STALE_CACHE_SIZE", defaults.stale_cache_size, int)),
            liveness_checks_redis=liveness == "true",
            model_tag=text("PREDICTFLOW_MODEL", defaults.model_tag),
            model_store=Path(text("PREDICTFLOW_MODEL_STORE", "")) if text("PREDICTFLOW_MODEL_STORE", "") else None,
            redis_timeout_seconds=number("PREDICTFLOW_REDIS_TIMEOUT_SECONDS", defaults.redis_timeout_seconds),
            lookup_deadline_seconds=number("PREDICTFLOW_LOOKUP_DEADLINE_SECONDS", defaults.lookup_deadline_seconds),
            probe_timeout_seconds=number("PREDICTFLOW_PROBE_TIMEOUT_SECONDS", defaults.probe_timeout_seconds),
            store_retry_seconds=number("PREDICTFLOW_STORE_RETRY_SECONDS", defaults.store_retry_seconds),
            max_batch=int(number("PREDICTFLOW_MAX_BATCH", defaults.max_batch, int)),
            store_type=text(contract.STORE_TYPE_ENV, defaults.store_type),
            respect_ttl=expired == "missing",
        )
