"""The FeatureStore end to end on a real cluster: `helm install` of the operator chart, the example
FeatureStore, predictions through the serving Service, a Redis outage, the one-field store switch
under continuous traffic, latency, Secret rotation and deletion.

The tests run in file order against one FeatureStore; each leaves it Ready for the next.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from kind_support import (
    OPERATOR_NAMESPACE,
    REPO,
    Kubectl,
    KubectlError,
    condition,
    dump_diagnostics,
    pod_ready,
    port_forward,
    run_pod_to_completion,
)
from predictflow_devtools.waiting import eventually
from redis.crc import key_slot
from stand_ins import FakeElastiCache, InClusterLoad, deploy_fake_elasticache, random_password

pytestmark = [pytest.mark.kind, pytest.mark.timeout(1200)]

VERSION = os.environ.get("PREDICTFLOW_E2E_IMAGE_VERSION", "0.1.0")
RUNTIME_IMAGE = f"predictflow/runtime:{VERSION}"
REDIS_IMAGE = f"predictflow/redis:{VERSION}"
NAME = "churn"
SERVING = f"{NAME}-serving"
REDIS_POD = f"{NAME}-redis-0"
REDIS_MAX_MEMORY_MB = 256
REDIS_SECRET = f"{NAME}-redis-auth"
# Redis stopping on SIGTERM, the kubelet posting the condition, one `kubectl get` seeing it.
READINESS_OBSERVATION_S = 5
SERVING_SELECTOR = f"app.kubernetes.io/instance={NAME},app.kubernetes.io/component=serving"
BACKFILL_SELECTOR = f"app.kubernetes.io/instance={NAME},app.kubernetes.io/component=backfill"
# What the operator made (the Secrets a test labels for the FeatureStore to read are the test's own).
OWNED_SELECTOR = f"predictflow.io/featurestore={NAME},app.kubernetes.io/managed-by=predictflow-operator"
FEATURES = ("tenure_months", "monthly_charges", "total_charges", "contract_type", "support_tickets_90d")
P99_BUDGET_MS = 50.0
SWITCH_TIMEOUT = 600


# ---------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def report(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Print a measurement in the test run's output, passed or not."""
    terminal = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")

    def write(line: str) -> None:
        if terminal is None:
            return
        with capture.global_and_fixture_disabled():
            terminal.write_line(f"e2e: {line}")

    return write


@pytest.fixture(scope="module")
def ns(kube: Kubectl, operator: None) -> Iterator[Kubectl]:
    namespace = f"pf-e2e-{uuid.uuid4().hex[:6]}"
    kube.run("create", "namespace", namespace)
    try:
        yield kube.in_namespace(namespace)
    finally:
        # While the operator still runs, so that it can release its FeatureStores' finalizers.
        for args in (["featurestores", "--all", "-n", namespace], ["namespace", namespace]):
            kube.run("delete", *args, "--wait=true", "--timeout=180s", timeout=200, check=False)


@pytest.fixture(autouse=True)
def diagnostics_on_failure(
    request: pytest.FixtureRequest, ns: Kubectl, report: Callable[[str], None]
) -> Iterator[None]:
    yield
    outcome = getattr(request.node, "report_call", None)
    if outcome is not None and outcome.failed:
        cache = Path(os.environ.get("PREDICTFLOW_CACHE", Path.home() / ".cache" / "predictflow"))
        directory = cache / "kind" / "logs" / f"{request.node.name}-{time.strftime('%Y%m%d-%H%M%S')}"
        dump_diagnostics(ns, [ns.namespace, OPERATOR_NAMESPACE], directory)
        report(f"{request.node.name} failed; cluster state and logs in {directory}")


@pytest.fixture(scope="module")
def featurestore(ns: Kubectl) -> str:
    """examples/featurestore.yaml, with Redis from the project's image (kind has no registry)."""
    example = yaml.safe_load((REPO / "examples" / "featurestore.yaml").read_text())
    assert example["metadata"]["name"] == NAME
    example["metadata"]["namespace"] = ns.namespace
    redis = example["spec"]["onlineStore"].setdefault("redis", {})
    # a cap to judge memory pressure against, and the exporter sidecar (the chart's default image)
    redis.update(image=REDIS_IMAGE, maxMemory=f"{REDIS_MAX_MEMORY_MB}mb", metrics={"enabled": True})
    ns.apply(example)
    return NAME


