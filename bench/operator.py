"""Operator benchmark on the loopback control plane: many FeatureStores, at rest and at a cutover.

    python -m bench.operator [--featurestores 200] [--out bench/results.json]   (from the repository root)

Starts its own etcd + kube-apiserver + kube-controller-manager and the operator as a process
(the chart's 300 s resync), then measures, with the kubelet played by the benchmark:
- seconds_to_children: from creating N FeatureStores until every one has its Redis StatefulSet
  and a status;
- idle_requests_per_min / idle_writes_per_min: over one minute with every FeatureStore Ready and
  nothing changing, the API server's own request counters for what the operator reads and writes,
  less the same minute measured with the operator stopped (the controllers' own traffic);
- cutover_reaction_s: from a backfill Job's completion (its pod reported Succeeded) to the cutover
  in status, median over a sample of FeatureStores switched one at a time;
- rss_mib: the operator's resident memory at the end.
Results go under "operator" in bench/results.json (other keys are kept).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from lightkube import Client, KubeConfig
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apps_v1 import StatefulSet
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import Namespace
from lightkube.types import PatchType

from predictflow_devtools.controlplane import ControlPlane, ControlPlaneInfo, apply_manifests
from predictflow_devtools.featurestores import apply_featurestore, patch_spec
from predictflow_devtools.kubelet import finish_job_pods, mark_pods_ready
from predictflow_devtools.operator_process import OperatorProcess
from predictflow_devtools.pytest_plugin import REPO_ROOT, binaries_dir, kubectl_binary
from predictflow_operator.clients.kube import FeatureStoreResource

RESULTS = Path(__file__).resolve().parent / "results.json"
NAMESPACE = "bench"
READ_VERBS = ("GET", "LIST", "WATCH")
WRITE_VERBS = ("POST", "PUT", "PATCH", "DELETE", "APPLY")
RESOURCES = (
    "featurestores", "statefulsets", "deployments", "services", "configmaps", "secrets", "jobs", "cronjobs",
    "poddisruptionbudgets", "events", "pods", "persistentvolumeclaims",
)
_SAMPLE = re.compile(r'^apiserver_request_total\{(?P<labels>[^}]*)\} (?P<value>[0-9.e+]+)$')


def samples(plane: ControlPlaneInfo) -> dict[tuple[str, str, str], float]:
    """The API server's request counters for the operator's kinds, by (verb, resource, subresource)."""
    text = httpx.get(f"{plane.server}/metrics", headers={"Authorization": f"Bearer {plane.token}"}, verify=str(plane.ca_cert), timeout=30).text
    out: dict[tuple[str, str, str], float] = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if not match:
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', match["labels"]))
        if labels.get("resource") not in RESOURCES or labels.get("verb") not in READ_VERBS + WRITE_VERBS:
            continue
        key = (labels["verb"], labels["resource"], labels.get("subresource", ""))
        out[key] = out.get(key, 0.0) + float(match["value"])
    return out


def counters(plane: ControlPlaneInfo) -> tuple[float, float]:
    """(requests, writes) the API server counted so far for the operator's kinds."""
    counted = samples(plane)
    return sum(counted.values()), sum(v for (verb, _, _), v in counted.items() if verb in WRITE_VERBS)


def per_minute(plane: ControlPlaneInfo, seconds: float, label: str) -> tuple[float, float]:
    before = samples(plane)
    time.sleep(seconds)
    after = samples(plane)
    scale = 60.0 / seconds
    moved = {key: (value - before.get(key, 0.0)) * scale for key, value in after.items() if value != before.get(key, 0.0)}
    print(f"{label}, per minute: " + (", ".join(f"{v:.0f} {' '.join(k).strip()}" for k, v in sorted(moved.items(), key=lambda kv: -kv[1])) or "nothing"), flush=True)
    requests = sum(moved.values())
    return requests, sum(v for (verb, _, _), v in moved.items() if verb in WRITE_VERBS)


