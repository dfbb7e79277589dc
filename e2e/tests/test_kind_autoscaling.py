"""Serving scales with its CPU use: a FeatureStore with spec.serving.autoscaling gets a
HorizontalPodAutoscaler that, fed by metrics-server (e2e/kind/manifests/metrics-server.yaml),
scales the serving Deployment up under load from inside the cluster, while every prediction
still succeeds.

Scale-down is not waited for: the autoscaler's default scale-down stabilization window is five
minutes, and it is Kubernetes' behaviour, not the operator's.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import yaml

from kind_support import OPERATOR_NAMESPACE, REPO, Kubectl, condition, dump_diagnostics, pod_ready, terminal_writer
from predictflow_devtools.waiting import eventually
from stand_ins import InClusterLoad

pytestmark = [pytest.mark.kind, pytest.mark.timeout(900)]

VERSION = os.environ.get("PREDICTFLOW_E2E_IMAGE_VERSION", "0.1.0")
RUNTIME_IMAGE = f"predictflow/runtime:{VERSION}"
REDIS_IMAGE = f"predictflow/redis:{VERSION}"
NAME = "scaled"
SERVING = f"{NAME}-serving"
SERVING_SELECTOR = f"app.kubernetes.io/instance={NAME},app.kubernetes.io/component=serving"
MIN_REPLICAS, MAX_REPLICAS = 1, 3
# Low against the request, so that one in-cluster client is load enough.
TARGET_CPU_PERCENT = 20
CPU_REQUEST = "100m"


@pytest.fixture(scope="module")
def report(request: pytest.FixtureRequest) -> Callable[[str], None]:
    return terminal_writer(request.config)


@pytest.fixture(scope="module")
def ns(kube: Kubectl, operator: None) -> Iterator[Kubectl]:
    namespace = f"pf-e2e-scale-{uuid.uuid4().hex[:6]}"
    kube.run("create", "namespace", namespace)
    try:
        yield kube.in_namespace(namespace)
    finally:
        # While the operator still runs, so that it can release the FeatureStore's finalizers.
        for args in (["featurestores", "--all", "-n", namespace], ["namespace", namespace]):
            kube.run("delete", *args, "--wait=true", "--timeout=180s", timeout=200, check=False)


@pytest.fixture(autouse=True)
def diagnostics_on_failure(request: pytest.FixtureRequest, ns: Kubectl, report: Callable[[str], None]) -> Iterator[None]:
    yield
    outcome = getattr(request.node, "report_call", None)
    if outcome is not None and outcome.failed:
        cache = Path(os.environ.get("PREDICTFLOW_CACHE", Path.home() / ".cache" / "predictflow"))
        directory = cache / "kind" / "logs" / f"{request.node.name}-{time.strftime('%Y%m%d-%H%M%S')}"
        dump_diagnostics(ns, [ns.namespace, OPERATOR_NAMESPACE], directory)
        (directory / "autoscaler.txt").write_text(ns.run("describe", "hpa", check=False) + ns.run("top", "pods", check=False))
        report(f"{request.node.name} failed; cluster state and logs in {directory}")


@pytest.fixture(scope="module")
def metrics_api(kube: Kubectl) -> None:
    """The resource metrics API answers with node figures (`make e2e` waits for it at bring-up)."""

    def nodes_measured() -> bool:
        return bool(json.loads(kube.run("get", "--raw", "/apis/metrics.k8s.io/v1beta1/nodes"))["items"])

    eventually(nodes_measured, what="the resource metrics API (metrics-server in kube-system) to report nodes", timeout=180, interval=2)


@pytest.fixture(scope="module")
def featurestore(ns: Kubectl) -> str:
    """examples/featurestore.yaml as an autoscaled store: Redis from the project's image (kind has no
    registry), without a volume (nothing here restarts Redis)."""
    store = yaml.safe_load((REPO / "examples" / "featurestore.yaml").read_text())
    store["metadata"] = {"name": NAME, "namespace": ns.namespace}
    redis = store["spec"]["onlineStore"].setdefault("redis", {})
    redis.update(image=REDIS_IMAGE, persistence={"enabled": False})
    store["spec"]["serving"].update(
        autoscaling={
            "enabled": True,
            "minReplicas": MIN_REPLICAS,
            "maxReplicas": MAX_REPLICAS,
            "targetCPUUtilizationPercentage": TARGET_CPU_PERCENT,
        },
        resources={"requests": {"cpu": CPU_REQUEST}},
    )
    ns.apply(store)
    return NAME


def hpa_summary(hpa: dict[str, Any] | None) -> str:
    """The autoscaler's view in one line: replicas, the CPU it measured, its conditions."""
    if hpa is None:
        return "no HorizontalPodAutoscaler"
    status = hpa.get("status") or {}
    conditions = "; ".join(f"{c['type']}={c['status']} ({c.get('reason')}: {c.get('message')})" for c in status.get("conditions") or [])
    return (
        f"current {status.get('currentReplicas')}, desired {status.get('desiredReplicas')}, "
        f"CPU {cpu_utilization(hpa)}% of request (target {TARGET_CPU_PERCENT}%); {conditions or 'no conditions'}"
    )


