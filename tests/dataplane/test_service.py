"""The churn service as a real `bentoml serve` process on a real Redis (password-protected).

Redis is filled by the materialization job, the model trained into a BENTOML_HOME, and the
service started exactly as the operator starts it. Then Redis is frozen (a hung server),
killed and brought back, while the probes and the two onStoreDown modes are watched.
"""

from __future__ import annotations

import os
import signal
import time

import httpx
import pandas as pd
import pytest

from predictflow_devtools.processes import free_port
from predictflow_runtime.datagen import FEATURES_FILE
from predictflow_devtools.devstack import BentoServer, prepare_stack
from predictflow_serving.model import MODEL_FILE, ChurnModel

pytestmark = [pytest.mark.dataplane, pytest.mark.timeout(600)]

TARGET = "predictflow_serving.service:ChurnService"
CACHED = [1001, 1002, 1003]  # predicted before the outage, so the stale cache has them
NEVER_SEEN = 1500


@pytest.fixture(scope="module")
def stack(redis, tmp_path_factory):
    return prepare_stack(tmp_path_factory.mktemp("service-stack"), redis)


@pytest.fixture(scope="module")
def services(stack):
    """Both onStoreDown modes, started together.

    The second one runs as in the image: the model store is a folder of its own and
    BENTOML_HOME a fresh writable one.
    """
    image_layout = {
        "BENTOML_HOME": str(stack.directory / "bentoml-runtime"),
        "PREDICTFLOW_MODEL_STORE": str(stack.directory / "bentoml" / "models"),
    }
    servers = {
        mode: BentoServer(
            TARGET,
            free_port(),
            stack.process_env(
                PREDICTFLOW_ON_STORE_DOWN=mode,
                PREDICTFLOW_WORK_DIR=str(stack.directory / f"work-{mode}"),
                **(image_layout if mode == "unavailable" else {}),
            ),
            stack.directory / f"serve-{mode}.log",
        )
        for mode in ("stale", "unavailable")
    }
    try:
        for server in servers.values():
            server.start()
        yield servers
    finally:
        for server in servers.values():
            server.stop()


@pytest.fixture(scope="module")
def clients(services):
    clients = {mode: httpx.Client(base_url=server.url, timeout=10) for mode, server in services.items()}
    yield clients
    for client in clients.values():
        client.close()


@pytest.fixture(scope="module")
def newest_features(stack) -> dict[int, dict]:
    """What materialization should have put online: each customer's newest row."""
    frame = pd.read_parquet(stack.directory / "data" / FEATURES_FILE)
    newest = frame.sort_values("event_timestamp").groupby("customer_id").last()
    columns = ["tenure_months", "monthly_charges", "total_charges", "contract_type", "support_tickets_90d"]
    return {int(cid): {c: row[c].item() if hasattr(row[c], "item") else row[c] for c in columns}
            for cid, row in newest.iterrows()}


@pytest.fixture(scope="module")
def model(stack) -> ChurnModel:
    (saved,) = (stack.directory / "bentoml" / "models" / "churn_model").glob(f"*/{MODEL_FILE}")
    return ChurnModel.from_json(saved.read_text())


def predict(client: httpx.Client, **body) -> tuple[int, dict, float]:
    started = time.monotonic()
    response = client.post("/predict", json=body)
    return response.status_code, response.json(), time.monotonic() - started


def lookup(client: httpx.Client, **body) -> tuple[int, dict]:
    response = client.post("/features", json=body)
    return response.status_code, response.json()


def probe(server: BentoServer, path: str) -> tuple[int | None, float]:
    started = time.monotonic()
    status = server.status(path, timeout=10)
    return status, time.monotonic() - started


def wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what} within {timeout} s")


def test_predicts_from_the_materialized_store(clients, newest_features, model):
    for client in clients.values():
        for customer_id in CACHED:
            status, body, _ = predict(client, customer_id=customer_id)
            assert status == 200, body
            assert body["features"] == newest_features[customer_id]
            assert body["score"] == pytest.approx(model.score(newest_features[customer_id]), rel=1e-12)
            assert body["stale"] is False and body["found"] is True

        status, body, _ = predict(client, customer_ids=[1004, 99, 1004, 2000])
        assert status == 200, body
        assert body["stale"] is False
        assert [p["customer_id"] for p in body["predictions"]] == [1004, 99, 1004, 2000]
        assert [p["found"] for p in body["predictions"]] == [True, False, True, True]
        assert body["predictions"][0]["features"] == newest_features[1004]
        assert body["predictions"][1]["score"] is None and body["predictions"][1]["features"] is None


def test_features_endpoint_answers_like_predict_without_the_score(clients, newest_features):
    client = clients["stale"]
    status, body = lookup(client, customer_id=1001)
    assert status == 200, body
    assert body == {"customer_id": 1001, "features": newest_features[1001], "stale": False, "found": True}
    status, body = lookup(client, customer_ids=[1004, 99])
    assert status == 200, body
    assert body == {
        "predictions": [
            {"customer_id": 1004, "features": newest_features[1004], "stale": False, "found": True},
            {"customer_id": 99, "features": None, "stale": False, "found": False},
        ],
        "stale": False,
    }
    status, body = lookup(client, customer_id=NEVER_SEEN * 1000)
    assert status == 404 and "no features" in body["error"]
    status, body = lookup(client)
    assert status == 400 and "exactly one" in body["error"]
    status, body = lookup(client, customer_ids=list(range(1001, 2002)))
    assert status == 400 and "at most" in body["error"]


