"""A real Prometheus scrapes the churn service and Debian's Redis exporter; PromQL reads the traffic.

Known traffic goes through `bentoml serve` on a real Redis: the outcome counters must count it
exactly, the latency histogram's median must fall inside the buckets that resolve the budget, and
when Redis stops the reachability series and the stale outcome must say so.
"""

from __future__ import annotations

import os
import re

import httpx
import pytest

from predictflow_devtools import processes
from predictflow_devtools.devstack import BentoServer, prepare_stack
from predictflow_devtools.paths import REPO_ROOT
from predictflow_devtools.processes import free_port
from predictflow_devtools.prometheus import Prometheus, redis_exporter_binary

pytestmark = [pytest.mark.dataplane, pytest.mark.timeout(600)]

KNOWN, UNKNOWN, BAD = 30, 5, 3
SERIES = '{project="churn",store_type="redis"}'
DASHBOARD = REPO_ROOT / "charts" / "predictflow-operator" / "dashboards" / "predictflow.json"


@pytest.fixture(scope="module")
def service(redis, tmp_path_factory):
    stack = prepare_stack(tmp_path_factory.mktemp("metrics-stack"), redis)
    server = BentoServer(
        "predictflow_serving.service:ChurnService", free_port(), stack.process_env(), stack.directory / "serve.log"
    ).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def exporter(redis, tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("metrics-exporter") / "exporter.log"
    # the password through the environment, as the sidecar gets it: never on a command line
    env = {**os.environ, "REDIS_PASSWORD": redis.password or ""}
    args = [redis_exporter_binary(), f"-redis.addr=redis://{redis.endpoint}", f"-web.listen-address=127.0.0.1:{port}"]
    process = processes.spawn(args, log, tie_to_parent=True, env=env)
    processes.wait_until(lambda: httpx.get(f"http://127.0.0.1:{port}/metrics").status_code == 200, timeout=30, what="redis exporter", logs=[log])
    yield f"127.0.0.1:{port}"
    processes.terminate([process.pid])


@pytest.fixture(scope="module")
def prometheus(service, exporter, tmp_path_factory):
    server = Prometheus(tmp_path_factory.mktemp("prometheus"), {"serving": f"127.0.0.1:{service.port}", "redis": exporter}).start()
    processes.wait_until(lambda: all(server.targets_up().values()) and len(server.targets_up()) == 2, timeout=30, what="both targets up", logs=[server.log])
    yield server
    server.stop()


def test_outcomes_are_counted_exactly_and_latency_falls_in_the_budget_buckets(service, prometheus):
    with httpx.Client(base_url=service.url, timeout=10) as client:
        for customer in range(1001, 1001 + KNOWN):
            assert client.post("/predict", json={"customer_id": customer}).status_code == 200
        for customer in range(90_001, 90_001 + UNKNOWN):
            assert client.post("/predict", json={"customer_id": customer}).status_code == 404
        for _ in range(BAD):
            assert client.post("/predict", json={}).status_code == 400

    def outcome(name: str) -> str:
        return f'predictflow_serving_requests_total{{project="churn",store_type="redis",outcome="{name}"}}'

    assert prometheus.wait_for(outcome("ok"), KNOWN) == KNOWN
    assert prometheus.wait_for(outcome("not_found"), UNKNOWN) == UNKNOWN
    assert prometheus.wait_for(outcome("bad_request"), BAD) == BAD
    assert prometheus.scalar(outcome("stale")) == 0
    assert prometheus.scalar(f"predictflow_serving_entities_looked_up_total{SERIES}") == KNOWN + UNKNOWN
    # every feature of an unknown customer is null: at least one per unknown request
    assert prometheus.scalar(f"predictflow_serving_features_null_total{SERIES}") >= UNKNOWN
    assert prometheus.scalar(f"predictflow_serving_predict_duration_seconds_count{SERIES}") == KNOWN + UNKNOWN + BAD
    median = prometheus.scalar(f"histogram_quantile(0.5, sum by (le) (predictflow_serving_predict_duration_seconds_bucket{SERIES}))")
    assert median is not None and 0 < median <= 0.05, f"median predict latency {median} s is outside the 1-50 ms buckets"
    lookup_p99 = prometheus.scalar(f"histogram_quantile(0.99, sum by (le) (predictflow_serving_lookup_duration_seconds_bucket{SERIES}))")
    assert lookup_p99 is not None and 0 < lookup_p99 <= 0.05
    assert prometheus.scalar(f"predictflow_serving_store_reachable{SERIES}") == 1
    assert prometheus.scalar(f"predictflow_serving_stale_cache_entries{SERIES}") == KNOWN
    assert prometheus.scalar("redis_up") == 1
    assert prometheus.scalar('redis_db_keys{db="db0"}') >= 1000  # the 1000 materialized customers


def test_every_redis_series_on_the_dashboard_is_one_the_exporter_serves(prometheus):
    queried = set(re.findall(r"\bredis_[a-z_]+", DASHBOARD.read_text()))
    assert len(queried) >= 5, queried
    missing = sorted(name for name in queried if not prometheus.scalar(f"count({name})"))
    assert not missing, f"the dashboard queries Redis series the exporter does not serve: {missing}"


def test_a_redis_outage_shows_in_reachability_and_the_outcomes(service, redis, prometheus):
    redis.stop()
    try:
        with httpx.Client(base_url=service.url, timeout=10) as client:
            answers = [client.post("/predict", json={"customer_id": 1001}).json() for _ in range(5)]
        assert all(answer.get("stale") for answer in answers), answers
        assert prometheus.wait_for(f"predictflow_serving_store_reachable{SERIES}", 0) == 0
        assert prometheus.wait_for(f'predictflow_serving_requests_total{{project="churn",store_type="redis",outcome="stale"}}', 5) == 5
        assert prometheus.wait_for("redis_up", 0) == 0
    finally:
        redis.start()
    assert service.status("/readyz") == 200
    assert prometheus.wait_for(f"predictflow_serving_store_reachable{SERIES}", 1) == 1