@pytest.fixture(scope="module")
def offline_features(ns: Kubectl) -> dict[int, dict[str, Any]]:
    """The newest offline row per customer, read inside the cluster from the runtime image's
    Parquet offline store (the same file the backfill Job materialized)."""
    script = (
        "import json, os, pandas as pd\n"
        "path = os.path.join(os.environ['PREDICTFLOW_OFFLINE_PATH'], 'churn_features.parquet')\n"
        "frame = pd.read_parquet(path).sort_values('event_timestamp').groupby('customer_id').tail(1)\n"
        f"columns = {list(FEATURES)!r}\n"
        "print(json.dumps({int(r.customer_id): {c: getattr(r, c) for c in columns} for r in frame.itertuples()}, default=lambda v: v.item()))\n"
    )
    output = run_pod_to_completion(ns, "e2e-offline-reader", RUNTIME_IMAGE, ["python", "-c", script])
    rows = json.loads(output.strip().splitlines()[-1])
    return {int(customer): features for customer, features in rows.items()}


@pytest.fixture(scope="module")
def load(ns: Kubectl) -> InClusterLoad:
    return InClusterLoad(ns, RUNTIME_IMAGE)


# ---------------------------------------------------------------------------------------------
# helpers


def fs_status(ns: Kubectl) -> dict[str, Any]:
    return (ns.get("featurestore", NAME) or {}).get("status") or {}


def wait_ready_on(ns: Kubectl, store_type: str, timeout: float = SWITCH_TIMEOUT) -> dict[str, Any]:
    """The FeatureStore is Ready, settled on `store_type`, for its current generation."""

    def settled() -> dict[str, Any] | None:
        fs = ns.get("featurestore", NAME)
        if fs is None:
            return None
        status = fs.get("status") or {}
        if (
            status.get("observedGeneration") == fs["metadata"]["generation"]
            and condition(fs, "Ready").get("status") == "True"
            and status.get("phase") == "Ready"
            and (status.get("onlineStore") or {}).get("type") == store_type
            and not (status.get("pendingOnlineStore") or {}).get("type")
        ):
            return fs
        return None

    try:
        return eventually(settled, what=f"FeatureStore {NAME} Ready on {store_type}", timeout=timeout, interval=2)
    except AssertionError as error:
        raise AssertionError(f"{error}; status now: {json.dumps(fs_status(ns), indent=1)}") from None


def serving_pods(ns: Kubectl) -> list[dict[str, Any]]:
    return [p for p in ns.items("pods", "-l", SERVING_SELECTOR) if not p["metadata"].get("deletionTimestamp")]


def serving_rolled_out(ns: Kubectl, store_type: str) -> list[dict[str, Any]]:
    """Every serving pod is Ready and was made for `store_type`; the rollout is complete."""
    deployment = ns.get("deployment", SERVING)
    if not deployment:
        return []
    status = deployment.get("status") or {}
    wanted = deployment["spec"]["replicas"]
    pods = ns.items("pods", "-l", SERVING_SELECTOR)
    if (
        status.get("observedGeneration") == deployment["metadata"]["generation"]
        and status.get("updatedReplicas") == wanted
        and status.get("readyReplicas") == wanted
        and len(pods) == wanted
        and all(pod_ready(p) for p in pods)
        and all(p["metadata"]["labels"].get("predictflow.io/store-type") == store_type for p in pods)
    ):
        return pods
    return []


def predict(base_url: str, customer_id: int) -> httpx.Response:
    return httpx.post(f"{base_url}/predict", json={"customer_id": customer_id}, timeout=10)


def assert_fresh_answer(response: httpx.Response, customer_id: int, offline: dict[int, dict[str, Any]]) -> dict[str, Any]:
    assert response.status_code == 200, f"customer {customer_id}: {response.status_code} {response.text}"
    body = response.json()
    assert body["customer_id"] == customer_id
    assert body["stale"] is False, body
    assert isinstance(body["score"], float) and 0.0 <= body["score"] <= 1.0, body
    expected = offline[customer_id]
    got = {name: body["features"].get(name) for name in FEATURES}
    for name in FEATURES:
        if isinstance(expected[name], float):
            assert got[name] == pytest.approx(expected[name]), f"customer {customer_id} {name}: {got} != {expected}"
        else:
            assert got[name] == expected[name], f"customer {customer_id} {name}: {got} != {expected}"
    return body


# redis-cli's users and the keys of their passwords in the store's auth Secret (builders.redis)
REDIS_USER_KEYS = {"materialization": "materialization-password", "replication": "password"}


def redis_cli(ns: Kubectl, *command: str, user: str = "materialization", password: str | None = None, pod: str = REDIS_POD) -> str:
    """redis-cli in an in-cluster Redis pod as one of its ACL users, with that user's password from
    the store's auth Secret (or the one given) on stdin, so no password is ever on a command line."""
    if password is None:
        secret = ns.json("get", "secret", f"{pod.rsplit('-', 1)[0]}-auth")
        password = base64.b64decode(secret["data"][REDIS_USER_KEYS[user]]).decode()
    script = 'read -r REDISCLI_AUTH; export REDISCLI_AUTH; exec redis-cli "$@"'
    return ns.exec(pod, "sh", "-c", script, "redis-cli", "--user", user, *command, input=password + "\n")