def test_scores_separate_churners(clients, stack):
    """The model learned something: churners score higher than the rest on average."""
    labels = pd.read_parquet(stack.directory / "data" / "churn_labels.parquet").head(300)
    status, body, _ = predict(clients["stale"], customer_ids=labels["customer_id"].tolist())
    assert status == 200
    scores = pd.Series([p["score"] for p in body["predictions"]])
    churned = labels["churned"].to_numpy()
    assert scores[churned].mean() > scores[~churned].mean() + 0.1


def test_bad_requests_get_clear_errors(clients):
    client = clients["stale"]
    status, body, _ = predict(client, customer_id=NEVER_SEEN * 1000)
    assert status == 404 and "no features" in body["error"]
    status, body, _ = predict(client)
    assert status == 400 and "exactly one" in body["error"]
    status, body, _ = predict(client, customer_id=1001, customer_ids=[1001])
    assert status == 400
    status, body, _ = predict(client, customer_ids=list(range(1001, 2002)))
    assert status == 400 and "at most" in body["error"]
    response = client.post("/predict", json={"customer_id": "not a number"})
    assert response.status_code == 400 and "Traceback" not in response.text


def test_probes_are_healthy_with_redis_up(services):
    for server in services.values():
        assert server.status("/readyz") == 200
        assert server.status("/livez") == 200


def _assert_outage_behaviour(services, clients, newest_features, cached_features):
    for mode, server in services.items():
        status, elapsed = probe(server, "/readyz")
        assert status == 503 and elapsed < 2.0, (mode, status, elapsed)
        status, elapsed = probe(server, "/livez")
        assert status == 503 and elapsed < 2.0, (mode, status, elapsed)

    stale = clients["stale"]
    for _ in range(2):  # the first request meets the failure, the next one the open breaker
        for customer_id in CACHED:
            status, body, _ = predict(stale, customer_id=customer_id)
            assert status == 200, body
            assert body["stale"] is True and body["features"] == cached_features[customer_id]
    status, body, _ = predict(stale, customer_ids=CACHED)
    assert status == 200 and body["stale"] is True
    assert all(p["stale"] for p in body["predictions"])
    status, body, _ = predict(stale, customer_ids=[CACHED[0], NEVER_SEEN])
    assert status == 503 and body["missing"] == [NEVER_SEEN]

    unavailable = clients["unavailable"]
    for customer_id in CACHED + [NEVER_SEEN]:
        status, body, elapsed = predict(unavailable, customer_id=customer_id)
        assert status == 503 and elapsed < 1.0, (status, body, elapsed)
        assert body == {"error": "the online store is unreachable"}
    status, body, elapsed = predict(unavailable, customer_ids=CACHED)
    assert status == 503 and elapsed < 1.0
    status, body = lookup(unavailable, customer_id=CACHED[0])
    assert status == 503 and body == {"error": "the online store is unreachable"}


def _assert_recovered(services, clients, newest_features, pids):
    for mode, server in services.items():
        wait_for(lambda: server.status("/readyz") == 200, 15, f"{mode}: /readyz back to 200")
        assert server.status("/livez") == 200
        assert server.pid == pids[mode] and server._process.poll() is None  # no restart needed
    for client in clients.values():
        status, body, _ = predict(client, customer_id=CACHED[0])
        assert status == 200 and body["stale"] is False
        assert body["features"] == newest_features[CACHED[0]]


def test_hung_redis_then_back(services, clients, redis, newest_features):
    cached = {cid: predict(clients["stale"], customer_id=cid)[1]["features"] for cid in CACHED}
    pids = {mode: server.pid for mode, server in services.items()}
    log_offsets = {mode: server.log.stat().st_size for mode, server in services.items()}
    os.kill(redis._proc.pid, signal.SIGSTOP)  # accepts connections, never answers
    try:
        _assert_outage_behaviour(services, clients, newest_features, cached)
    finally:
        os.kill(redis._proc.pid, signal.SIGCONT)
    _assert_recovered(services, clients, newest_features, pids)
    _assert_logs_are_clean(services, redis, log_offsets)


def test_killed_redis_then_restarted(services, clients, redis, newest_features):
    cached = {cid: predict(clients["stale"], customer_id=cid)[1]["features"] for cid in CACHED}
    pids = {mode: server.pid for mode, server in services.items()}
    log_offsets = {mode: server.log.stat().st_size for mode, server in services.items()}
    redis.client().save()  # the restarted server loads this snapshot, like a persistent Redis
    redis.stop()
    try:
        _assert_outage_behaviour(services, clients, newest_features, cached)
    finally:
        redis.start()
    _assert_recovered(services, clients, newest_features, pids)
    _assert_logs_are_clean(services, redis, log_offsets)


def _assert_logs_are_clean(services, redis, offsets):
    """The outage was reported, without the password and without a traceback."""
    for mode, server in services.items():
        text = server.log.read_bytes().decode(errors="replace")
        assert redis.password not in text
        during_outage = server.log.read_bytes()[offsets[mode]:].decode(errors="replace")
        assert "online store unreachable" in during_outage
        assert "Traceback" not in during_outage