def cpu_utilization(hpa: dict[str, Any]) -> int | None:
    for metric in (hpa.get("status") or {}).get("currentMetrics") or []:
        resource = metric.get("resource") or {}
        if metric.get("type") == "Resource" and resource.get("name") == "cpu":
            return (resource.get("current") or {}).get("averageUtilization")
    return None


def serving_pods(ns: Kubectl) -> list[dict[str, Any]]:
    return [p for p in ns.items("pods", "-l", SERVING_SELECTOR) if not p["metadata"].get("deletionTimestamp")]


def pods_summary(ns: Kubectl) -> str:
    pods = serving_pods(ns)
    ready = sum(pod_ready(p) for p in pods)
    usage = ns.run("top", "pods", "-l", SERVING_SELECTOR, "--no-headers", check=False).strip().replace("\n", ", ")
    return f"{len(pods)} serving pods, {ready} ready; usage: {usage or 'none reported'}"


def test_serving_scales_up_under_load(
    ns: Kubectl, metrics_api: None, featurestore: str, report: Callable[[str], None]
) -> None:
    started = time.monotonic()
    ns.run("wait", "--for=condition=Ready", f"featurestore/{featurestore}", "--timeout=600s", timeout=620)
    report(f"autoscaled FeatureStore Ready {time.monotonic() - started:.0f}s after kubectl apply")

    hpa = ns.get("hpa", SERVING)
    assert hpa, f"no HorizontalPodAutoscaler {SERVING}; objects: {ns.run('get', 'all', check=False)}"
    owners = [(o["kind"], o["name"], o.get("controller")) for o in hpa["metadata"].get("ownerReferences") or []]
    assert ("FeatureStore", NAME, True) in owners, f"the autoscaler is not the FeatureStore's: {owners}"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": SERVING}
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (MIN_REPLICAS, MAX_REPLICAS), hpa["spec"]
    assert hpa["spec"]["metrics"] == [
        {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": TARGET_CPU_PERCENT}}}
    ], hpa["spec"]["metrics"]
    for pod in serving_pods(ns):
        (container,) = [c for c in pod["spec"]["containers"] if c["name"] == "serving"]
        assert container["resources"]["requests"]["cpu"] == CPU_REQUEST, container["resources"]

    # The autoscaler reads the idle pod before any load: the metrics pipeline works on its own.
    def measuring() -> dict[str, Any] | None:
        current = ns.get("hpa", SERVING)
        active = condition(current, "ScalingActive").get("status") == "True"
        return current if current and active and cpu_utilization(current) is not None else None

    try:
        idle = eventually(measuring, what="the autoscaler to measure serving's CPU", timeout=120, interval=2)
    except AssertionError as error:
        raise AssertionError(f"{error}; autoscaler: {hpa_summary(ns.get('hpa', SERVING))}; {pods_summary(ns)}") from None
    report(f"idle: {hpa_summary(idle)}")

    load = InClusterLoad(ns, RUNTIME_IMAGE)
    # About 50 requests/s keeps serving far above its CPU target while leaving the two-core node room
    # to start new pods: flat out, a starved node timed out the one ready pod's readiness probe
    # while the new pods were still starting, and the Service had no endpoint for a moment.
    traffic = load.start("e2e-scale-load", "traffic", f"http://{SERVING}:3000", "--customers", "1001-2000", "--pause", "0.01")
    load_started = time.monotonic()
    seen: dict[str, Any] = {}
    try:

        def scaled_up() -> bool:
            current = ns.get("hpa", SERVING)
            deployment = ns.get("deployment", SERVING) or {}
            seen.update(hpa=current, ready=(deployment.get("status") or {}).get("readyReplicas") or 0)
            status = (current or {}).get("status") or {}
            utilization = cpu_utilization(current or {})
            return (
                (status.get("desiredReplicas") or 0) > 1
                and utilization is not None
                and utilization > TARGET_CPU_PERCENT
                and seen["ready"] >= 2
            )

        try:
            eventually(scaled_up, what=f"the autoscaler to scale {SERVING} to at least 2 ready pods", timeout=240, interval=2)
        except AssertionError as error:
            raise AssertionError(
                f"{error}; autoscaler: {hpa_summary(seen.get('hpa'))}; Deployment ready replicas {seen.get('ready')}; {pods_summary(ns)}"
            ) from None
        report(f"scaled to {seen['ready']} ready pods {time.monotonic() - load_started:.0f}s into the load: {hpa_summary(seen['hpa'])}")
        # The operator leaves the replica count to the autoscaler: a reconcile in between would show here.
        time.sleep(5)
        deployment = ns.json("get", "deployment", SERVING)
        assert deployment["spec"]["replicas"] >= 2, f"the Deployment went back to {deployment['spec']['replicas']} replicas"
    finally:
        load.stop(traffic)
        result = load.result(traffic)
        report(f"load: {result['requests']} requests in {result['seconds']}s, {result['failed']} failed, {result['stale']} stale")
    assert result["requests"] >= 100, result
    assert result["failed"] == 0, result["problems"][:10]
    assert result["null_features"] == 0, result["problems"][:10]
    assert result["stale"] == 0, result["problems"][:10]
    report(f"test wall time {time.monotonic() - started:.0f}s")
