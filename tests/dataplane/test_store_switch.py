"""The switch protocol on live stores: backfill the new store, then move serving, under traffic.

A plain password-protected Redis plays the in-cluster store and a TLS + AUTH redis-server plays
ElastiCache. Predictions run continuously while the steps the operator takes run in order: the new
store is provisioned (empty), a full backfill fills it, a serving process on it becomes ready,
traffic moves, and the old serving process and store are retired.
"""

from __future__ import annotations

import random
import secrets
import threading
import time

import httpx
import pandas as pd
import pytest

from predictflow_devtools.processes import free_port
from predictflow_devtools.redis_server import start_redis
from predictflow_runtime.datagen import FEATURES_FILE
from predictflow_serving.devstack import BentoServer, prepare_stack

pytestmark = [pytest.mark.dataplane, pytest.mark.timeout(600)]

TARGET = "predictflow_serving.service:ChurnService"
CUSTOMERS = 300
FEATURES = ["tenure_months", "monthly_charges", "total_charges", "contract_type", "support_tickets_90d"]


class Traffic(threading.Thread):
    """Predictions for random customers against whichever URL serving currently routes to."""

    def __init__(self, url: str, expected: dict[int, dict]) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.expected = expected
        self.stop_event = threading.Event()
        self.requests: dict[str, int] = {}
        self.failures: list[str] = []
        self.nulls: list[str] = []
        self.wrong: list[str] = []

    def run(self) -> None:
        rng = random.Random(7)
        with httpx.Client(timeout=5) as client:
            while not self.stop_event.is_set():
                url, customer = self.url, rng.choice(list(self.expected))
                self.requests[url] = self.requests.get(url, 0) + 1
                try:
                    response = client.post(f"{url}/predict", json={"customer_id": customer})
                except httpx.HTTPError as error:
                    self.failures.append(f"{url}: {error!r}")
                    continue
                if response.status_code != 200:
                    self.failures.append(f"{url}: {response.status_code} {response.text[:200]}")
                    continue
                body = response.json()
                features = body["features"]
                if body.get("stale") or any(features.get(name) is None for name in FEATURES):
                    self.nulls.append(f"{customer}: {body}")
                elif any(features[name] != pytest.approx(self.expected[customer][name]) for name in FEATURES):
                    self.wrong.append(f"{customer}: {features} != {self.expected[customer]}")


def newest_rows(directory) -> dict[int, dict]:
    frame = pd.read_parquet(directory / "data" / FEATURES_FILE)
    newest = frame.sort_values("event_timestamp").groupby("customer_id").last()
    return {int(cid): {c: (row[c].item() if hasattr(row[c], "item") else row[c]) for c in FEATURES} for cid, row in newest.iterrows()}


def serve(stack, name: str) -> BentoServer:
    env = stack.process_env(PREDICTFLOW_WORK_DIR=str(stack.directory / f"work-{name}"))
    return BentoServer(TARGET, free_port(), env, stack.directory / f"serve-{name}.log").start()


def test_switching_between_live_stores_loses_no_request_and_serves_no_null(tmp_path_factory):
    base = tmp_path_factory.mktemp("switch")
    old_store = start_redis(base / "redis-old", password=secrets.token_urlsafe(18))
    new_store = start_redis(base / "redis-new", tls=True, password=secrets.token_urlsafe(18))
    servers: list[BentoServer] = []
    try:
        old_stack = prepare_stack(base / "stack-old", old_store.endpoint, password=old_store.password, customers=CUSTOMERS)
        expected = newest_rows(old_stack.directory)
        old_serving = serve(old_stack, "old")
        servers.append(old_serving)
        traffic = Traffic(old_serving.url, expected)
        traffic.start()
        time.sleep(1)

        # The new store starts empty: pointing serving at it now would answer without features.
        assert new_store.client().dbsize() == 0
        # The backfill Job: a full materialization into the new store (over TLS + AUTH).
        new_stack = prepare_stack(
            base / "stack-new", new_store.endpoint, password=new_store.password, tls_ca=new_store.ca_cert, customers=CUSTOMERS
        )
        assert new_store.client().dbsize() >= CUSTOMERS
        # Cutover: serving on the new store becomes ready, traffic moves, then the old side retires.
        new_serving = serve(new_stack, "new")
        servers.append(new_serving)
        traffic.url = new_serving.url
        time.sleep(1)  # in-flight requests to the old pod finish, as endpoints drop before SIGTERM
        old_serving.stop()
        old_store.stop()
        time.sleep(2)
        traffic.stop_event.set()
        traffic.join(timeout=30)

        assert traffic.failures == []
        assert traffic.nulls == []
        assert traffic.wrong == []
        assert traffic.requests.get(old_serving.url, 0) > 20 and traffic.requests.get(new_serving.url, 0) > 20, traffic.requests
    finally:
        for server in servers:
            server.stop()
        old_store.stop()
        new_store.stop()