def backfill_jobs(ns: Kubectl) -> set[str]:
    return {job["metadata"]["name"] for job in ns.items("jobs", "-l", BACKFILL_SELECTOR)}


class Recorder(threading.Thread):
    """Calls `sample` every `interval` seconds in the background and keeps (seconds, result)."""

    def __init__(self, sample: Callable[[], Any], interval: float) -> None:
        super().__init__(daemon=True)
        self.sample, self.interval = sample, interval
        self.samples: list[tuple[float, Any]] = []
        self.started_at = time.monotonic()
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                result = self.sample()
            except Exception as error:  # a sample that fails is a data point too
                result = error
            self.samples.append((time.monotonic() - self.started_at, result))
            self._halt.wait(self.interval)

    def stop(self) -> list[tuple[float, Any]]:
        self._halt.set()
        self.join(timeout=30)
        return self.samples


# ---------------------------------------------------------------------------------------------
# the tests, in order


def test_featurestore_becomes_ready(ns: Kubectl, featurestore: str, report: Callable[[str], None]) -> None:
    started = time.monotonic()
    ns.run("wait", "--for=condition=Ready", f"featurestore/{featurestore}", "--timeout=600s", timeout=620)
    report(f"FeatureStore Ready {time.monotonic() - started:.0f}s after kubectl apply")
    status = fs_status(ns)
    assert status["phase"] == "Ready"
    assert status["onlineStore"]["type"] == "redis"

    redis = ns.json("get", "pod", REDIS_POD)
    assert redis["status"]["phase"] == "Running" and pod_ready(redis)
    claims = [v["persistentVolumeClaim"]["claimName"] for v in redis["spec"]["volumes"] if "persistentVolumeClaim" in v]
    assert claims, "the Redis pod has no PersistentVolumeClaim"
    for claim in claims:
        assert ns.json("get", "pvc", claim)["status"]["phase"] == "Bound"

    jobs = ns.items("jobs", "-l", f"app.kubernetes.io/instance={NAME}")
    assert any((job.get("status") or {}).get("succeeded") for job in jobs), f"no succeeded materialization Job: {jobs}"
    assert ns.get("cronjob", f"{NAME}-materialize"), "the materialization CronJob is missing"
    assert status["lastMaterialization"]["succeeded"] is True
    assert serving_rolled_out(ns, "redis"), "serving is not ready on the Redis store"


def test_the_operator_reads_its_redis_through_the_policy_and_the_exporter_serves_it(ns: Kubectl, e2e_log_dir: Path) -> None:
    """Fresh and MemoryPressure come from the operator's own readings of the store (the monitoring
    user, admitted by the Redis NetworkPolicy); the exporter sidecar serves Redis's figures as its user."""

    def read() -> dict[str, Any] | None:
        status = fs_status(ns)
        fresh = condition(ns.json("get", "featurestore", NAME), "Fresh")
        return status if fresh.get("status") == "True" and (status.get("onlineStore") or {}).get("memory") else None

    status = eventually(read, what="Fresh=True and the store's memory in status", timeout=120)
    memory = status["onlineStore"]["memory"]
    assert memory["maxSource"] == "maxmemory" and memory["maxBytes"] == REDIS_MAX_MEMORY_MB * 1024 * 1024
    assert 0 < memory["usedBytes"] < memory["maxBytes"]
    pressure = condition(ns.json("get", "featurestore", NAME), "MemoryPressure")
    assert (pressure["status"], pressure["reason"]) == ("False", "BelowThreshold"), pressure
    assert [view["featureView"] for view in status["freshness"]["views"]] == ["churn_features"]

    containers = {c["name"]: c for c in ns.json("get", "pod", REDIS_POD)["spec"]["containers"]}
    assert set(containers) == {"redis", "metrics"}
    with port_forward(ns, f"pod/{REDIS_POD}", 9121, e2e_log_dir) as url:
        metrics = eventually(lambda: (r := httpx.get(f"{url}/metrics", timeout=10)).status_code == 200 and r.text, what="the exporter's metrics")
    samples = {sample.name: sample.value for family in text_string_to_metric_families(metrics) for sample in family.samples}
    assert samples["redis_up"] == 1 and samples["redis_memory_max_bytes"] == REDIS_MAX_MEMORY_MB * 1024 * 1024
    logs = ns.run("logs", REDIS_POD, "-c", "metrics")
    assert "NOPERM" not in logs, logs


# Opens a TCP connection to host:port and says whether it could.
_CONNECT = """
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5).close()
    print("connected")
except OSError as error:
    print("no connection:", error)
"""