def wait(check, what: str, timeout: float, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(interval)
    raise SystemExit(f"timed out after {timeout:.0f}s waiting for {what}")


def phases(kube: Client) -> dict[str, str]:
    return {fs.metadata.name: (fs.get("status") or {}).get("phase", "") for fs in kube.list(FeatureStoreResource, namespace=NAMESPACE)}


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")), platform.machine())
    return f"{model}, {os.cpu_count()} cores, {platform.system()}"


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.operator")
    parser.add_argument("--featurestores", type=int, default=200)
    parser.add_argument("--idle-seconds", type=float, default=60)
    parser.add_argument("--cutovers", type=int, default=10)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    count = args.featurestores
    with tempfile.TemporaryDirectory(prefix="predictflow-bench-operator-") as tmp:
        work = Path(tmp)
        plane_process = ControlPlane(binaries_dir(), work / "plane")
        plane = plane_process.start()
        operator = None
        try:
            apply_manifests(plane.kubeconfig, kubectl_binary(), sorted((REPO_ROOT / "crds").glob("*.yaml")))
            kube = Client(config=KubeConfig.from_file(str(plane.kubeconfig)), field_manager="bench")
            kube.create(Namespace(metadata=ObjectMeta(name=NAMESPACE)))
            operator = OperatorProcess(plane.kubeconfig, work / "operator.log", PREDICTFLOW_RESYNC_SECONDS="300").start()
            names = [f"fs-{i:03d}" for i in range(count)]

            started = time.monotonic()
            for name in names:
                apply_featurestore(kube, NAMESPACE, {"project": "churn"}, name=name)
            wait(lambda: len(list(kube.list(StatefulSet, namespace=NAMESPACE))) >= count
                 and all(phases(kube).get(n) for n in names), f"{count} FeatureStores with children", timeout=1800)
            seconds_to_children = round(time.monotonic() - started, 1)
            print(f"{count} FeatureStores had their children and a status after {seconds_to_children} s", flush=True)

            # play the kubelet until every one is Ready
            wait(lambda: mark_pods_ready(kube, NAMESPACE, {"app.kubernetes.io/component": "redis"}, only_new=True) >= count, "the Redis pods", timeout=900)
            wait(lambda: len(list(kube.list(Job, namespace=NAMESPACE))) >= count, "the backfill Jobs", timeout=900)
            for job in kube.list(Job, namespace=NAMESPACE):
                wait(lambda: finish_job_pods(kube, NAMESPACE, job.metadata.name), f"the pod of {job.metadata.name}", timeout=300, interval=0.2)
            def all_ready() -> bool:
                mark_pods_ready(kube, NAMESPACE, {"app.kubernetes.io/component": "serving"}, only_new=True)  # pods as they appear
                return all(p == "Ready" for p in phases(kube).values())

            wait(all_ready, "every FeatureStore Ready", timeout=900, interval=3)
            print(f"all {count} Ready after {time.monotonic() - started:.0f} s", flush=True)
            time.sleep(10)  # the last status writes land

            idle_requests, idle_writes = per_minute(plane, args.idle_seconds, "at rest with the operator")

            # what one safety-net pass over an unchanged FeatureStore costs: wake a sample by a
            # metadata change (a pass at rest, as the resync runs it) and count
            sample = names[-args.cutovers:]
            before = counters(plane)
            for name in sample:
                kube.patch(FeatureStoreResource, name, {"metadata": {"annotations": {"bench/poke": "1"}}}, namespace=NAMESPACE, patch_type=PatchType.MERGE)
            time.sleep(5)
            after = counters(plane)
            per_pass = (after[0] - before[0] - len(sample)) / len(sample)  # less the pokes themselves
            pass_writes = (after[1] - before[1] - len(sample)) / len(sample)

            # cutover reaction: switch a sample to a storage class that needs a new store, one at a time
            reactions = []
            for name in names[: args.cutovers]:
                patch_spec(kube, NAMESPACE, {"onlineStore": {"redis": {"persistence": {"storageClassName": "bench"}}}}, name=name)
                pending = wait(lambda: (kube.get(FeatureStoreResource, name, namespace=NAMESPACE).get("status") or {}).get("pendingOnlineStore"), "a pending store", 120)
                mark_labels = {"predictflow.io/redis": pending["name"]}
                wait(lambda: mark_pods_ready(kube, NAMESPACE, mark_labels), "the new Redis pod", 120)
                job_name = wait(lambda: backfill_created(kube, name), "the backfill Job", 120)
                wait(lambda: finish_job_pods(kube, NAMESPACE, job_name), "the backfill pod", 60, interval=0.1)
                done = time.monotonic()
                wait(lambda: (kube.get(FeatureStoreResource, name, namespace=NAMESPACE).get("status") or {}).get("onlineStore", {}).get("name") == pending["name"],
                     "the cutover", 120, interval=0.02)
                reactions.append(time.monotonic() - done)
            cutover = round(statistics.median(reactions), 3)
            rss = rss_mib(operator._proc.pid)
            operator.stop()
            operator = None
            time.sleep(5)
            base_requests, base_writes = per_minute(plane, args.idle_seconds, "at rest without the operator")
        finally:
            if operator is not None:
                operator.stop()
            plane_process.stop()

    figures = {
        "featurestores": count,
        "seconds_to_children": seconds_to_children,
        "idle_requests_per_min": round(max(0.0, idle_requests - base_requests), 1),
        "idle_writes_per_min": round(max(0.0, idle_writes - base_writes), 1),
        "cutover_reaction_s": cutover,
        "cutover_reaction_max_s": round(max(reactions), 3),
        "rss_mib": rss,
        "requests_per_idle_pass": round(per_pass, 1),
        "writes_per_idle_pass": round(pass_writes, 1),
        "resync_seconds": 300,
        "machine": machine(),
    }
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    results["operator"] = figures
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    return 0


def backfill_created(kube: Client, name: str) -> str | None:
    """The pending store's backfill Job, once it exists."""
    status = kube.get(FeatureStoreResource, name, namespace=NAMESPACE).get("status") or {}
    job = (status.get("pendingOnlineStore") or {}).get("backfillJob", "")
    owned = {"predictflow.io/featurestore": name}
    return job if job and any(j.metadata.name == job for j in kube.list(Job, namespace=NAMESPACE, labels=owned)) else None


if __name__ == "__main__":
    sys.exit(main())
