"""The operator reads the serving store itself: Fresh and MemoryPressure flip on crafted watermarks and memory.

The store is a real redis-server over TLS on loopback, adopted as an existing ElastiCache endpoint
(the one store type whose endpoint the operator process can reach here). The watermarks are written
with the runtime's own code; the memory cap is moved with CONFIG SET, as a bigger node would. Nothing
wakes the operator but its own store reader (every second in this tier), and its own schedule.
"""

from __future__ import annotations

import datetime
import subprocess

import pytest
from lightkube.resources.core_v1 import Event, Secret

from predictflow_devtools.featurestores import apply_featurestore, backfill, condition, status
from predictflow_devtools.kubelet import finish_job_pods, mark_pods_ready
from predictflow_devtools.pytest_plugin import kubectl_binary
from predictflow_devtools.redis_server import start_redis
from predictflow_devtools.waiting import eventually
from predictflow_runtime.watermark import advance_watermark

pytestmark = pytest.mark.controlplane

THRESHOLD = 3600
OPT_IN = {"predictflow.io/featurestore": "churn"}


@pytest.fixture
def store(tmp_path):
    server = start_redis(tmp_path / "redis", tls=True)
    yield server
    server.stop()


def adopt(kube, namespace, store, **materialization):
    kube.create(Secret.from_dict({"metadata": {"name": "churn-ec", "namespace": namespace, "labels": OPT_IN}, "stringData": {"token": store.password}}))
    kube.create(Secret.from_dict({"metadata": {"name": "churn-ca", "namespace": namespace, "labels": OPT_IN}, "stringData": {"ca.crt": store.ca_cert.read_text()}}))
    cache = {"mode": "existing", "endpoint": store.endpoint, "authSecretRef": {"name": "churn-ec", "key": "token"}, "caSecretRef": {"name": "churn-ca"}}
    spec = {
        "project": "churn",
        "onlineStore": {"type": "elasticache", "elasticache": cache},
        "materialization": {"freshnessThresholdSeconds": THRESHOLD, **materialization},
    }
    apply_featurestore(kube, namespace, spec)
    job = backfill(kube, namespace)
    eventually(lambda: finish_job_pods(kube, namespace, job.metadata.name), what="the backfill pod")
    eventually(lambda: mark_pods_ready(kube, namespace, {**OPT_IN, "app.kubernetes.io/component": "serving"}), what="a serving pod")
    eventually(lambda: condition(kube, namespace, "Ready").get("status") == "True", what="Ready=True", timeout=90)


def kube_events(kube, namespace, reason):
    return [e for e in kube.list(Event, namespace=namespace) if e.reason == reason]


def flips_to(kube, namespace, kind, wanted, what):
    return eventually(lambda: (c := condition(kube, namespace, kind)).get("status") == wanted and c, what=what, timeout=30)


def test_fresh_follows_the_watermarks_in_the_store_and_turns_false_on_time(kube, namespace, operator, store, control_plane):
    client = store.client()
    now = datetime.datetime.now(datetime.UTC)
    advance_watermark(client, "churn", "customer_stats", now - datetime.timedelta(hours=3))
    advance_watermark(client, "churn", "customer_orders", now)
    adopt(kube, namespace, store, suspend=True)

    stale = flips_to(kube, namespace, "Fresh", "False", "Fresh=False")
    assert stale["reason"] == "Stale"
    assert "customer_stats" in stale["message"] and "customer_orders" not in stale["message"], stale["message"]
    assert "suspended" in stale["message"] and "freshnessThresholdSeconds" in stale["message"]
    freshness = status(kube, namespace)["freshness"]
    assert freshness["thresholdSeconds"] == THRESHOLD
    assert [v["featureView"] for v in freshness["views"]] == ["customer_orders", "customer_stats"]
    assert freshness["oldestWatermark"] == freshness["views"][1]["watermark"]
    assert condition(kube, namespace, "Ready")["status"] == "True", "freshness is told, it does not take serving away"
    header, row = subprocess.run(
        [str(kubectl_binary()), f"--kubeconfig={control_plane.kubeconfig}", "-n", namespace, "get", "pfs", "churn"], capture_output=True, text=True, check=True
    ).stdout.splitlines()[:2]
    assert dict(zip(header.split(), row.split()))["FRESHNESS"] == "3h", "kubectl shows the oldest watermark's age"

    # A run materializes the stale view, ten seconds short of the threshold: Fresh, until the
    # operator's own scheduled pass (nothing else happens) says otherwise.
    almost = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=THRESHOLD - 10)
    advance_watermark(client, "churn", "customer_stats", almost)
    advance_watermark(client, "churn", "customer_orders", datetime.datetime.now(datetime.UTC))
    fresh = flips_to(kube, namespace, "Fresh", "True", "Fresh=True")
    assert "customer_stats" in fresh["message"] and status(kube, namespace)["freshness"]["oldestWatermark"].startswith(almost.strftime("%Y-%m-%dT%H:%M"))
    again = flips_to(kube, namespace, "Fresh", "False", "Fresh=False once the threshold passes, without any change to wake the operator")
    assert "customer_stats" in again["message"]


def test_memory_pressure_follows_the_cap_and_names_the_remedy(kube, namespace, operator, store):
    client = store.client()
    adopt(kube, namespace, store)
    used = int(client.info("memory")["used_memory"])
    assert flips_to(kube, namespace, "MemoryPressure", "Unknown", "no cap yet")["reason"] == "NoMemoryCap"
    assert condition(kube, namespace, "Fresh")["reason"] == "NoWatermarks"

    client.config_set("maxmemory", str(int(used * 1.1)))
    pressure = flips_to(kube, namespace, "MemoryPressure", "True", "MemoryPressure=True")
    assert pressure["reason"] == "AboveThreshold" and "keyTTLSeconds" in pressure["message"] and "shards" in pressure["message"]
    memory = status(kube, namespace)["onlineStore"]["memory"]
    assert memory["maxSource"] == "maxmemory" and memory["maxBytes"] == int(used * 1.1) and memory["usedPercent"] >= 80
    events = kube_events(kube, namespace, "AboveThreshold")
    assert events and all(e.type == "Warning" for e in events)

    client.config_set("maxmemory", str(100 * 1024 * 1024))
    relieved = flips_to(kube, namespace, "MemoryPressure", "False", "MemoryPressure=False")
    assert relieved["reason"] == "BelowThreshold"
    assert status(kube, namespace)["onlineStore"]["memory"]["maxBytes"] == 100 * 1024 * 1024


def test_an_unreachable_store_is_unknown_with_the_error_and_serving_stays(kube, namespace, operator, store):
    adopt(kube, namespace, store)
    eventually(lambda: condition(kube, namespace, "MemoryPressure").get("reason") == "NoMemoryCap", what="a first reading")
    store.stop()
    unknown = eventually(lambda: (c := condition(kube, namespace, "Fresh")).get("reason") == "StoreUnreadable" and c, what="Fresh unreadable")
    assert unknown["status"] == "Unknown" and store.endpoint in unknown["message"] and "Error" in unknown["message"], unknown["message"]
    assert condition(kube, namespace, "MemoryPressure")["reason"] == "StoreUnreadable"