def test_only_the_featurestores_own_pods_reach_its_redis(ns: Kubectl) -> None:
    """The NetworkPolicy in front of Redis is enforced: a pod of the same namespace that is not the
    FeatureStore's gets no connection; one of its materialization pods does, and serving is Ready,
    which its readiness probe only is while it reaches Redis."""
    target = [f"{NAME}-redis", "6379"]
    outsider = run_pod_to_completion(ns, "outsider", RUNTIME_IMAGE, ["python3", "-c", _CONNECT, *target])
    assert "no connection" in outsider, outsider
    own = {"predictflow.io/featurestore": NAME, "app.kubernetes.io/component": "materialization"}
    insider = run_pod_to_completion(ns, "insider", RUNTIME_IMAGE, ["python3", "-c", _CONNECT, *target], labels=own)
    assert "connected" in insider, insider
    assert serving_rolled_out(ns, "redis")


def test_predict_through_the_service_returns_the_offline_features(
    ns: Kubectl, offline_features: dict[int, dict[str, Any]], e2e_log_dir: Path
) -> None:
    customers = [1001, 1002, 1500, 2000]
    with port_forward(ns, f"svc/{SERVING}", 3000, e2e_log_dir) as url:
        for customer in customers:
            assert_fresh_answer(predict(url, customer), customer, offline_features)
        unknown = predict(url, 999_999)
        assert unknown.status_code == 404, unknown.text


@dataclass(frozen=True)
class Answer:
    at: float  # seconds since the recording started
    first_time: bool  # a customer nobody asked for before
    customer_id: int
    status: int
    body: dict[str, Any]


def test_redis_outage_follows_on_store_down_and_recovers_with_its_data(
    ns: Kubectl, offline_features: dict[int, dict[str, Any]], e2e_log_dir: Path, report: Callable[[str], None]
) -> None:
    on_store_down = ns.json("get", "featurestore", NAME)["spec"]["serving"].get("onStoreDown", "stale")
    assert on_store_down == "stale", "the example serves stale answers while the store is down"
    seen = [1001, 1002, 1003, 1004]
    token = uuid.uuid4().hex
    assert redis_cli(ns, "SET", "predictflow:e2e:persistence", token).strip() == "OK"
    keys_before = int(redis_cli(ns, "DBSIZE"))
    jobs_before = backfill_jobs(ns)
    (serving_pod,) = [p["metadata"]["name"] for p in serving_pods(ns)]

    with port_forward(ns, f"pod/{serving_pod}", 3000, e2e_log_dir) as url:
        before = {c: assert_fresh_answer(predict(url, c), c, offline_features)["features"] for c in seen}
        first_timers = iter(range(1700, 1900))  # the stale cache cannot know these during the outage
        counter = iter(range(10**9))

        def ask() -> Answer:
            n = next(counter)
            customer = seen[n % len(seen)] if n % 3 else next(first_timers)
            response = predict(url, customer)
            return Answer(0.0, customer not in seen, customer, response.status_code, response.json())

        # The pod's Ready condition must turn False within one probe window: a failing probe
        # (failureThreshold x periodSeconds, plus its timeout), plus what it takes Redis to stop
        # and the API to show the condition. A probe that ignores Redis never turns False.
        containers = ns.json("get", "pod", serving_pod)["spec"]["containers"]
        (probe,) = [c["readinessProbe"] for c in containers if c["name"] == "serving"]
        window = probe["periodSeconds"] * probe.get("failureThreshold", 3) + probe["timeoutSeconds"] + READINESS_OBSERVATION_S
        readiness = Recorder(lambda: pod_ready(ns.json("get", "pod", serving_pod)), 0.25)
        answers = Recorder(ask, 0.05)
        readiness.start()
        answers.start()
        time.sleep(2)
        deleted_at = time.monotonic() - readiness.started_at
        ns.delete("pod", REDIS_POD, "--wait=false")

        def first_time_readiness_is(state: bool, after: float) -> float | None:
            return next((at for at, ready in readiness.samples if at > after and ready is state), None)

        not_ready_at = eventually(
            lambda: first_time_readiness_is(False, deleted_at), what="serving readiness to go false", timeout=30, interval=0.2
        )
        went_false_after = not_ready_at - deleted_at
        report(f"serving readiness went false {went_false_after:.1f}s after the Redis pod was deleted (window {window:.0f}s)")
        ready_again_at = eventually(
            lambda: first_time_readiness_is(True, not_ready_at), what="serving ready again by itself", timeout=300, interval=1
        )
        report(f"serving ready again {ready_again_at - deleted_at:.1f}s after the Redis pod was deleted")
        time.sleep(3)
        readiness.stop()
        samples = answers.stop()
        for customer in seen:
            assert assert_fresh_answer(predict(url, customer), customer, offline_features)["features"] == before[customer]

    assert went_false_after <= window, f"the serving pod stayed Ready {went_false_after:.1f}s into the outage (window {window:.0f}s)"
    errors = [result for _, result in samples if isinstance(result, Exception)]
    assert not errors, f"requests failed outright: {errors[:5]}"
    # From the deletion until readiness was seen back (readiness is observed through the API, a
    # little late, so the outage itself lies inside this span).
    outage = [replace(answer, at=at) for at, answer in samples if deleted_at <= at <= ready_again_at]
    assert outage, "no request was answered while the store was down"
    known = [a for a in outage if not a.first_time]
    unknown = [a for a in outage if a.first_time]
    assert all(a.status == 200 for a in known), [a for a in known if a.status != 200][:5]
    stale = [a for a in known if a.body.get("stale")]
    assert stale, f"no stale answer while Redis was down (onStoreDown: stale): {known[:5]}"
    assert all(a.body["features"] == before[a.customer_id] for a in stale)
    assert any(a.status == 503 for a in unknown), f"customers never seen must get 503 while the store is down: {unknown[:5]}"
    assert all(a.status in (200, 503) for a in unknown)
    report(f"during the outage: {len(stale)} stale answers, {sum(a.status == 503 for a in unknown)} 503s for unseen customers")

    # The data came back from disk (AOF/RDB on the PVC), not from a new backfill.
    assert redis_cli(ns, "GET", "predictflow:e2e:persistence").strip() == token
    assert int(redis_cli(ns, "DBSIZE")) >= keys_before
    assert backfill_jobs(ns) == jobs_before


