"""The pieces behind stale answers and fast 503s: the bounded cache, the breaker, the settings."""

from __future__ import annotations

import pytest

from predictflow_serving.resilience import StaleCache, StoreBreaker
from predictflow_serving.settings import ChurnSettings, OnStoreDown, ServingSettings

pytestmark = pytest.mark.unit


def test_stale_cache_is_bounded_and_evicts_least_recently_used():
    cache = StaleCache(capacity=2)
    cache.remember(1, {"a": 1})
    cache.remember(2, {"a": 2})
    assert cache.recall(1) == {"a": 1}  # 1 is now the most recently used
    cache.remember(3, {"a": 3})
    assert len(cache) == 2
    assert cache.recall(2) is None
    assert cache.recall(1) == {"a": 1} and cache.recall(3) == {"a": 3}
    cache.remember(1, {"a": 10})  # newer features replace older ones
    assert cache.recall(1) == {"a": 10} and len(cache) == 2
    with pytest.raises(ValueError):
        StaleCache(0)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_breaker_skips_the_store_after_a_failure_and_lets_one_request_retry():
    clock = FakeClock()
    breaker = StoreBreaker(retry_after=1.0, clock=clock)
    assert breaker.allows_attempt() and breaker.allows_attempt()  # healthy: everyone tries

    breaker.record_failure("ConnectionError: refused")
    assert breaker.is_open and not breaker.allows_attempt()
    clock.now += 0.5
    assert not breaker.allows_attempt()

    clock.now += 0.6
    assert breaker.allows_attempt()  # one request retries ...
    assert not breaker.allows_attempt()  # ... the others keep answering without the store
    breaker.record_failure("ConnectionError: refused")
    clock.now += 1.1
    assert breaker.allows_attempt()
    breaker.record_success()
    assert not breaker.is_open and breaker.last_error is None
    assert breaker.allows_attempt() and breaker.allows_attempt()


def test_settings_defaults_and_environment():
    assert ServingSettings.from_env({}) == ServingSettings()
    assert ChurnSettings.from_env({}) == ChurnSettings()
    environ = {
        "PREDICTFLOW_ON_STORE_DOWN": "Unavailable",
        "PREDICTFLOW_STALE_CACHE_SIZE": "10",
        "PREDICTFLOW_LIVENESS_CHECKS_REDIS": "false",
        "PREDICTFLOW_MODEL": "churn_model:abc",
        "PREDICTFLOW_REDIS_TIMEOUT_SECONDS": "0.1",
        "PREDICTFLOW_MODEL_STORE": "/opt/bentoml/models",
        "PREDICTFLOW_TTL_EXPIRED_FEATURES": "present",
        "PREDICTFLOW_MAX_BATCH": "50",
    }
    settings, churn = ServingSettings.from_env(environ), ChurnSettings.from_env(environ)
    assert not settings.respect_ttl and ServingSettings().respect_ttl
    assert str(churn.model_store) == "/opt/bentoml/models" and ChurnSettings().model_store is None
    assert settings.on_store_down is OnStoreDown.UNAVAILABLE
    assert settings.stale_cache_size == 10 and not settings.liveness_checks_redis
    assert churn.model_tag == "churn_model:abc" and settings.redis_timeout_seconds == 0.1
    assert churn.max_batch == 50 and ChurnSettings().model_tag == "churn_model:latest"
    assert ServingSettings.from_env({"PREDICTFLOW_ON_STORE_DOWN": ""}).on_store_down is OnStoreDown.STALE


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("PREDICTFLOW_ON_STORE_DOWN", "fail", "stale' or 'unavailable"),
        ("PREDICTFLOW_STALE_CACHE_SIZE", "many", "not a int"),
        ("PREDICTFLOW_STALE_CACHE_SIZE", "0", "must be positive"),
        ("PREDICTFLOW_LIVENESS_CHECKS_REDIS", "yes", "'true' or 'false'"),
        ("PREDICTFLOW_TTL_EXPIRED_FEATURES", "stale", "'missing' or 'present'"),
        ("PREDICTFLOW_PROBE_TIMEOUT_SECONDS", "-1", "must be positive"),
    ],
)
def test_settings_reject_bad_values_with_a_clear_message(name, value, message):
    with pytest.raises(ValueError, match=message):
        ServingSettings.from_env({name: value})


def test_churn_settings_reject_a_bad_batch_limit():
    with pytest.raises(ValueError, match="PREDICTFLOW_MAX_BATCH must be positive"):
        ChurnSettings.from_env({"PREDICTFLOW_MAX_BATCH": "0"})