@pytest.fixture(scope="module")
def fake_elasticache(ns: Kubectl, tmp_path_factory: pytest.TempPathFactory) -> FakeElastiCache:
    return deploy_fake_elasticache(ns, REDIS_IMAGE, tmp_path_factory.mktemp("fake-elasticache"), featurestore=NAME)


def test_one_field_switch_under_traffic_to_elasticache_and_back(
    ns: Kubectl,
    fake_elasticache: FakeElastiCache,
    load: InClusterLoad,
    report: Callable[[str], None],
) -> None:
    redis_claims = [c["metadata"]["name"] for c in ns.items("pvc") if c["metadata"]["name"].startswith(f"data-{NAME}-redis-")]
    assert redis_claims
    traffic = load.start("e2e-traffic", "traffic", f"http://{SERVING}:3000", "--customers", "1001-2000")
    try:
        time.sleep(5)
        switch_and_check(ns, fake_elasticache, redis_claims, report)
        time.sleep(5)
    finally:
        result = finish_traffic(load, traffic, "the switches", report)
    assert result["requests"] >= 200, result
    assert result["failed"] == 0, result["problems"][:10]
    assert result["null_features"] == 0, result["problems"][:10]
    assert result["stale"] == 0, result["problems"][:10]


def finish_traffic(load: InClusterLoad, traffic: str, during: str, report: Callable[[str], None]) -> dict[str, Any]:
    """Stop a traffic pod, report what it saw, and return its result."""
    load.stop(traffic)
    result = load.result(traffic)
    report(
        f"traffic during {during}: {result['requests']} requests in {result['seconds']}s, {result['failed']} failed, "
        f"{result['null_features']} with null features, {result['stale']} stale"
        + (f"; {summarize(result['problem_kinds'])}" if result["problem_kinds"] else "")
    )
    return result


def summarize(kinds: dict[str, dict[str, Any]]) -> str:
    """One line per kind of problem: 'status 404 x352 (31.2s-36.0s after start): {...}'."""
    return "; ".join(
        f"{kind} x{found['count']} ({found['first']}s-{found['last']}s): {json.dumps(found['example'])[:160]}"
        for kind, found in kinds.items()
    )


def switch_and_check(
    ns: Kubectl, fake_elasticache: FakeElastiCache, redis_claims: list[str], report: Callable[[str], None]
) -> None:
    started = time.monotonic()
    ns.patch_merge("featurestore", NAME, {"spec": {"onlineStore": fake_elasticache.spec()}})
    status = wait_ready_on(ns, "elasticache")["status"]
    report(f"switch redis -> elasticache settled in {time.monotonic() - started:.0f}s")
    assert status["onlineStore"]["endpoint"] == fake_elasticache.endpoint
    eventually(lambda: serving_rolled_out(ns, "elasticache"), what="serving on the new store", timeout=300, interval=2)
    # The new store was filled before serving moved (a backfill into it), and the old one retired.
    assert int(fake_elasticache.redis_cli(ns, "DBSIZE")) >= 1000, "the ElastiCache stand-in was not filled"
    eventually(
        lambda: not ns.get("statefulset", f"{NAME}-redis")
        and not ns.get("secret", REDIS_SECRET)
        and not any(ns.get("pvc", claim) for claim in redis_claims),
        what="the in-cluster Redis (StatefulSet, Secret, volumes) retired",
        timeout=300,
        interval=2,
    )
    time.sleep(5)

    started = time.monotonic()
    ns.patch_merge("featurestore", NAME, {"spec": {"onlineStore": {"type": "redis"}}})
    wait_ready_on(ns, "redis")
    report(f"switch elasticache -> redis settled in {time.monotonic() - started:.0f}s")
    pods = eventually(lambda: serving_rolled_out(ns, "redis"), what="serving back on Redis", timeout=300, interval=2)
    eventually(lambda: not fs_status(ns).get("retiringOnlineStores"), what="the old store retired", timeout=300, interval=2)
    for pod in pods:
        assert fake_elasticache.auth_secret not in json.dumps(pod["spec"]), "serving still wired to the old store"
    assert int(redis_cli(ns, "DBSIZE")) >= 1000, "serving moved back to a Redis that was never filled"


def test_predict_latency_through_the_service_within_budget(load: InClusterLoad, report: Callable[[str], None]) -> None:
    name = load.start("e2e-latency", "latency", f"http://{SERVING}:3000", "--customers", "1001-2000", "--requests", "1000")
    result = load.result(name)
    report(
        f"predict latency through the Service ({result['requests']} requests, keep-alive): "
        f"p50 {result['p50_ms']} ms, p90 {result['p90_ms']} ms, p99 {result['p99_ms']} ms, max {result['max_ms']} ms"
    )
    assert result["failed"] == 0, f"{result['failed']} of {result['requests']} requests failed: {result['failures'][:5]}"
    assert result["p99_ms"] < P99_BUDGET_MS, (
        f"LATENCY BUDGET BLOWN: predict p99 {result['p99_ms']} ms through the Service exceeds the design's "
        f"{P99_BUDGET_MS:.0f} ms end-to-end budget (p50 {result['p50_ms']} ms, max {result['max_ms']} ms)"
    )


def test_secret_rotation_rolls_the_pods_that_use_it(
    ns: Kubectl, offline_features: dict[int, dict[str, Any]], e2e_log_dir: Path, report: Callable[[str], None]
) -> None:
    redis_uid = ns.json("get", "pod", REDIS_POD)["metadata"]["uid"]
    serving_uids = {p["metadata"]["uid"] for p in serving_pods(ns)}
    new_password = random_password(40)
    started = time.monotonic()
    patch = json.dumps({"stringData": {"password": new_password}})
    ns.run("patch", "secret", REDIS_SECRET, "--type", "merge", "--patch-file", "/dev/stdin", input=patch)

    def rolled() -> bool:
        redis = ns.get("pod", REDIS_POD)
        pods = serving_rolled_out(ns, "redis")
        return bool(
            redis
            and redis["metadata"]["uid"] != redis_uid
            and pod_ready(redis)
            and pods
            and not serving_uids & {p["metadata"]["uid"] for p in pods}
        )

    eventually(rolled, what="Redis and serving pods replaced after the Secret changed", timeout=600, interval=2)
    report(f"Secret rotation rolled Redis and serving in {time.monotonic() - started:.0f}s")
    wait_ready_on(ns, "redis", timeout=300)
    assert redis_cli(ns, "PING", user="replication", password=new_password).strip() == "PONG"
    with port_forward(ns, f"svc/{SERVING}", 3000, e2e_log_dir) as url:
        for customer in (1001, 1999):
            assert_fresh_answer(predict(url, customer), customer, offline_features)


OTHER_STORAGE_CLASS = "predictflow-e2e-other"


@pytest.fixture
def other_storage_class(ns: Kubectl) -> Iterator[str]:
    """A second StorageClass on the node's provisioner, so a storage-class change has somewhere to go."""
    ns.apply({
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": OTHER_STORAGE_CLASS},
        "provisioner": "rancher.io/local-path", "volumeBindingMode": "WaitForFirstConsumer", "reclaimPolicy": "Delete",
    })
    yield OTHER_STORAGE_CLASS
    ns.run("delete", "storageclass", OTHER_STORAGE_CLASS, "--ignore-not-found", check=False)


def operator_leader(kube: Kubectl) -> str:
    lease = kube.json("get", "lease", "predictflow-operator", "-n", OPERATOR_NAMESPACE)
    return lease["spec"].get("holderIdentity") or ""


def test_a_storage_class_change_replaces_the_store_under_traffic_and_a_leader_failover(
    kube: Kubectl, ns: Kubectl, other_storage_class: str, load: InClusterLoad, report: Callable[[str], None]
) -> None:
    """A StatefulSet cannot change its claims' storage class: the operator builds a new Redis on the
    new class, backfills it, cuts serving over and retires the old one, with nothing served empty;
    the operator's leader is killed in the middle, and the standby carries the switch on."""
    old = fs_status(ns)["onlineStore"]["name"]
    traffic = load.start("e2e-replace", "traffic", f"http://{SERVING}:3000", "--customers", "1001-2000")
    try:
        time.sleep(5)
        started = time.monotonic()
        ns.patch_merge("featurestore", NAME, {"spec": {"onlineStore": {"redis": {"persistence": {"storageClassName": other_storage_class}}}}})
        eventually(lambda: (fs_status(ns).get("pendingOnlineStore") or {}).get("name"), what="the replacement pending", timeout=120, interval=1)
        leader = operator_leader(kube)
        assert leader, "no operator replica leads"
        kube.run("delete", "pod", leader, "-n", OPERATOR_NAMESPACE, "--grace-period=0", "--force", "--wait=false")
        killed = time.monotonic()
        successor = eventually(lambda: (who := operator_leader(kube)) not in ("", leader) and who, what="the standby to lead", timeout=120, interval=0.5)
        report(f"operator leader {leader} killed mid-switch; {successor} led {time.monotonic() - killed:.1f}s later")
        status = eventually(
            lambda: (s := wait_ready_on(ns, "redis")["status"])["onlineStore"]["name"] != old and s,
            what="the replacement Redis serving", timeout=SWITCH_TIMEOUT, interval=2,
        )
        new = status["onlineStore"]["name"]
        report(f"storage-class replacement {old} -> {new} settled in {time.monotonic() - started:.0f}s")
        eventually(lambda: serving_rolled_out(ns, "redis"), what="serving on the replacement", timeout=300, interval=2)
        eventually(lambda: not ns.get("statefulset", old) and not fs_status(ns).get("retiringOnlineStores"), what=f"{old} retired", timeout=300, interval=2)
        claim = ns.get("pvc", f"data-{new}-0")
        assert claim and claim["spec"]["storageClassName"] == other_storage_class
        assert int(redis_cli(ns, "DBSIZE", pod=f"{new}-0")) >= 1000
        time.sleep(5)
    finally:
        load.stop(traffic)
        result = load.result(traffic)
        report(f"traffic during the replacement: {result['requests']} requests, {result['failed']} failed, {result['null_features']} with null features")
    assert result["requests"] >= 100, result
    assert result["failed"] == 0, result["problems"][:10]
    assert result["null_features"] == 0, result["problems"][:10]


def _shard_of(topology: list[dict[str, Any]], key: str) -> dict[str, Any]:
    slot = key_slot(key.encode())
    for shard in topology:
        for part in shard["slots"].split(","):
            first, _, last = part.partition("-")
            if int(first) <= slot <= int(last or first):
                return shard
    raise AssertionError(f"no shard holds slot {slot} of {key}: {topology}")


def slot_owner(ns: Kubectl, pod: str, slots: str) -> str:
    """The pod serving a shard's slots (`first-last`) as `pod` sees them (CLUSTER SLOTS gives the
    primary's announced name first, `<pod>.<headless Service>...`)."""
    first, _, last = slots.partition("-")
    lines = redis_cli(ns, "CLUSTER", "SLOTS", pod=pod).split()
    for i in range(len(lines) - 2):
        if lines[i] == first and lines[i + 1] == last:
            return lines[i + 2].split(".")[0]
    return ""


def test_three_shards_under_traffic_then_a_primary_fails_over_without_losing_data(
    ns: Kubectl, load: InClusterLoad, report: Callable[[str], None]
) -> None:
    """One shard to three is a store replacement through the switch, under traffic; then deleting
    a primary pod hands its slots to its replica (the pod's preStop asks the replica to take over,
    which waits until it has every write), serving follows without a restart, and the pod comes
    back as a replica. A primary that dies without stopping is failed over by Redis Cluster
    itself: the data-plane tier kills one (the kubelet here restarts a pod faster than the 5 s
    cluster-node-timeout)."""
    old = fs_status(ns)["onlineStore"]["name"]
    # Two serving pods, as a store with this much riding on it would have: on the two-core node the
    # six Redis pods, the backfill and the new serving pod start at once, and one pod's 1 s
    # readiness ping to the old store can miss (the probe tells the truth fast, by design); with a
    # single pod that empties the Service for a probe period.
    ns.patch_merge("featurestore", NAME, {"spec": {"serving": {"replicas": 2}}})
    eventually(lambda: len(serving_rolled_out(ns, "redis")) == 2, what="two serving pods", timeout=300, interval=2)
    traffic = load.start("e2e-shards", "traffic", f"http://{SERVING}:3000", "--customers", "1001-2000")
    try:
        time.sleep(5)
        started = time.monotonic()
        # back on the default StorageClass too: the one the test before made is gone
        sharded = {"shards": 3, "replicas": 1, "persistence": {"storageClassName": ""}}
        ns.patch_merge("featurestore", NAME, {"spec": {"onlineStore": {"redis": sharded}}})
        status = eventually(
            lambda: (s := wait_ready_on(ns, "redis")["status"])["onlineStore"]["name"] != old and s,
            what="the 3-shard Redis Cluster serving", timeout=SWITCH_TIMEOUT, interval=2,
        )
        cluster = status["onlineStore"]["name"]
        report(f"switch 1 -> 3 shards ({old} -> {cluster}) settled in {time.monotonic() - started:.0f}s")
        eventually(lambda: serving_rolled_out(ns, "redis"), what="serving on the cluster", timeout=300, interval=2)
        eventually(lambda: not ns.get("statefulset", old) and not fs_status(ns).get("retiringOnlineStores"), what=f"{old} retired", timeout=300, interval=2)
        time.sleep(5)
    finally:
        result = finish_traffic(load, traffic, "the 1 -> 3 shard switch", report)
    assert result["requests"] >= 100, result
    assert result["failed"] == 0 and result["null_features"] == 0 and result["stale"] == 0, result["problems"][:10]

    topology = fs_status(ns)["onlineStore"]["topology"]
    assert len(topology) == 3 and all(len(shard["replicas"]) == 1 for shard in topology), topology
    # the backfill spread the keys over every shard (each primary holds about a third of 1000 customers)
    held = {shard["primary"]: int(redis_cli(ns, "DBSIZE", pod=shard["primary"])) for shard in topology}
    assert all(keys >= 200 for keys in held.values()) and sum(held.values()) >= 1000, held

    marker = "predictflow:e2e:failover"
    token = uuid.uuid4().hex
    victim = _shard_of(topology, marker)
    survivor = next(shard["primary"] for shard in topology if shard is not victim)
    assert redis_cli(ns, "-c", "SET", marker, token, pod=survivor).strip() == "OK"
    time.sleep(1.5)  # appendfsync everysec: what is a second old is on disk and at the replica
    traffic = load.start("e2e-failover", "traffic", f"http://{SERVING}:3000", "--customers", "1001-2000")
    try:
        time.sleep(5)
        deleted = time.monotonic()
        ns.delete("pod", victim["primary"], "--wait=false")

        def promoted() -> bool:
            try:
                return slot_owner(ns, survivor, victim["slots"]) == victim["replicas"][0]
            except KubectlError:
                return False

        eventually(promoted, what=f"{victim['replicas'][0]} serving slots {victim['slots']}", timeout=60, interval=0.5)
        failed_over_in = time.monotonic() - deleted
        assert redis_cli(ns, "-c", "GET", marker, pod=survivor).strip() == token
        report(f"deleting primary {victim['primary']}: {victim['replicas'][0]} served its slots {failed_over_in:.1f}s later, the marker written before it intact")
        healed = eventually(
            lambda: (t := fs_status(ns).get("onlineStore", {}).get("topology") or [])
            and len(t) == 3
            and all(len(s["replicas"]) == 1 for s in t)
            and victim["primary"] in [r for s in t for r in s["replicas"]]
            and t,
            what=f"{victim['primary']} back as a replica",
            timeout=300,
            interval=2,
        )
        assert _shard_of(healed, marker)["primary"] == victim["replicas"][0], healed
        time.sleep(5)
    finally:
        result = finish_traffic(load, traffic, "the failover", report)
    assert failed_over_in <= 15, f"the failover took {failed_over_in:.1f}s"
    assert result["null_features"] == 0, result["problems"][:10]
    # between the primary's death and its replica's promotion, its keys answer stale or 503 (onStoreDown)
    spans = [(kind, found["first"], found["last"]) for kind, found in result["problem_kinds"].items()]
    assert all(kind in ("stale", "status 503") for kind, _, _ in spans), spans
    if spans:
        assert max(last for _, _, last in spans) - min(first for _, first, _ in spans) <= 20, spans
    wait_ready_on(ns, "redis", timeout=300)


def test_deleting_the_featurestore_removes_everything_it_made(ns: Kubectl) -> None:
    kinds = "statefulsets,deployments,services,configmaps,secrets,cronjobs,jobs,pods,poddisruptionbudgets,persistentvolumeclaims"
    made = ns.items(kinds, "-l", OWNED_SELECTOR)
    assert made, "nothing carries the FeatureStore's label"
    claims = [c["metadata"]["name"] for c in ns.items("pvc") if c["metadata"]["name"].startswith(f"data-{NAME}-redis-")]
    assert claims

    ns.run("delete", "featurestore", NAME, "--wait=true", "--timeout=300s", timeout=320)

    def gone() -> bool:
        left = ns.items(kinds, "-l", OWNED_SELECTOR)
        left += [c for c in ns.items("pvc") if c["metadata"]["name"] in claims]
        return not left

    try:
        eventually(gone, what="every object the FeatureStore made to be deleted", timeout=300, interval=2)
    except AssertionError:
        left = [f"{o['kind']}/{o['metadata']['name']}" for o in ns.items(kinds, "-l", OWNED_SELECTOR)]
        raise AssertionError(f"left behind after deleting the FeatureStore: {left}") from None
    with pytest.raises(KubectlError):
        ns.run("get", "featurestore", NAME)
